"""De-duplication: rows with the same email address as an earlier row folded into it.

The first row's details stay, data categories are combined and the row numbers kept; the
import report counts each folded row as *merged* (docs/recipients.md).

Nothing here touches the database or imports Flask.
"""

from __future__ import annotations

import json
from typing import Final

from composer.recipients.pending import CATEGORIES, EMAIL, SOURCE_ROWS, Pending, json_texts

#: Bits in the filter of addresses already seen: 8 MB whatever the file's size. At a million
#: addresses about 1.5% of new ones look seen and are looked up in the database (in batches, at
#: each write); a set of a million 64-bit hashes took the peak 58 MB higher.
_FILTER_BITS: Final = 1 << 26


def _folded(first: Pending, later: Pending) -> Pending:
    """``first`` with a later row with the same address folded in: the first row's details
    stay, data categories are combined and the later row's number is kept."""
    categories = first[CATEGORIES]
    if later[CATEGORIES] != "[]":
        combined = set(json.loads(categories)) | set(json.loads(later[CATEGORIES]))
        categories = json_texts(sorted(combined))
    # "[2, 5]" and "[9]" make "[2, 5, 9]", as json.dumps writes the list.
    source_rows = first[SOURCE_ROWS][:-1] + ", " + later[SOURCE_ROWS][1:]
    return (*first[:CATEGORIES], categories, source_rows)


class Deduplicator:
    """Rows with the same address as an earlier one folded into it: the first row's details
    stay, data categories are combined and the row numbers kept. Memory does not grow with
    the list: rows are handed out in chunks (``take``) and the addresses seen are kept as bits.
    """

    def __init__(self) -> None:
        #: Rows kept as new recipients, and rows folded into an earlier one (the report's
        #: *merged*).
        self.imported = self.merged = 0
        # Rows waiting to be written, in file order; those with an address are also found by
        # address (their place in ``_new``), so a duplicate in the same chunk is folded before
        # anything is written.
        self._new: list[Pending] = []
        self._new_by_email: dict[str, int] = {}
        # Addresses already seen, as one bit each (a one-hash Bloom filter over the string's
        # hash): "not seen" is certain; "seen" is only a hint that the database checks, so two
        # addresses sharing a bit are never folded together.
        self._seen = bytearray(_FILTER_BITS >> 3)
        # Rows whose address was probably written in an earlier chunk: folded on the next write.
        self._later: dict[str, Pending] = {}

    def keep(self, recipient: Pending) -> None:
        """One checked row, in file order."""
        email = recipient[EMAIL]
        if not email:
            self._new.append(recipient)
            self.imported += 1
        elif (at := self._new_by_email.get(email)) is not None:
            self._new[at] = _folded(self._new[at], recipient)
            self.merged += 1
        elif (first := self._later.get(email)) is not None:
            self._later[email] = _folded(first, recipient)
            self.merged += 1
        else:
            bit = hash(email) & (_FILTER_BITS - 1)
            if self._seen[bit >> 3] & (1 << (bit & 7)):
                self._later[email] = recipient  # counted when it is written
            else:
                self._seen[bit >> 3] |= 1 << (bit & 7)
                self._new_by_email[email] = len(self._new)
                self._new.append(recipient)
                self.imported += 1

    def take(self) -> tuple[list[Pending], dict[str, Pending]]:
        """The new recipients kept since the last ``take``, in file order, and those whose
        address was probably written before (see ``Chunk``)."""
        new, later = self._new, self._later
        self._new = []
        self._new_by_email = {}
        self._later = {}
        return new, later

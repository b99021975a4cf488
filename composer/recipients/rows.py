"""Reading a recipient CSV file and checking its rows: everything an import does before the
database.

``Lines`` reads the file's physical lines with bounded memory; ``read_header`` finds the
columns; ``RowChecks`` checks and normalises each row with the rules of
``composer.rendering.merge_fields.Recipient`` (plus country, US state, language and data categories)
and rejects it or keeps it; ``Merger`` merges the rows kept that share an address and counts
each as imported or merged; ``check_rows`` runs the rows after the header through them and
hands out chunks to write. ``composer.recipients.lists`` merges and writes the chunks, with
the checking in this process or (a large file) in a second one
(``composer.recipients.row_process``).

Nothing here touches the database or imports Flask, so the second process starts quickly.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import json
import re
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii
from operator import itemgetter
from typing import IO, Any, Final, NamedTuple

from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import DOT_ATOM_TEXT, EMAIL_MAX_LENGTH

from composer.rendering.errors import RecipientError
from composer.rendering.merge_fields import Recipient

#: The columns a recipient file may have, in the order docs/recipients.md lists them.
COLUMNS: Final = (
    "email",
    "first_name",
    "last_name",
    "reference",
    "address_line_1",
    "address_line_2",
    "address_line_3",
    "city",
    "region",
    "postcode",
    "country",
    "us_state",
    "language",
    "data_categories",
)
#: The columns that make up the postal address, in envelope order (country kept apart).
ADDRESS_COLUMNS: Final = (
    "address_line_1",
    "address_line_2",
    "address_line_3",
    "city",
    "region",
    "postcode",
)
#: The columns checked as merge.Recipient checks names, references and address lines, and the
#: Recipient field each one's rules come from.
_TEXT_COLUMNS: Final = ("first_name", "last_name", "reference", *ADDRESS_COLUMNS)
_TEXT_FIELDS: Final = ("first_name", "last_name", "reference", *["postal_address"] * 6)
#: The longest physical line read; no recipient row comes near it (14 values of at most a few
#: hundred characters), so a longer one is a stray quote mark or not a recipient file.
MAX_LINE_BYTES: Final = 128 * 1024
#: The longest offending value kept in the error report.
MAX_REPORTED_VALUE: Final = 100
#: Mirrors ``merge.Recipient``: the longest name, reference or address line, and email address.
MAX_TEXT: Final = 200
MAX_EMAIL: Final = 254

# Characters merge.Recipient refuses (Unicode categories Cc, Zl and Zp, exactly), as one regex:
# checking a value this way is ten times faster than asking unicodedata about each character.
# tests/sending/test_recipients.py keeps the two in step.
UNSAFE: Final = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
#: Invisible characters refused in names, references and address lines: the bidirectional
#: embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069), which make a value show
#: in another order than it holds (a name can read backwards), and the zero-width space,
#: joiners, word joiner and byte-order mark (U+200B-U+200D, U+2060, U+FEFF), which make two
#: values that look the same differ. A list exported from a spreadsheet has no reason to hold
#: them.
INVISIBLE: Final = re.compile("[\u200b-\u200d\u2060\ufeff\u202a-\u202e\u2066-\u2069]")
#: UNSAFE and INVISIBLE together: the fast test of whether a row's texts need a closer look.
_SUSPECT: Final = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029" + INVISIBLE.pattern[1:])
_INVISIBLE_NAMES: Final = {
    "\u200b": "zero-width space",
    "\u200c": "zero-width non-joiner",
    "\u200d": "zero-width joiner",
    "\u2060": "word joiner",
    "\ufeff": "zero-width no-break space (byte-order mark)",
    "\u202a": "left-to-right embedding",
    "\u202b": "right-to-left embedding",
    "\u202c": "pop directional formatting",
    "\u202d": "left-to-right override",
    "\u202e": "right-to-left override",
    "\u2066": "left-to-right isolate",
    "\u2067": "right-to-left isolate",
    "\u2068": "first strong isolate",
    "\u2069": "pop directional isolate",
}
_ASCII_DOMAIN: Final = re.compile(r"[A-Za-z0-9.-]+\Z")
_ASCII_UPPER: Final = {code: code + 32 for code in range(ord("A"), ord("Z") + 1)}
_LANGUAGE: Final = re.compile(
    r"([A-Za-z]{2,3})(?:[-_]([A-Za-z]{4}))?(?:[-_]([A-Za-z]{2}|[0-9]{3}))?\Z"
)
_TWO_LETTERS: Final = re.compile(r"[A-Za-z]{2}\Z")
_DELIMITERS: Final = (",", ";", "\t")
_UTF16_BOMS: Final = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
SAVE_AS: Final = (
    "Save it as UTF-8: in Excel choose File, Save As, “CSV UTF-8 (Comma delimited)”; in "
    "LibreOffice or Numbers, export as CSV with the UTF-8 character set."
)
#: Bits in the filter of addresses already seen: 8 MB whatever the file's size. At a million
#: addresses about 1.5% of new ones look seen and are looked up in the database (in batches, at
#: each write); a set of a million 64-bit hashes took the peak 58 MB higher.
_FILTER_BITS: Final = 1 << 26
#: Small per-import caches of values that repeat down a column (a country, a list of data
#: categories, a domain): bounded, so a file of a million different values cannot grow them.
_CACHE_LIMIT: Final = 10_000


class ImportRefused(ValueError):
    """The file as a whole cannot be imported; the message says why, for the uploader, and
    holds no personal data. Nothing from the file was kept."""


class UploadTooLarge(ImportRefused):
    """The file is larger than the limit."""

    def __init__(self, limit_bytes: int) -> None:
        self.limit_bytes = limit_bytes
        super().__init__(
            f"The file is larger than the limit of {format_megabytes(limit_bytes)}. Remove "
            "the columns the list does not use (only the recipient columns are read), or ask "
            "an admin to raise RECIPIENTS_MAX_BYTES. Nothing was imported."
        )


def format_megabytes(size: int) -> str:
    """``size`` bytes for people: "200 MB", "1.5 MB", "2 KB"."""
    megabytes = size / (1024 * 1024)
    if megabytes >= 1 and megabytes == int(megabytes):
        return f"{int(megabytes)} MB"
    if megabytes >= 1:
        return f"{megabytes:.1f} MB"
    return f"{size / 1024:.0f} KB" if size >= 1024 else f"{size} bytes"


# --- Reading lines -------------------------------------------------------------------------


class Lines:
    """The file's physical lines as text, read with bounded memory.

    Counts bytes (refusing a file over ``max_bytes``) and lines. A line longer than
    :data:`MAX_LINE_BYTES` is skipped to its end and stands as an empty line, its number kept
    in ``overlong`` so the row that holds it is rejected rather than read in part.
    """

    def __init__(self, stream: IO[bytes], max_bytes: int) -> None:
        #: Where the lines come from (the caller may swap in a stream that goes on from it).
        self.stream = stream
        self._max_bytes = max_bytes
        self.bytes_read = 0
        #: Physical lines read so far.
        self.line = 0
        #: Overlong lines not yet claimed by a row: (line number, the start of its text).
        self.overlong: list[tuple[int, str]] = []
        #: Set while skipping a quoted value that outgrew the csv field limit: lines are
        #: dropped up to and including the one where its quote closes.
        self.skipping = False
        #: The last line dropped that way.
        self.skipped_to = 0

    def _count(self, size: int) -> None:
        self.bytes_read += size
        if self.bytes_read > self._max_bytes:
            raise UploadTooLarge(self._max_bytes)

    def first(self) -> str | None:
        """The first line, its byte-order mark removed; None for an empty file."""
        raw = self.stream.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return None
        self._count(len(raw))
        self.line = 1
        overlong = len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n")
        what = file_kind(raw + self.stream.read(SNIFF_BYTES) if _binary(raw) else raw)
        if what is not None:
            raise ImportRefused(f"{what} Nothing was imported.")
        raw = raw.removeprefix(codecs.BOM_UTF8)
        if overlong:
            endings = ""
            if b"\r" in raw:
                endings = (
                    " It seems to end its lines with a carriage return only (old Mac files): "
                    f"{SAVE_AS}"
                )
            raise ImportRefused(
                f"The first line is longer than {MAX_LINE_BYTES // 1024} KB; it should name "
                f"the columns (see the list of columns).{endings} Nothing was imported."
            )
        return self._decode(raw)

    def rest(self) -> Iterator[str]:
        """The lines after the first."""
        readline = self.stream.readline
        limit = MAX_LINE_BYTES + 1
        while True:
            raw = readline(limit)
            if not raw:
                return
            size = len(raw)
            # _count and _decode, inline: this loop runs once per line of a million-line file.
            self.bytes_read += size
            if self.bytes_read > self._max_bytes:
                raise UploadTooLarge(self._max_bytes)
            self.line += 1
            if size == limit and not raw.endswith(b"\n"):
                self._skip_to_line_end()
                if self.skipping:
                    self.skipped_to = self.line
                    continue
                preview = raw[: MAX_REPORTED_VALUE * 4].decode("utf-8", "replace")
                self.overlong.append((self.line, preview[:MAX_REPORTED_VALUE]))
                yield "\n"
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = self._decode(raw)  # says where
            if self.skipping:
                self.skipped_to = self.line
                self.skipping = not _closes_quote(text)
                continue
            yield text

    def _skip_to_line_end(self) -> None:
        while True:
            raw = self.stream.readline(64 * 1024)
            if not raw:
                return
            self._count(len(raw))
            if raw.endswith(b"\n"):
                return

    def _decode(self, raw: bytes) -> str:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad = raw[exc.start]
            column = len(raw[: exc.start].decode("utf-8", "replace")) + 1
            raise ImportRefused(
                f"The file is not UTF-8 text: line {self.line} has the byte 0x{bad:02X} at "
                f"character {column}, which UTF-8 does not allow there. The file was probably "
                f"saved as Latin-1 or Windows-1252. {SAVE_AS} Nothing was imported."
            ) from None


#: Bytes looked at to tell what a file that is not CSV text is.
SNIFF_BYTES: Final = 64 * 1024
_SPREADSHEET_SAVE_AS: Final = (
    "Open it in your spreadsheet program and save it as CSV UTF-8 (Excel: File, Save As, "
    "“CSV UTF-8 (Comma delimited)”; LibreOffice: File, Save As, “Text CSV”, character set "
    "UTF-8), then upload that file."
)


#: Bytes no text file holds (C0 controls other than tab, line feed and carriage return).
_BINARY_BYTES: Final = re.compile(b"[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f]")


def _binary(start: bytes) -> bool:
    return start.startswith(_MAGIC_PREFIXES) or _BINARY_BYTES.search(start) is not None


def file_kind(start: bytes) -> str | None:
    """What the file beginning with ``start`` is, as a sentence that says how to make a CSV
    file of it, when it is something other than text (a spreadsheet, an archive, a PDF,
    UTF-16 or other binary data); None for text."""
    if start.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return f"This is UTF-32 text, not CSV in UTF-8. {SAVE_AS}"
    if start.startswith(_UTF16_BOMS) or _looks_utf16(start):
        return f"This is UTF-16 text (Excel's “Unicode Text”), not CSV in UTF-8. {SAVE_AS}"
    if start.startswith(b"PK\x03\x04") or start.startswith(b"PK\x05\x06"):
        if b"xl/" in start or b"spreadsheetml" in start:
            return f"This is an Excel workbook (.xlsx), not a CSV file. {_SPREADSHEET_SAVE_AS}"
        if b"opendocument.spreadsheet" in start:
            return (
                "This is an OpenDocument spreadsheet (.ods, from LibreOffice), not a CSV file. "
                f"{_SPREADSHEET_SAVE_AS}"
            )
        if b"word/" in start or b"opendocument.text" in start:
            return (
                "This is a word-processor document (.docx or .odt), not a CSV file. Put the "
                "list in a spreadsheet, one person a row, and save it as CSV UTF-8."
            )
        return (
            "This is a zip archive, not a CSV file. Unzip it and upload the CSV file inside "
            "(saved as CSV UTF-8)."
        )
    if start.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return (
            "This is an Excel 97-2003 workbook (.xls) or another Microsoft Office file, not a "
            f"CSV file. {_SPREADSHEET_SAVE_AS}"
        )
    if start.startswith(b"%PDF-"):
        return (
            "This is a PDF document, not a CSV file. A recipient list cannot be read from a "
            "PDF: export the list from where it is kept as CSV UTF-8."
        )
    if start.startswith(b"\x1f\x8b"):
        return (
            "This is a compressed (gzip) file, not a CSV file. Decompress it and upload the "
            "CSV file inside (saved as CSV UTF-8)."
        )
    if start.startswith((b"7z\xbc\xaf\x27\x1c", b"Rar!")):
        return (
            "This is a compressed archive (7-Zip or RAR), not a CSV file. Extract it and upload "
            "the CSV file inside (saved as CSV UTF-8)."
        )
    if start.startswith((b"\x89PNG", b"\xff\xd8\xff", b"GIF8")):
        return "This is an image, not a CSV file. Upload the recipient list saved as CSV UTF-8."
    if _BINARY_BYTES.search(start[:SNIFF_BYTES]):
        return (
            "This is not a text file: it holds binary data (an image, a program, a database or "
            "a document), not a CSV file. Upload the recipient list saved as CSV UTF-8."
        )
    return None


#: Starts of files that are not text whatever follows (see :func:`file_kind`).
_MAGIC_PREFIXES: Final = (
    b"PK\x03\x04",
    b"PK\x05\x06",
    b"\xd0\xcf\x11\xe0",
    b"%PDF-",
    b"\x1f\x8b",
    b"7z\xbc\xaf",
    b"Rar!",
    b"\x89PNG",
    b"\xff\xd8\xff",
    b"GIF8",
)


def _looks_utf16(start: bytes) -> bool:
    """UTF-16 without a byte-order mark: mostly text with a NUL byte beside each character."""
    sample = start[:512]
    if len(sample) < 4:
        return False
    for zeros in (sample[1::2], sample[0::2]):
        if zeros.count(0) >= 0.9 * len(zeros) and sample.count(0) <= 0.55 * len(sample):
            return True
    return False


def shown(value: str) -> str:
    """``value`` for the error report: each invisible character written as ``<U+202E>``, so
    the report shows where it is and cannot itself be shown in a misleading order."""
    if not INVISIBLE.search(value):
        return value
    return INVISIBLE.sub(lambda m: f"<U+{ord(m.group()):04X}>", value)


def _closes_quote(line: str) -> bool:
    """Whether ``line``, read inside a quoted value, has the quote that closes it (``""`` is
    a quote mark within the value)."""
    at = line.find('"')
    while at != -1:
        if not line.startswith('""', at):
            return True
        at = line.find('"', at + 2)
    return False


def pick_delimiter(header_line: str) -> str:
    """Comma, unless the header names more known columns when split on ';' or a tab (Excel
    uses ';' where the comma is the decimal mark)."""
    best, best_known = ",", -1
    for delimiter in _DELIMITERS:
        try:
            names = next(csv.reader([header_line], delimiter=delimiter), [])
        except csv.Error:
            return ","  # reading the header proper says what is wrong
        known = sum(1 for name in names if name.strip().lower() in COLUMNS)
        if known > best_known:
            best, best_known = delimiter, known
    return best


# --- Checking values -----------------------------------------------------------------------


def _cut(value: str) -> str:
    return value if len(value) <= MAX_REPORTED_VALUE else value[: MAX_REPORTED_VALUE - 1] + "…"


class RowChecker:
    """Checks and normalises one row's values; holds the per-import caches."""

    def __init__(
        self,
        categories: Collection[str],
        countries: Collection[str] | None,
        us_states: Collection[str] | None,
    ) -> None:
        self._categories = frozenset(categories)
        self._countries = frozenset(countries) if countries is not None else None
        self._us_states = frozenset(us_states) if us_states is not None else None
        self._domains: dict[str, str] = {}
        self._category_lists: dict[str, tuple[str, str | None]] = {}
        self._codes: dict[tuple[str, str], tuple[str, str | None]] = {}

    # Text values: exactly merge.Recipient's rules. The fast check decides almost every value;
    # anything it doubts is handed to Recipient itself, whose message is the one reported.

    @staticmethod
    def text(value: str, field: str) -> str | None:
        """The problem with a name, reference or address line, or None."""
        if len(value) <= MAX_TEXT and not _SUSPECT.search(value):
            return None
        invisible = INVISIBLE.search(value)
        if invisible and not UNSAFE.search(value):
            char = invisible.group()
            return (
                f"The value holds an invisible character, U+{ord(char):04X} "
                f"({_INVISIBLE_NAMES[char]}), which can make it show differently from what it "
                "holds. Remove it (retype the value) and upload the file again."
            )
        try:
            if field == "first_name":
                Recipient(first_name=value)
            elif field == "last_name":
                Recipient(last_name=value)
            elif field == "reference":
                Recipient(reference=value)
            else:
                Recipient(postal_address=(value,))
        except RecipientError as exc:
            return str(exc)
        return None

    def email(self, value: str) -> tuple[str, str | None]:
        """The address normalised for storing and comparing (lower-case), or its problem."""
        local, at, domain = value.rpartition("@")
        normal_domain = self._domains.get(domain) if at else None
        if (
            normal_domain is not None
            and len(value) <= EMAIL_MAX_LENGTH
            and len(local) <= 64
            and DOT_ATOM_TEXT.match(local)
        ):
            # What validate_email returns for a plain ASCII local part and a domain it has
            # already accepted in this import (the test suite checks the two agree).
            normalized = local + "@" + normal_domain
        else:
            if len(value) > MAX_EMAIL or UNSAFE.search(value):
                return "", self.text_email_problem(value)
            try:
                result = validate_email(value, check_deliverability=False)
            except EmailNotValidError as exc:
                return "", f"The recipient's email address is not valid: {exc}"
            normalized = result.normalized
            if _ASCII_DOMAIN.match(result.domain) and len(self._domains) < _CACHE_LIMIT:
                self._domains[value.rpartition("@")[2]] = result.domain
        if normalized.isascii():
            return normalized.lower(), None
        # Only ASCII letters are folded: lower-casing other scripts can change the address.
        return normalized.translate(_ASCII_UPPER), None

    @staticmethod
    def text_email_problem(value: str) -> str:
        try:
            Recipient(email=value)
        except RecipientError as exc:
            return str(exc)
        return "The recipient's email address is not valid."  # pragma: no cover

    def country(self, value: str) -> tuple[str, str | None]:
        key = ("country", value)
        found = self._codes.get(key)
        if found is None:
            found = self._country(value)
            if len(self._codes) < _CACHE_LIMIT:
                self._codes[key] = found
        return found

    def _country(self, value: str) -> tuple[str, str | None]:
        code = value.upper()
        if code == "UK":
            return "", "“UK” is not an ISO 3166-1 code: the United Kingdom is GB."
        if not _TWO_LETTERS.match(code):
            return "", (
                f"“{_cut(value)}” is not a two-letter country code (ISO 3166-1 alpha-2, "
                "such as GB, US, FR or DE)."
            )
        if self._countries is not None and code not in self._countries:
            return "", f"“{code}” is not an ISO 3166-1 country code."
        return code, None

    def us_state(self, value: str, country: str) -> tuple[str, str | None]:
        code = value.upper()
        if country != "US":
            where = f"the country is {country}" if country else "no country is given"
            return "", f"A US state is only for addresses in the US (country US); {where}."
        key = ("us_state", code)
        found = self._codes.get(key)
        if found is None:
            if not _TWO_LETTERS.match(code):
                found = (
                    "",
                    (f"“{_cut(value)}” is not a two-letter US state code (such as CA, NY or TX)."),
                )
            elif self._us_states is not None and code not in self._us_states:
                found = "", f"“{code}” is not a US state or territory code."
            else:
                found = code, None
            if len(self._codes) < _CACHE_LIMIT:
                self._codes[key] = found
        return found

    def language(self, value: str) -> tuple[str, str | None]:
        key = ("language", value)
        found = self._codes.get(key)
        if found is None:
            match = _LANGUAGE.match(value)
            if match is None:
                found = (
                    "",
                    (f"“{_cut(value)}” is not a language tag such as en, en-GB, fr or pt-BR."),
                )
            else:
                language, script, region = match.groups()
                parts = [language.lower()]
                if script:
                    parts.append(script.title())
                if region:
                    parts.append(region.upper())
                found = "-".join(parts), None
            if len(self._codes) < _CACHE_LIMIT:
                self._codes[key] = found
        return found

    def data_categories_json(self, value: str) -> tuple[str, str | None]:
        """The data category ids, sorted, as JSON text (``[]`` when there is a problem), or
        the problem."""
        found = self._category_lists.get(value)
        if found is None:
            ids, problem = self._data_categories(value)
            found = _json_texts(list(ids)), problem
            if len(self._category_lists) < _CACHE_LIMIT:
                self._category_lists[value] = found
        return found

    def _data_categories(self, value: str) -> tuple[tuple[str, ...], str | None]:
        ids = {part.strip().lower() for part in value.split(";")} - {""}
        unknown = sorted(ids - self._categories)
        if not unknown:
            return tuple(sorted(ids)), None
        hints = []
        for name in unknown[:3]:
            if "," in name:
                hints.append("separate categories with semicolons (;), not commas")
                break
            close = difflib.get_close_matches(name, self._categories, n=1)
            if close:
                hints.append(f"did you mean “{close[0]}” for “{_cut(name)}”?")
        listed = ", ".join(f"“{_cut(name)}”" for name in unknown[:5])
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        hint = f" ({'; '.join(hints)})" if hints else ""
        return (), (
            f"Unknown data categor{'ies' if len(unknown) > 1 else 'y'} {listed}{more}{hint}. "
            "Use the data category ids the upload page lists, separated by semicolons."
        )


# --- Importing -----------------------------------------------------------------------------


@dataclass
class Header:
    names: list[str]
    #: Column index of each known column present.
    index: dict[str, int]
    warnings: list[str]


def read_header(cells: list[str]) -> Header:
    names = [cell.strip() for cell in cells]
    if not any(names):
        raise ImportRefused(
            "The first line is empty. It must name the columns, such as "
            "email,first_name,last_name. Nothing was imported."
        )
    index: dict[str, int] = {}
    unknown: list[str] = []
    unnamed: list[int] = []
    for i, name in enumerate(names):
        key = name.lower()
        if key in index:
            raise ImportRefused(
                f"The column “{_cut(name)}” appears twice (columns {index[key] + 1} and "
                f"{i + 1}), so it is not clear which to use. Nothing was imported."
            )
        if key in COLUMNS:
            index[key] = i
        elif name:
            unknown.append(name)
        else:
            unnamed.append(i + 1)
    has_address = (
        "address_line_1" in index
        and "country" in index
        and ("city" in index or "postcode" in index)
    )
    if "email" not in index and not has_address:
        known = ", ".join(COLUMNS)
        raise ImportRefused(
            "The file has no “email” column, and no postal address columns either "
            "(address_line_1, city or postcode, and country). The first line must name the "
            f"columns; the recipient columns are: {known}. Nothing was imported."
        )
    warnings = []
    if unknown:
        listed = ", ".join(f"“{_cut(name)}”" for name in unknown[:10])
        more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
        warnings.append(
            f"Column{'s' if len(unknown) > 1 else ''} {listed}{more} "
            f"{'are' if len(unknown) > 1 else 'is'} not a recipient column and "
            f"{'were' if len(unknown) > 1 else 'was'} ignored (column names are case-insensitive; "
            "see the list of columns)."
        )
    if unnamed:
        listed = ", ".join(str(n) for n in unnamed[:10])
        warnings.append(
            f"Column{'s' if len(unnamed) > 1 else ''} {listed} "
            f"{'have' if len(unnamed) > 1 else 'has'} no name in the first line and "
            f"{'were' if len(unnamed) > 1 else 'was'} ignored."
        )
    return Header(names=names, index=index, warnings=warnings)


#: A recipient waiting to be written: its values in the stored columns' order (list id, email,
#: first and last name, reference, address, country, US state, language, data categories,
#: source rows), the lists
#: (address, data categories, source rows) already JSON text. Tuples of strings, not dicts of
#: lists: the garbage collector soon stops tracking them, and at a million rows tracking dicts
#: and lists cost a tenth of the import.
Pending = tuple[int, str, str, str, str, str, str, str, str, str, str]
_EMAIL: Final = 1
#: A row's country, US state, language and data categories (JSON text) as stored, and the
#: problems with them: (column, problem, value).
_CheckedCodes = tuple[str, str, str, str, tuple[tuple[str, str, str], ...]]
_CATEGORIES: Final = 9
_SOURCE_ROWS: Final = 10


def _json_texts(values: list[str]) -> str:
    """``json.dumps(values)`` for a list of strings, five times faster."""
    return "[" + ", ".join(map(encode_basestring_ascii, values)) + "]"


def _merged(first: Pending, later: Pending) -> Pending:
    """``first`` with a later row with the same address folded in: the first row's details
    stay, data categories are combined and the later row's number is kept."""
    categories = first[_CATEGORIES]
    if later[_CATEGORIES] != "[]":
        combined = set(json.loads(categories)) | set(json.loads(later[_CATEGORIES]))
        categories = _json_texts(sorted(combined))
    # "[2, 5]" and "[9]" make "[2, 5, 9]", as json.dumps writes the list.
    source_rows = first[_SOURCE_ROWS][:-1] + ", " + later[_SOURCE_ROWS][1:]
    return (*first[:_CATEGORIES], categories, source_rows)


class Merger:
    """Rows with the same address as an earlier one merged into it: the first row's details
    stay, data categories are combined and the row numbers kept. Memory does not grow with
    the list: rows are handed out in chunks (``take``) and the addresses seen are kept as bits.
    """

    def __init__(self) -> None:
        #: Rows kept as new recipients, and rows merged into an earlier one.
        self.imported = self.merged = 0
        # Rows waiting to be written, in file order; those with an address are also found by
        # address (their place in ``_new``), so a duplicate in the same chunk merges before
        # anything is written.
        self._new: list[Pending] = []
        self._new_by_email: dict[str, int] = {}
        # Addresses already seen, as one bit each (a one-hash Bloom filter over the string's
        # hash): "not seen" is certain; "seen" is only a hint that the database checks, so two
        # addresses sharing a bit are never merged.
        self._seen = bytearray(_FILTER_BITS >> 3)
        # Rows whose address was probably written in an earlier chunk: merged on the next write.
        self._later: dict[str, Pending] = {}

    def keep(self, recipient: Pending) -> None:
        """One checked row, in file order."""
        email = recipient[_EMAIL]
        if not email:
            self._new.append(recipient)
            self.imported += 1
        elif (at := self._new_by_email.get(email)) is not None:
            self._new[at] = _merged(self._new[at], recipient)
            self.merged += 1
        elif (first := self._later.get(email)) is not None:
            self._later[email] = _merged(first, recipient)
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


class RowChecks:
    """One import's rows checked: each row counted as rejected (with its problems) or handed
    to ``merger``, and the rows and row errors handed out in chunks (``take``) for writing.
    Without a merger, the checked rows are handed out as they are, for a merger in another
    process."""

    def __init__(
        self, list_id: int, header: Header, checker: RowChecker, merger: Merger | None
    ) -> None:
        self.list_id = list_id
        self.header = header
        self.checker = checker
        self.merger = merger
        self.rows = self.rejected = 0
        # Checked rows for the merger in another process, in file order.
        self._checked: list[Pending] = []
        self._keep = merger.keep if merger is not None else self._checked.append
        self._errors: list[dict[str, Any]] = []
        self._width = len(header.names)
        # The file's values in COLUMNS order; a column the file lacks reads the "" that
        # _check appends to each row.
        self._pick = itemgetter(*(header.index.get(column, self._width) for column in COLUMNS))
        #: Each column as the file spells it, for the error report.
        self._name = {column: header.names[i] for column, i in header.index.items()}
        self._checked_codes: dict[tuple[str, str, str, str], _CheckedCodes] = {}

    # One row ----------------------------------------------------------------------------

    def reject(self, row: int, problems: Iterable[tuple[str, str, str]]) -> None:
        """Count ``row`` as rejected, with (column, problem, value) for each problem."""
        self.rejected += 1
        for column, problem, value in problems:
            self._errors.append(
                {
                    "list_id": self.list_id,
                    "row": row,
                    "column": column,
                    "problem": problem,
                    "value": _cut(value),
                }
            )

    def add_problem(self, row: int, problem: str) -> None:
        """One more problem for a row already rejected."""
        self._errors.append(
            {"list_id": self.list_id, "row": row, "column": "", "problem": problem, "value": ""}
        )

    def add(self, row: int, cells: list[str], first_line: int, last_line: int) -> None:
        """Check one data row (lines ``first_line`` to ``last_line`` of the file): reject it
        or keep it (``_read_rows`` counts the rows)."""
        width = self._width
        if len(cells) != width:
            if len(cells) > width and not any(cell.strip() for cell in cells[width:]):
                del cells[width:]  # empty cells after the last column
            elif not any(cell.strip() for cell in cells):
                self.reject(row, [("", "The row is empty.", "")])
                return
            else:
                self.reject(
                    row,
                    [
                        (
                            "",
                            f"The row has {len(cells)} cells but the first line names "
                            f"{width} columns{_spanning(first_line, last_line)}. A value with a "
                            "comma in it must be in double quotes; a stray quote mark joins "
                            "cells or lines together.",
                            ",".join(cells),
                        )
                    ],
                )
                return
        recipient = self._check(row, cells)
        if recipient is not None:
            self._keep(recipient)

    def _check(self, row: int, cells: list[str]) -> Pending | None:
        """The row as a recipient to store, or None after recording why it was rejected."""
        cells.append("")  # what a column the file does not have reads as
        values = list(map(str.strip, self._pick(cells)))
        if not values[0] and not any(values):
            cells.pop()
            empty = (
                "The row has no values in the recipient columns."
                if any(cell.strip() for cell in cells)
                else "The row is empty."
            )
            self.reject(row, [("", empty, "")])
            return None
        (
            raw_email,
            first_name,
            last_name,
            reference,
            line_1,
            _line_2,
            _line_3,
            city,
            _region,
            postcode,
            raw_country,
            raw_state,
            raw_language,
            raw_categories,
        ) = values
        checker = self.checker
        name = self._name
        problems: list[tuple[str, str, str]] = []
        problem: str | None

        email = ""
        if raw_email:
            email, problem = checker.email(raw_email)
            if problem:
                problems.append((name["email"], problem, raw_email))
        texts = values[1:10]
        joined = "".join(texts)
        if _SUSPECT.search(joined) or (len(joined) > MAX_TEXT and max(map(len, texts)) > MAX_TEXT):
            for column, field, text in zip(_TEXT_COLUMNS, _TEXT_FIELDS, texts, strict=True):
                if text and (problem := checker.text(text, field)):
                    problems.append((name[column], problem, shown(text)))
        address = list(filter(None, texts[3:]))
        codes = (raw_country, raw_state, raw_language, raw_categories)
        checked = self._checked_codes.get(codes) or self._check_codes(codes)
        country, us_state, language, categories, code_problems = checked
        if code_problems:
            problems.extend(code_problems)
        if len(address) > 5 and not problems:
            try:
                Recipient(postal_address=tuple(address))
            except RecipientError as exc:
                problems.append(("", str(exc), ", ".join(address)))
        if not raw_email and not problems and not (line_1 and (city or postcode) and country):
            problems.append(
                (
                    "",
                    "The row has no email address and no complete postal address "
                    "(address_line_1, city or postcode, and country), so the notice "
                    "cannot reach this person.",
                    "",
                )
            )
        if problems:
            self.reject(row, problems)
            return None
        # The names and address lines together, or failing that the address lines alone.
        plain = joined if joined.isascii() else "".join(address)
        if plain.isascii() and '"' not in plain and "\\" not in plain:
            # Printable ASCII (controls were refused above) with nothing JSON escapes: what
            # _json_texts makes, made faster.
            address_json = '["' + '", "'.join(address) + '"]' if address else "[]"
        else:
            address_json = _json_texts(address)
        return (
            self.list_id,
            email,
            first_name,
            last_name,
            reference,
            address_json,
            country,
            us_state,
            language,
            categories,
            f"[{row}]",
        )

    def _check_codes(self, codes: tuple[str, str, str, str]) -> _CheckedCodes:
        """Country, US state, language and data categories, checked together: a list has few
        different combinations of them, so each is checked once (up to a limit)."""
        raw_country, raw_state, raw_language, raw_categories = codes
        checker = self.checker
        name = self._name
        problems: list[tuple[str, str, str]] = []
        problem: str | None
        country = ""
        if raw_country:
            country, problem = checker.country(raw_country)
            if problem:
                problems.append((name["country"], problem, raw_country))
        us_state = ""
        if raw_state:
            us_state, problem = checker.us_state(raw_state, country or raw_country.upper())
            if problem:
                problems.append((name["us_state"], problem, raw_state))
        language = ""
        if raw_language:
            language, problem = checker.language(raw_language)
            if problem:
                problems.append((name["language"], problem, raw_language))
        categories = "[]"
        if raw_categories:
            categories, problem = checker.data_categories_json(raw_categories)
            if problem:
                problems.append((name["data_categories"], problem, raw_categories))
        checked = (country, us_state, language, categories, tuple(problems))
        if len(self._checked_codes) < _CACHE_LIMIT:
            self._checked_codes[codes] = checked
        return checked

    def take(self) -> Chunk:
        """The rows checked since the last ``take``, for writing: from the merger, or (with
        none) every row kept, in file order, as ``new``; and the row errors."""
        errors, self._errors = self._errors, []
        if self.merger is not None:
            return Chunk(*self.merger.take(), errors)
        checked = self._checked
        self._checked = []
        self._keep = self._checked.append
        return Chunk(checked, {}, errors)


def _spanning(first_line: int, last_line: int) -> str:
    if last_line > first_line:
        return f" (it runs over lines {first_line} to {last_line} of the file)"
    return ""


class Chunk(NamedTuple):
    """Checked rows waiting to be written (``RowChecks.take``)."""

    #: New recipients, in file order (from a ``RowChecks`` without a merger: every row kept,
    #: not yet merged).
    new: list[Pending]
    #: Recipients whose address was probably written in an earlier chunk, by address: the
    #: writer merges each into the stored one, or (the filter's false "seen") stores it and
    #: counts it ``imported``.
    later: dict[str, Pending]
    #: Row errors: list_id, row, column, problem, value.
    errors: list[dict[str, Any]]


class Summary(NamedTuple):
    """The file after its last row (``check_rows``). The rows not rejected were kept (the
    merger counts them as imported or merged)."""

    rows: int
    rejected: int
    #: Bytes of the file read, the header included.
    bytes_read: int
    #: The warning for a quote mark that never closes, or "".
    unclosed: str


def check_rows(
    reader: Iterator[list[str]],
    lines: Lines,
    checks: RowChecks,
    write: Callable[[Chunk], None],
    chunk_rows: int,
) -> Summary:
    """Check every record after the header, rejecting those that cannot be read, and hand
    ``write`` a chunk every ``chunk_rows`` rows and at the end."""
    runaway_row = _read_rows(reader, lines, checks, write, max(1, chunk_rows))
    unclosed = ""
    if lines.skipping:
        unclosed = (
            f"The quote mark opened in row {runaway_row} never closes, so everything after it "
            f"to the end of the file (line {lines.line}) was read as part of that row and "
            f"rejected with it. Check row {runaway_row} for a stray quote mark."
        )
        checks.add_problem(runaway_row, unclosed)
    write(checks.take())
    return Summary(
        rows=checks.rows,
        rejected=checks.rejected,
        bytes_read=lines.bytes_read,
        unclosed=unclosed,
    )


def _read_rows(
    reader: Iterator[list[str]],
    lines: Lines,
    checks: RowChecks,
    write: Callable[[Chunk], None],
    chunk_rows: int,
) -> int:
    """``check_rows``'s loop; returns the row whose quoted value ran past the csv field limit
    (0 if none)."""
    row = 1
    last_line = lines.line
    runaway_row = 0
    add = checks.add
    next_write = row + chunk_rows
    while True:
        try:
            # The loop a million-row file goes round: as little as possible in it.
            for cells in reader:
                row += 1
                # Physical lines, as the file has them (a quoted value can span several).
                first_line = max(last_line, lines.skipped_to) + 1
                last_line = lines.line
                if lines.overlong and lines.overlong[0][0] <= last_line:
                    _reject_overlong(checks, lines, row, last_line)
                else:
                    add(row, cells, first_line, last_line)
                if row >= next_write:
                    write(checks.take())
                    next_write = row + chunk_rows
        except csv.Error as exc:
            error = str(exc)
        else:
            checks.rows = row - 1
            return runaway_row
        row += 1
        first_line = max(last_line, lines.skipped_to) + 1
        last_line = lines.line
        if lines.overlong and lines.overlong[0][0] <= last_line:
            _reject_overlong(checks, lines, row, last_line)
            continue
        if "field larger than field limit" in error:
            # Only a quoted value running over several lines gets here (one line is shorter
            # than the limit): skip to where the quote closes, so the rows after it are read
            # as rows and not as a thousand fragments of this one.
            lines.skipping = True
            runaway_row = row
            problem = (
                f"This row (from line {first_line} of the file) has a quoted value longer than "
                f"{csv.field_size_limit():,} characters: probably a quote mark that is never "
                "closed. The row was skipped up to the line where the quote closes."
            )
        else:
            where = (
                f"lines {first_line} to {last_line}"
                if last_line > first_line
                else f"line {first_line}"
            )
            problem = (
                f"This row ({where} of the file) cannot be read as CSV: {error}. "
                "A quoted value may be missing its closing quote mark."
            )
        checks.reject(row, [("", problem, "")])


def _reject_overlong(checks: RowChecks, lines: Lines, row: int, last_line: int) -> None:
    """Reject ``row``, which holds a line over the length limit (never read)."""
    number, preview = lines.overlong[0]
    lines.overlong = [item for item in lines.overlong if item[0] > last_line]
    checks.reject(
        row,
        [
            (
                "",
                f"Line {number} of the file is longer than {MAX_LINE_BYTES // 1024} KB, "
                "far more than any recipient needs, so this row was not read. A stray "
                "quote mark or a pasted document can cause this.",
                preview,
            )
        ],
    )

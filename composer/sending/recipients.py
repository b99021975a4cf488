"""Recipient lists from CSV: streamed in, checked row by row, duplicates merged, nothing lost.

``import_csv`` reads an uploaded file line by line (a million-row file is never held in memory),
checks every row with the rules of ``composer.rendering.merge.Recipient`` plus the columns only
a list has (country, US state, language, data categories), and writes the good rows in chunks.
Every data row is accounted for exactly once: *imported* (a new recipient), *merged* (same email
address as an earlier row: the earlier row's details win, data categories are combined, the row
number is kept) or *rejected* (each problem stored with its row, column and value, for the
report ``error_report_csv`` streams). Bad rows never stop good ones. Problems with the file as a
whole (not UTF-8, no header, no email or address columns, too large) refuse the whole file with
:class:`ImportRefused` and nothing is kept.

The import runs in the caller's transaction and never commits: the caller commits once at the
end (with its audit event), so a crash part-way leaves no half list. docs/recipients.md
describes the file for users.

No Flask here.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import hashlib
import io
import json
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import chain
from json.encoder import encode_basestring, encode_basestring_ascii
from operator import itemgetter
from typing import IO, Any, Final

from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import DOT_ATOM_TEXT, EMAIL_MAX_LENGTH
from sqlalchemy import (
    JSON,
    ColumnElement,
    Select,
    Table,
    Text,
    cast,
    func,
    insert,
    select,
    update,
)
from sqlalchemy import column as sa_column
from sqlalchemy import table as sa_table
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import QueryableAttribute, Session

from composer.csv_safe import write_rows
from composer.models import Base, Incident, RecipientList, RecipientRowError, User
from composer.models import Recipient as StoredRecipient
from composer.rendering.errors import RecipientError
from composer.rendering.merge import Recipient

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
_UNSAFE: Final = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_ASCII_DOMAIN: Final = re.compile(r"[A-Za-z0-9.-]+\Z")
_ASCII_UPPER: Final = {code: code + 32 for code in range(ord("A"), ord("Z") + 1)}
_LANGUAGE: Final = re.compile(
    r"([A-Za-z]{2,3})(?:[-_]([A-Za-z]{4}))?(?:[-_]([A-Za-z]{2}|[0-9]{3}))?\Z"
)
_TWO_LETTERS: Final = re.compile(r"[A-Za-z]{2}\Z")
_DELIMITERS: Final = (",", ";", "\t")
_UTF16_BOMS: Final = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_SAVE_AS: Final = (
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


@dataclass(frozen=True)
class ImportReport:
    """What became of an uploaded file's rows: ``imported + merged + rejected == rows``."""

    recipient_list: RecipientList
    #: Data rows read (the header not counted).
    rows: int
    imported: int
    merged: int
    rejected: int
    #: Problems with the file that did not stop it ("column 'notes' was ignored").
    warnings: tuple[str, ...]
    #: ``list_digest`` of the imported list.
    digest: str

    @property
    def accounted(self) -> bool:
        return self.imported + self.merged + self.rejected == self.rows


# --- Reading lines -------------------------------------------------------------------------


class _Lines:
    """The file's physical lines as text, read with bounded memory.

    Counts bytes (refusing a file over ``max_bytes``) and lines. A line longer than
    :data:`MAX_LINE_BYTES` is skipped to its end and stands as an empty line, its number kept
    in ``overlong`` so the row that holds it is rejected rather than read in part.
    """

    def __init__(self, stream: IO[bytes], max_bytes: int) -> None:
        self._stream = stream
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
        raw = self._stream.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return None
        self._count(len(raw))
        self.line = 1
        overlong = len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n")
        if raw.startswith(_UTF16_BOMS) or b"\x00" in raw:
            raise ImportRefused(
                "The file is UTF-16 text (Excel's “Unicode Text”), not CSV in UTF-8. "
                f"{_SAVE_AS} Nothing was imported."
            )
        raw = raw.removeprefix(codecs.BOM_UTF8)
        if overlong:
            endings = ""
            if b"\r" in raw:
                endings = (
                    " It seems to end its lines with a carriage return only (old Mac files): "
                    f"{_SAVE_AS}"
                )
            raise ImportRefused(
                f"The first line is longer than {MAX_LINE_BYTES // 1024} KB; it should name "
                f"the columns (see the list of columns).{endings} Nothing was imported."
            )
        return self._decode(raw)

    def rest(self) -> Iterator[str]:
        """The lines after the first."""
        readline = self._stream.readline
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
            raw = self._stream.readline(64 * 1024)
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
                f"saved as Latin-1 or Windows-1252. {_SAVE_AS} Nothing was imported."
            ) from None


def _closes_quote(line: str) -> bool:
    """Whether ``line``, read inside a quoted value, has the quote that closes it (``""`` is
    a quote mark within the value)."""
    at = line.find('"')
    while at != -1:
        if not line.startswith('""', at):
            return True
        at = line.find('"', at + 2)
    return False


def _pick_delimiter(header_line: str) -> str:
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


class _RowChecker:
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
        if len(value) <= MAX_TEXT and not _UNSAFE.search(value):
            return None
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
            if len(value) > MAX_EMAIL or _UNSAFE.search(value):
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
class _Header:
    names: list[str]
    #: Column index of each known column present.
    index: dict[str, int]
    warnings: list[str]


def _read_header(cells: list[str]) -> _Header:
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
    return _Header(names=names, index=index, warnings=warnings)


def _table(model: type[Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


_ROW_ERROR_TABLE: Final = _table(RecipientRowError)
#: The recipient columns written by an import, in the order of a ``_Pending`` row.
_PENDING_COLUMNS: Final = tuple(c.name for c in _table(StoredRecipient).columns if c.name != "id")
# Recipients go in through a plain table whose JSON columns arrive already encoded: SQLAlchemy's
# JSON type spent more time in json.dumps than SQLite took to store the rows. Both SQLite and
# PostgreSQL (an untyped parameter into a json column) store the text as it is.
_RECIPIENT_INSERT: Final = insert(
    sa_table(_table(StoredRecipient).name, *(sa_column(name) for name in _PENDING_COLUMNS))
)
# SQLite gets the same insert as plain SQL and plain tuples: SQLAlchemy's handling of each row's
# parameters took longer than SQLite took to store it. (PostgreSQL keeps the statement above,
# which SQLAlchemy sends as multi-row inserts.)
_SQLITE_RECIPIENT_INSERT: Final = str(_RECIPIENT_INSERT.compile(dialect=sqlite.dialect()))
#: A recipient waiting to be written: its values in ``_PENDING_COLUMNS`` order, the lists
#: (address, data categories, source rows) already JSON text. Tuples of strings, not dicts of
#: lists: the garbage collector soon stops tracking them, and at a million rows tracking dicts
#: and lists cost a tenth of the import.
_Pending = tuple[int, str, str, str, str, str, str, str, str, str, str]
_EMAIL: Final = 1
#: A row's country, US state, language and data categories (JSON text) as stored, and the
#: problems with them: (column, problem, value).
_CheckedCodes = tuple[str, str, str, str, tuple[tuple[str, str, str], ...]]
_CATEGORIES: Final = 9
_SOURCE_ROWS: Final = 10


def _json_texts(values: list[str]) -> str:
    """``json.dumps(values)`` for a list of strings, five times faster."""
    return "[" + ", ".join(map(encode_basestring_ascii, values)) + "]"


def _merged(first: _Pending, later: _Pending) -> _Pending:
    """``first`` with a later row with the same address folded in: the first row's details
    stay, data categories are combined and the later row's number is kept."""
    categories = first[_CATEGORIES]
    if later[_CATEGORIES] != "[]":
        combined = set(json.loads(categories)) | set(json.loads(later[_CATEGORIES]))
        categories = _json_texts(sorted(combined))
    # "[2, 5]" and "[9]" make "[2, 5, 9]", as json.dumps writes the list.
    source_rows = first[_SOURCE_ROWS][:-1] + ", " + later[_SOURCE_ROWS][1:]
    return (*first[:_CATEGORIES], categories, source_rows)


class _Importer:
    """One import: rows in, recipients and row errors out in chunks, counts kept."""

    def __init__(
        self,
        session: Session,
        recipient_list: RecipientList,
        header: _Header,
        checker: _RowChecker,
        chunk_rows: int,
    ) -> None:
        self.session = session
        self.list = recipient_list
        self.list_id = recipient_list.id
        self.header = header
        self.checker = checker
        self.chunk_rows = max(1, chunk_rows)
        self.rows = self.imported = self.merged = self.rejected = 0
        # Rows waiting to be written, in file order; those with an address are also found by
        # address (their place in ``_new``), so a duplicate in the same chunk merges before
        # anything is written.
        self._new: list[_Pending] = []
        self._new_by_email: dict[str, int] = {}
        # Addresses already seen, as one bit each (a one-hash Bloom filter over the string's
        # hash): "not seen" is certain; "seen" is only a hint that the database checks, so two
        # addresses sharing a bit are never merged.
        self._seen = bytearray(_FILTER_BITS >> 3)
        # Rows whose address was probably written in an earlier chunk: merged on the next write.
        self._later: dict[str, _Pending] = {}
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
        """Check one data row (lines ``first_line`` to ``last_line`` of the file) and count it
        as imported, merged or rejected (``_read_rows`` counts the rows)."""
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
        if recipient is None:
            return
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

    def _check(self, row: int, cells: list[str]) -> _Pending | None:
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
        if _UNSAFE.search(joined) or (len(joined) > MAX_TEXT and max(map(len, texts)) > MAX_TEXT):
            for column, field, text in zip(_TEXT_COLUMNS, _TEXT_FIELDS, texts, strict=True):
                if text and (problem := checker.text(text, field)):
                    problems.append((name[column], problem, text))
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

    # Writing ----------------------------------------------------------------------------

    def write(self) -> None:
        """Write the waiting rows, merges and row errors (within the caller's transaction)."""
        session = self.session
        if self._new:
            self._insert(self._new)
        self._new = []
        self._new_by_email = {}
        if self._later:
            self._write_later()
        if self._errors:
            session.execute(insert(_ROW_ERROR_TABLE), self._errors)
            self._errors = []

    def _insert(self, rows: list[_Pending]) -> None:
        connection = self.session.connection()
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql(_SQLITE_RECIPIENT_INSERT, rows)
        else:
            self.session.execute(
                _RECIPIENT_INSERT, [dict(zip(_PENDING_COLUMNS, row, strict=True)) for row in rows]
            )

    def _write_later(self) -> None:
        later, self._later = self._later, {}
        emails = list(later)
        updates: list[dict[str, Any]] = []
        for start in range(0, len(emails), 500):
            batch = emails[start : start + 500]
            found = self.session.execute(
                select(
                    StoredRecipient.id,
                    StoredRecipient.email,
                    StoredRecipient.data_categories,
                    StoredRecipient.source_rows,
                ).where(
                    StoredRecipient.list_id == self.list_id,
                    # Lets the database use the partial unique index (list_id, email).
                    StoredRecipient.email != "",
                    StoredRecipient.email.in_(batch),
                )
            ).all()
            for recipient_id, email, categories, source_rows in found:
                extra = later.pop(email)
                updates.append(
                    {
                        "id": recipient_id,
                        "data_categories": sorted(
                            set(categories) | set(json.loads(extra[_CATEGORIES]))
                        ),
                        "source_rows": [*source_rows, *json.loads(extra[_SOURCE_ROWS])],
                    }
                )
                self.merged += 1
        if updates:
            self.session.execute(update(StoredRecipient), updates)
        if later:
            # The filter's false "seen": these addresses are new after all.
            self._insert(list(later.values()))
            self.imported += len(later)


def _spanning(first_line: int, last_line: int) -> str:
    if last_line > first_line:
        return f" (it runs over lines {first_line} to {last_line} of the file)"
    return ""


def _clean_filename(filename: str) -> str:
    name = re.split(r"[\\/]", filename)[-1]
    name = _UNSAFE.sub("", name).strip()
    return name[:255] or "recipients.csv"


def _read_rows(reader: Iterator[list[str]], lines: _Lines, importer: _Importer) -> int:
    """Feed every record after the header to ``importer``, rejecting those that cannot be
    read, and have it write every ``chunk_rows`` rows; returns the row whose quoted value ran
    past the csv field limit (0 if none)."""
    row = 1
    last_line = lines.line
    runaway_row = 0
    add = importer.add
    next_write = row + importer.chunk_rows
    while True:
        try:
            # The loop a million-row file goes round: as little as possible in it.
            for cells in reader:
                row += 1
                # Physical lines, as the file has them (a quoted value can span several).
                first_line = max(last_line, lines.skipped_to) + 1
                last_line = lines.line
                if lines.overlong and lines.overlong[0][0] <= last_line:
                    _reject_overlong(importer, lines, row, last_line)
                else:
                    add(row, cells, first_line, last_line)
                if row >= next_write:
                    importer.write()
                    next_write = row + importer.chunk_rows
        except csv.Error as exc:
            error = str(exc)
        else:
            importer.rows = row - 1
            return runaway_row
        row += 1
        first_line = max(last_line, lines.skipped_to) + 1
        last_line = lines.line
        if lines.overlong and lines.overlong[0][0] <= last_line:
            _reject_overlong(importer, lines, row, last_line)
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
        importer.reject(row, [("", problem, "")])


def _reject_overlong(importer: _Importer, lines: _Lines, row: int, last_line: int) -> None:
    """Reject ``row``, which holds a line over the length limit (never read)."""
    number, preview = lines.overlong[0]
    lines.overlong = [item for item in lines.overlong if item[0] > last_line]
    importer.reject(
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


def import_csv(
    session: Session,
    stream: IO[bytes],
    *,
    incident: Incident,
    by: User,
    categories: Collection[str],
    filename: str,
    max_bytes: int,
    chunk_rows: int = 5000,
    places: Mapping[str, Collection[str]] | None = None,
) -> ImportReport:
    """Import a recipient CSV file for ``incident``, uploaded by ``by``.

    ``categories`` are the known data category ids (the catalogue's ``categories``);
    ``places`` has the known ``countries`` and ``us_states`` codes (the catalogue's
    ``place_names``): without it, codes are only checked for their form. Rows are written
    every ``chunk_rows`` rows; nothing is committed: the caller commits, so the list appears
    whole or not at all.

    Raises :class:`ImportRefused` (:class:`UploadTooLarge` over ``max_bytes``) when the file as
    a whole cannot be used; the session is then rolled back.
    """
    try:
        with _sqlite_cache(session, IMPORT_CACHE_KIB):
            return _import(
                session,
                stream,
                incident=incident,
                by=by,
                categories=categories,
                filename=filename,
                max_bytes=max_bytes,
                chunk_rows=chunk_rows,
                places=places,
            )
    except ImportRefused:
        session.rollback()
        raise


#: SQLite's page cache while importing, in KiB. The unique (list, email) index takes each new
#: address at its place in address order; with SQLite's default 2 MB cache, a file in random
#: address order re-read an index page from disk for almost every row (a million rows: 10.8 s
#: to store; with 32 MB, 6.5 s). Given back when the import ends.
IMPORT_CACHE_KIB: Final = 32 * 1024


@contextmanager
def _sqlite_cache(session: Session, kib: int) -> Iterator[None]:
    """On SQLite, a page cache of ``kib`` KiB for this connection meanwhile."""
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        yield
        return
    before = connection.exec_driver_sql("PRAGMA cache_size").scalar()
    connection.exec_driver_sql(f"PRAGMA cache_size = -{int(kib)}")
    try:
        yield
    finally:
        # After a rollback the session may hand out another connection: set it on the one
        # that was changed.
        if not connection.closed:
            connection.exec_driver_sql(f"PRAGMA cache_size = {int(before or -2000)}")


def _import(
    session: Session,
    stream: IO[bytes],
    *,
    incident: Incident,
    by: User,
    categories: Collection[str],
    filename: str,
    max_bytes: int,
    chunk_rows: int,
    places: Mapping[str, Collection[str]] | None,
) -> ImportReport:
    lines = _Lines(stream, max_bytes)
    first = lines.first()
    if first is None:
        raise ImportRefused(
            "The file is empty (0 bytes). Export the list again as CSV with a header line "
            "naming the columns. Nothing was imported."
        )
    delimiter = _pick_delimiter(first)
    reader = csv.reader(chain([first], lines.rest()), delimiter=delimiter)
    try:
        header_cells = next(reader, None)
    except csv.Error as exc:
        if "new-line character" in str(exc):
            raise ImportRefused(
                "The file ends its lines with a carriage return only (old Mac files), which "
                f"CSV readers do not expect. {_SAVE_AS} Nothing was imported."
            ) from None
        raise ImportRefused(
            f"The first line cannot be read as CSV ({exc}). It must name the columns. "
            "Nothing was imported."
        ) from None
    if header_cells is None:  # pragma: no cover - a first line always makes a record
        raise ImportRefused("The file has no header line. Nothing was imported.")
    header = _read_header([cell.removeprefix("\ufeff") for cell in header_cells])

    recipient_list = RecipientList(
        incident_id=incident.id,
        uploaded_by_id=by.id,
        filename=_clean_filename(filename),
        size_bytes=0,
        warnings=header.warnings,
        digest="",
    )
    session.add(recipient_list)
    session.flush()
    checker = _RowChecker(
        categories,
        countries=places.get("countries") if places else None,
        us_states=places.get("us_states") if places else None,
    )
    importer = _Importer(session, recipient_list, header, checker, chunk_rows)
    runaway_row = _read_rows(reader, lines, importer)
    warnings = list(header.warnings)
    if lines.skipping:
        unclosed = (
            f"The quote mark opened in row {runaway_row} never closes, so everything after it "
            f"to the end of the file (line {lines.line}) was read as part of that row and "
            f"rejected with it. Check row {runaway_row} for a stray quote mark."
        )
        importer.add_problem(runaway_row, unclosed)
        warnings.append(unclosed)
    if importer.rows == 0:
        raise ImportRefused(
            "The file has a header line but no rows of recipients. Nothing was imported."
        )
    importer.write()
    digest = list_digest(session, recipient_list)
    recipient_list.size_bytes = lines.bytes_read
    recipient_list.rows = importer.rows
    recipient_list.imported = importer.imported
    recipient_list.merged = importer.merged
    recipient_list.rejected = importer.rejected
    recipient_list.digest = digest
    recipient_list.warnings = warnings
    session.flush()
    report = ImportReport(
        recipient_list=recipient_list,
        rows=importer.rows,
        imported=importer.imported,
        merged=importer.merged,
        rejected=importer.rejected,
        warnings=tuple(warnings),
        digest=digest,
    )
    if not report.accounted:  # pragma: no cover - a bug, never the file's fault
        raise RuntimeError("recipient import lost count of rows")
    return report


# --- Reading lists back --------------------------------------------------------------------

_DIGEST_COLUMNS: Final = (
    StoredRecipient.email,
    StoredRecipient.first_name,
    StoredRecipient.last_name,
    StoredRecipient.reference,
    StoredRecipient.address,
    StoredRecipient.country,
    StoredRecipient.us_state,
    StoredRecipient.language,
    StoredRecipient.data_categories,
)


def _byte_order(column: QueryableAttribute[Any], dialect: str) -> ColumnElement[Any]:
    """``column`` (as text) compared byte by byte, the same on every database."""
    text: ColumnElement[Any] = (
        cast(column, Text) if isinstance(column.type, JSON) else column.expression
    )
    return text.collate("C") if dialect == "postgresql" else text


#: json.loads without its per-call overhead (the C scanner it calls; typeshed omits it).
_read_json: Final[Callable[[str, int], tuple[Any, int]]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def _compact_list(text: str) -> str:
    """A stored JSON list of strings as ``json.dumps(..., ensure_ascii=False, separators=(",",
    ":"))`` writes it."""
    if text == "[]":
        return text
    if text.isascii() and "\\" not in text and text.startswith('["') and text.endswith('"]'):
        # No escapes, so every quote mark delimits a string. If, with json.dumps's ", "
        # separators made compact, the quote marks inside are all separators, the strings
        # need no escaping and this is already the compact text.
        compact = text.replace('", "', '","')
        if '"' not in compact[2:-2].replace('","', "") and compact.isprintable():
            return compact
    return "[" + ",".join(map(encode_basestring, _read_json(text, 0)[0])) + "]"


def canonical_line(stored: Sequence[Any], lists: dict[str, str] | None = None) -> str:
    """One recipient as ``list_digest`` hashes it, from its stored values in ``list_digest``'s
    order (address and data categories as their JSON text): ``json.dumps(values,
    ensure_ascii=False, separators=(",", ":"))`` of the decoded values and a newline (built by
    hand: three times faster). ``lists`` keeps data category lists already converted: a list
    has a handful of different ones."""
    (email, first_name, last_name, reference, address, country, us_state, language, categories) = (
        stored
    )
    if lists is None:
        categories = _compact_list(categories)
    elif (known := lists.get(categories)) is not None:
        categories = known
    else:
        known = _compact_list(categories)
        if len(lists) < _CACHE_LIMIT:
            lists[categories] = known
        categories = known
    address = _compact_list(address)
    plain = email + first_name + last_name + reference + country + us_state + language
    if '"' not in plain and "\\" not in plain and plain.isprintable():
        # Nothing in these values is escaped (no quote mark, backslash or control character):
        # quoting them is all json.dumps would do.
        return (
            f'["{email}","{first_name}","{last_name}","{reference}",{address},'
            f'"{country}","{us_state}","{language}",{categories}]\n'
        )
    text = encode_basestring
    return (
        f"[{text(email)},{text(first_name)},{text(last_name)},{text(reference)},{address},"
        f"{text(country)},{text(us_state)},{text(language)},{categories}]\n"
    )


def list_digest(session: Session, recipient_list: RecipientList) -> str:
    """SHA-256 (hex) of the list's normalised recipients, sorted, whatever the file's order.

    Each recipient is one line, the JSON array ``[email, first_name, last_name, reference,
    address, country, us_state, language, data_categories]`` (UTF-8, no spaces, a newline after
    it), and the lines are hashed in byte order of those values. Row numbers are not part of
    it: the same people with the same details give the same digest.
    """
    connection = session.connection()
    return _digest(connection, recipient_list.id, in_sqlite=connection.dialect.name == "sqlite")


#: One recipient's ``canonical_line`` as SQLite writes it with its JSON functions (compact,
#: strings escaped only where JSON requires: quote marks, backslashes, control characters).
_SQLITE_LINE: Final = func.json_array(
    *(func.json(column) if isinstance(column.type, JSON) else column for column in _DIGEST_COLUMNS)
).concat("\n")


def _sqlite_lines(rows: Sequence[Any]) -> str:
    """Recipients' lines made by ``_SQLITE_LINE``, as ``canonical_line`` makes them.

    A line without a backslash has no escape in it: every string was written as it is, which
    is what json.dumps(ensure_ascii=False) does with a string holding no quote mark, backslash
    or control character, so the line is already canonical. A line with one (an escape, or a
    stored list spelt with ``\\u`` escapes) is decoded and written again by json.dumps itself.
    """
    text = "".join([row[0] for row in rows])
    if "\\" not in text:
        return text
    return "".join(
        [
            row[0]
            if "\\" not in row[0]
            else json.dumps(json.loads(row[0]), ensure_ascii=False, separators=(",", ":")) + "\n"
            for row in rows
        ]
    )


def _digest(connection: Connection, list_id: int, *, in_sqlite: bool) -> str:
    """``list_digest``, each line built by SQLite (``in_sqlite``: three times faster) or here."""
    dialect = connection.dialect.name
    # Elsewhere, JSON columns are read as text and converted here: a third of the time
    # SQLAlchemy's JSON type takes for a million rows.
    columns: list[ColumnElement[Any]] = (
        [_SQLITE_LINE]
        if in_sqlite
        else [
            cast(column, Text) if isinstance(column.type, JSON) else column.expression
            for column in _DIGEST_COLUMNS
        ]
    )
    recipients = select(*columns).where(StoredRecipient.list_id == list_id)
    queries = (
        # Recipients with no address first ("" sorts first), in the order of all their values.
        recipients.where(StoredRecipient.email == "").order_by(
            *(_byte_order(column, dialect) for column in _DIGEST_COLUMNS)
        ),
        # Then the others: an address is unique within a list (uq_recipient_list_email), so the
        # address alone gives the order of all the values.
        recipients.where(StoredRecipient.email != "").order_by(
            # SQLite sorts ("|| ''" keeps it from reading the rows in the unique index's
            # order): a list uploaded in random address order then costs it one look at each
            # row in file order instead of a page read per row (1M rows: 5.0 s to 3.1 s; a
            # list nearly in address order the same 2.9 s). Its sorter spills to temporary
            # files: the peak stays small.
            StoredRecipient.email.concat("")
            if in_sqlite
            else _byte_order(StoredRecipient.email, dialect)
        ),
    )
    digest = hashlib.sha256()
    lists: dict[str, str] = {}
    for query in queries:
        for rows in _batches(connection, query):
            # Hashing lines a few thousand at a time gives the same digest, with less overhead.
            if in_sqlite:
                digest.update(_sqlite_lines(rows).encode())
            else:
                digest.update("".join([canonical_line(row, lists) for row in rows]).encode())
    return digest.hexdigest()


def _batches(
    connection: Connection, query: Select[*tuple[Any, ...]], size: int = 5000
) -> Iterator[Sequence[Any]]:
    """The rows ``query`` selects, ``size`` at a time, as sequences of values."""
    if connection.dialect.name != "sqlite":
        # Per statement: Connection.execution_options would change the connection itself.
        yield from connection.execute(query, execution_options={"yield_per": size}).partitions()
        return
    # On SQLite, straight from the driver's cursor (in the same transaction): making a
    # SQLAlchemy row of each took a fifth of the time of hashing a million recipients.
    compiled = query.compile(dialect=connection.dialect)
    parameters = [compiled.params[name] for name in compiled.positiontup or ()]
    cursor = connection.connection.cursor()
    try:
        cursor.execute(str(compiled), parameters)
        while rows := cursor.fetchmany(size):
            yield rows
    finally:
        cursor.close()


ERROR_REPORT_HEADER: Final = ("row", "column", "problem", "value")


def error_report_csv(
    session: Session, recipient_list: RecipientList, *, batch: int = 2000
) -> Iterator[str]:
    """The list's rejected rows as CSV text, a piece at a time: a header, then one line per
    problem (row number, column, problem, the value cut to 100 characters), in file order.
    Every text cell is made safe from spreadsheet formulas (``composer.csv_safe``)."""
    return _error_report(session, recipient_list.id, batch)


def _error_report(session: Session, list_id: int, batch: int) -> Iterator[str]:
    buffer = io.StringIO()
    write_rows(buffer, [], ERROR_REPORT_HEADER)
    yield buffer.getvalue()
    after = 0
    while True:
        found = session.execute(
            select(
                RecipientRowError.id,
                RecipientRowError.row,
                RecipientRowError.column,
                RecipientRowError.problem,
                RecipientRowError.value,
            )
            .where(RecipientRowError.list_id == list_id, RecipientRowError.id > after)
            .order_by(RecipientRowError.id)
            .limit(batch)
        ).all()
        if not found:
            return
        buffer = io.StringIO()
        write_rows(buffer, [tuple(line[1:]) for line in found])
        yield buffer.getvalue()
        after = found[-1][0]


# --- Masking -------------------------------------------------------------------------------

MASK: Final = "•"


def _mask_keep_ends(word: str) -> str:
    if len(word) <= 3:
        return word[:1] + MASK * (len(word) - 1) if len(word) > 1 else MASK * len(word)
    return word[0] + MASK * (len(word) - 2) + word[-1]


def mask_email(email: str) -> str:
    """An address as views show it: ``alexandra@example.com`` -> ``a•••••••a@e••••••.com``.

    The first and last characters before the @ and the first of the domain stay, with the
    top-level domain: enough to tell addresses apart on screen, not to read them."""
    local, at, domain = email.rpartition("@")
    if not at:
        return mask_name(email)
    name, dot, top = domain.rpartition(".")
    masked_domain = f"{name[:1]}{MASK * (len(name) - 1)}.{top}" if dot else domain[:1] + MASK * 3
    return f"{_mask_keep_ends(local)}@{masked_domain}"


def mask_name(name: str) -> str:
    """A name (or reference) as views show it: each word's first character, then dots:
    ``Alexandra Smith`` -> ``A•••••••• S••••``."""
    return " ".join(word[:1] + MASK * (len(word) - 1) for word in name.split())


def first_recipients(
    session: Session, recipient_list: RecipientList, limit: int = 50
) -> list[StoredRecipient]:
    """The list's first ``limit`` recipients in file order (for a masked preview)."""
    return list(
        session.scalars(
            select(StoredRecipient)
            .where(StoredRecipient.list_id == recipient_list.id)
            .order_by(StoredRecipient.id)
            .limit(limit)
        )
    )


def lists_for(session: Session, incident: Incident) -> list[RecipientList]:
    """The incident's uploaded lists, newest first."""
    return list(
        session.scalars(
            select(RecipientList)
            .where(RecipientList.incident_id == incident.id)
            .order_by(RecipientList.id.desc())
        )
    )

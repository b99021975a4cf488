"""Recipient lists from CSV: streamed in, checked row by row, duplicates merged, nothing lost.

``import_csv`` reads an uploaded file line by line (a million-row file is never held in memory),
checks every row with the rules of ``composer.rendering.merge_fields.Recipient`` plus the
columns only a list has (country, US state, language, data categories), and writes the good
rows in chunks.
Reading and checking live in ``composer.recipients.rows``; for a large file they run in a second
process (``composer.recipients.row_process``) while this one writes, with the same result.
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

import csv
import hashlib
import io
import json
import re
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from itertools import chain
from json.encoder import encode_basestring
from typing import IO, Any, Final

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

from composer.models import Base, Incident, Recipient, RecipientList, RecipientRowError, User
from composer.recipients import row_process
from composer.recipients.rows import (
    _CACHE_LIMIT,
    _CATEGORIES,
    _SOURCE_ROWS,
    COLUMNS,
    SAVE_AS,
    UNSAFE,
    Chunk,
    ImportRefused,
    Lines,
    Merger,
    Pending,
    RowChecker,
    RowChecks,
    UploadTooLarge,
    check_rows,
    format_megabytes,
    pick_delimiter,
    read_header,
)
from composer.support.csv_safe import write_rows

__all__ = [
    "COLUMNS",
    "ImportRefused",
    "ImportReport",
    "UploadTooLarge",
    "format_megabytes",
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
#: The recipient columns written by an import, in the order of a ``_Pending`` row.
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
    """Writes checked rows (``rows.Chunk``) within the caller's transaction, and counts the
    rows it merges into recipients written earlier."""

    def __init__(self, session: Session, list_id: int) -> None:
        self.session = session
        self.list_id = list_id
        #: Of the chunks' ``later`` rows: those merged into a stored recipient, and those
        #: stored after all.
        self.merged = self.imported = 0

    def write(self, chunk: Chunk) -> None:
        """Write the chunk's new rows, its merges and its row errors."""
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
                            set(categories) | set(json.loads(extra[_CATEGORIES]))
                        ),
                        "source_rows": [*source_rows, *json.loads(extra[_SOURCE_ROWS])],
                    }
                )
                self.merged += 1
        if updates:
            self.session.execute(update(Recipient), updates)
        if later:
            # The filter's false "seen": these addresses are new after all.
            self._insert(list(later.values()))
            self.imported += len(later)


def _merge_and_write(merger: Merger, writer: _Writer, chunk: Chunk) -> None:
    """Write a chunk of checked rows that no merger has seen."""
    keep = merger.keep
    for recipient in chunk.new:
        keep(recipient)
    new, later = merger.take()
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
    merger = Merger()
    # The reader stopped right after the header's last line. A large file's rows are read and
    # checked in a second process while this one writes them; a small one's are not worth
    # starting it for.
    ahead = stream.read(second_process_from_bytes) if second_process_from_bytes else b""
    if not second_process_from_bytes or len(ahead) < second_process_from_bytes:
        if ahead:
            lines.stream = io.BytesIO(ahead)
        checker = RowChecker(categories, countries, us_states)
        checks = RowChecks(recipient_list.id, header, checker, merger)
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
            # The second process checks; merging the rows here keeps the two processes' shares
            # of the work closer (it took a sixth of the checking process's time).
            partial(_merge_and_write, merger, writer),
        )
    if summary.rows == 0:
        raise ImportRefused(
            "The file has a header line but no rows of recipients. Nothing was imported."
        )
    warnings = [*header.warnings, *([summary.unclosed] if summary.unclosed else [])]
    imported = merger.imported + writer.imported
    merged = merger.merged + writer.merged
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


# --- Reading lists back --------------------------------------------------------------------

_DIGEST_COLUMNS: Final = (
    Recipient.email,
    Recipient.first_name,
    Recipient.last_name,
    Recipient.reference,
    Recipient.address,
    Recipient.country,
    Recipient.us_state,
    Recipient.language,
    Recipient.data_categories,
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
    recipients = select(*columns).where(Recipient.list_id == list_id)
    queries = (
        # Recipients with no address first ("" sorts first), in the order of all their values.
        recipients.where(Recipient.email == "").order_by(
            *(_byte_order(column, dialect) for column in _DIGEST_COLUMNS)
        ),
        # Then the others: an address is unique within a list (uq_recipient_list_email), so the
        # address alone gives the order of all the values.
        recipients.where(Recipient.email != "").order_by(
            # SQLite sorts ("|| ''" keeps it from reading the rows in the unique index's
            # order): a list uploaded in random address order then costs it one look at each
            # row in file order instead of a page read per row (1M rows: 5.0 s to 3.1 s; a
            # list nearly in address order the same 2.9 s). Its sorter spills to temporary
            # files: the peak stays small.
            Recipient.email.concat("") if in_sqlite else _byte_order(Recipient.email, dialect)
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
    Every text cell is made safe from spreadsheet formulas (``composer.support.csv_safe``)."""
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
) -> list[Recipient]:
    """The list's first ``limit`` recipients in file order (for a masked preview)."""
    return list(
        session.scalars(
            select(Recipient)
            .where(Recipient.list_id == recipient_list.id)
            .order_by(Recipient.id)
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

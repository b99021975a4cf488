"""A recipient list's digest: SHA-256 of its normalised recipients, whatever the file's order.

The import stores it with the list, legal's approval binds to it and the release check
recomputes it from the rows (``composer.approval``), so it must cost little at a million rows:
on SQLite each line is built by the database's JSON functions. docs/recipients.md describes
what is hashed.

No Flask here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from json.encoder import encode_basestring
from typing import Any, Final

from sqlalchemy import JSON, ColumnElement, Select, Text, cast, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import QueryableAttribute, Session

from composer.models import Recipient, RecipientList
from composer.recipients.checking import CACHE_LIMIT

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
        if len(lists) < CACHE_LIMIT:
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

"""Recipient lists read back: the uploaded lists, their first recipients (masked for the
screen) and the report of their rejected rows.

Importing a list lives in ``composer.recipients.importing`` and its digest in
``composer.recipients.digest``; the names callers use from here are re-exported below.

No Flask here.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from composer.models import Incident, Recipient, RecipientList, RecipientRowError
from composer.recipients.digest import list_digest as list_digest
from composer.recipients.importing import ImportReport as ImportReport
from composer.recipients.importing import import_csv as import_csv
from composer.recipients.reading import COLUMNS as COLUMNS
from composer.recipients.reading import ImportRefused as ImportRefused
from composer.recipients.reading import UploadTooLarge as UploadTooLarge
from composer.recipients.reading import format_megabytes as format_megabytes
from composer.support.csv_safe import write_rows

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

"""At most once: the sent-address ledger.

Each delivery claimed into a batch holds its address for the run's notice version in
``sent_address`` before any request goes out (committed with the claim). The table's primary
key, (notice version, address digest), refuses a second delivery of a version to an address,
whatever run, worker or admin asks: a delivery refused so is ``already-sent`` and never sent.
A batch known not to have gone out gives its addresses back; an in-doubt batch keeps them until
an admin chooses to send it again (``composer.delivery.control.resend_in_doubt``).

No Flask. The ledger holds digests, never an address.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Final

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from composer.delivery.tables import BATCH, DELIVERY, LEDGER, RUN, SENDING, rowcount, table
from composer.models import (
    BatchState,
    Delivery,
    DeliveryState,
    Review,
    SendBatch,
    SendRun,
    SentAddress,
    utcnow,
)

log = logging.getLogger(__name__)


def address_digest(email: str) -> str:
    """The ledger's key for an email address: SHA-256 of it trimmed and lower-cased (no mail
    system delivers two mailboxes that differ only by case)."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


_REVIEW: Final = table(Review).c
#: The notice version a batch's run sends.
_BATCH_VERSION: Final = (
    select(_REVIEW.version_id)
    .join_from(table(SendBatch), table(SendRun), RUN.id == BATCH.run_id)
    .join(table(Review), _REVIEW.id == RUN.review_id)
    .where(BATCH.id == bindparam("batch"))
)
_SQLITE_HOLD: Final = (
    "INSERT INTO sent_address (notice_version_id, address_sha256, delivery_id) "
    "VALUES (?, ?, ?) ON CONFLICT DO NOTHING"
)
_POSTGRESQL_HOLD: Final = (
    postgresql.insert(table(SentAddress)).on_conflict_do_nothing().returning(LEDGER.delivery_id)
)
#: A batch's deliveries still sending give their addresses back (the batch did not go out).
_RELEASE_ADDRESSES: Final = delete(table(SentAddress)).where(
    LEDGER.delivery_id.in_(
        select(DELIVERY.id).where(
            DELIVERY.batch_id == bindparam("batch"), DELIVERY.state == SENDING
        )
    )
)


def hold_addresses(
    session: Session, batch_id: int, addresses: list[tuple[int, str]]
) -> frozenset[int]:
    """Hold each ``(delivery id, address)`` of a just-claimed batch for the run's notice version
    in ``sent_address``, and commit (with the claim), before any request. The deliveries whose
    address another delivery already holds become ``already-sent``; their ids are returned
    (usually none, in one insert). A batch left with no one is closed."""
    connection = session.connection()
    version = connection.execute(_BATCH_VERSION, {"batch": batch_id}).scalar_one()
    rows = [(version, address_digest(email), outbox_id) for outbox_id, email in addresses]
    if not rows:
        return frozenset()
    if connection.dialect.name == "sqlite":
        held = rowcount(connection.exec_driver_sql(_SQLITE_HOLD, rows))
    else:
        held = len(
            connection.execute(
                _POSTGRESQL_HOLD,
                [
                    {"notice_version_id": v, "address_sha256": d, "delivery_id": i}
                    for v, d, i in rows
                ],
            ).all()
        )
    refused: frozenset[int] = frozenset()
    if held != len(rows):
        ids = [outbox_id for outbox_id, _ in addresses]
        own = set(
            connection.execute(
                select(LEDGER.delivery_id).where(LEDGER.delivery_id.in_(ids))
            ).scalars()
        )
        refused = frozenset(ids) - own
    if refused:
        n = len(refused)
        connection.execute(
            update(table(Delivery))
            .where(
                DELIVERY.id.in_(refused),
                DELIVERY.batch_id == batch_id,
                DELIVERY.state == SENDING,
            )
            .values(
                state=DeliveryState.ALREADY_SENT.value,
                error="this address already had this notice version by email: not sent again",
                updated_at=utcnow(),
            )
        )
        if len(refused) == len(rows):
            connection.execute(
                update(table(SendBatch))
                .where(BATCH.id == batch_id, BATCH.state == BatchState.SENDING.value)
                .values(
                    state=BatchState.RETURNED.value,
                    error="every address in it already had this notice version",
                )
            )
        log.warning("send batch %s: %d address(es) already had this version", batch_id, n)
    session.commit()
    return refused


def release_addresses(connection: Connection, batch_id: int) -> None:
    """Give back the addresses of the batch's deliveries still sending: the batch is known not
    to have gone out, so they are free for this version again."""
    connection.execute(_RELEASE_ADDRESSES, {"batch": batch_id})

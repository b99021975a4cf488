"""The sending tables as the hot path uses them: SQLAlchemy Core columns and row counts.

Preparing, claiming, recording answers and settling work on rows, not ORM objects: loading
and tracking 2,000 objects a batch, and checking each against every bulk UPDATE, cost more than
building and posting the request. Their statements are made once, on these tables, and run on
the session's connection. No Flask.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from composer.models import (
    Base,
    Delivery,
    DeliveryState,
    Recipient,
    SendBatch,
    SendRun,
    SentAddress,
)


def table(model: type[Base]) -> Table:
    """The Core table a mapped class is stored in."""
    found = model.__table__
    assert isinstance(found, Table)
    return found


def rowcount(result: object) -> int:
    """Rows a statement changed; -1 when the driver does not say."""
    count = getattr(result, "rowcount", -1)
    return int(count) if count is not None else -1


#: Bulk ORM updates here never bring loaded objects up to date (none are loaded).
NO_SYNC: Final = {"synchronize_session": False}

DELIVERY: Final = table(Delivery).c
BATCH: Final = table(SendBatch).c
RECIPIENT: Final = table(Recipient).c
RUN: Final = table(SendRun).c
LEDGER: Final = table(SentAddress).c
QUEUED: Final = DeliveryState.QUEUED.value
SENDING: Final = DeliveryState.SENDING.value


def count_in_state(session: Session, run: SendRun, state: DeliveryState) -> int:
    """How many of ``run``'s deliveries are in ``state``."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(Delivery.run_id == run.id, Delivery.state == state.value)
        )
        or 0
    )


def run_counts(session: Session, run: SendRun) -> dict[str, int]:
    """How many deliveries are in each state (every state listed, 0 when none)."""
    found = dict(
        session.execute(
            select(Delivery.state, func.count())
            .where(Delivery.run_id == run.id)
            .group_by(Delivery.state)
        ).all()
    )
    return {state.value: int(found.get(state.value, 0)) for state in DeliveryState}

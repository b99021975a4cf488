"""Reconciliation: what became of requests whose answer we never recorded.

SendGrid has no idempotency key, so exactly-once rests on the outbox plus the Event Webhook.

- A batch still ``sending`` after its lease (the worker died between claiming and recording
  the answer) becomes ``in-doubt`` (:func:`recover`), as does one whose request timed out
  after it went out (:func:`mark_in_doubt`). Nothing sends an in-doubt batch again on a timer.
- Any webhook event for a batch proves SendGrid accepted that request (it accepts or refuses a
  request whole), so an in-doubt batch with an event is ``accepted`` (:func:`apply_events`),
  and a run that waited only on it is finished.
- What no event settles waits for an admin (``composer.delivery.control``).

Plain functions over a session; no Flask. Nothing here logs an address or a name.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from composer.delivery.tables import BATCH, NO_SYNC, count_in_state
from composer.delivery.webhook import WebhookEvent
from composer.models import (
    BatchState,
    Delivery,
    DeliveryState,
    RunState,
    SendBatch,
    SendRun,
    WebhookEventSeen,
)

#: Delivery states a recipient can still move on from, and the order events may raise them.
_OPEN = (DeliveryState.QUEUED.value, DeliveryState.SENDING.value, DeliveryState.IN_DOUBT.value)
_RANK = {
    DeliveryState.QUEUED.value: 0,
    DeliveryState.SENDING.value: 1,
    DeliveryState.IN_DOUBT.value: 1,
    DeliveryState.ACCEPTED.value: 2,
    DeliveryState.DELIVERED.value: 3,
    DeliveryState.BOUNCED.value: 3,
    DeliveryState.DROPPED.value: 3,
}
_EVENT_STATE = {
    "processed": DeliveryState.ACCEPTED.value,
    "deferred": DeliveryState.ACCEPTED.value,
    "delivered": DeliveryState.DELIVERED.value,
    "bounce": DeliveryState.BOUNCED.value,
    "dropped": DeliveryState.DROPPED.value,
}

#: Batches to recover: claimed by a worker whose lease ran out (the few batches sending,
#: found by the run-state index). In-doubt batches are never recovered on a timer.
_DUE_BATCHES: Final = select(BATCH.id).where(
    BATCH.run_id == bindparam("run"),
    BATCH.state == BatchState.SENDING.value,
    BATCH.lease_until < bindparam("lease_ended"),
)


def recover(session: Session, run: SendRun, *, now: datetime) -> int:
    """Batches whose worker died become in doubt (and stay so: nothing here sends them again).
    Returns how many batches changed (the caller commits). One indexed query when there is
    nothing to do, which is almost always."""
    due = session.connection().execute(_DUE_BATCHES, {"run": run.id, "lease_ended": now}).all()
    for (batch_id,) in due:
        mark_in_doubt(
            session, batch_id, now=now, reason="the worker stopped before recording the answer"
        )
    return len(due)


def mark_in_doubt(session: Session, batch_id: int, *, now: datetime, reason: str) -> None:
    """The request may have been accepted: hold the batch until an event or an admin."""
    session.execute(
        update(SendBatch)
        .where(SendBatch.id == batch_id, SendBatch.state == BatchState.SENDING.value)
        .values(state=BatchState.IN_DOUBT.value, doubt_since=now, error=reason)
        .execution_options(**NO_SYNC)
    )
    session.execute(
        update(Delivery)
        .where(Delivery.batch_id == batch_id, Delivery.state == DeliveryState.SENDING.value)
        .values(state=DeliveryState.IN_DOUBT.value, updated_at=now)
        .execution_options(**NO_SYNC)
    )


# The Event Webhook -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Applied:
    applied: int
    duplicates: int
    unknown: int


def apply_events(session: Session, events: Iterable[WebhookEvent], *, now: datetime) -> Applied:
    """Apply webhook events to deliveries, once each (deduplicated on ``sg_event_id`` in the
    database). Any event for a batch proves the gateway accepted that whole request, so an
    in-doubt batch becomes accepted. States only move forward. A few queries per post, not per
    event: SendGrid posts up to thousands at a time, and in-doubt batches wait on them. The
    caller commits."""
    fresh: dict[str, WebhookEvent] = {}
    for event in events:
        fresh.setdefault(event.sg_event_id, event)
    incoming = len(list(fresh))
    seen = set(
        session.scalars(
            select(WebhookEventSeen.sg_event_id).where(WebhookEventSeen.sg_event_id.in_(fresh))
        )
    )
    new = [e for key, e in fresh.items() if key not in seen]
    duplicates = incoming - len(new)
    if new:
        session.execute(
            insert(WebhookEventSeen),
            [{"sg_event_id": e.sg_event_id, "received_at": now, "event": e.event} for e in new],
        )
    wanted = {int(e.outbox_id) for e in new if e.outbox_id is not None and e.outbox_id.isdigit()}
    deliveries = {d.id: d for d in session.scalars(select(Delivery).where(Delivery.id.in_(wanted)))}
    matched = [
        (e, deliveries[int(e.outbox_id)])
        for e in new
        if e.outbox_id is not None
        and e.outbox_id.isdigit()
        and int(e.outbox_id) in deliveries
        and (e.batch_id is None or str(deliveries[int(e.outbox_id)].batch_id) == str(e.batch_id))
    ]
    # Any event for a batch still sending or in doubt proves the whole request was accepted.
    batch_ids = {d.batch_id for _, d in matched if d.batch_id is not None}
    settled = list(
        session.scalars(
            select(SendBatch.id).where(
                SendBatch.id.in_(batch_ids),
                SendBatch.state.in_([BatchState.IN_DOUBT.value, BatchState.SENDING.value]),
            )
        )
    )
    if settled:
        session.execute(
            update(SendBatch)
            .where(SendBatch.id.in_(settled))
            .values(state=BatchState.ACCEPTED.value)
        )
        session.execute(
            update(Delivery)
            .where(Delivery.batch_id.in_(settled), Delivery.state.in_(_OPEN))
            .values(state=DeliveryState.ACCEPTED.value, updated_at=now)
        )
    for _, delivery in matched:
        if delivery.batch_id in settled and delivery.state in _OPEN:
            delivery.state = DeliveryState.ACCEPTED.value
    for event, delivery in matched:
        target = _EVENT_STATE.get(event.event)
        if target is not None and _RANK.get(delivery.state, 9) < _RANK[target]:
            delivery.state = target
            delivery.updated_at = now
    session.flush()
    if settled:
        _finish_settled_runs(session, settled, now=now)
    return Applied(applied=len(matched), duplicates=duplicates, unknown=len(new) - len(matched))


def _finish_settled_runs(session: Session, batch_ids: Iterable[int], *, now: datetime) -> None:
    """Runs waiting only on in-doubt recipients are finished once events settled the last."""
    runs = session.scalars(
        select(SendRun).where(
            SendRun.state == RunState.IN_DOUBT.value,
            SendRun.id.in_(select(SendBatch.run_id).where(SendBatch.id.in_(list(batch_ids)))),
        )
    )
    for run in runs:
        if not count_in_state(session, run, DeliveryState.IN_DOUBT):
            run.state = RunState.FINISHED.value
            run.finished_at = now


@dataclass(frozen=True)
class WebhookStatus:
    """Whether in-doubt recipients can be settled by SendGrid's Event Webhook."""

    configured: bool
    #: When the last event arrived (any run), None when none ever did.
    last_event_at: datetime | None
    #: No event for longer than the silence limit (or never, while a run had requests out).
    silent: bool


def webhook_status(
    session: Session, *, configured: bool, silent_after: timedelta, now: datetime
) -> WebhookStatus:
    last = session.scalar(select(func.max(WebhookEventSeen.received_at)))
    silent = configured and (last is None or now - last > silent_after)
    return WebhookStatus(configured=configured, last_event_at=last, silent=silent)

"""The outbox and its dispatcher: every recipient accepted exactly once, even across crashes.

A run has one ``delivery`` row per recipient. The dispatcher (the same code in the in-process
worker and in Celery tasks) repeats :func:`dispatch_once`:

1. **Recover**: a batch still ``sending`` after its lease (the worker died between claiming and
   recording the answer) becomes ``in-doubt``; an ``in-doubt`` batch with no webhook event after
   the duplicate window goes back to the queue (see below).
2. **Claim** up to ``batch_size`` queued deliveries of one cohort into a ``sending`` batch and
   **commit before sending**, so a crash can never forget that a request may have gone out.
3. **Send** one request through the gateway, then record the answer in one transaction:
   202 → ``accepted``; 429 → back to the queue, and no worker sends before the reset (plus
   jitter); 5xx or a refused connection → back to the queue with capped exponential backoff;
   a time-out after the request went out → ``in-doubt``; 401/403 → the run stops and says why;
   413 → back to the queue with half the batch size; a 400 naming a recipient → that one
   ``invalid``, the rest back to the queue.

SendGrid has no idempotency key, so exactly-once rests on this outbox plus the Event Webhook: any
event for a batch proves SendGrid accepted that request (it accepts or refuses a request whole),
so an in-doubt batch with an event is ``accepted`` and never resent. An in-doubt batch that
gets no event within ``doubt_window`` is sent again: a recipient can get two copies only if
SendGrid accepted the request and then posted no event at all for that long (the documented
duplicate window).

Plain functions over a session; no Flask. Personal data stays in the database: nothing here logs
an address or a name.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from composer import audit
from composer.approval import Release
from composer.models import (
    BatchState,
    Delivery,
    DeliveryState,
    Incident,
    Recipient,
    RecipientList,
    RunState,
    SendBatch,
    SendRun,
    User,
    WebhookEventSeen,
    utcnow,
)
from composer.rendering.merge import NEUTRAL_VALUES
from composer.sending import ratelimit
from composer.sending.cohorts import cohort_key
from composer.sending.gateways import (
    BatchMessage,
    BatchRecipient,
    CohortContent,
    GatewayAuthError,
    GatewayError,
    GatewayRateLimited,
    GatewayRecipientInvalid,
    GatewayRejected,
    GatewayTooLarge,
    GatewayUnavailable,
    InvalidBatchRecipient,
    MailGateway,
)
from composer.sending.webhook import WebhookEvent

log = logging.getLogger(__name__)

_INSERT_CHUNK = 5_000
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


@dataclass(frozen=True)
class DispatchSettings:
    """How the dispatcher behaves (from the app's settings)."""

    sender: str
    reply_to: str = ""
    #: How long a claimed batch may go without its answer recorded before it is in doubt.
    lease: timedelta = timedelta(minutes=2)
    #: How long an in-doubt batch waits for a webhook event before it is sent again.
    doubt_window: timedelta = timedelta(minutes=10)
    #: Backoff after a 5xx or a refused connection: base * 2^failures, capped, with jitter.
    backoff_base: float = 1.0
    backoff_cap: float = 300.0
    jitter: Callable[[], float] = random.random
    #: Recipients per second for all workers together (``composer.sending.ratelimit``);
    #: ``None`` for no limit of our own (the gateway's 429s still apply).
    rate_per_second: float | None = None
    #: How a worker waits for its turn under the rate limit.
    sleep: Callable[[float], None] = time.sleep


# Starting a run ----------------------------------------------------------------------------------


def start_run(
    session: Session,
    incident: Incident,
    recipient_list: RecipientList,
    release: Release,
    *,
    by: User,
    batch_size: int = 1000,
) -> SendRun:
    """Queue one delivery per recipient of ``recipient_list`` for the approved ``release`` (from
    ``approval.release_check``, called by the caller just before). Recipients with no email go
    straight to the postal list. The caller commits."""
    run = SendRun(
        incident_id=incident.id,
        review_id=release.review.id,
        bundle_sha256=release.bundle.sha256,
        list_id=recipient_list.id,
        created_by_id=by.id,
        batch_size=batch_size,
    )
    session.add(run)
    session.flush()
    rows = session.execute(
        select(
            Recipient.id,
            Recipient.email,
            Recipient.country,
            Recipient.us_state,
            Recipient.data_categories,
        )
        .where(Recipient.list_id == recipient_list.id)
        .order_by(Recipient.id)
        .execution_options(yield_per=_INSERT_CHUNK)
    )
    now = utcnow()
    chunk: list[dict[str, object]] = []
    counts = {"email": 0, "post": 0}
    for recipient_id, email, country, us_state, categories in rows:
        state = DeliveryState.QUEUED.value if email else DeliveryState.POST.value
        counts["email" if email else "post"] += 1
        chunk.append(
            {
                "run_id": run.id,
                "recipient_id": recipient_id,
                "cohort_key": cohort_key(
                    country or "",
                    (us_state or "") if country == "US" else "",
                    tuple(sorted(set(categories or []))),
                ),
                "state": state,
                "updated_at": now,
            }
        )
        if len(chunk) >= _INSERT_CHUNK:
            session.execute(insert(Delivery), chunk)
            chunk = []
    if chunk:
        session.execute(insert(Delivery), chunk)
    audit.record(
        session,
        actor=by,
        action="send.started",
        subject_type="incident",
        subject_id=incident.id,
        after={
            "run": run.id,
            "review": release.review.id,
            "bundle_sha256": run.bundle_sha256,
            "list": recipient_list.id,
            "by_email": counts["email"],
            "by_post": counts["post"],
        },
    )
    return run


# Dispatching -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DispatchResult:
    #: What happened: "sent", "idle" (nothing to claim now), "waiting" (backing off or in
    #: doubt), "finished", "stopped", "paused".
    outcome: str
    accepted: int = 0


#: The notice content for a cohort key (from the approved bundle).
ContentFor = Callable[[str], CohortContent]


def dispatch_once(
    session: Session,
    gateway: MailGateway,
    run_id: int,
    content_for: ContentFor,
    settings: DispatchSettings,
    *,
    worker: str,
    now: Callable[[], datetime] = utcnow,
) -> DispatchResult:
    """Recover, claim one batch, send it and record the answer (committing after each step)."""
    run = session.get(SendRun, run_id)
    if run is None:
        raise ValueError(f"there is no send run {run_id}")
    recover(session, run, settings, now=now())
    session.commit()
    if run.state != RunState.RUNNING.value:
        return DispatchResult(outcome=run.state)
    if run.not_before is not None and now() < run.not_before:
        return DispatchResult(outcome="waiting")
    if settings.rate_per_second:
        # Wait for this batch's turn under the shared limit before claiming, so the claim's
        # lease never runs out while waiting; then look again at the run (paused meanwhile?).
        wait = ratelimit.reserve(session, run.batch_size, settings.rate_per_second, now=now())
        if wait > 0:
            settings.sleep(wait)
            session.expire(run)
            if run.state != RunState.RUNNING.value:
                return DispatchResult(outcome=run.state)
    batch = claim_batch(session, run, worker=worker, lease=settings.lease, now=now())
    if batch is None:
        session.commit()
        if finish_if_done(session, run, now=now()):
            session.commit()
            return DispatchResult(outcome="finished")
        return DispatchResult(
            outcome="waiting" if _count(session, run, DeliveryState.IN_DOUBT) else "idle"
        )
    session.commit()  # the claim is durable before anything is sent
    deliveries = list(
        session.scalars(select(Delivery).where(Delivery.batch_id == batch.id).order_by(Delivery.id))
    )
    try:
        message = _message(session, batch, deliveries, content_for(batch.cohort_key), settings)
    except InvalidBatchRecipient as exc:
        _return_batch(session, batch, deliveries, invalid={exc.outbox_id: str(exc)}, now=now())
        session.commit()
        return DispatchResult(outcome="sent")
    try:
        accepted = gateway.send_batch(message)
    except GatewayError as exc:
        _record_failure(session, run, batch, deliveries, exc, settings, now=now())
        session.commit()
        return DispatchResult(outcome="sent")
    stamp = now()
    session.execute(
        update(SendBatch)
        .where(SendBatch.id == batch.id)
        .values(state=BatchState.ACCEPTED.value, message_id=accepted.message_id)
    )
    session.execute(
        update(Delivery)
        .where(Delivery.batch_id == batch.id, Delivery.state == DeliveryState.SENDING.value)
        .values(
            state=DeliveryState.ACCEPTED.value, message_id=accepted.message_id, updated_at=stamp
        )
    )
    # Settled by a webhook event first: keep its states, add the message id.
    session.execute(
        update(Delivery)
        .where(Delivery.batch_id == batch.id, Delivery.message_id.is_(None))
        .values(message_id=accepted.message_id)
    )
    run.failures = 0
    session.commit()
    return DispatchResult(outcome="sent", accepted=len(deliveries))


def claim_batch(
    session: Session, run: SendRun, *, worker: str, lease: timedelta, now: datetime
) -> SendBatch | None:
    """Take up to ``run.batch_size`` queued deliveries of one cohort into a new batch. Rows are
    locked so two workers on PostgreSQL never claim the same delivery (SQLite has one writer)."""
    first = session.scalar(
        select(Delivery.cohort_key)
        .where(Delivery.run_id == run.id, Delivery.state == DeliveryState.QUEUED.value)
        .order_by(Delivery.id)
        .limit(1)
    )
    if first is None:
        return None
    ids = list(
        session.scalars(
            select(Delivery.id)
            .where(
                Delivery.run_id == run.id,
                Delivery.state == DeliveryState.QUEUED.value,
                Delivery.cohort_key == first,
            )
            .order_by(Delivery.id)
            .limit(run.batch_size)
            .with_for_update(skip_locked=True)
        )
    )
    if not ids:
        return None
    batch = SendBatch(
        run_id=run.id,
        cohort_key=first,
        size=len(ids),
        worker=worker[:100],
        lease_until=now + lease,
        claimed_at=now,
    )
    session.add(batch)
    session.flush()
    session.execute(
        update(Delivery)
        .where(Delivery.id.in_(ids), Delivery.state == DeliveryState.QUEUED.value)
        .values(state=DeliveryState.SENDING.value, batch_id=batch.id, updated_at=now)
    )
    return batch


def _message(
    session: Session,
    batch: SendBatch,
    deliveries: list[Delivery],
    content: CohortContent,
    settings: DispatchSettings,
) -> BatchMessage:
    people = {
        r.id: r
        for r in session.scalars(
            select(Recipient).where(Recipient.id.in_([d.recipient_id for d in deliveries]))
        )
    }
    recipients = []
    for d in deliveries:
        person = people[d.recipient_id]
        # Checked when imported (composer.sending.recipients); the batch checks again what
        # could break a request (addresses, control characters).
        full_name = " ".join(p for p in (person.first_name, person.last_name) if p)
        values = {
            "first_name": person.first_name,
            "last_name": person.last_name,
            "full_name": full_name,
            "reference": person.reference,
            "email": person.email,
        }
        recipients.append(
            BatchRecipient(
                outbox_id=d.id,
                email=person.email,
                name=full_name,
                values={k: v or NEUTRAL_VALUES[k] for k, v in values.items()},
            )
        )
    return BatchMessage(
        batch_id=batch.id,
        content=content,
        sender=settings.sender,
        reply_to=settings.reply_to,
        recipients=recipients,
    )


def _return_batch(
    session: Session,
    batch: SendBatch,
    deliveries: Iterable[Delivery],
    *,
    now: datetime,
    invalid: Mapping[int, str] | None = None,
    error: str | None = None,
) -> None:
    """The batch was not accepted: its deliveries go back to the queue (or are invalid).

    Conditional updates, never a stale object's state: a webhook event may have settled the
    batch meanwhile, and what it proved must not be undone."""
    invalid = invalid or {}
    session.execute(
        update(SendBatch)
        .where(SendBatch.id == batch.id, SendBatch.state == BatchState.SENDING.value)
        .values(state=BatchState.RETURNED.value, error=error)
    )
    for outbox_id, problem in invalid.items():
        session.execute(
            update(Delivery)
            .where(
                Delivery.id == outbox_id,
                Delivery.batch_id == batch.id,
                Delivery.state == DeliveryState.SENDING.value,
            )
            .values(state=DeliveryState.INVALID.value, error=problem, updated_at=now)
        )
    session.execute(
        update(Delivery)
        .where(Delivery.batch_id == batch.id, Delivery.state == DeliveryState.SENDING.value)
        .values(state=DeliveryState.QUEUED.value, batch_id=None, updated_at=now)
    )


def _in_doubt(session: Session, batch: SendBatch, *, now: datetime, reason: str) -> None:
    """The request may have been accepted: hold the batch until an event or the window."""
    session.execute(
        update(SendBatch)
        .where(SendBatch.id == batch.id, SendBatch.state == BatchState.SENDING.value)
        .values(state=BatchState.IN_DOUBT.value, doubt_since=now, error=reason)
    )
    session.execute(
        update(Delivery)
        .where(Delivery.batch_id == batch.id, Delivery.state == DeliveryState.SENDING.value)
        .values(state=DeliveryState.IN_DOUBT.value, updated_at=now)
    )


def _record_failure(
    session: Session,
    run: SendRun,
    batch: SendBatch,
    deliveries: list[Delivery],
    exc: GatewayError,
    settings: DispatchSettings,
    *,
    now: datetime,
) -> None:
    reason = str(exc)
    if isinstance(exc, GatewayRateLimited):
        wait = (exc.retry_after if exc.retry_after is not None else 1.0) + settings.jitter()
        run.not_before = now + timedelta(seconds=max(wait, 0.0))
        _return_batch(session, batch, deliveries, now=now, error=reason)
    elif isinstance(exc, GatewayUnavailable) and exc.maybe_sent:
        _in_doubt(session, batch, now=now, reason=reason)
    elif isinstance(exc, GatewayUnavailable):
        run.failures += 1
        wait = min(settings.backoff_cap, settings.backoff_base * 2 ** (run.failures - 1))
        run.not_before = now + timedelta(seconds=wait * (0.5 + settings.jitter() / 2))
        _return_batch(session, batch, deliveries, now=now, error=reason)
    elif isinstance(exc, GatewayAuthError):
        run.state = RunState.STOPPED.value
        run.message = (
            f"Sending stopped: {reason} Nothing more will be sent until the key is fixed and "
            "the send is resumed; every recipient not yet accepted is still queued."
        )
        _return_batch(session, batch, deliveries, now=now, error=reason)
    elif isinstance(exc, GatewayTooLarge):
        run.batch_size = max(1, len(deliveries) // 2)
        _return_batch(session, batch, deliveries, now=now, error=reason)
    elif isinstance(exc, GatewayRecipientInvalid):
        named = {outbox_id: exc.message for _, outbox_id in exc.invalid}
        _return_batch(session, batch, deliveries, now=now, invalid=named, error=reason)
    elif isinstance(exc, GatewayRejected):
        # Another refusal of the whole request: nothing was sent; stop rather than loop.
        run.state = RunState.STOPPED.value
        run.message = f"Sending stopped: the gateway refused a request: {reason}"
        _return_batch(session, batch, deliveries, now=now, error=reason)
    else:  # pragma: no cover - every gateway error is one of the above
        _return_batch(session, batch, deliveries, now=now, error=reason)
    log.warning("send run %s batch %s: %s", run.id, batch.id, type(exc).__name__)


def recover(session: Session, run: SendRun, settings: DispatchSettings, *, now: datetime) -> None:
    """Batches whose worker died become in doubt; in-doubt batches with no event within the
    duplicate window go back to the queue."""
    stale = list(
        session.scalars(
            select(SendBatch).where(
                SendBatch.run_id == run.id,
                SendBatch.state == BatchState.SENDING.value,
                SendBatch.lease_until < now,
            )
        )
    )
    for batch in stale:
        _in_doubt(session, batch, now=now, reason="the worker stopped before recording the answer")
    expired = list(
        session.scalars(
            select(SendBatch).where(
                SendBatch.run_id == run.id,
                SendBatch.state == BatchState.IN_DOUBT.value,
                SendBatch.doubt_since < now - settings.doubt_window,
            )
        )
    )
    for batch in expired:
        session.execute(
            update(SendBatch)
            .where(SendBatch.id == batch.id, SendBatch.state == BatchState.IN_DOUBT.value)
            .values(
                state=BatchState.RETURNED.value,
                error="no webhook event within the duplicate window: sent again",
            )
        )
        session.execute(
            update(Delivery)
            .where(Delivery.batch_id == batch.id, Delivery.state == DeliveryState.IN_DOUBT.value)
            .values(state=DeliveryState.QUEUED.value, batch_id=None, updated_at=now)
        )


def finish_if_done(session: Session, run: SendRun, *, now: datetime) -> bool:
    if run.state != RunState.RUNNING.value:
        return False
    left = session.scalar(
        select(func.count())
        .select_from(Delivery)
        .where(Delivery.run_id == run.id, Delivery.state.in_(_OPEN))
    )
    if left:
        return False
    run.state = RunState.FINISHED.value
    run.finished_at = now
    return True


def _count(session: Session, run: SendRun, state: DeliveryState) -> int:
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


# Control -----------------------------------------------------------------------------------------


def pause(session: Session, run: SendRun) -> None:
    if run.state == RunState.RUNNING.value:
        run.state = RunState.PAUSED.value


def resume(session: Session, run: SendRun) -> None:
    if run.state in (RunState.PAUSED.value, RunState.STOPPED.value):
        run.state = RunState.RUNNING.value
        run.message = None
        run.not_before = None


def cancel(session: Session, run: SendRun, *, now: datetime) -> int:
    """Stop the run; deliveries not yet claimed are cancelled (claimed ones finish as they do)."""
    if run.state in (RunState.FINISHED.value, RunState.CANCELLED.value):
        return 0
    run.state = RunState.CANCELLED.value
    run.finished_at = now
    result = session.execute(
        update(Delivery)
        .where(Delivery.run_id == run.id, Delivery.state == DeliveryState.QUEUED.value)
        .values(state=DeliveryState.CANCELLED.value, updated_at=now)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


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
    return Applied(applied=len(matched), duplicates=duplicates, unknown=len(new) - len(matched))

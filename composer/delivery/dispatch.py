"""The dispatcher's step: claim a batch of queued deliveries, send it, record the answer.

A run has one ``delivery`` row per recipient (written while it is ``preparing``:
``composer.delivery.preparing``). Every kind of worker (``composer.workers``) repeats
:func:`dispatch_once`:

1. **Recover**: a batch still ``sending`` after its lease (the worker died between claiming and
   recording the answer) becomes ``in-doubt`` (``composer.delivery.reconcile``).
2. **Claim** up to ``batch_size`` queued deliveries of one cohort into a ``sending`` batch and
   **commit before sending**, so a crash can never forget that a request may have gone out;
   then **hold** each address for the notice version in ``sent_address`` (committed too, before
   the request: ``composer.delivery.ledger``), so a delivery whose address already had this
   version is ``already-sent``, never sent. A batch known not to have gone out gives its
   addresses back.
3. **Send** one request through the gateway, then record the answer in one transaction:
   202 → ``accepted``; 429 → back to the queue, and no worker sends before the reset (plus
   jitter); 5xx or a refused connection → back to the queue with capped exponential backoff;
   a time-out after the request went out → ``in-doubt``; 401/403 → the run stops and says why;
   413 → back to the queue with half the batch size; a 400 naming a recipient → that one
   ``invalid``, the rest back to the queue.

When nothing is left to claim the run is finished, or ``in-doubt`` until webhook events
(``composer.delivery.reconcile``) or an admin (``composer.delivery.control``) settle it.

Plain functions over a session; no Flask. Personal data stays in the database: nothing here logs
an address or a name.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import Select, Update, bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session

from composer.delivery import ratelimit
from composer.delivery.gateways import (
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
from composer.delivery.ledger import hold_addresses, release_addresses
from composer.delivery.preparing import PREPARE_ROWS, prepare_step
from composer.delivery.reconcile import mark_in_doubt, recover
from composer.delivery.tables import (
    BATCH,
    DELIVERY,
    NO_SYNC,
    QUEUED,
    RECIPIENT,
    RUN,
    SENDING,
    count_in_state,
    rowcount,
    table,
)
from composer.delivery.tables import run_counts as run_counts
from composer.models import (
    BatchState,
    Delivery,
    DeliveryState,
    Recipient,
    RunState,
    SendBatch,
    SendRun,
    utcnow,
)
from composer.rendering.merge_fields import NEUTRAL_VALUES

# ``run_counts`` (from ``tables``) is re-exported: a run's counts are what the web layer shows
# of a dispatch. Starting a send is in ``preparing``, an admin's controls in ``control``,
# webhook events and in-doubt batches in ``reconcile``.

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DispatchSettings:
    """How the dispatcher behaves (from the app's settings)."""

    sender: str
    reply_to: str = ""
    #: How long a claimed batch may go without its answer recorded before it is in doubt.
    lease: timedelta = timedelta(minutes=2)
    #: Backoff after a 5xx or a refused connection: base * 2^failures, capped, with jitter.
    backoff_base: float = 1.0
    backoff_cap: float = 300.0
    jitter: Callable[[], float] = random.random
    #: Recipients per second for all workers together (``composer.delivery.ratelimit``);
    #: ``None`` for no limit of our own (the gateway's 429s still apply).
    rate_per_second: float | None = None
    #: How a worker waits for its turn under the rate limit.
    sleep: Callable[[float], None] = time.sleep
    #: Recipients written per step while a run is preparing (``prepare_step``).
    prepare_rows: int = PREPARE_ROWS


@dataclass(frozen=True)
class DispatchResult:
    #: What happened: "sent", "idle" (nothing to claim now), "waiting" (backing off or in
    #: doubt), "finished", "stopped", "paused".
    outcome: str
    accepted: int = 0


@dataclass(frozen=True)
class Claim:
    """A batch just claimed (committed by the caller before anything is sent)."""

    #: The ``send_batch`` row.
    id: int
    cohort_key: str
    #: How many deliveries it holds.
    size: int


#: The notice content for a cohort key (from the approved bundle).
ContentFor = Callable[[str], CohortContent]

# The hot path's statements are made once, on the tables (``composer.delivery.tables``).

#: The cohort of the first queued delivery: the next batch is of that cohort.
_FIRST_QUEUED: Final = (
    select(DELIVERY.cohort_key)
    .where(DELIVERY.run_id == bindparam("run"), DELIVERY.state == QUEUED)
    .order_by(DELIVERY.id)
    .limit(1)
)
_NEW_BATCH: Final = insert(table(SendBatch)).returning(BATCH.id)
#: The next queued deliveries of a cohort, locked (other workers skip them).
_PICKED: Final = (
    select(DELIVERY.id)
    .where(
        DELIVERY.run_id == bindparam("run"),
        DELIVERY.state == QUEUED,
        DELIVERY.cohort_key == bindparam("cohort"),
    )
    .order_by(DELIVERY.id)
    .limit(bindparam("size"))
    .with_for_update(skip_locked=True)
)


def _claim_statement(picked: Select[*tuple[int]]) -> Update:
    """One statement that picks the rows and takes them: no list of ids goes back and forth."""
    return (
        update(table(Delivery))
        .where(DELIVERY.id.in_(picked), DELIVERY.state == QUEUED)
        .values(state=SENDING, batch_id=bindparam("batch"), updated_at=bindparam("at"))
    )


_CLAIM: Final = _claim_statement(_PICKED)
#: On PostgreSQL the pick is a materialized CTE: inlined into the UPDATE, the planner may run
#: it more than once and, skipping the rows its first run locked, take more than ``size``.
#: (SQLite has one writer and runs the subquery once; its driver reports no row count for a
#: statement that starts with WITH.)
_CLAIM_POSTGRESQL: Final = _claim_statement(
    select(_PICKED.cte("picked").prefix_with("MATERIALIZED").c.id)
)
_BATCH_SIZE: Final = (
    update(table(SendBatch)).where(BATCH.id == bindparam("batch")).values(size=bindparam("size_"))
)
_BATCH_COUNT: Final = (
    select(func.count()).select_from(table(Delivery)).where(DELIVERY.batch_id == bindparam("batch"))
)
_DROP_BATCH: Final = delete(table(SendBatch)).where(BATCH.id == bindparam("batch"))
#: A batch's recipients as the request needs them, in outbox order.
_BATCH_RECIPIENTS: Final = (
    select(
        DELIVERY.id,
        RECIPIENT.email,
        RECIPIENT.first_name,
        RECIPIENT.last_name,
        RECIPIENT.reference,
    )
    .join_from(table(Delivery), table(Recipient), RECIPIENT.id == DELIVERY.recipient_id)
    .where(DELIVERY.batch_id == bindparam("batch"))
    .order_by(DELIVERY.id)
)
_BATCH_ACCEPTED: Final = (
    update(table(SendBatch))
    .where(BATCH.id == bindparam("batch"))
    .values(state=BatchState.ACCEPTED.value, message_id=bindparam("message"))
)
_DELIVERIES_ACCEPTED: Final = (
    update(table(Delivery))
    .where(DELIVERY.batch_id == bindparam("batch"), DELIVERY.state == SENDING)
    .values(
        state=DeliveryState.ACCEPTED.value,
        message_id=bindparam("message"),
        updated_at=bindparam("at"),
    )
)
#: Deliveries a webhook event settled first keep their states and get the message id.
_SETTLED_GET_MESSAGE_ID: Final = (
    update(table(Delivery))
    .where(DELIVERY.batch_id == bindparam("batch"), DELIVERY.message_id.is_(None))
    .values(message_id=bindparam("message"))
)
#: Batches to recover: claimed by a worker whose lease ran out (the few batches sending,
#: found by the run-state index). In-doubt batches are never recovered on a timer.
_FAILURES_RESET: Final = (
    update(table(SendRun)).where(RUN.id == bindparam("run"), RUN.failures != 0).values(failures=0)
)


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
    # Always read the run afresh: it may have been paused, stopped or slowed down meanwhile.
    run = session.get(SendRun, run_id, populate_existing=True)
    if run is None:
        raise ValueError(f"there is no send run {run_id}")
    if recover(session, run, now=now()):
        session.commit()
    if run.state == RunState.PREPARING.value:
        prepare_step(session, run_id, rows=settings.prepare_rows, now=now())
        return DispatchResult(outcome=RunState.PREPARING.value)
    if run.state != RunState.RUNNING.value:
        return DispatchResult(outcome=run.state)
    if run.not_before is not None and now() < run.not_before:
        return DispatchResult(outcome="waiting")
    size = run.batch_size
    reserved: ratelimit.Reservation | None = None
    if settings.rate_per_second:
        # Batches a few seconds' worth of the rate at most, and a turn reserved for that many
        # before claiming, so the claim's lease never runs out while waiting; then look again
        # at the run (paused meanwhile?). What the claim did not fill is given back.
        size = batch_size_for_rate(run.batch_size, settings.rate_per_second)
        reserved = ratelimit.reserve_turn(session, size, settings.rate_per_second, now=now())
        if reserved.wait > 0:
            settings.sleep(reserved.wait)
            session.expire(run)
            if run.state != RunState.RUNNING.value:
                ratelimit.give_back(session, reserved, size)
                return DispatchResult(outcome=run.state)
    batch = claim_batch(session, run, worker=worker, lease=settings.lease, now=now(), size=size)
    if reserved is not None and (batch is None or batch.size < size):
        session.commit()
        ratelimit.give_back(session, reserved, size - (batch.size if batch else 0))
    if batch is None:
        session.commit()
        if finish_if_done(session, run, now=now()):
            session.commit()
            return DispatchResult(outcome=run.state)  # finished, or in doubt
        return DispatchResult(
            outcome="waiting" if count_in_state(session, run, DeliveryState.IN_DOUBT) else "idle"
        )
    try:
        # Holds the batch's addresses (sent_address) and commits them with the claim: both
        # are durable before anything is sent, in one commit.
        message = _message(session, batch, content_for(batch.cohort_key), settings)
    except InvalidBatchRecipient as exc:
        _return_batch(session, batch.id, invalid={exc.outbox_id: str(exc)}, now=now())
        session.commit()
        return DispatchResult(outcome="sent")
    if message is None:  # everyone in it already had this version (sent_address)
        return DispatchResult(outcome="sent")
    try:
        accepted = gateway.send_batch(message)
    except GatewayError as exc:
        _record_failure(session, run, batch, exc, settings, now=now())
        session.commit()
        return DispatchResult(outcome="sent")
    _record_accepted(session, run_id, batch.id, accepted.message_id, now=now())
    session.commit()
    return DispatchResult(outcome="sent", accepted=batch.size)


#: Under a rate limit, a batch holds at most this many seconds' worth of the rate: a batch of
#: 1,000 at 4 recipients a second would hold the next four minutes for itself.
RATE_BATCH_SECONDS: Final = 2.0


def batch_size_for_rate(batch_size: int, rate_per_second: float) -> int:
    """The batch size to claim under ``rate_per_second``: ``batch_size``, cut to
    :data:`RATE_BATCH_SECONDS` of the rate (at least one recipient)."""
    return max(1, min(batch_size, int(rate_per_second * RATE_BATCH_SECONDS)))


def claim_batch(
    session: Session,
    run: SendRun,
    *,
    worker: str,
    lease: timedelta,
    now: datetime,
    size: int | None = None,
) -> Claim | None:
    """Take up to ``size`` (by default ``run.batch_size``) queued deliveries of one cohort into
    a new batch; the caller commits. Rows are locked and skipped when locked (``FOR UPDATE
    SKIP LOCKED``), so workers on PostgreSQL never claim the same delivery; SQLite has one
    writer."""
    connection = session.connection()
    run_id, batch_size = run.id, min(run.batch_size, size or run.batch_size)
    for _ in range(3):
        first = connection.execute(_FIRST_QUEUED, {"run": run_id}).scalar()
        if first is None:
            return None
        batch_id = connection.execute(
            _NEW_BATCH,
            {
                "run_id": run_id,
                "cohort_key": first,
                "state": BatchState.SENDING.value,
                "size": 0,
                "worker": worker[:100],
                "lease_until": now + lease,
                "claimed_at": now,
            },
        ).scalar_one()
        claim = _CLAIM_POSTGRESQL if connection.dialect.name == "postgresql" else _CLAIM
        result = connection.execute(
            claim,
            {"run": run_id, "cohort": first, "size": batch_size, "batch": batch_id, "at": now},
        )
        claimed = rowcount(result)
        if claimed < 0:  # a driver that does not say: count them
            claimed = connection.execute(_BATCH_COUNT, {"batch": batch_id}).scalar_one()
        if claimed:
            connection.execute(_BATCH_SIZE, {"batch": batch_id, "size_": claimed})
            return Claim(id=batch_id, cohort_key=first, size=claimed)
        # Another worker took that cohort's rows between the two statements: look again.
        connection.execute(_DROP_BATCH, {"batch": batch_id})
    return None


def _message(
    session: Session, batch: Claim, content: CohortContent, settings: DispatchSettings
) -> BatchMessage | None:
    """The request for a claimed batch, its addresses held in ``sent_address`` (committed);
    None when every address in it already had this version."""
    # All at once: row by row, fetching took as long as building the request.
    rows = session.connection().execute(_BATCH_RECIPIENTS, {"batch": batch.id}).all()
    neutral = NEUTRAL_VALUES
    recipients = []
    # Checked when imported (composer.recipients.lists); the batch checks again what could
    # break a request (addresses, control characters).
    for outbox_id, email, first_name, last_name, reference in rows:
        if first_name and last_name:
            full_name = f"{first_name} {last_name}"
        else:
            full_name = first_name or last_name
        recipients.append(
            BatchRecipient(
                outbox_id=outbox_id,
                email=email,
                name=full_name,
                values={
                    "first_name": first_name or neutral["first_name"],
                    "last_name": last_name or neutral["last_name"],
                    "full_name": full_name or neutral["full_name"],
                    "reference": reference or neutral["reference"],
                    "email": email or neutral["email"],
                },
            )
        )
    refused = hold_addresses(session, batch.id, [(r.outbox_id, r.email) for r in recipients])
    if refused:
        recipients = [r for r in recipients if r.outbox_id not in refused]
        if not recipients:
            return None
    return BatchMessage(
        batch_id=batch.id,
        content=content,
        sender=settings.sender,
        reply_to=settings.reply_to,
        recipients=recipients,
    )


def _record_accepted(
    session: Session, run_id: int, batch_id: int, message_id: str, *, now: datetime
) -> None:
    """The gateway took the whole batch. Conditional updates: a webhook event may have settled
    the batch (or moved a delivery on) meanwhile, and its states stay."""
    connection = session.connection()
    parameters = {"batch": batch_id, "message": message_id, "at": now, "run": run_id}
    connection.execute(_BATCH_ACCEPTED, parameters)
    connection.execute(_DELIVERIES_ACCEPTED, parameters)
    connection.execute(_SETTLED_GET_MESSAGE_ID, parameters)
    connection.execute(_FAILURES_RESET, parameters)


def _return_batch(
    session: Session,
    batch_id: int,
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
        .where(SendBatch.id == batch_id, SendBatch.state == BatchState.SENDING.value)
        .values(state=BatchState.RETURNED.value, error=error)
        .execution_options(**NO_SYNC)
    )
    # Known not sent: the addresses are free for this version again.
    release_addresses(session.connection(), batch_id)
    for outbox_id, problem in invalid.items():
        session.execute(
            update(Delivery)
            .where(
                Delivery.id == outbox_id,
                Delivery.batch_id == batch_id,
                Delivery.state == DeliveryState.SENDING.value,
            )
            .values(state=DeliveryState.INVALID.value, error=problem, updated_at=now)
            .execution_options(**NO_SYNC)
        )
    session.execute(
        update(Delivery)
        .where(Delivery.batch_id == batch_id, Delivery.state == DeliveryState.SENDING.value)
        .values(state=DeliveryState.QUEUED.value, batch_id=None, updated_at=now)
        .execution_options(**NO_SYNC)
    )


def _record_failure(
    session: Session,
    run: SendRun,
    batch: Claim,
    exc: GatewayError,
    settings: DispatchSettings,
    *,
    now: datetime,
) -> None:
    reason = str(exc)
    if isinstance(exc, GatewayRateLimited):
        wait = (exc.retry_after if exc.retry_after is not None else 1.0) + settings.jitter()
        run.not_before = now + timedelta(seconds=max(wait, 0.0))
        _return_batch(session, batch.id, now=now, error=reason)
    elif isinstance(exc, GatewayUnavailable) and exc.maybe_sent:
        mark_in_doubt(session, batch.id, now=now, reason=reason)
    elif isinstance(exc, GatewayUnavailable):
        run.failures += 1
        wait = min(settings.backoff_cap, settings.backoff_base * 2 ** (run.failures - 1))
        run.not_before = now + timedelta(seconds=wait * (0.5 + settings.jitter() / 2))
        _return_batch(session, batch.id, now=now, error=reason)
    elif isinstance(exc, GatewayAuthError):
        run.state = RunState.STOPPED.value
        run.message = (
            f"Sending stopped: {reason} Nothing more will be sent until the key is fixed and "
            "the send is resumed; every recipient not yet accepted is still queued."
        )
        _return_batch(session, batch.id, now=now, error=reason)
    elif isinstance(exc, GatewayTooLarge):
        run.batch_size = max(1, batch.size // 2)
        _return_batch(session, batch.id, now=now, error=reason)
    elif isinstance(exc, GatewayRecipientInvalid):
        named = {outbox_id: exc.message for _, outbox_id in exc.invalid}
        _return_batch(session, batch.id, now=now, invalid=named, error=reason)
    elif isinstance(exc, GatewayRejected):
        # Another refusal of the whole request: nothing was sent; stop rather than loop.
        run.state = RunState.STOPPED.value
        run.message = f"Sending stopped: the gateway refused a request: {reason}"
        _return_batch(session, batch.id, now=now, error=reason)
    else:  # pragma: no cover - every gateway error is one of the above
        _return_batch(session, batch.id, now=now, error=reason)
    log.warning("send run %s batch %s: %s", run.id, batch.id, type(exc).__name__)


_UNSENT: Final = (DeliveryState.QUEUED.value, DeliveryState.SENDING.value)


def finish_if_done(session: Session, run: SendRun, *, now: datetime) -> bool:
    """A running run with nothing queued or sending is finished, or ``in-doubt`` when some of
    its recipients are (no worker sends it; events or an admin settle them). True when the
    state changed; the caller commits."""
    if run.state != RunState.RUNNING.value:
        return False
    left = session.scalar(
        select(Delivery.id).where(Delivery.run_id == run.id, Delivery.state.in_(_UNSENT)).limit(1)
    )
    if left is not None:
        return False
    if count_in_state(session, run, DeliveryState.IN_DOUBT):
        run.state = RunState.IN_DOUBT.value
        return True
    run.state = RunState.FINISHED.value
    run.finished_at = now
    return True

"""The outbox and its dispatcher: every recipient accepted exactly once, even across crashes.

A run has one ``delivery`` row per recipient. The dispatcher (the same code in the in-process
worker and in Celery tasks) repeats :func:`dispatch_once`:

1. **Recover**: a batch still ``sending`` after its lease (the worker died between claiming and
   recording the answer) becomes ``in-doubt``.
2. **Claim** up to ``batch_size`` queued deliveries of one cohort into a ``sending`` batch and
   **commit before sending**, so a crash can never forget that a request may have gone out;
   then **hold** each address for the notice version in ``sent_address`` (committed too, before
   the request): its primary key refuses a second delivery of a version to an address, and a
   delivery refused so is ``already-sent``, never sent. A batch known not to have gone out
   gives its addresses back.
3. **Send** one request through the gateway, then record the answer in one transaction:
   202 → ``accepted``; 429 → back to the queue, and no worker sends before the reset (plus
   jitter); 5xx or a refused connection → back to the queue with capped exponential backoff;
   a time-out after the request went out → ``in-doubt``; 401/403 → the run stops and says why;
   413 → back to the queue with half the batch size; a 400 naming a recipient → that one
   ``invalid``, the rest back to the queue.

SendGrid has no idempotency key, so exactly-once rests on this outbox plus the Event Webhook: any
event for a batch proves SendGrid accepted that request (it accepts or refuses a request whole),
so an in-doubt batch with an event is ``accepted`` and never resent. An in-doubt batch with no
event is never sent again on a timer: it waits, and when nothing else is left the run is
``in-doubt`` (not finished) until events arrive or an admin settles it, knowing what each
choice risks (:func:`resend_in_doubt`: some may get two copies; :func:`mark_in_doubt_delivered`:
some may get none).

Plain functions over a session; no Flask. Personal data stays in the database: nothing here logs
an address or a name.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import (
    Select,
    Table,
    Text,
    Update,
    bindparam,
    cast,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from composer import audit
from composer.approval import Release
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
from composer.delivery.webhook import WebhookEvent
from composer.models import (
    Base,
    BatchState,
    Delivery,
    DeliveryState,
    Incident,
    Recipient,
    RecipientList,
    Review,
    RunState,
    SendBatch,
    SendRun,
    SentAddress,
    User,
    WebhookEventSeen,
    utcnow,
)
from composer.recipients.cohorts import cohort_key
from composer.rendering.merge_fields import NEUTRAL_VALUES

log = logging.getLogger(__name__)

#: Recipients written per prepare step (one transaction each): a million-recipient list is
#: fifty steps, each holding SQLite's write lock for a fraction of a second.
PREPARE_ROWS: Final = 20_000
_COHORT_KEYS_KEPT = 10_000
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


# Starting a run ----------------------------------------------------------------------------------


def start_run(
    session: Session,
    incident: Incident,
    recipient_list: RecipientList,
    release: Release,
    *,
    by: User,
    batch_size: int = 1000,
    scheduled_for: datetime | None = None,
) -> SendRun:
    """Make a run of the approved ``release`` (from ``approval.release_check``, called by the
    caller just before) to ``recipient_list``, in the ``preparing`` state, and return at once:
    a worker writes one delivery per recipient (:func:`prepare_step`, in chunks), then the run
    is running, or scheduled for ``scheduled_for`` (``composer.delivery.schedule``). Recipients
    with no email go straight to the postal list. The caller commits."""
    run = SendRun(
        state=RunState.PREPARING.value,
        not_before=scheduled_for,
        incident_id=incident.id,
        review_id=release.review.id,
        bundle_sha256=release.bundle.sha256,
        list_id=recipient_list.id,
        created_by_id=by.id,
        batch_size=batch_size,
    )
    session.add(run)
    session.flush()
    return run


def prepare_step(session: Session, run_id: int, *, rows: int = PREPARE_ROWS, now: datetime) -> bool:
    """Write the delivery rows of the next ``rows`` recipients of a ``preparing`` run (by
    recipient id, after ``prepared_through``) and commit them together with the new
    ``prepared_through``; when none are left, the run becomes running (or scheduled) and
    ``send.started`` (or ``send.scheduled``) is recorded with its counts. Returns False when
    the run is not preparing (cancelled, or finished preparing by another worker).

    Crash-safe and idempotent: rows and cursor commit together, so a worker killed mid-step
    loses the whole step and the next one repeats it; two workers preparing at once both try
    to move the cursor on from the same value, and only one of them can."""
    if rows < 1:
        raise ValueError("a prepare step writes at least one recipient")
    connection = session.connection()
    found = connection.execute(
        select(_RUN.state, _RUN.prepared_through, _RUN.list_id).where(_RUN.id == run_id)
    ).one_or_none()
    if found is None or found.state != RunState.PREPARING.value:
        session.rollback()
        return False
    cursor = found.prepared_through or 0
    picked = connection.execute(
        select(
            _RECIPIENT.id,
            _RECIPIENT.email,
            _RECIPIENT.country,
            _RECIPIENT.us_state,
            cast(_RECIPIENT.data_categories, Text),
        )
        .where(_RECIPIENT.list_id == found.list_id, _RECIPIENT.id > cursor)
        .order_by(_RECIPIENT.id)
        .limit(rows)
    ).all()
    if not picked:
        return _finish_preparing(session, run_id, now=now)
    moved = connection.execute(
        update(_table(SendRun))
        .where(
            _RUN.id == run_id,
            _RUN.state == RunState.PREPARING.value,
            func.coalesce(_RUN.prepared_through, 0) == cursor,
        )
        .values(prepared_through=picked[-1][0])
    )
    if _rowcount(moved) == 0:  # cancelled, or another worker wrote this step first
        session.rollback()
        return False
    _insert_deliveries(connection, _delivery_rows(connection, run_id, picked, now=now))
    session.commit()
    return True


def _delivery_rows(
    connection: Connection,
    run_id: int,
    picked: Iterable[Sequence[Any]],
    *,
    now: datetime,
) -> list[tuple[object, ...]]:
    """Delivery rows (``_DELIVERY_COLUMNS`` order) for recipients ``(id, email, country,
    us_state, categories)``, a cohort's next to each other: a batch is claimed from, and
    written back to, a few adjacent pages rather than rows spread across the step (a third of
    the database time of sending a batch)."""
    # Plain rows in and out (Core, and on SQLite the driver itself, with the time converted
    # once): SQLAlchemy's handling of each row's parameters took three times as long as
    # storing them.
    stamp = _delivery_time(connection, now)
    queued, post = DeliveryState.QUEUED.value, DeliveryState.POST.value
    # A list has a few cohorts: each one's key is worked out once (up to a limit).
    keys: dict[tuple[str, str, str], str] = {}
    keyed: list[tuple[str, int, object]] = []
    for recipient_id, email, country, us_state, categories in picked:
        group = (country or "", (us_state or "") if country == "US" else "", categories or "[]")
        key = keys.get(group)
        if key is None:
            ids = tuple(sorted(set(json.loads(group[2]) or [])))
            key = cohort_key(group[0], group[1], ids)
            if len(keys) < _COHORT_KEYS_KEPT:
                keys[group] = key
        keyed.append((key, recipient_id, queued if email else post))
    keyed.sort(key=lambda row: (row[0], row[1]))
    return [(run_id, recipient_id, key, state, stamp) for key, recipient_id, state in keyed]


def _finish_preparing(session: Session, run_id: int, *, now: datetime) -> bool:
    """Every delivery is written: the run becomes running (scheduled when it has a time) and
    the start is recorded with its counts, once (a conditional update)."""
    run = session.get(SendRun, run_id, populate_existing=True)
    if run is None or run.state != RunState.PREPARING.value:
        session.rollback()
        return False
    scheduled = run.not_before is not None
    changed = session.execute(
        update(SendRun)
        .where(SendRun.id == run_id, SendRun.state == RunState.PREPARING.value)
        .values(
            state=RunState.SCHEDULED.value if scheduled else RunState.RUNNING.value,
            prepared_at=now,
        )
        .execution_options(**_NO_SYNC)
    )
    if _rowcount(changed) == 0:
        session.rollback()
        return False
    counts = dict(
        session.execute(
            select(Delivery.state, func.count())
            .where(Delivery.run_id == run_id)
            .group_by(Delivery.state)
        ).all()
    )
    by_post = int(counts.get(DeliveryState.POST.value, 0))
    audit.record(
        session,
        actor=session.get(User, run.created_by_id),
        action="send.scheduled" if scheduled else "send.started",
        subject_type="incident",
        subject_id=run.incident_id,
        after={
            **({"at": run.not_before.isoformat()} if run.not_before is not None else {}),
            "run": run.id,
            "review": run.review_id,
            "bundle_sha256": run.bundle_sha256,
            "list": run.list_id,
            "by_email": sum(int(n) for n in counts.values()) - by_post,
            "by_post": by_post,
        },
    )
    session.commit()
    session.expire(run)
    return True


def prepare(session: Session, run_id: int, *, rows: int = PREPARE_ROWS) -> None:
    """Prepare ``run_id`` to the end in this process (the command line, tests, benchmarks);
    each step commits."""
    while prepare_step(session, run_id, rows=rows, now=utcnow()):
        pass


# Dispatching -------------------------------------------------------------------------------------


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

# The hot path works on rows, not ORM objects: loading and tracking 2,000 objects a batch, and
# checking each against every bulk UPDATE, cost more than building and posting the request.
# Its statements are made once, on the tables, and run on the session's connection.
_NO_SYNC: Final = {"synchronize_session": False}


def _table(model: type[Base]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


_DELIVERY_INSERT: Final = insert(_table(Delivery))
_DELIVERY_COLUMNS: Final = ("run_id", "recipient_id", "cohort_key", "state", "updated_at")
_SQLITE_DELIVERY_INSERT: Final = str(
    insert(_table(Delivery))
    .values({name: bindparam(name) for name in _DELIVERY_COLUMNS})
    .compile(dialect=sqlite.dialect())
)


def _delivery_time(connection: Connection, at: datetime) -> object:
    """``at`` as ``delivery.updated_at`` takes it: on SQLite already as the driver stores it
    (the column type's own conversion, done once); elsewhere left to SQLAlchemy."""
    if connection.dialect.name != "sqlite":
        return at
    process = _table(Delivery).c.updated_at.type.bind_processor(connection.dialect)
    return process(at) if process is not None else at


def _insert_deliveries(connection: Connection, rows: list[tuple[object, ...]]) -> None:
    """Insert delivery rows given in ``_DELIVERY_COLUMNS`` order."""
    if not rows:
        return
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql(_SQLITE_DELIVERY_INSERT, rows)
    else:
        connection.execute(
            _DELIVERY_INSERT, [dict(zip(_DELIVERY_COLUMNS, row, strict=True)) for row in rows]
        )


_DELIVERY: Final = _table(Delivery).c
_BATCH: Final = _table(SendBatch).c
_RECIPIENT: Final = _table(Recipient).c
_RUN: Final = _table(SendRun).c
_QUEUED: Final = DeliveryState.QUEUED.value
_SENDING: Final = DeliveryState.SENDING.value

#: The cohort of the first queued delivery: the next batch is of that cohort.
_FIRST_QUEUED: Final = (
    select(_DELIVERY.cohort_key)
    .where(_DELIVERY.run_id == bindparam("run"), _DELIVERY.state == _QUEUED)
    .order_by(_DELIVERY.id)
    .limit(1)
)
_NEW_BATCH: Final = insert(_table(SendBatch)).returning(_BATCH.id)
#: The next queued deliveries of a cohort, locked (other workers skip them).
_PICKED: Final = (
    select(_DELIVERY.id)
    .where(
        _DELIVERY.run_id == bindparam("run"),
        _DELIVERY.state == _QUEUED,
        _DELIVERY.cohort_key == bindparam("cohort"),
    )
    .order_by(_DELIVERY.id)
    .limit(bindparam("size"))
    .with_for_update(skip_locked=True)
)


def _claim_statement(picked: Select[*tuple[int]]) -> Update:
    """One statement that picks the rows and takes them: no list of ids goes back and forth."""
    return (
        update(_table(Delivery))
        .where(_DELIVERY.id.in_(picked), _DELIVERY.state == _QUEUED)
        .values(state=_SENDING, batch_id=bindparam("batch"), updated_at=bindparam("at"))
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
    update(_table(SendBatch)).where(_BATCH.id == bindparam("batch")).values(size=bindparam("size_"))
)
_BATCH_COUNT: Final = (
    select(func.count())
    .select_from(_table(Delivery))
    .where(_DELIVERY.batch_id == bindparam("batch"))
)
_DROP_BATCH: Final = delete(_table(SendBatch)).where(_BATCH.id == bindparam("batch"))
#: A batch's recipients as the request needs them, in outbox order.
_BATCH_RECIPIENTS: Final = (
    select(
        _DELIVERY.id,
        _RECIPIENT.email,
        _RECIPIENT.first_name,
        _RECIPIENT.last_name,
        _RECIPIENT.reference,
    )
    .join_from(_table(Delivery), _table(Recipient), _RECIPIENT.id == _DELIVERY.recipient_id)
    .where(_DELIVERY.batch_id == bindparam("batch"))
    .order_by(_DELIVERY.id)
)
_BATCH_ACCEPTED: Final = (
    update(_table(SendBatch))
    .where(_BATCH.id == bindparam("batch"))
    .values(state=BatchState.ACCEPTED.value, message_id=bindparam("message"))
)
_DELIVERIES_ACCEPTED: Final = (
    update(_table(Delivery))
    .where(_DELIVERY.batch_id == bindparam("batch"), _DELIVERY.state == _SENDING)
    .values(
        state=DeliveryState.ACCEPTED.value,
        message_id=bindparam("message"),
        updated_at=bindparam("at"),
    )
)
#: Deliveries a webhook event settled first keep their states and get the message id.
_SETTLED_GET_MESSAGE_ID: Final = (
    update(_table(Delivery))
    .where(_DELIVERY.batch_id == bindparam("batch"), _DELIVERY.message_id.is_(None))
    .values(message_id=bindparam("message"))
)
#: Batches to recover: claimed by a worker whose lease ran out (the few batches sending,
#: found by the run-state index). In-doubt batches are never recovered on a timer.
_DUE_BATCHES: Final = select(_BATCH.id).where(
    _BATCH.run_id == bindparam("run"),
    _BATCH.state == BatchState.SENDING.value,
    _BATCH.lease_until < bindparam("lease_ended"),
)
_FAILURES_RESET: Final = (
    update(_table(SendRun))
    .where(_RUN.id == bindparam("run"), _RUN.failures != 0)
    .values(failures=0)
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
    if recover(session, run, settings, now=now()):
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
            outcome="waiting" if _count(session, run, DeliveryState.IN_DOUBT) else "idle"
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
        claimed = _rowcount(result)
        if claimed < 0:  # a driver that does not say: count them
            claimed = connection.execute(_BATCH_COUNT, {"batch": batch_id}).scalar_one()
        if claimed:
            connection.execute(_BATCH_SIZE, {"batch": batch_id, "size_": claimed})
            return Claim(id=batch_id, cohort_key=first, size=claimed)
        # Another worker took that cohort's rows between the two statements: look again.
        connection.execute(_DROP_BATCH, {"batch": batch_id})
    return None


def _rowcount(result: object) -> int:
    """Rows a statement changed; -1 when the driver does not say."""
    count = getattr(result, "rowcount", -1)
    return int(count) if count is not None else -1


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
    refused = _hold_addresses(session, batch.id, [(r.outbox_id, r.email) for r in recipients])
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
        .execution_options(**_NO_SYNC)
    )
    # Known not sent: the addresses are free for this version again.
    session.connection().execute(_RELEASE_ADDRESSES, {"batch": batch_id})
    for outbox_id, problem in invalid.items():
        session.execute(
            update(Delivery)
            .where(
                Delivery.id == outbox_id,
                Delivery.batch_id == batch_id,
                Delivery.state == DeliveryState.SENDING.value,
            )
            .values(state=DeliveryState.INVALID.value, error=problem, updated_at=now)
            .execution_options(**_NO_SYNC)
        )
    session.execute(
        update(Delivery)
        .where(Delivery.batch_id == batch_id, Delivery.state == DeliveryState.SENDING.value)
        .values(state=DeliveryState.QUEUED.value, batch_id=None, updated_at=now)
        .execution_options(**_NO_SYNC)
    )


def _in_doubt(session: Session, batch_id: int, *, now: datetime, reason: str) -> None:
    """The request may have been accepted: hold the batch until an event or an admin."""
    session.execute(
        update(SendBatch)
        .where(SendBatch.id == batch_id, SendBatch.state == BatchState.SENDING.value)
        .values(state=BatchState.IN_DOUBT.value, doubt_since=now, error=reason)
        .execution_options(**_NO_SYNC)
    )
    session.execute(
        update(Delivery)
        .where(Delivery.batch_id == batch_id, Delivery.state == DeliveryState.SENDING.value)
        .values(state=DeliveryState.IN_DOUBT.value, updated_at=now)
        .execution_options(**_NO_SYNC)
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
        _in_doubt(session, batch.id, now=now, reason=reason)
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


def recover(session: Session, run: SendRun, settings: DispatchSettings, *, now: datetime) -> int:
    """Batches whose worker died become in doubt (and stay so: nothing here sends them again).
    Returns how many batches changed (the caller commits). One indexed query when there is
    nothing to do, which is almost always."""
    due = session.connection().execute(_DUE_BATCHES, {"run": run.id, "lease_ended": now}).all()
    for (batch_id,) in due:
        _in_doubt(
            session, batch_id, now=now, reason="the worker stopped before recording the answer"
        )
    return len(due)


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
    if _count(session, run, DeliveryState.IN_DOUBT):
        run.state = RunState.IN_DOUBT.value
        return True
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
    """Nothing more is sent (a run being prepared stops preparing too) until :func:`resume`."""
    if run.state in (RunState.RUNNING.value, RunState.PREPARING.value):
        run.state = RunState.PAUSED.value


def resume(session: Session, run: SendRun) -> None:
    if run.state == RunState.PAUSED.value and run.prepared_at is None:
        run.state = RunState.PREPARING.value  # paused while preparing: carry on with that
        return
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
    if settled:
        _finish_settled_runs(session, settled, now=now)
    return Applied(applied=len(matched), duplicates=duplicates, unknown=len(new) - len(matched))


# At most once: the sent-address ledger -----------------------------------------------------------


def address_digest(email: str) -> str:
    """The ledger's key for an email address: SHA-256 of it trimmed and lower-cased (no mail
    system delivers two mailboxes that differ only by case)."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


_LEDGER: Final = _table(SentAddress).c
_REVIEW: Final = _table(Review).c
#: The notice version a batch's run sends.
_BATCH_VERSION: Final = (
    select(_REVIEW.version_id)
    .join_from(_table(SendBatch), _table(SendRun), _RUN.id == _BATCH.run_id)
    .join(_table(Review), _REVIEW.id == _RUN.review_id)
    .where(_BATCH.id == bindparam("batch"))
)
_SQLITE_HOLD: Final = (
    "INSERT INTO sent_address (notice_version_id, address_sha256, delivery_id) "
    "VALUES (?, ?, ?) ON CONFLICT DO NOTHING"
)
_POSTGRESQL_HOLD: Final = (
    postgresql.insert(_table(SentAddress)).on_conflict_do_nothing().returning(_LEDGER.delivery_id)
)
#: A batch's deliveries still sending give their addresses back (the batch did not go out).
_RELEASE_ADDRESSES: Final = delete(_table(SentAddress)).where(
    _LEDGER.delivery_id.in_(
        select(_DELIVERY.id).where(
            _DELIVERY.batch_id == bindparam("batch"), _DELIVERY.state == _SENDING
        )
    )
)


def _hold_addresses(
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
        held = _rowcount(connection.exec_driver_sql(_SQLITE_HOLD, rows))
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
                select(_LEDGER.delivery_id).where(_LEDGER.delivery_id.in_(ids))
            ).scalars()
        )
        refused = frozenset(ids) - own
    if refused:
        n = len(refused)
        connection.execute(
            update(_table(Delivery))
            .where(
                _DELIVERY.id.in_(refused),
                _DELIVERY.batch_id == batch_id,
                _DELIVERY.state == _SENDING,
            )
            .values(
                state=DeliveryState.ALREADY_SENT.value,
                error="this address already had this notice version by email: not sent again",
                updated_at=utcnow(),
            )
        )
        if len(refused) == len(rows):
            connection.execute(
                update(_table(SendBatch))
                .where(_BATCH.id == batch_id, _BATCH.state == BatchState.SENDING.value)
                .values(
                    state=BatchState.RETURNED.value,
                    error="every address in it already had this notice version",
                )
            )
        log.warning("send batch %s: %d address(es) already had this version", batch_id, n)
    session.commit()
    return refused


def _finish_settled_runs(session: Session, batch_ids: Iterable[int], *, now: datetime) -> None:
    """Runs waiting only on in-doubt recipients are finished once events settled the last."""
    runs = session.scalars(
        select(SendRun).where(
            SendRun.state == RunState.IN_DOUBT.value,
            SendRun.id.in_(select(SendBatch.run_id).where(SendBatch.id.in_(list(batch_ids)))),
        )
    )
    for run in runs:
        if not _count(session, run, DeliveryState.IN_DOUBT):
            run.state = RunState.FINISHED.value
            run.finished_at = now


# Settling a run: in-doubt recipients, and the people a send did not reach ------------------------


class SendControlError(ValueError):
    """An admin's choice cannot be carried out; the message says why, for them."""


#: Recipients a finished or cancelled run did not reach and may send to: state, why.
UNREACHED: Final = (
    (DeliveryState.CANCELLED.value, "never sent: the send was cancelled before they were reached"),
    (DeliveryState.INVALID.value, "refused by SendGrid: it would not take the address"),
)
#: Recipients not reached by email who are never offered again: state, why.
NOT_OFFERED: Final = (
    (DeliveryState.BOUNCED.value, "bounced: SendGrid took the email; the address did not"),
    (DeliveryState.DROPPED.value, "dropped by SendGrid after taking the email"),
    (DeliveryState.ALREADY_SENT.value, "already had this notice version by email"),
)
#: Run states in which the people it did not reach may be sent to.
UNREACHED_RUN_STATES: Final = (RunState.FINISHED.value, RunState.CANCELLED.value)


@dataclass(frozen=True)
class Unreached:
    """Who a run did not reach by email: ``offered`` may be sent to again, ``not_offered``
    are not (SendGrid took their email, or another delivery did); each as (why, how many)."""

    offered: list[tuple[str, int]]
    not_offered: list[tuple[str, int]]

    @property
    def total(self) -> int:
        return sum(n for _, n in self.offered)


def unreached(session: Session, run: SendRun) -> Unreached:
    counts = run_counts(session, run)
    return Unreached(
        offered=[(why, counts[state]) for state, why in UNREACHED if counts[state]],
        not_offered=[(why, counts[state]) for state, why in NOT_OFFERED if counts[state]],
    )


def _check_expected(found: int, expected: int, what: str) -> None:
    if found == 0:
        raise SendControlError(f"There are no {what} any more: nothing was done.")
    if found != expected:
        raise SendControlError(
            f"The numbers changed since the page was shown: there are now {found:,} {what}. "
            "Nothing was done; look at the new figure and choose again."
        )


def resend_unreached(
    session: Session, run: SendRun, *, by: User, expected: int, now: datetime
) -> int:
    """Queue again the recipients a finished or cancelled ``run`` did not reach and may send to
    (:data:`UNREACHED`), and run it again; ``expected`` is the count the admin confirmed (a
    different count refuses, so a second press does nothing). Returns how many; the caller
    commits and wakes the workers."""
    if run.state not in UNREACHED_RUN_STATES:
        raise SendControlError(
            f"This send is {run.state}: only a finished or cancelled send can be sent to the "
            "people it did not reach."
        )
    states = [state for state, _ in UNREACHED]
    _check_expected(
        sum(run_counts(session, run)[s] for s in states), expected, "people this send did not reach"
    )
    result = session.execute(
        update(Delivery)
        .where(Delivery.run_id == run.id, Delivery.state.in_(states))
        .values(state=DeliveryState.QUEUED.value, batch_id=None, error=None, updated_at=now)
        .execution_options(**_NO_SYNC)
    )
    count = _rowcount(result)
    run.state = RunState.RUNNING.value
    run.finished_at = None
    run.message = None
    run.not_before = None
    run.failures = 0
    audit.record(
        session,
        actor=by,
        action="send.resent_unreached",
        subject_type="incident",
        subject_id=run.incident_id,
        after={"run": run.id, "recipients": count},
    )
    return count


#: Run states in which in-doubt recipients may be sent again.
_RESEND_STATES: Final = (
    RunState.RUNNING.value,
    RunState.PAUSED.value,
    RunState.STOPPED.value,
    RunState.IN_DOUBT.value,
)


def resend_in_doubt(
    session: Session, run: SendRun, *, by: User, expected: int, now: datetime
) -> int:
    """An admin's choice: send the run's in-doubt recipients again, knowing some of them may
    get two copies (their addresses are given back in ``sent_address``, the one case where a
    version may reach an address twice). ``expected`` is the count they confirmed. Returns how
    many; the caller commits and wakes the workers."""
    if run.state not in _RESEND_STATES:
        raise SendControlError(f"This send is {run.state}: its in-doubt recipients cannot be sent.")
    _check_expected(_count(session, run, DeliveryState.IN_DOUBT), expected, "recipients in doubt")
    doubtful = select(Delivery.id).where(
        Delivery.run_id == run.id, Delivery.state == DeliveryState.IN_DOUBT.value
    )
    session.execute(delete(SentAddress).where(SentAddress.delivery_id.in_(doubtful)))
    session.execute(
        update(SendBatch)
        .where(SendBatch.run_id == run.id, SendBatch.state == BatchState.IN_DOUBT.value)
        .values(
            state=BatchState.RETURNED.value,
            error="in doubt; sent again by an admin (some may get two copies)",
        )
        .execution_options(**_NO_SYNC)
    )
    count = _rowcount(
        session.execute(
            update(Delivery)
            .where(Delivery.run_id == run.id, Delivery.state == DeliveryState.IN_DOUBT.value)
            .values(state=DeliveryState.QUEUED.value, batch_id=None, updated_at=now)
            .execution_options(**_NO_SYNC)
        )
    )
    if run.state == RunState.IN_DOUBT.value:
        run.state = RunState.RUNNING.value
    audit.record(
        session,
        actor=by,
        action="send.in_doubt_resent",
        subject_type="incident",
        subject_id=run.incident_id,
        after={"run": run.id, "recipients": count},
    )
    return count


def mark_in_doubt_delivered(
    session: Session, run: SendRun, *, by: User, expected: int, now: datetime
) -> int:
    """An admin's choice: count the run's in-doubt recipients as accepted without sending again
    (some may have got nothing). ``expected`` is the count they confirmed. A run that waited
    only on them is finished. Returns how many; the caller commits."""
    _check_expected(_count(session, run, DeliveryState.IN_DOUBT), expected, "recipients in doubt")
    note = "in doubt; marked delivered by an admin without confirmation from SendGrid"
    session.execute(
        update(SendBatch)
        .where(SendBatch.run_id == run.id, SendBatch.state == BatchState.IN_DOUBT.value)
        .values(state=BatchState.ACCEPTED.value, error=note)
        .execution_options(**_NO_SYNC)
    )
    count = _rowcount(
        session.execute(
            update(Delivery)
            .where(Delivery.run_id == run.id, Delivery.state == DeliveryState.IN_DOUBT.value)
            .values(state=DeliveryState.ACCEPTED.value, error=note, updated_at=now)
            .execution_options(**_NO_SYNC)
        )
    )
    if run.state == RunState.IN_DOUBT.value:
        run.state = RunState.FINISHED.value
        run.finished_at = now
    audit.record(
        session,
        actor=by,
        action="send.in_doubt_marked_delivered",
        subject_type="incident",
        subject_id=run.incident_id,
        after={"run": run.id, "recipients": count},
    )
    return count


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

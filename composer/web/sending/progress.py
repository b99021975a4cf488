"""A run's progress as the page and its JSON show it: counts, an estimate, and why it is
waiting."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from composer.delivery import dispatch, ratelimit
from composer.extensions import db
from composer.models import DeliveryState, RecipientList, RunState, SendBatch, SendRun, utcnow
from composer.web.common import localtime, user_zone
from composer.workers.runtime import dispatch_settings

DONE_STATES = (
    "accepted",
    "delivered",
    "bounced",
    "dropped",
    "invalid",
    "cancelled",
    "post",
    "already-sent",
)


def progress_data(run: SendRun) -> dict[str, Any]:
    """What the progress page shows (and its JSON, read by ``static/js/send-progress.js``):
    the counts, an estimate, and when the send is not moving, why and until when
    (``waiting``: a reason code; ``status``: the sentence; ``until``: ISO time or None)."""
    session = db.session()
    now = utcnow()
    counts = dispatch.run_counts(session, run)
    total = sum(counts.values())
    done = sum(counts[s] for s in DONE_STATES)
    rate_limit = dispatch_settings().rate_per_second
    to_prepare = _to_prepare(run) if run.state == RunState.PREPARING.value else None
    prepared = total
    if to_prepare is not None:  # "0 of 201", not of the rows written so far
        total = max(total, to_prepare)
    wait = _waiting(run, counts, rate_limit, to_prepare=to_prepare, now=now)
    eta: float | None = None
    if run.state == RunState.RUNNING.value:
        left = counts[DeliveryState.QUEUED.value] + counts[DeliveryState.SENDING.value]
        held = max((run.not_before - now).total_seconds(), 0.0) if run.not_before else 0.0
        if rate_limit:
            # The limit sets the pace: the estimate says so from the start, and does not
            # climb while batches wait their turn.
            eta = left / rate_limit + held if left else None
        elif done:
            first = session.scalar(
                select(func.min(SendBatch.claimed_at)).where(SendBatch.run_id == run.id)
            )
            elapsed = max((now - (first or run.created_at)).total_seconds(), 0.001)
            eta = left / (done / elapsed) + held if left else None
    return {
        "state": run.state,
        "message": run.message,
        "counts": counts,
        "total": total,
        "done": done,
        "percent": round(100 * done / total, 1) if total else 100.0,
        "eta_seconds": round(eta) if eta is not None else None,
        "scheduled_for": (
            localtime(run.not_before)
            if run.state == RunState.SCHEDULED.value and run.not_before
            else None
        ),
        "waiting": wait.reason,
        "status": wait.text,
        "until": wait.until.isoformat() if wait.until is not None else None,
        "prepared": prepared if to_prepare is not None else None,
        "to_prepare": to_prepare,
    }


@dataclass(frozen=True)
class _Waiting:
    #: "preparing", "scheduled", "paused", "rate_limit", "gateway_rate_limit", "backoff", or
    #: None when the send is moving (or over).
    reason: str | None = None
    text: str | None = None
    until: datetime | None = None


def _to_prepare(run: SendRun) -> int:
    """Recipients a preparing run will have (the list's imported rows)."""
    imported = db.session.scalar(
        select(RecipientList.imported).where(RecipientList.id == run.list_id)
    )
    return int(imported or 0)


def _waiting(
    run: SendRun,
    counts: dict[str, int],
    rate_limit: float | None,
    *,
    to_prepare: int | None,
    now: datetime,
) -> _Waiting:
    """Why ``run`` is not sending at this moment, in words, and until when."""
    queued = counts[DeliveryState.QUEUED.value]
    if run.state == RunState.PREPARING.value:
        prepared = sum(counts.values())
        then = (
            f"it waits for its time, {localtime(run.not_before)}"
            if run.not_before
            else "sending starts"
        )
        return _Waiting(
            "preparing",
            f"Preparing: {prepared:,} of {to_prepare or prepared:,} recipients (nothing has "
            f"been sent yet). When every recipient is ready, {then}.",
        )
    if run.state == RunState.SCHEDULED.value:
        return _Waiting(
            "scheduled",
            f"Scheduled for {localtime(run.not_before)}: nothing has been sent yet.",
            run.not_before,
        )
    if run.state == RunState.PAUSED.value:
        if run.prepared_at is None:
            return _Waiting(
                "paused",
                f"Paused while preparing ({sum(counts.values()):,} recipients ready): nothing "
                "is prepared or sent until an admin resumes.",
            )
        return _Waiting(
            "paused",
            f"Paused: nothing more is sent until an admin resumes ({queued:,} still queued).",
        )
    if run.state != RunState.RUNNING.value or not queued:
        return _Waiting()
    if run.not_before is not None and run.not_before > now:
        if run.failures:
            attempts = (
                "a failed attempt"
                if run.failures == 1
                else f"{run.failures} failed attempts in a row"
            )
            return _Waiting(
                "backoff",
                f"Backing off after {attempts} to reach the mail service: the next try is at "
                f"{_clock(run.not_before, now=now)}.",
                run.not_before,
            )
        return _Waiting(
            "gateway_rate_limit",
            "SendGrid asked us to slow down (429): waiting for its rate-limit reset at "
            f"{_clock(run.not_before, now=now)}.",
            run.not_before,
        )
    if rate_limit:
        turn = ratelimit.next_turn(db.session())
        if turn is not None and turn > now:
            return _Waiting(
                "rate_limit",
                f"Paced by the sending rate limit of {rate_limit:g} recipients a second: the "
                f"next batch goes at {_clock(turn, now=now)}.",
                turn,
            )
    return _Waiting()


def _clock(at: datetime, *, now: datetime) -> str:
    """``at`` in the viewer's zone, to the second when it is within the hour."""
    if at - now > timedelta(hours=1):
        return localtime(at)
    return f"{at.astimezone(user_zone()):%H:%M:%S %Z}"

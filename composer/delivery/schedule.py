"""Scheduled sends: a run made now (its recipients fixed, one delivery each) that no worker
sends before a chosen time.

A scheduled run is ``scheduled`` with ``not_before`` set to its time. Every kind of worker calls
:func:`start_due` before looking for running runs, so whichever notices first starts it (a
conditional update: exactly one of them records the start). The approval is checked again when
the first batch goes, as for any send: a notice changed after scheduling stops the run and says
what changed. No Flask.
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from composer import audit
from composer.models import RunState, SendRun, User

#: The furthest ahead a send can be scheduled.
MAX_AHEAD = timedelta(days=60)


class ScheduleError(ValueError):
    """The time asked for cannot be used; the message says why, for the person choosing it."""


def parse_local_time(text: str, zone: tzinfo, *, now: datetime) -> datetime:
    """A ``datetime-local`` value (``2026-12-01T09:30``) in ``zone``, checked to be in the
    future and within :data:`MAX_AHEAD`; returned in UTC. An empty value is an error, never
    "now": sending at once is its own button."""
    text = text.strip()
    if not text:
        raise ScheduleError(
            "Choose the date and time to send it (or use Send now to send it at once)."
        )
    try:
        naive = datetime.fromisoformat(text)
    except ValueError:
        raise ScheduleError(
            f"'{text[:40]}' is not a date and time: use the picker, or write 2026-12-01T09:30."
        ) from None
    if naive.tzinfo is not None:
        raise ScheduleError("Give the time without a time zone: it is read in your time zone.")
    when = naive.replace(tzinfo=zone)
    if when <= now:
        raise ScheduleError("That time has already passed. Choose a later time, or send now.")
    if when - now > MAX_AHEAD:
        raise ScheduleError(
            f"That is more than {MAX_AHEAD.days} days away. Choose a sooner time: the notice "
            "must reach people without undue delay."
        )
    return when.astimezone(now.tzinfo)


def send_now(session: Session, run: SendRun, *, by: User) -> bool:
    """Start a scheduled run at once; False when it is not scheduled (any more)."""
    if run.state != RunState.SCHEDULED.value:
        return False
    run.state = RunState.RUNNING.value
    run.not_before = None
    audit.record(
        session,
        actor=by,
        action="send.started_early",
        subject_type="incident",
        subject_id=run.incident_id,
        after={"run": run.id},
    )
    return True


def start_due(session: Session, *, now: datetime) -> list[int]:
    """Start every scheduled run whose time has come; the ids started. The caller commits."""
    due = list(
        session.scalars(
            select(SendRun.id).where(
                SendRun.state == RunState.SCHEDULED.value, SendRun.not_before <= now
            )
        )
    )
    started = []
    for run_id in due:
        result = session.execute(
            update(SendRun)
            .where(SendRun.id == run_id, SendRun.state == RunState.SCHEDULED.value)
            .values(state=RunState.RUNNING.value, not_before=None)
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            continue  # another worker started it first
        incident_id = session.scalar(select(SendRun.incident_id).where(SendRun.id == run_id))
        audit.record(
            session,
            actor=None,
            actor_label="the scheduler",
            action="send.scheduled_start",
            subject_type="incident",
            subject_id=incident_id,
            after={"run": run_id},
        )
        started.append(run_id)
    return started


def waiting_seconds(session: Session, run_id: int, *, now: datetime) -> float | None:
    """Seconds until a scheduled run is due (0 when due); None when it is not scheduled."""
    row = session.execute(
        select(SendRun.state, SendRun.not_before).where(SendRun.id == run_id)
    ).one_or_none()
    if row is None or row.state != RunState.SCHEDULED.value or row.not_before is None:
        return None
    return max(0.0, float((row.not_before - now).total_seconds()))

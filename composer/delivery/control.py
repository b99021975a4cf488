"""What an admin can do to a send run: pause, resume or cancel it; settle its in-doubt
recipients; send again to the people it did not reach.

Settling in-doubt recipients is a choice made knowing what it risks: sending them again
(:func:`resend_in_doubt`) may give some two copies; marking them delivered
(:func:`mark_in_doubt_delivered`) may leave some with none. Every choice that sends or settles
takes the count the admin confirmed and refuses when it changed, so a second press does nothing.

Plain functions over a session; the caller commits (and wakes the workers). No Flask.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from composer import audit
from composer.delivery.tables import NO_SYNC, count_in_state, rowcount, run_counts
from composer.models import (
    BatchState,
    Delivery,
    DeliveryState,
    RunState,
    SendBatch,
    SendRun,
    SentAddress,
    User,
)


class SendControlError(ValueError):
    """An admin's choice cannot be carried out; the message says why, for them."""


# Pause, resume, cancel ---------------------------------------------------------------------------


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


# The people a send did not reach -----------------------------------------------------------------


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
        .execution_options(**NO_SYNC)
    )
    count = rowcount(result)
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


# In-doubt recipients -----------------------------------------------------------------------------


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
    _check_expected(
        count_in_state(session, run, DeliveryState.IN_DOUBT), expected, "recipients in doubt"
    )
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
        .execution_options(**NO_SYNC)
    )
    count = rowcount(
        session.execute(
            update(Delivery)
            .where(Delivery.run_id == run.id, Delivery.state == DeliveryState.IN_DOUBT.value)
            .values(state=DeliveryState.QUEUED.value, batch_id=None, updated_at=now)
            .execution_options(**NO_SYNC)
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
    _check_expected(
        count_in_state(session, run, DeliveryState.IN_DOUBT), expected, "recipients in doubt"
    )
    note = "in doubt; marked delivered by an admin without confirmation from SendGrid"
    session.execute(
        update(SendBatch)
        .where(SendBatch.run_id == run.id, SendBatch.state == BatchState.IN_DOUBT.value)
        .values(state=BatchState.ACCEPTED.value, error=note)
        .execution_options(**NO_SYNC)
    )
    count = rowcount(
        session.execute(
            update(Delivery)
            .where(Delivery.run_id == run.id, Delivery.state == DeliveryState.IN_DOUBT.value)
            .values(state=DeliveryState.ACCEPTED.value, error=note, updated_at=now)
            .execution_options(**NO_SYNC)
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

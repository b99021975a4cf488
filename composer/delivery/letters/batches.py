"""Who in a send run needs a letter, and preparing their letters into batches.

Who gets a letter: every delivery of the run in state ``post`` (no email address), ``bounced``
or ``dropped`` (the Event Webhook said the email did not arrive) or ``invalid`` (the address was
refused, so no email was sent) whose recipient has a postal address, and that is not in a
letter batch yet. Accepted and delivered deliveries get none.

:func:`prepare` puts them, in delivery order, into :class:`LetterBatch` es of up to
``batch_size`` letters. A delivery is put in at most one batch, ever: the unique index on
``letter.delivery_id`` refuses a second one in the database, so two admins preparing at the
same moment, or a retry, can never give anyone two letters. A bounce that arrives after a
prepare goes into a new batch at the next prepare.

No Flask. The audit trail gets counts, never a name or an address.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from sqlalchemy import String, cast, exists, func, insert, select
from sqlalchemy.orm import Session

from composer import audit
from composer.models import (
    Delivery,
    Letter,
    LetterBatch,
    LetterBatchState,
    LetterReason,
    Recipient,
    RecipientList,
    RunState,
    SendRun,
    User,
)

#: Delivery states that need a letter, and why, in the manifest's words.
REASON_WORDS: Final[Mapping[str, str]] = {
    LetterReason.POST.value: "no email address",
    LetterReason.BOUNCED.value: "email bounced",
    LetterReason.DROPPED.value: "email dropped",
    LetterReason.INVALID.value: "email refused",
}
NEEDS_LETTER: Final = tuple(REASON_WORDS)
#: Letters per batch (one PDF) unless the caller says otherwise: see docs/postal.md.
DEFAULT_BATCH_SIZE: Final = 100

# An address is stored as a JSON list; "[]" is the one way an empty one is written.
_HAS_ADDRESS = cast(Recipient.address, String) != "[]"


class LettersRefused(ValueError):
    """Letters cannot be prepared or printed now; the message says why, for an admin."""


def refusal(session: Session, run: SendRun) -> str | None:
    if run.state == RunState.CANCELLED.value:
        return "This send was cancelled, so no letters are printed for it."
    recipient_list = session.get(RecipientList, run.list_id)
    if recipient_list is None or recipient_list.purged_at is not None:
        return (
            "The recipients' personal data was purged (retention period), so letters can no "
            "longer be printed for this send."
        )
    return None


# Who needs a letter ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LetterNeeds:
    """How many of a run's recipients need a letter, and where they are."""

    #: Deliveries in each state that needs a letter ("post", "bounced", "dropped", "invalid").
    by_reason: Mapping[str, int]
    #: Of those, already in a letter batch.
    prepared: int
    #: Not in a batch yet and with a postal address, by reason: the next prepare takes them.
    to_prepare: Mapping[str, int]
    #: Bounced, dropped or refused with no postal address: they cannot be sent a letter.
    no_address: int

    @property
    def total(self) -> int:
        return sum(self.by_reason.values())

    @property
    def waiting(self) -> int:
        return sum(self.to_prepare.values())


def _not_in_a_batch() -> Any:
    return ~exists().where(Letter.delivery_id == Delivery.id)


def needs(session: Session, run: SendRun) -> LetterNeeds:
    """Who in ``run`` needs a letter: a few counting queries, whatever the run's size."""
    rows = session.execute(
        select(Delivery.state, _not_in_a_batch(), _HAS_ADDRESS, func.count())
        .join(Recipient, Recipient.id == Delivery.recipient_id)
        .where(Delivery.run_id == run.id, Delivery.state.in_(NEEDS_LETTER))
        .group_by(Delivery.state, _not_in_a_batch(), _HAS_ADDRESS)
    ).all()
    by_reason: Counter[str] = Counter({reason: 0 for reason in NEEDS_LETTER})
    to_prepare: Counter[str] = Counter({reason: 0 for reason in NEEDS_LETTER})
    prepared = no_address = 0
    for state, unbatched, has_address, count in rows:
        by_reason[state] += count
        if not unbatched:
            prepared += count
        elif has_address:
            to_prepare[state] += count
        else:
            no_address += count
    return LetterNeeds(
        by_reason=dict(by_reason),
        prepared=prepared,
        to_prepare=dict(to_prepare),
        no_address=no_address,
    )


def _unbatched(session: Session, run: SendRun) -> list[tuple[int, str]]:
    """(delivery id, state) of each delivery that needs a letter and is in no batch, in order.
    Read in full before any batch is written: inserting while a cursor is open is not
    portable, and two integers a letter are small."""
    rows = session.execute(
        select(Delivery.id, Delivery.state)
        .join(Recipient, Recipient.id == Delivery.recipient_id)
        .where(
            Delivery.run_id == run.id,
            Delivery.state.in_(NEEDS_LETTER),
            _not_in_a_batch(),
            _HAS_ADDRESS,
        )
        .order_by(Delivery.id)
    )
    return [(delivery_id, state) for delivery_id, state in rows]


# Preparing batches -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    """What :func:`prepare` made."""

    batch_ids: tuple[int, ...]
    letters: int
    by_reason: Mapping[str, int] = field(default_factory=dict)


def prepare(
    session: Session,
    run: SendRun,
    *,
    batch_size: int,
    by: User | None,
    now: datetime,
    actor_label: str | None = None,
) -> Prepared:
    """Put every delivery of ``run`` that needs a letter and is in no batch yet into new
    batches of up to ``batch_size``, in delivery order; records ``letters.prepared`` (counts
    only). Raises :class:`LettersRefused` for a cancelled run or a purged list, and lets the
    database's ``IntegrityError`` through if another prepare put one of them in a batch first
    (roll back and try again). The caller commits."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    # One prepare per run at a time (PostgreSQL; SQLite has one writer anyway). The unique
    # index on letter.delivery_id holds even without it.
    session.execute(select(SendRun.id).where(SendRun.id == run.id).with_for_update())
    problem = refusal(session, run)
    if problem:
        raise LettersRefused(problem)
    if run.state == "scheduled":  # where sends can be scheduled: nothing has gone out yet
        raise LettersRefused(
            "This send is scheduled for later: prepare letters once it has started, so they do "
            "not arrive before the emails."
        )
    number = int(
        session.scalar(select(func.max(LetterBatch.number)).where(LetterBatch.run_id == run.id))
        or 0
    )
    batch_ids: list[int] = []
    reasons: Counter[str] = Counter()
    chunk: list[tuple[int, str]] = []

    def flush(members: list[tuple[int, str]]) -> None:
        nonlocal number
        number += 1
        batch = LetterBatch(
            run_id=run.id,
            number=number,
            size=len(members),
            created_at=now,
            created_by_id=by.id if by is not None else None,
            state=LetterBatchState.WAITING.value,
        )
        session.add(batch)
        session.flush()
        session.execute(
            insert(Letter),
            [
                {"batch_id": batch.id, "delivery_id": delivery_id, "sequence": i, "reason": state}
                for i, (delivery_id, state) in enumerate(members, start=1)
            ],
        )
        batch_ids.append(batch.id)

    pending = _unbatched(session, run)
    for delivery_id, state in pending:
        chunk.append((delivery_id, state))
        reasons[state] += 1
        if len(chunk) == batch_size:
            flush(chunk)
            chunk = []
    if chunk:
        flush(chunk)
    if batch_ids:
        audit.record(
            session,
            actor=by,
            actor_label=actor_label,
            action="letters.prepared",
            subject_type="incident",
            subject_id=run.incident_id,
            after={
                "run": run.id,
                "batches": batch_ids,
                "letters": len(pending),
                "by_reason": dict(sorted(reasons.items())),
                "batch_size": batch_size,
            },
        )
    return Prepared(batch_ids=tuple(batch_ids), letters=len(pending), by_reason=dict(reasons))


def retry(
    session: Session, batch: LetterBatch, *, by: User | None, actor_label: str | None = None
) -> None:
    """Put a failed batch back to waiting, for the next :func:`render_next`. The caller
    commits."""
    if batch.state != LetterBatchState.FAILED.value:
        raise LettersRefused(f"Letter batch {batch.number} has not failed.")
    run = session.get(SendRun, batch.run_id)
    assert run is not None
    problem = refusal(session, run)
    if problem:
        raise LettersRefused(problem)
    batch.state = LetterBatchState.WAITING.value
    batch.error = None
    batch.attempts = 0
    batch.lease_until = None
    audit.record(
        session,
        actor=by,
        actor_label=actor_label,
        action="letters.retried",
        subject_type="incident",
        subject_id=run.incident_id,
        after={"run": run.id, "batch": batch.id, "number": batch.number},
    )

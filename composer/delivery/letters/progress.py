"""Reading a run's letter batches: the list, and how far their rendering has got (what the
letters page shows while a big preparation is printed). No Flask."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from composer.models import LetterBatch, LetterBatchState, SendRun


def batches(session: Session, run: SendRun) -> list[LetterBatch]:
    """The run's letter batches, in the order they were prepared."""
    return list(
        session.scalars(
            select(LetterBatch).where(LetterBatch.run_id == run.id).order_by(LetterBatch.number)
        )
    )


def is_rendering(batch: LetterBatch, now: datetime) -> bool:
    """A worker holds the batch right now."""
    return (
        batch.state == LetterBatchState.WAITING.value
        and batch.lease_until is not None
        and batch.lease_until > now
    )


def state_counts(session: Session, run: SendRun) -> dict[str, int]:
    """Letters in waiting, ready and failed batches."""
    found = dict(
        session.execute(
            select(LetterBatch.state, func.sum(LetterBatch.size))
            .where(LetterBatch.run_id == run.id)
            .group_by(LetterBatch.state)
        ).all()
    )
    return {state.value: int(found.get(state.value) or 0) for state in LetterBatchState}


@dataclass(frozen=True)
class LetterProgress:
    """How far the rendering of a run's letter batches has got: what the letters page shows
    while a big preparation is printed."""

    batches: int
    letters: int
    #: Batches (and their letters) rendered and ready to download.
    ready_batches: int
    ready_letters: int
    #: Refused or given up: they wait for an admin's "Try again".
    failed_batches: int
    failed_letters: int
    #: Waiting batches that a renderer holds right now.
    rendering_batches: int

    @property
    def waiting_batches(self) -> int:
        return self.batches - self.ready_batches - self.failed_batches

    @property
    def done(self) -> bool:
        return self.waiting_batches == 0

    @property
    def percent(self) -> int:
        """Letters rendered, in whole per cent (100 only when every one is)."""
        if not self.letters:
            return 100
        if self.ready_letters == self.letters:
            return 100
        return self.ready_letters * 100 // self.letters


def progress(session: Session, run: SendRun, now: datetime) -> LetterProgress:
    """The run's letter batches counted by state: one grouped query, whatever their number."""
    rendering = (
        (LetterBatch.state == LetterBatchState.WAITING.value)
        & LetterBatch.lease_until.is_not(None)
        & (LetterBatch.lease_until > now)
    )
    rows = session.execute(
        select(LetterBatch.state, rendering, func.count(), func.sum(LetterBatch.size))
        .where(LetterBatch.run_id == run.id)
        .group_by(LetterBatch.state, rendering)
    ).all()
    batches: Counter[str] = Counter()
    letters: Counter[str] = Counter()
    held = 0
    for state, is_rendering, count, size in rows:
        batches[state] += count
        letters[state] += int(size or 0)
        if is_rendering:
            held += count
    return LetterProgress(
        batches=sum(batches.values()),
        letters=sum(letters.values()),
        ready_batches=batches[LetterBatchState.READY.value],
        ready_letters=letters[LetterBatchState.READY.value],
        failed_batches=batches[LetterBatchState.FAILED.value],
        failed_letters=letters[LetterBatchState.FAILED.value],
        rendering_batches=held,
    )

"""One sending rate limit, in recipients per second, shared by every worker.

Workers may be threads, ``send work`` processes or Celery workers on several machines; the
only thing they all share is the database, so the limit lives there: one row holds the earliest
time the next reservation may start. A worker about to send ``n`` recipients reserves
``n / rate`` seconds in one short transaction (the row is locked on PostgreSQL; SQLite has one
writer), then waits until its reservation starts. Over any stretch of time, all workers
together send at most ``rate`` recipients per second, plus one batch.

A worker reserves before it claims (so a claim's lease never runs out while it waits), for the
batch it means to claim; when the claim holds fewer (the end of a cohort or of the list), it
gives the rest back if no one has reserved after it. Batches are cut to a few seconds of the
rate (``dispatch.batch_size_for_rate``), so a reservation never holds minutes for a batch that
turns out small.

No Flask; nothing here sees personal data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from composer.models import SendRateLimit

#: The row every mail worker reserves from (created by migration 0008).
MAIL = "mail"


@dataclass(frozen=True)
class Reservation:
    """A turn under the shared limit."""

    #: Seconds the caller must wait before sending (0 when it may send now).
    wait: float
    #: When the turn starts and ends (the row's ``next_at`` right after reserving).
    starts_at: datetime
    ends_at: datetime
    rate_per_second: float
    name: str = MAIL


def reserve_turn(
    session: Session, recipients: int, rate_per_second: float, *, now: datetime, name: str = MAIL
) -> Reservation:
    """Reserve ``recipients`` of the shared rate and commit."""
    if rate_per_second <= 0:
        raise ValueError("the rate limit must be above 0 recipients per second")
    row = session.scalars(
        select(SendRateLimit).where(SendRateLimit.name == name).with_for_update()
    ).one_or_none()
    if row is None:  # a database created without the migration's row
        row = SendRateLimit(name=name, next_at=now)
        session.add(row)
    start = max(row.next_at, now)
    ends = start + timedelta(seconds=max(recipients, 0) / rate_per_second)
    row.next_at = ends
    session.commit()
    return Reservation(
        wait=(start - now).total_seconds(),
        starts_at=start,
        ends_at=ends,
        rate_per_second=rate_per_second,
        name=name,
    )


def reserve(
    session: Session, recipients: int, rate_per_second: float, *, now: datetime, name: str = MAIL
) -> float:
    """Reserve ``recipients`` of the shared rate and commit; returns how many seconds the
    caller must wait before sending them (0 when it may send now)."""
    return reserve_turn(session, recipients, rate_per_second, now=now, name=name).wait


def give_back(session: Session, reservation: Reservation, recipients: int) -> bool:
    """Return the time of ``recipients`` not sent from the end of ``reservation`` and commit;
    False (nothing changed) when another worker has reserved after it since, whose turn
    stays where it is."""
    if recipients <= 0:
        return False
    back = timedelta(seconds=recipients / reservation.rate_per_second)
    result = session.execute(
        update(SendRateLimit)
        .where(SendRateLimit.name == reservation.name, SendRateLimit.next_at == reservation.ends_at)
        .values(next_at=max(reservation.ends_at - back, reservation.starts_at))
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return bool(getattr(result, "rowcount", 0))


def next_turn(session: Session, *, name: str = MAIL) -> datetime | None:
    """When the next reservation may start (None when the limit has never been used)."""
    return session.scalar(select(SendRateLimit.next_at).where(SendRateLimit.name == name))

"""One sending rate limit, in recipients per second, shared by every worker.

Workers may be threads, ``send work`` processes or Celery workers on several machines; the
only thing they all share is the database, so the limit lives there: one row holds the earliest
time the next reservation may start. A worker about to send ``n`` recipients reserves
``n / rate`` seconds in one short transaction (the row is locked on PostgreSQL; SQLite has one
writer), then waits until its reservation starts. Over any stretch of time, all workers
together send at most ``rate`` recipients per second, plus one batch.

No Flask; nothing here sees personal data.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from composer.models import SendRateLimit

#: The row every mail worker reserves from (created by migration 0008).
MAIL = "mail"


def reserve(
    session: Session, recipients: int, rate_per_second: float, *, now: datetime, name: str = MAIL
) -> float:
    """Reserve ``recipients`` of the shared rate and commit; returns how many seconds the
    caller must wait before sending them (0 when it may send now)."""
    if rate_per_second <= 0:
        raise ValueError("the rate limit must be above 0 recipients per second")
    row = session.scalars(
        select(SendRateLimit).where(SendRateLimit.name == name).with_for_update()
    ).one_or_none()
    if row is None:  # a database created without the migration's row
        row = SendRateLimit(name=name, next_at=now)
        session.add(row)
    start = max(row.next_at, now)
    row.next_at = start + timedelta(seconds=max(recipients, 0) / rate_per_second)
    session.commit()
    return (start - now).total_seconds()

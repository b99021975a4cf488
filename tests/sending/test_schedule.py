"""Scheduled sends: the time typed in the user's zone, and exactly one start."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from composer.delivery import preparing, schedule
from composer.extensions import db
from composer.models import AuditEvent, Role, RunState, SendRun, User
from tests.conftest import make_user
from tests.sending.scenario import approved_send

NOW = datetime(2026, 11, 29, 14, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("typed", "zone", "utc"),
    [
        ("2026-12-01T09:30", "Europe/London", datetime(2026, 12, 1, 9, 30, tzinfo=UTC)),
        ("2026-12-01T09:30", "America/New_York", datetime(2026, 12, 1, 14, 30, tzinfo=UTC)),
        ("2026-12-01T09:30", "Asia/Kolkata", datetime(2026, 12, 1, 4, 0, tzinfo=UTC)),
        # New York leaves summer time on 1 November; Sydney is in summer time now.
        (" 2026-12-01T09:30 ", "Australia/Sydney", datetime(2026, 11, 30, 22, 30, tzinfo=UTC)),
    ],
)
def test_the_time_is_read_in_the_users_zone(typed: str, zone: str, utc: datetime) -> None:
    assert schedule.parse_local_time(typed, ZoneInfo(zone), now=NOW) == utc


@pytest.mark.parametrize(
    ("typed", "problem"),
    [
        ("2026-11-29T13:59", "already passed"),
        ("2026-11-29T14:00", "already passed"),
        ("2027-01-29T14:01", "more than 60 days"),
        ("", "Choose the date and time"),
        ("   ", "Choose the date and time"),
        ("2026-02-30T09:30", "is not a date and time"),
        ("tomorrow at nine", "is not a date and time"),
        ("2026-12-01T09:30Z", "without a time zone"),
        ("<script>alert(1)</script>", "is not a date and time"),
    ],
)
def test_unusable_times_say_why(typed: str, problem: str) -> None:
    with pytest.raises(schedule.ScheduleError, match=problem):
        schedule.parse_local_time(typed, ZoneInfo("Europe/London"), now=NOW)


def test_two_workers_noticing_the_time_start_it_once(app: Flask) -> None:
    with app.app_context():
        session = db.session()
        ana = session.get(User, make_user(app, "ana@example.com", Role.AUTHOR))
        lee = session.get(User, make_user(app, "lee@example.com", Role.APPROVER))
        assert ana is not None
        assert lee is not None
        made = approved_send(
            session,
            "email,first_name,country\nal@example.com,Al,GB\n",
            author=ana,
            approver=lee,
            config=app.config,
            catalogue=app.extensions["composer.catalogue"],
            start=False,
        )
        from composer.recipients.cohorts import latest_list

        recipient_list = latest_list(session, made.incident)
        assert recipient_list is not None
        now = datetime.now(UTC)
        run = preparing.start_run(
            session,
            made.incident,
            recipient_list,
            made.release,
            by=ana,
            scheduled_for=now + timedelta(minutes=5),
        )
        session.commit()
        preparing.prepare(session, run.id)  # as the worker would
        assert run.state == RunState.SCHEDULED.value
        assert schedule.start_due(session, now=now) == []
        assert schedule.waiting_seconds(session, run.id, now=now) == pytest.approx(300)

        later = now + timedelta(minutes=6)
        first, second = Session(db.engine), Session(db.engine)
        try:
            assert schedule.start_due(first, now=later) == [run.id]
            first.commit()
            assert schedule.start_due(second, now=later) == []
            second.commit()
        finally:
            first.close()
            second.close()
        session.expire_all()
        assert session.get(SendRun, run.id).state == RunState.RUNNING.value  # type: ignore[union-attr]
        assert schedule.waiting_seconds(session, run.id, now=later) is None
        actions = list(
            session.scalars(
                sa.select(AuditEvent.action)
                .where(AuditEvent.action.like("send.%"))
                .order_by(AuditEvent.seq)
            )
        )
        assert actions == ["send.scheduled", "send.scheduled_start"]

"""One rate limit, in recipients per second, shared by every worker through the database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session, sessionmaker

from composer.delivery import dispatch, ratelimit
from composer.extensions import db
from composer.models import RunState, SendBatch, SendRun, utcnow
from tests.sending.fake_sendgrid import running
from tests.sending.test_outbox import SENDER, World


@pytest.fixture
def two_sessions(app: Flask) -> Iterator[tuple[Session, Session]]:
    """Two connections, as two worker processes would have."""
    with app.app_context():
        make = sessionmaker(bind=db.engine)
        first, second = make(), make()
        try:
            yield first, second
        finally:
            first.close()
            second.close()


def test_workers_share_one_limit_kept_in_the_database(
    two_sessions: tuple[Session, Session],
) -> None:
    first, second = two_sessions
    now = utcnow()
    # 1,000 recipients a second: each batch of 1,000 takes the next whole second.
    assert ratelimit.reserve(first, 1000, 1000, now=now) == 0
    assert ratelimit.reserve(second, 1000, 1000, now=now) == pytest.approx(1.0)
    assert ratelimit.reserve(first, 500, 1000, now=now) == pytest.approx(2.0)
    assert ratelimit.reserve(second, 1000, 1000, now=now) == pytest.approx(2.5)
    # Once the reserved time has passed, the next batch may go at once.
    later = now + timedelta(seconds=10)
    assert ratelimit.reserve(first, 1000, 1000, now=later) == 0


def test_a_rate_of_zero_or_less_is_refused(two_sessions: tuple[Session, Session]) -> None:
    with pytest.raises(ValueError, match="above 0"):
        ratelimit.reserve(two_sessions[0], 10, 0, now=utcnow())


def test_dispatch_waits_its_turn_and_sends_everyone_at_the_limit(app: Flask) -> None:
    with app.app_context(), running() as fake:
        world = World(app, fake, 5_000)
        waits: list[float] = []

        def sleep(seconds: float) -> None:  # waiting moves the test's clock on
            waits.append(seconds)
            world.clock.advance(seconds=seconds)

        settings = dispatch.DispatchSettings(
            sender=SENDER, jitter=lambda: 0.0, rate_per_second=2000, sleep=sleep
        )
        started = world.clock()
        for _ in range(5):
            dispatch.dispatch_once(
                world.session,
                world.gateway,
                world.run.id,
                lambda key: world.content,
                settings,
                worker="w1",
                now=world.clock,
            )
        elapsed = (world.clock() - started).total_seconds()
        assert len(fake.accepted) == 5_000
        # Five batches of 1,000 at 2,000 a second: the first at once, then every half second.
        assert waits == pytest.approx([0.5, 0.5, 0.5, 0.5])
        assert elapsed == pytest.approx(2.0)  # 5,000 in 2 s: the rate, plus one batch


def test_a_run_paused_while_waiting_for_its_turn_claims_nothing(app: Flask) -> None:
    with app.app_context(), running() as fake:
        world = World(app, fake, 3_000)
        ratelimit.reserve(world.session, 10_000, 1000, now=world.clock())  # 10 s taken already

        def sleep(seconds: float) -> None:
            assert seconds == pytest.approx(10.0)
            # Someone presses Pause meanwhile (another connection).
            with Session(db.engine) as other:
                other.execute(
                    sa.update(SendRun)
                    .where(SendRun.id == world.run.id)
                    .values(state=RunState.PAUSED.value)
                )
                other.commit()

        settings = dispatch.DispatchSettings(sender=SENDER, rate_per_second=1000, sleep=sleep)
        result = dispatch.dispatch_once(
            world.session,
            world.gateway,
            world.run.id,
            lambda key: world.content,
            settings,
            worker="w1",
            now=world.clock,
        )
        assert result.outcome == RunState.PAUSED.value
        assert world.session.scalar(sa.select(sa.func.count()).select_from(SendBatch)) == 0
        assert fake.accepted == []


def dispatch_until_done(world: World, settings: dispatch.DispatchSettings) -> list[str]:
    outcomes: list[str] = []
    for _ in range(500):
        result = dispatch.dispatch_once(
            world.session,
            world.gateway,
            world.run.id,
            lambda key: world.content,
            settings,
            worker="w1",
            now=world.clock,
        )
        outcomes.append(result.outcome)
        if result.outcome == "finished":
            return outcomes
    raise AssertionError(f"not finished: {outcomes[-5:]}")


def test_201_recipients_at_4_a_second_take_about_50_seconds(app: Flask) -> None:
    with app.app_context(), running() as fake:
        world = World(app, fake, 201)
        waits: list[float] = []

        def sleep(seconds: float) -> None:
            waits.append(seconds)
            world.clock.advance(seconds=seconds)

        settings = dispatch.DispatchSettings(
            sender=SENDER, jitter=lambda: 0.0, rate_per_second=4, sleep=sleep
        )
        started = world.clock()
        dispatch_until_done(world, settings)
        elapsed = (world.clock() - started).total_seconds()
        # Everyone, once, in batches of two seconds' worth of the rate (8), not 1,000.
        emails = [a.email for a in fake.accepted]
        assert len(emails) == len(set(emails)) == 201
        sizes = world.session.scalars(
            sa.select(SendBatch.size).where(SendBatch.run_id == world.run.id)
        ).all()
        assert max(sizes) == 8
        # 201 at 4 a second: the last batch goes 50 s after the first (not ~50 minutes).
        assert elapsed == pytest.approx(50.0, abs=0.5)
        assert sum(waits) == pytest.approx(50.0, abs=0.5)


def test_a_batch_smaller_than_its_turn_gives_the_rest_back(app: Flask) -> None:
    """Three cohorts of 4, 3 and 3 at 4 a second: each claim holds fewer than the 8 it reserved
    for, and the next batch waits only for what was sent."""
    with app.app_context(), running() as fake:
        world = World(app, fake, 10, countries=("GB", "IE", "FR"))
        waits: list[float] = []

        def sleep(seconds: float) -> None:
            waits.append(seconds)
            world.clock.advance(seconds=seconds)

        settings = dispatch.DispatchSettings(
            sender=SENDER, jitter=lambda: 0.0, rate_per_second=4, sleep=sleep
        )
        dispatch_until_done(world, settings)
        assert len(fake.accepted) == 10
        sizes = world.session.scalars(
            sa.select(SendBatch.size).where(SendBatch.run_id == world.run.id)
        ).all()
        assert sorted(sizes) == [3, 3, 4]
        # The first at once, then each waits for the recipients sent before it, not for 8:
        # the third batch goes 7 / 4 s after the first (the last call, which finds nothing
        # left, waited its turn too).
        assert sum(waits[:2]) == pytest.approx(7 / 4)
        assert max(waits) < 2


def test_a_turn_is_given_back_only_when_no_one_reserved_after_it(
    two_sessions: tuple[Session, Session],
) -> None:
    first, second = two_sessions
    now = utcnow()
    mine = ratelimit.reserve_turn(first, 8, 4, now=now)
    theirs = ratelimit.reserve_turn(second, 8, 4, now=now)
    assert theirs.wait == pytest.approx(2.0)
    # Someone reserved after mine: their turn stays where it is.
    assert not ratelimit.give_back(first, mine, 6)
    assert ratelimit.next_turn(first) == theirs.ends_at
    # The last turn gives back what it did not use; no more than it had.
    assert ratelimit.give_back(second, theirs, 6)
    assert ratelimit.reserve(first, 1, 4, now=now) == pytest.approx(2.5)
    assert not ratelimit.give_back(first, mine, 0)
    assert not ratelimit.give_back(first, mine, -3)


def test_the_batch_size_follows_the_rate() -> None:
    assert dispatch.batch_size_for_rate(1000, 4) == 8
    assert dispatch.batch_size_for_rate(1000, 0.1) == 1
    assert dispatch.batch_size_for_rate(1000, 2000) == 1000
    assert dispatch.batch_size_for_rate(500, 1e9) == 500

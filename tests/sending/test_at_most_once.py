"""At most once: the sent-address ledger refuses, in the database, a second delivery of a notice
version to an address; in-doubt recipients wait for events or an admin, never a timer; a
finished or cancelled send can reach only the people it did not reach."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.exc import IntegrityError

from composer import retention
from composer.delivery import control, dispatch, ledger, preparing, tables
from composer.models import (
    AuditEvent,
    Delivery,
    Review,
    RunState,
    SendRun,
    SentAddress,
)
from tests.sending.fake_sendgrid import FakeSendGrid, Fault, running
from tests.sending.test_outbox import SETTINGS, World


@pytest.fixture
def fake() -> Iterator[FakeSendGrid]:
    with running() as server:
        yield server


@pytest.fixture
def world(app: Flask, fake: FakeSendGrid) -> Iterator[World]:
    with app.app_context():
        yield World(app, fake, 250)


def copies(world: World) -> dict[int, int]:
    """How many recipients the fake accepted once, twice, ... (copies -> recipients)."""
    found: dict[int, int] = {}
    for n in world.fake.counts.values():
        found[n] = found.get(n, 0) + 1
    return found


def run_state(world: World, run_id: int | None = None) -> str:
    run = world.session.get(SendRun, run_id or world.run.id, populate_existing=True)
    assert run is not None
    return run.state


def dispatch_run(world: World, run_id: int) -> str:
    """Dispatch ``run_id`` until nothing is left to send; its last outcome."""
    outcome = ""
    for _ in range(50):
        outcome = dispatch.dispatch_once(
            world.session,
            world.gateway,
            run_id,
            lambda key: world.content,
            SETTINGS,
            worker="w1",
            now=world.clock,
        ).outcome
        if outcome in ("finished", "in-doubt"):
            return outcome
        if outcome in ("waiting", "idle"):
            world.clock.advance(seconds=30)
    raise AssertionError(f"run {run_id} never ended: {outcome}")


def test_address_digest_ignores_case_and_surrounding_space() -> None:
    same = {ledger.address_digest(a) for a in ("p0@example.com", " P0@Example.COM ")}
    assert len(same) == 1
    assert ledger.address_digest("p0@example.com") != ledger.address_digest("p1@example.com")


def test_the_database_refuses_a_second_delivery_of_a_version_to_an_address(world: World) -> None:
    world.until_done()
    session = world.session
    version_id = session.scalar(
        sa.select(Review.version_id).where(Review.id == world.run.review_id)
    )
    held = session.scalar(sa.select(sa.func.count()).select_from(SentAddress))
    assert held == 250
    other = session.scalars(sa.select(Delivery.id).order_by(Delivery.id.desc())).first()
    session.add(
        SentAddress(
            notice_version_id=version_id,
            address_sha256=ledger.address_digest(" P0@EXAMPLE.com"),
            delivery_id=other,
        )
    )
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()


def test_a_second_send_of_the_same_version_sends_nobody_twice(world: World) -> None:
    world.until_done()
    assert copies(world) == {1: 250}
    requests = len(world.fake.requests)
    # A second run of the same approved version to the same people (what the pages no longer
    # offer, made here by hand as a bug or a second worker deployment might).
    first = world.run
    again = SendRun(
        state=RunState.PREPARING.value,
        incident_id=first.incident_id,
        review_id=first.review_id,
        bundle_sha256=first.bundle_sha256,
        list_id=first.list_id,
        created_by_id=first.created_by_id,
        batch_size=first.batch_size,
    )
    world.session.add(again)
    world.session.commit()
    preparing.prepare(world.session, again.id)
    assert dispatch_run(world, again.id) == "finished"
    assert len(world.fake.requests) == requests, "a request went out"
    assert copies(world) == {1: 250}
    states = tables.run_counts(world.session, again)
    assert states["already-sent"] == 250
    assert sum(states.values()) == 250


def test_a_batch_known_not_sent_gives_its_addresses_back(world: World) -> None:
    world.fake.fault(Fault.SERVER_ERROR, Fault.RATE_LIMITED)
    world.dispatch()
    assert world.session.scalar(sa.select(sa.func.count()).select_from(SentAddress)) == 0
    world.until_done()
    assert copies(world) == {1: 250}
    assert world.session.scalar(sa.select(sa.func.count()).select_from(SentAddress)) == 250


def test_in_doubt_recipients_wait_then_the_admin_sends_them_again_knowing_the_risk(
    world: World,
) -> None:
    world.run.batch_size = 100
    world.session.commit()
    world.fake.fault(Fault.TIMEOUT)  # SendGrid took the first 100; the answer was lost
    assert dispatch_run(world, world.run.id) == "in-doubt"
    world.clock.advance(hours=6)
    assert dispatch_run(world, world.run.id) == "in-doubt"  # no timer sends them
    assert run_state(world) == RunState.IN_DOUBT.value
    assert copies(world) == {1: 250}
    counts = tables.run_counts(world.session, world.run)
    assert (counts["in-doubt"], counts["accepted"]) == (100, 150)

    with pytest.raises(control.SendControlError, match="now 100"):
        control.resend_in_doubt(
            world.session, world.run, by=world.ana, expected=99, now=world.clock()
        )
    assert (
        control.resend_in_doubt(
            world.session, world.run, by=world.ana, expected=100, now=world.clock()
        )
        == 100
    )
    world.session.commit()
    assert run_state(world) == RunState.RUNNING.value
    # A second press: nothing in doubt any more, nothing done.
    with pytest.raises(control.SendControlError, match="no recipients in doubt"):
        control.resend_in_doubt(
            world.session, world.run, by=world.ana, expected=100, now=world.clock()
        )
    assert dispatch_run(world, world.run.id) == "finished"
    # What the admin was told could happen did: those 100 got two copies, nobody else did.
    assert copies(world) == {1: 150, 2: 100}
    actions = world.session.scalars(sa.select(AuditEvent.action)).all()
    assert "send.in_doubt_resent" in actions


def test_the_admin_may_mark_in_doubt_recipients_delivered(world: World) -> None:
    world.run.batch_size = 100
    world.session.commit()
    world.fake.fault(Fault.RESET_AFTER)
    assert dispatch_run(world, world.run.id) == "in-doubt"
    done = control.mark_in_doubt_delivered(
        world.session, world.run, by=world.ana, expected=100, now=world.clock()
    )
    world.session.commit()
    assert done == 100
    assert run_state(world) == RunState.FINISHED.value
    assert copies(world) == {1: 250}
    counts = tables.run_counts(world.session, world.run)
    assert counts["accepted"] == 250


def test_events_for_the_last_in_doubt_batch_finish_the_run(world: World) -> None:
    world.run.batch_size = 100
    world.session.commit()
    world.fake.fault(Fault.TIMEOUT)
    assert dispatch_run(world, world.run.id) == "in-doubt"
    world.events("processed")
    assert run_state(world) == RunState.FINISHED.value
    assert copies(world) == {1: 250}


def test_a_cancelled_send_can_reach_only_the_people_it_did_not_reach(world: World) -> None:
    world.run.batch_size = 100
    world.session.commit()
    world.dispatch()  # 100 sent
    control.cancel(world.session, world.run, now=world.clock())
    world.session.commit()
    missed = control.unreached(world.session, world.run)
    assert missed.total == 150
    assert [n for _, n in missed.offered] == [150]
    # A running send cannot be "re-sent to the unreached".
    with pytest.raises(control.SendControlError):
        control.resend_unreached(
            world.session, world.run, by=world.ana, expected=0, now=world.clock()
        )
    world.session.rollback()
    count = control.resend_unreached(
        world.session, world.run, by=world.ana, expected=150, now=world.clock()
    )
    world.session.commit()
    assert count == 150
    assert dispatch_run(world, world.run.id) == "finished"
    assert copies(world) == {1: 250}
    # Finished and everyone reached: nothing is offered, and a press does nothing.
    assert control.unreached(world.session, world.run).total == 0
    with pytest.raises(control.SendControlError, match="no people"):
        control.resend_unreached(
            world.session, world.run, by=world.ana, expected=150, now=world.clock()
        )


def test_the_ledger_is_purged_with_the_list(world: World) -> None:
    world.until_done()
    assert world.session.scalar(sa.select(sa.func.count()).select_from(SentAddress)) == 250
    report = retention.purge(
        world.session, older_than=timedelta(seconds=0), now=world.clock() + timedelta(days=1)
    )
    assert len(report.purged) == 1
    assert world.session.scalar(sa.select(sa.func.count()).select_from(SentAddress)) == 0


def test_the_migration_gives_earlier_sends_their_ledger_rows(world: World) -> None:
    """Sends made before the ledger existed still count: upgrading writes their rows."""
    from flask_migrate import downgrade, upgrade

    world.fake.fault(Fault.TIMEOUT)  # 1,000-recipient batches: all 250 in doubt, then accepted
    world.dispatch()
    world.events("processed")
    world.session.commit()
    world.session.close()
    downgrade(revision="0013")
    assert "sent_address" not in sa.inspect(world.session.get_bind()).get_table_names()
    upgrade()
    rows = world.session.execute(sa.select(SentAddress.address_sha256)).scalars().all()
    assert sorted(rows) == sorted(ledger.address_digest(f"p{i}@example.com") for i in range(250))

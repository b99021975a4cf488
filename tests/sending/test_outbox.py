"""The outbox dispatcher against a local SendGrid-compatible server: every recipient accepted
exactly once through rate limits, server errors, time-outs, oversized requests, a refused
address, a refused key, and workers that die between claiming and recording."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from composer.delivery import control, preparing, reconcile, tables
from composer.delivery import dispatch as outbox
from composer.delivery.gateways import CohortContent, GatewayError, SendGridGateway
from composer.delivery.webhook import parse_events
from composer.extensions import db
from composer.incidents import create_incident
from composer.models import (
    AuditEvent,
    BatchState,
    Delivery,
    DeliveryState,
    Role,
    RunState,
    SendBatch,
    SendRun,
    User,
    utcnow,
)
from composer.notices import versions
from composer.recipients.cohorts import latest_list
from composer.recipients.lists import import_csv
from tests.conftest import make_user
from tests.sending.fake_sendgrid import FakeSendGrid, Fault, running
from tests.sending.scenario import approve_version

SENDER = "Example Ltd <security@example.com>"
SETTINGS = outbox.DispatchSettings(sender=SENDER, jitter=lambda: 0.0)


def people_csv(n: int, *, post: int = 0, countries: tuple[str, ...] = ("GB",)) -> str:
    rows = ["email,first_name,last_name,country,data_categories,address_line_1,city,postcode"]
    rows += [
        f"p{i}@example.com,Pat{i},Doe,{countries[i % len(countries)]},email,,," for i in range(n)
    ]
    rows += [f",Post{i},Doe,GB,email,{i} High Street,Leeds,LS1 1AA" for i in range(post)]
    return "\n".join(rows) + "\n"


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class World:
    def __init__(
        self,
        app: Flask,
        fake: FakeSendGrid,
        recipients: int,
        post: int = 0,
        countries: tuple[str, ...] = ("GB",),
    ) -> None:
        self.app = app
        self.fake = fake
        self.session = db.session()
        catalogue = app.extensions["composer.catalogue"]
        ana = self.session.get(User, make_user(app, "ana@example.com", Role.AUTHOR))
        lee = self.session.get(User, make_user(app, "lee@example.com", Role.APPROVER))
        assert ana is not None
        assert lee is not None
        self.ana = ana
        incident = create_incident(self.session, catalogue, title="Leak", by=ana)
        version = versions.save_version(
            self.session,
            incident,
            subject="We lost your email address",
            body="Dear {{ first_name }},\n\nA criminal copied your email address on 3 May.\n",
            by=ana,
        ).version
        assert version is not None
        import_csv(
            self.session,
            io.BytesIO(people_csv(recipients, post=post, countries=countries).encode()),
            incident=incident,
            by=ana,
            categories=set(catalogue.categories),
            filename="people.csv",
            max_bytes=50_000_000,
        )
        self.session.commit()

        release = approve_version(
            self.session,
            incident,
            version,
            author=ana,
            approver=lee,
            config=app.config,
            catalogue=catalogue,
        )
        recipient_list = latest_list(self.session, incident)
        assert recipient_list is not None
        self.run = preparing.start_run(self.session, incident, recipient_list, release, by=ana)
        self.session.commit()
        preparing.prepare(self.session, self.run.id)  # as the worker would
        variant = release.bundle.variants[0]
        self.content = CohortContent(subject=variant.subject, html=variant.html, text=variant.text)
        self.gateway = SendGridGateway("SG.test", SENDER, host=fake.url, timeout=0.5)
        self.clock = Clock()

    def dispatch(self, worker: str = "w1") -> outbox.DispatchResult:
        return outbox.dispatch_once(
            self.session,
            self.gateway,
            self.run.id,
            lambda key: self.content,
            SETTINGS,
            worker=worker,
            now=self.clock,
        )

    def until_done(self, limit: int = 100) -> None:
        for _ in range(limit):
            result = self.dispatch()
            if result.outcome == "finished":
                return
            if result.outcome in ("waiting", "idle"):
                self.clock.advance(seconds=30)
        raise AssertionError(f"not finished: {self.counts()}")

    def counts(self) -> dict[str, int]:
        return {k: v for k, v in tables.run_counts(self.session, self.run).items() if v}

    def events(self, kind: str) -> int:
        payload = json.dumps(self.fake.events(kind)).encode()
        applied = reconcile.apply_events(self.session, parse_events(payload), now=self.clock())
        self.session.commit()
        return applied.applied


@pytest.fixture
def fake() -> Iterator[FakeSendGrid]:
    with running() as server:
        yield server


@pytest.fixture
def world(app: Flask, fake: FakeSendGrid, request: pytest.FixtureRequest) -> Iterator[World]:
    size = getattr(request, "param", 2500)
    with app.app_context():
        yield World(app, fake, size)


def assert_exactly_once(world: World, n: int) -> None:
    ids = {str(i) for i in world.session.scalars(sa.select(Delivery.id)) if i}
    counted = dict(world.fake.counts)
    assert len(counted) == n
    assert set(counted) <= ids
    assert max(counted.values()) == 1, "someone was accepted twice"


def test_every_recipient_accepted_once_in_batches_of_1000(world: World) -> None:
    world.until_done()
    assert world.counts() == {"accepted": 2500}
    assert [len(r.body["personalizations"]) for r in world.fake.requests] == [1000, 1000, 500]
    for request in world.fake.requests:
        for p in request.body["personalizations"]:
            assert set(p["custom_args"]) == {"o"}  # opaque ids only, never personal data
            assert len(p["to"]) == 1
    assert_exactly_once(world, 2500)
    assert world.session.get(SendRun, world.run.id).state == RunState.FINISHED.value  # type: ignore[union-attr]


def test_a_batch_is_one_cohort_and_never_more_than_the_batch_size(
    app: Flask, fake: FakeSendGrid
) -> None:
    with app.app_context():
        world = World(app, fake, 2500, countries=("GB", "FR", "IE"))
        session = world.session
        queued = session.execute(
            sa.select(Delivery.cohort_key, Delivery.recipient_id).order_by(Delivery.id)
        ).all()
        # Each cohort's deliveries are neighbours, in file order: a batch is claimed from (and
        # written back to) a few adjacent pages.
        keys = [key for key, _ in queued]
        assert sum(a != b for a, b in pairwise(keys)) == 2
        for key in set(keys):
            ids = [recipient for k, recipient in queued if k == key]
            assert ids == sorted(ids)
        world.until_done()
        batches = session.execute(
            sa.select(SendBatch.id, SendBatch.cohort_key, SendBatch.size, SendBatch.state)
        ).all()
        assert len(batches) == 3
        for batch_id, key, size, state in batches:
            members = session.scalars(
                sa.select(Delivery.cohort_key).where(Delivery.batch_id == batch_id)
            ).all()
            assert state == BatchState.ACCEPTED.value
            assert set(members) == {key}
            assert len(members) == size <= 1000
        assert_exactly_once(world, 2500)


def test_two_workers_claiming_at_once_take_different_deliveries(
    app: Flask, fake: FakeSendGrid
) -> None:
    with app.app_context():
        world = World(app, fake, 2500)
        if db.engine.dialect.name != "postgresql":
            pytest.skip("SQLite has one writer: a second claim waits for the first to commit")
        lease = timedelta(minutes=2)
        with Session(db.engine) as other:
            mine = world.session.get(SendRun, world.run.id)
            theirs = other.get(SendRun, world.run.id)
            assert mine is not None
            assert theirs is not None
            # The first claim is not committed yet: its rows are locked, so the second skips
            # them (rather than waiting, or taking them too).
            first = outbox.claim_batch(world.session, mine, worker="w1", lease=lease, now=utcnow())
            second = outbox.claim_batch(other, theirs, worker="w2", lease=lease, now=utcnow())
            world.session.commit()
            other.commit()
        assert first is not None
        assert second is not None
        claimed = {
            batch.id: set(
                world.session.scalars(sa.select(Delivery.id).where(Delivery.batch_id == batch.id))
            )
            for batch in (first, second)
        }
        assert len(claimed[first.id]) == first.size == 1000
        assert len(claimed[second.id]) == second.size == 1000
        assert not claimed[first.id] & claimed[second.id]


def test_post_only_recipients_go_to_the_postal_list(app: Flask, fake: FakeSendGrid) -> None:
    with app.app_context():
        world = World(app, fake, 3, post=2)
        world.until_done()
        assert world.counts() == {"accepted": 3, "post": 2}


def test_start_run_queues_one_delivery_per_recipient_stamped_now(
    app: Flask, fake: FakeSendGrid
) -> None:
    with app.app_context():
        before = datetime.now(UTC)
        world = World(app, fake, 4, post=1)
        after = datetime.now(UTC)
        deliveries = world.session.scalars(
            sa.select(Delivery).where(Delivery.run_id == world.run.id)
        ).all()
        assert sorted(d.state for d in deliveries) == [
            "post",
            "queued",
            "queued",
            "queued",
            "queued",
        ]
        assert len({d.recipient_id for d in deliveries}) == 5
        for delivery in deliveries:
            # Stored by the driver directly on SQLite: read back as the same aware time.
            assert delivery.updated_at.tzinfo is not None
            assert before - timedelta(seconds=1) <= delivery.updated_at <= after
        event = world.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "send.started")
        ).one()
        assert (event.after["by_email"], event.after["by_post"]) == (4, 1)


def test_429_waits_for_the_reset_for_every_worker(world: World) -> None:
    world.fake.reply(429, {"X-RateLimit-Reset": str(int(world.clock().timestamp()) + 60)})
    assert world.dispatch().outcome == "sent"
    run = world.session.get(SendRun, world.run.id)
    assert run is not None
    assert run.not_before is not None
    assert world.dispatch("w2").outcome == "waiting"  # another worker waits too
    assert world.counts() == {"queued": 2500}
    world.until_done()
    assert_exactly_once(world, 2500)


def test_server_errors_back_off_and_retry(world: World) -> None:
    world.fake.fault(Fault.SERVER_ERROR, Fault.SERVER_ERROR)
    world.until_done()
    assert_exactly_once(world, 2500)


def test_a_time_out_is_in_doubt_and_webhook_events_settle_it_without_resending(
    world: World,
) -> None:
    world.fake.fault(Fault.TIMEOUT)
    world.dispatch()
    assert world.counts() == {"in-doubt": 1000, "queued": 1500}
    # The fake accepted it; its "processed" events arrive: accepted, never sent again.
    world.events("processed")
    assert world.counts() == {"accepted": 1000, "queued": 1500}
    world.until_done()
    assert_exactly_once(world, 2500)


def test_a_time_out_with_no_event_stays_in_doubt_however_long_it_waits(world: World) -> None:
    world.fake.fault(Fault.TIMEOUT)  # the fake took it; no event will say so
    world.dispatch()
    assert world.counts() == {"in-doubt": 1000, "queued": 1500}
    for _ in range(10):
        world.clock.advance(hours=1)
        world.dispatch()
    # Never sent again on a timer: the run waits for an admin, not finished.
    assert world.counts() == {"accepted": 1500, "in-doubt": 1000}
    assert world.session.get(SendRun, world.run.id).state == RunState.IN_DOUBT.value  # type: ignore[union-attr]
    assert_exactly_once(world, 2500)


def test_a_worker_killed_after_claiming_never_loses_recipients(world: World) -> None:
    run = world.session.get(SendRun, world.run.id)
    assert run is not None
    batch = outbox.claim_batch(
        world.session, run, worker="dies", lease=timedelta(minutes=2), now=world.clock()
    )
    assert batch is not None
    world.session.commit()  # ... and the worker is killed here, before sending.
    world.clock.advance(minutes=3)
    world.dispatch()
    assert world.session.get(SendBatch, batch.id).state == BatchState.IN_DOUBT.value  # type: ignore[union-attr]
    world.clock.advance(minutes=11)  # no event ever comes for it: it waits for an admin
    for _ in range(5):
        world.dispatch()
    assert world.counts() == {"accepted": 1500, "in-doubt": 1000}
    run = world.session.get(SendRun, world.run.id)
    assert run is not None
    # The admin knows nothing went out (the worker died before sending) and sends them.
    control.resend_in_doubt(world.session, run, by=world.ana, expected=1000, now=world.clock())
    world.session.commit()
    world.until_done()
    assert_exactly_once(world, 2500)


class DiesAfterSending:
    """A gateway whose worker is killed after the request is accepted, before the answer is
    recorded."""

    def __init__(self, gateway: SendGridGateway) -> None:
        self.gateway = gateway
        self.name = gateway.name

    def send(self, message: Any) -> str:  # pragma: no cover - not used
        raise NotImplementedError

    def send_batch(self, message: Any) -> Any:
        self.gateway.send_batch(message)
        raise KeyboardInterrupt("killed")


def test_a_worker_killed_after_sending_never_sends_twice(world: World) -> None:
    dying = DiesAfterSending(world.gateway)
    with pytest.raises(KeyboardInterrupt):
        outbox.dispatch_once(
            world.session,
            dying,  # type: ignore[arg-type]
            world.run.id,
            lambda key: world.content,
            SETTINGS,
            worker="dies",
            now=world.clock,
        )
    world.session.rollback()
    world.clock.advance(minutes=3)  # the lease runs out: in doubt
    world.dispatch()
    world.events("processed")  # the events prove it was accepted
    world.until_done()
    assert_exactly_once(world, 2500)


def test_413_halves_the_batch(world: World) -> None:
    world.fake.reply(413)
    world.until_done()
    sizes = [len(r.body["personalizations"]) for r in world.fake.requests]
    assert sizes[0] == 1000
    assert max(sizes[1:]) == 500
    assert_exactly_once(world, 2500)


def test_a_400_naming_one_recipient_marks_it_invalid_and_sends_the_rest(world: World) -> None:
    world.fake.reply(
        400, message="Does not contain a valid address.", field="personalizations.7.to.0.email"
    )
    world.until_done()
    assert world.counts() == {"accepted": 2499, "invalid": 1}
    assert_exactly_once(world, 2499)


def test_a_refused_key_stops_the_run_and_keeps_everyone_queued(world: World) -> None:
    world.fake.reply(401, message="The provided authorization grant is invalid")
    world.dispatch()
    run = world.session.get(SendRun, world.run.id)
    assert run is not None
    assert run.state == RunState.STOPPED.value
    assert run.message is not None
    assert "still queued" in run.message
    assert world.counts() == {"queued": 2500}
    control.resume(world.session, run)
    world.session.commit()
    world.until_done()
    assert_exactly_once(world, 2500)


def test_pause_and_cancel(world: World) -> None:
    world.dispatch()
    run = world.session.get(SendRun, world.run.id)
    assert run is not None
    control.pause(world.session, run)
    world.session.commit()
    assert world.dispatch().outcome == "paused"
    control.resume(world.session, run)
    cancelled = control.cancel(world.session, run, now=world.clock())
    world.session.commit()
    assert cancelled == 1500
    assert world.counts() == {"accepted": 1000, "cancelled": 1500}


def test_webhook_events_apply_once_and_never_move_backwards(world: World) -> None:
    world.until_done()
    assert world.events("delivered") == 2500
    payload = json.dumps(world.fake.events("delivered")).encode()
    again = reconcile.apply_events(world.session, parse_events(payload), now=world.clock())
    assert again.duplicates == 0  # fresh sg_event_ids: new events, but states do not go back
    assert world.events("processed") == 2500
    assert world.counts() == {"delivered": 2500}
    repeat = world.fake.events("bounce", emails=["p1@example.com"])
    raw = json.dumps(repeat).encode()
    reconcile.apply_events(world.session, parse_events(raw), now=world.clock())
    second = reconcile.apply_events(world.session, parse_events(raw), now=world.clock())
    assert second.duplicates == 1


def test_gateway_errors_are_all_handled() -> None:
    # Every GatewayError subclass the gateway raises is covered by the dispatcher's handling.
    import composer.delivery.gateways as g

    errors = {c for c in vars(g).values() if isinstance(c, type) and issubclass(c, GatewayError)}
    handled = {
        g.GatewayError,
        g.GatewayConfigError,
        g.GatewayAuthError,
        g.GatewayRateLimited,
        g.GatewayUnavailable,
        g.GatewayTimedOut,
        g.GatewayRejected,
        g.GatewayTooLarge,
        g.GatewayRecipientInvalid,
    }
    assert errors <= handled
    assert DeliveryState.POST.value == "post"


def test_one_event_for_an_in_doubt_batch_settles_the_whole_batch(world: World) -> None:
    """SendGrid accepts or refuses a request whole, so one event proves all of it."""
    world.fake.fault(Fault.TIMEOUT)
    world.dispatch()
    assert world.counts() == {"in-doubt": 1000, "queued": 1500}
    one = world.fake.events("processed", emails=["p0@example.com"])
    reconcile.apply_events(world.session, parse_events(json.dumps(one).encode()), now=world.clock())
    world.session.commit()
    assert world.counts() == {"accepted": 1000, "queued": 1500}
    world.clock.advance(minutes=11)  # past the window: nothing from that batch is resent
    world.until_done()
    assert_exactly_once(world, 2500)


class EventsBeforeTheAnswer:
    """SendGrid accepts, its webhook event is applied, and only then does our request time out:
    the event's proof must survive the time-out being recorded."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.name = "sendgrid"

    def send(self, message: Any) -> str:  # pragma: no cover - not used
        raise NotImplementedError

    def send_batch(self, message: Any) -> Any:
        from composer.delivery.gateways import GatewayTimedOut

        self.world.gateway.send_batch(message)
        batch_events = [
            e for e in self.world.fake.events("processed") if e["b"] == str(message.batch_id)
        ]
        with self.world.app.app_context():
            other = db.session()  # the webhook's own session and transaction
            reconcile.apply_events(
                other, parse_events(json.dumps(batch_events).encode()), now=utcnow()
            )
            other.commit()
        raise GatewayTimedOut("SendGrid did not answer in time.")


def test_an_event_that_arrives_before_a_time_out_is_recorded_still_counts(world: World) -> None:
    racing = EventsBeforeTheAnswer(world)
    outbox.dispatch_once(
        world.session,
        racing,  # type: ignore[arg-type]
        world.run.id,
        lambda key: world.content,
        SETTINGS,
        worker="w1",
        now=world.clock,
    )
    world.session.expire_all()
    assert world.counts() == {"accepted": 1000, "queued": 1500}
    world.clock.advance(minutes=11)
    world.until_done()
    assert_exactly_once(world, 2500)

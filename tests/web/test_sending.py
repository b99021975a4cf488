"""Sending over HTTP: refused until approved, test send to yourself, send through the in-process
worker to the dev outbox, progress, pause/cancel, and the signed Event Webhook."""

from __future__ import annotations

import io
import json
import time
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from flask import Flask

from composer.delivery import preparing
from composer.extensions import db
from composer.models import (
    AuditEvent,
    Delivery,
    DeliveryState,
    DevOutboxMessage,
    Incident,
    Review,
    SendBatch,
    SendRun,
    User,
    WebhookEventSeen,
    utcnow,
)
from composer.notices import versions
from composer.recipients.lists import import_csv
from composer.workers.inprocess import worker_for
from tests.conftest import sign_in
from tests.sending.fake_sendgrid import (
    Accepted,
    generate_webhook_key,
    make_events,
    public_key_b64,
    signed_webhook_request,
)
from tests.sending.scenario import approve_version

PEOPLE = (
    "email,first_name,last_name,country,data_categories\n"
    "al@example.com,Al,Smith,GB,email\n"
    "bo@example.com,Bo,Jones,GB,email\n"
    "cy@example.com,Cy,Brown,GB,email\n"
)


@pytest.fixture
def ready(app: Flask, users: dict[str, int]) -> int:
    """An incident with an approved notice and three recipients; the worker is driven by hand."""
    app.config["SEND_WORKER"] = "none"
    with app.app_context():
        session = db.session()
        ana = session.get(User, users["author"])
        lee = session.get(User, users["approver"])
        assert ana is not None
        assert lee is not None
        catalogue = app.extensions["composer.catalogue"]
        from composer.incidents import create_incident

        incident = create_incident(session, catalogue, title="Leak", by=ana)
        version = versions.save_version(
            session, incident, subject="Your email address", body="Dear {{ first_name }}.\n", by=ana
        ).version
        assert version is not None
        import_csv(
            session,
            io.BytesIO(PEOPLE.encode()),
            incident=incident,
            by=ana,
            categories=set(catalogue.categories),
            filename="people.csv",
            max_bytes=1_000_000,
        )
        session.commit()
        incident_id = incident.id
    # Outside the app context: requests must not share one ``g`` (it caches CSRF tokens).
    return incident_id


def approve_notice(app: Flask, incident_id: int, users: dict[str, int]) -> None:
    with app.app_context():
        session = db.session()
        incident = session.get(Incident, incident_id)
        assert incident is not None
        version = versions.latest_version(session, incident)
        assert version is not None
        ana = session.get(User, users["author"])
        lee = session.get(User, users["approver"])
        assert ana is not None
        assert lee is not None
        approve_version(
            session,
            incident,
            version,
            author=ana,
            approver=lee,
            config=app.config,
            catalogue=app.extensions["composer.catalogue"],
        )


def work(app: Flask) -> None:
    sender = worker_for(app)
    for _ in range(10):
        sender.work_once()


def test_sending_is_refused_until_legal_approves(
    app: Flask, users: dict[str, int], ready: int
) -> None:
    client = app.test_client()
    token = sign_in(client, "admin")
    page = client.get(f"/incidents/{ready}/send").get_data(as_text=True)
    assert "Not ready to send" in page
    assert "has not been submitted for legal review" in page
    response = client.post(
        f"/incidents/{ready}/send",
        data={"csrf_token": token, "bundle_sha256": "x"},
        follow_redirects=True,
    )
    assert "Nothing was sent." in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(SendRun)) == 0


def test_test_send_then_send_to_everyone_once(
    app: Flask, users: dict[str, int], ready: int
) -> None:
    approve_notice(app, ready, users)
    client = app.test_client()
    token = sign_in(client, "admin")
    page = client.get(f"/incidents/{ready}/send").get_data(as_text=True)
    assert "Approved and unchanged." in page
    response = client.post(f"/incidents/{ready}/send/test", data={"csrf_token": token})
    assert response.status_code == 302
    with app.app_context():
        tests = db.session.scalars(sa.select(DevOutboxMessage)).all()
        assert [m.to_email for m in tests] == ["ada@example.com"]
    bundle = page.split('name="bundle_sha256" value="')[1][:64]
    response = confirmed_post(
        client,
        f"/incidents/{ready}/send",
        {"csrf_token": token, "bundle_sha256": bundle, "intent": "now"},
    )
    assert response.status_code == 302
    progress_url = response.headers["Location"]
    work(app)
    data = client.get(progress_url + ".json").get_json()
    assert data["state"] == "finished"
    assert data["percent"] == 100.0
    assert data["counts"]["accepted"] == 3
    with app.app_context():
        sent = sorted(
            m.to_email
            for m in db.session.scalars(sa.select(DevOutboxMessage))
            if m.to_email != "ada@example.com"
        )
        assert sent == ["al@example.com", "bo@example.com", "cy@example.com"]
    page = client.get(progress_url).get_data(as_text=True)
    assert "<progress" in page


def test_only_admins_start_sending(app: Flask, users: dict[str, int], ready: int) -> None:
    approve_notice(app, ready, users)
    for who in ("author", "approver"):
        client = app.test_client()
        token = sign_in(client, who)
        response = client.post(f"/incidents/{ready}/send", data={"csrf_token": token})
        assert response.status_code == 403


def test_a_changed_sender_after_approval_refuses_sending(
    app: Flask, users: dict[str, int], ready: int
) -> None:
    approve_notice(app, ready, users)
    app.config["MAIL_SENDER"] = "Other <other@example.net>"
    client = app.test_client()
    sign_in(client, "admin")
    page = client.get(f"/incidents/{ready}/send").get_data(as_text=True)
    assert "Not ready to send" in page
    assert "the sender (From address)" in page


def test_pause_and_cancel(app: Flask, users: dict[str, int], ready: int) -> None:
    approve_notice(app, ready, users)
    client = app.test_client()
    token = sign_in(client, "admin")
    page = client.get(f"/incidents/{ready}/send").get_data(as_text=True)
    bundle = page.split('name="bundle_sha256" value="')[1][:64]
    url = confirmed_post(
        client,
        f"/incidents/{ready}/send",
        {"csrf_token": token, "bundle_sha256": bundle, "intent": "now"},
    ).headers["Location"]
    with app.app_context():  # the worker prepares the run's deliveries
        preparing.prepare(db.session(), int(url.rsplit("/", 1)[1]))
    client.post(url + "/pause", data={"csrf_token": token})
    work(app)
    assert client.get(url + ".json").get_json()["counts"]["queued"] == 3
    client.post(url + "/cancel", data={"csrf_token": token})
    data = client.get(url + ".json").get_json()
    assert data["state"] == "cancelled"
    assert data["counts"]["cancelled"] == 3


def confirmed_post(client: Any, url: str, data: dict[str, str]) -> Any:
    """Press a button that starts a send, then Yes on the one question it asks."""
    first = client.post(url, data=data)
    assert first.status_code == 200, first.status_code
    page = first.get_data(as_text=True)
    assert "data-confirm-form" in page
    confirm = page.split('name="confirm" value="')[1].split('"')[0]
    return client.post(url, data={**data, "confirm": confirm})


# The Event Webhook ------------------------------------------------------------------------------


def _sent(app: Flask, users: dict[str, int], ready: int) -> list[Accepted]:
    approve_notice(app, ready, users)
    client = app.test_client()
    token = sign_in(client, "admin")
    page = client.get(f"/incidents/{ready}/send").get_data(as_text=True)
    bundle = page.split('name="bundle_sha256" value="')[1][:64]
    confirmed_post(
        client,
        f"/incidents/{ready}/send",
        {"csrf_token": token, "bundle_sha256": bundle, "intent": "now"},
    )
    work(app)
    with app.app_context():
        rows = db.session.scalars(sa.select(Delivery).order_by(Delivery.id)).all()
        return [
            Accepted(
                message_id=r.message_id or "",
                index=i,
                email=f"person{i}@example.com",
                custom_args={"o": str(r.id), "b": str(r.batch_id)},
            )
            for i, r in enumerate(rows)
        ]


def test_signed_events_update_each_recipient_once(
    app: Flask, users: dict[str, int], ready: int
) -> None:
    key = generate_webhook_key()
    app.config["SENDGRID_WEBHOOK_PUBLIC_KEY"] = public_key_b64(key)
    accepted = _sent(app, users, ready)
    events = make_events(accepted[:2], "delivered") + make_events(accepted[2:], "bounce")
    body, headers = signed_webhook_request(events, key)
    client = app.test_client()  # no session, no CSRF token: SendGrid signs instead
    assert client.post("/webhooks/sendgrid", data=body, headers=headers).status_code == 204
    assert client.post("/webhooks/sendgrid", data=body, headers=headers).status_code == 204
    with app.app_context():
        states = sorted(d.state for d in db.session.scalars(sa.select(Delivery)))
    assert states == ["bounced", "delivered", "delivered"]


def test_a_post_with_hostile_events_keeps_the_good_ones_and_says_what_it_skipped(
    app: Flask, users: dict[str, int], ready: int
) -> None:
    key = generate_webhook_key()
    app.config["SENDGRID_WEBHOOK_PUBLIC_KEY"] = public_key_b64(key)
    accepted = _sent(app, users, ready)
    good = make_events(accepted, "delivered")
    hostile = [
        {**good[0], "sg_event_id": "huge-o", "o": 2**63, "event": "bounce"},
        {**good[0], "sg_event_id": "huge-b", "b": str(2**64), "event": "bounce"},
        {**good[0], "sg_event_id": "typed", "timestamp": "soon", "event": "bounce"},
    ]
    body, headers = signed_webhook_request([hostile[0], *good, *hostile[1:]], key)
    client = app.test_client()
    response = client.post("/webhooks/sendgrid", data=body, headers=headers)
    assert response.status_code == 200  # a 2xx: SendGrid must not retry the good events
    said = response.get_data(as_text=True)
    assert said.startswith(f"Applied {len(good)} event(s); skipped 3 item(s)")
    assert "item 1: its “o” (our message id) is not a whole number" in said
    assert f"item {len(good) + 2}: its “b” (our batch id)" in said
    assert "“timestamp” is not a number" in said
    assert "@example.com" not in said
    with app.app_context():
        states = {d.state for d in db.session.scalars(sa.select(Delivery))}
    assert states == {"delivered"}  # every good event applied, none of the hostile bounces
    # SendGrid's retry of the same post changes nothing more, and is not an error either.
    assert client.post("/webhooks/sendgrid", data=body, headers=headers).status_code == 200


@pytest.mark.parametrize("tamper", ["body", "timestamp", "stale", "key", "missing"])
def test_unsigned_or_tampered_events_are_refused(
    app: Flask, users: dict[str, int], ready: int, tamper: str
) -> None:
    key = generate_webhook_key()
    app.config["SENDGRID_WEBHOOK_PUBLIC_KEY"] = public_key_b64(
        generate_webhook_key() if tamper == "key" else key
    )
    accepted = _sent(app, users, ready)
    stamp = int(time.time()) - (3600 if tamper == "stale" else 0)
    body, headers = signed_webhook_request(make_events(accepted, "bounce"), key, timestamp=stamp)
    if tamper == "body":
        body = body.replace(b"bounce", b"delivered", 1)
    if tamper == "timestamp":
        headers = {**headers, "X-Twilio-Email-Event-Webhook-Timestamp": str(stamp + 1)}
    if tamper == "missing":
        headers = {"Content-Type": "application/json"}
    response = app.test_client().post("/webhooks/sendgrid", data=body, headers=headers)
    assert response.status_code == 403
    with app.app_context():
        states = {d.state for d in db.session.scalars(sa.select(Delivery))}
    assert states == {DeliveryState.ACCEPTED.value}


def test_webhook_without_a_key_configured_is_unavailable(app: Flask) -> None:
    response = app.test_client().post("/webhooks/sendgrid", data=json.dumps([]))
    assert response.status_code == 503
    assert Review is not None


def start_send(app: Flask, incident_id: int) -> str:
    """Sign in as the admin and press Send; the progress page after the redirect."""
    client = app.test_client()
    token = sign_in(client, "admin")
    page = client.get(f"/incidents/{incident_id}/send").get_data(as_text=True)
    if 'name="bundle_sha256"' in page:
        bundle = page.split('name="bundle_sha256" value="')[1][:64]
    else:  # no start form while a send exists: pressed on a page opened before
        with app.app_context():
            bundle = db.session.scalars(sa.select(SendRun.bundle_sha256)).first() or ""
    url = f"/incidents/{incident_id}/send"
    data = {"csrf_token": token, "bundle_sha256": bundle, "intent": "now"}
    response = client.post(url, data=data, follow_redirects=True)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    if "data-confirm-form" in page:  # asked once: yes
        confirm = page.split('name="confirm" value="')[1].split('"')[0]
        response = client.post(url, data={**data, "confirm": confirm}, follow_redirects=True)
        page = response.get_data(as_text=True)
    return page


def test_with_celery_starting_a_send_queues_tasks_that_carry_no_personal_data(
    app: Flask, users: dict[str, int], ready: int
) -> None:
    import os

    redis_url = os.environ.get("COMPOSER_TEST_REDIS_URL")
    if not redis_url:
        if os.environ.get("CI"):
            pytest.fail("COMPOSER_TEST_REDIS_URL is not set: scripts/test starts Redis in CI")
        pytest.skip("needs COMPOSER_TEST_REDIS_URL (scripts/test starts a Redis server)")
    import redis

    broker = redis.Redis.from_url(redis_url)
    broker.flushdb()
    approve_notice(app, ready, users)
    app.config.update(SEND_WORKER="celery", CELERY_BROKER_URL=redis_url)
    page = start_send(app, ready)
    assert "Sending started." in page
    queued = broker.lrange("celery", 0, -1)
    assert len(queued) == app.config["CELERY_SEND_TASKS_PER_RUN"]
    with app.app_context():
        run_id = db.session.scalar(sa.select(SendRun.id))
    for raw in queued:
        message = json.loads(raw)
        assert message["headers"]["task"] == "composer.send_run"
        assert message["headers"]["argsrepr"] == f"({run_id},)"
        for person in ("al@example.com", "Smith", "bo@example.com", "Jones"):
            assert person.encode() not in raw
    broker.flushdb()


def test_with_celery_and_no_broker_the_send_is_kept_and_the_page_says_why(
    app: Flask, users: dict[str, int], ready: int
) -> None:
    approve_notice(app, ready, users)
    # Nothing listens on port 9 (discard) on the test machine.
    app.config.update(SEND_WORKER="celery", CELERY_BROKER_URL="redis://127.0.0.1:9/0")
    started = time.monotonic()
    page = start_send(app, ready)
    assert time.monotonic() - started < 30, "the request hung on the missing broker"
    assert "the Celery broker could not be reached" in page
    with app.app_context():
        run = db.session.scalars(sa.select(SendRun)).one()
        assert run.state == "preparing"  # saved: workers pick it up when they start


# Scheduling -------------------------------------------------------------------------------------


def _schedule(app: Flask, incident_id: int, send_at: str) -> tuple[Any, str]:
    client = app.test_client()
    token = sign_in(client, "admin")
    page = client.get(f"/incidents/{incident_id}/send").get_data(as_text=True)
    assert 'type="datetime-local"' in page
    bundle = page.split('name="bundle_sha256" value="')[1][:64]
    url = f"/incidents/{incident_id}/send"
    data = {"csrf_token": token, "bundle_sha256": bundle, "send_at": send_at, "intent": "schedule"}
    response = client.post(url, data=data)
    if response.status_code == 200:  # the confirmation: yes
        page = response.get_data(as_text=True)
        assert "data-confirm-form" in page
        confirm = page.split('name="confirm" value="')[1].split('"')[0]
        response = client.post(url, data={**data, "confirm": confirm})
    return client, response


def _local(app: Flask, delta: timedelta) -> str:
    zone = ZoneInfo(app.config["DEFAULT_TIMEZONE"])
    return (datetime.now(zone) + delta).strftime("%Y-%m-%dT%H:%M")


def test_a_scheduled_send_waits_for_its_time_and_send_now_starts_it(
    app: Flask, users: dict[str, int], ready: int
) -> None:
    approve_notice(app, ready, users)
    client, response = _schedule(app, ready, _local(app, timedelta(hours=2)))
    assert response.status_code == 302
    url = response.headers["Location"]
    with app.app_context():  # the worker prepares the run's deliveries
        preparing.prepare(db.session(), int(url.rsplit("/", 1)[1]))
    page = client.get(url).get_data(as_text=True)
    assert "Sending is scheduled for" in page
    assert "nothing has been sent yet" in page
    assert "Send now" in page
    work(app)
    data = client.get(url + ".json").get_json()
    assert data["state"] == "scheduled"
    assert data["counts"]["queued"] == 3
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(DevOutboxMessage)) == 0
    # Another send cannot be started meanwhile: everyone would get two.
    again = start_send(app, ready)
    assert "already scheduled" in again

    token = client.get(url).get_data(as_text=True).split('name="csrf_token" value="')[1][:200]
    token = token.split('"')[0]
    asked = client.post(url + "/now", data={"csrf_token": token}).get_data(as_text=True)
    assert "Yes, send to 3 recipients now" in asked
    assert client.post(url + "/now", data={"csrf_token": token, "confirm": "3"}).status_code == 302
    work(app)
    data = client.get(url + ".json").get_json()
    assert (data["state"], data["counts"]["accepted"]) == ("finished", 3)
    with app.app_context():
        actions = [
            e.action
            for e in db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.seq))
            if e.action.startswith("send.")
        ]
    assert actions == ["send.scheduled", "send.started_early"]


def test_a_scheduled_send_starts_by_itself_when_its_time_comes(
    app: Flask, users: dict[str, int], ready: int
) -> None:
    approve_notice(app, ready, users)
    client, response = _schedule(app, ready, _local(app, timedelta(minutes=5)))
    url = response.headers["Location"]
    with app.app_context():  # five minutes pass
        db.session.execute(sa.update(SendRun).values(not_before=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    work(app)
    data = client.get(url + ".json").get_json()
    assert (data["state"], data["counts"]["accepted"]) == ("finished", 3)
    with app.app_context():
        starts = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "send.scheduled_start")
        ).all()
        assert len(starts) == 1


def test_a_notice_changed_after_scheduling_is_not_sent(
    app: Flask, users: dict[str, int], ready: int
) -> None:
    approve_notice(app, ready, users)
    client, response = _schedule(app, ready, _local(app, timedelta(minutes=5)))
    url = response.headers["Location"]
    with app.app_context():
        session = db.session()
        incident = session.get(Incident, ready)
        ana = session.get(User, users["author"])
        assert incident is not None
        assert ana is not None
        versions.save_version(session, incident, subject="Changed", body="Dear all.\n", by=ana)
        session.execute(sa.update(SendRun).values(not_before=utcnow() - timedelta(seconds=1)))
        session.commit()
    work(app)
    data = client.get(url + ".json").get_json()
    assert data["state"] == "stopped"
    assert data["counts"]["accepted"] == 0
    assert data["message"]
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(DevOutboxMessage)) == 0


@pytest.mark.parametrize(
    ("when", "problem"),
    [
        ("past", "already passed"),
        ("far", "more than 60 days away"),
        ("soon-ish tomorrow", "is not a date and time"),
        # An empty date never means "now" (the form has novalidate, and pickers fail).
        ("", "Choose the date and time to send it"),
        ("2026-13-45T25:61", "is not a date and time"),
        ("2026-12-01T09:30+05:00", "without a time zone"),
    ],
)
def test_a_bad_schedule_time_is_refused_with_the_reason_and_kept(
    app: Flask, users: dict[str, int], ready: int, when: str, problem: str
) -> None:
    approve_notice(app, ready, users)
    value = {
        "past": _local(app, -timedelta(minutes=10)),
        "far": _local(app, timedelta(days=61)),
    }.get(when, when)
    _, response = _schedule(app, ready, value)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert problem in page
    # Beside the field, which keeps what was typed.
    beside = page.split('id="send_at-error"')[1].split('id="send_at"')[0]
    assert problem in beside.replace("&#39;", "'")
    assert f'value="{value}"' in page
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(SendRun)) == 0


# The embedded default after a restart -----------------------------------------------------------


def _wait_for(check: Any, seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


def test_a_send_running_when_the_app_stopped_carries_on_after_a_restart(
    app: Flask, users: dict[str, int]
) -> None:
    """The app stopped mid-send (here: the run was left running, nothing sending it). The
    restarted app's first request, whatever it is, starts the sending thread."""
    from tests.sending.scenario import started_run

    run_id = started_run(app, users, PEOPLE)
    app.config["SEND_WORKER"] = "inprocess"  # the restarted app, on its defaults
    try:
        assert app.test_client().get("/login").status_code == 200

        def finished() -> bool:
            with app.app_context():
                state = db.session.get(SendRun, run_id).state  # type: ignore[union-attr]
                db.session.remove()
            return state == "finished"

        assert _wait_for(finished), "the send did not carry on"
        with app.app_context():
            sent = sorted(db.session.scalars(sa.select(DevOutboxMessage.to_email)))
        assert sent == ["al@example.com", "bo@example.com", "cy@example.com"]
    finally:
        _stop_sender(app)


def test_the_embedded_worker_purges_lists_past_the_retention_period(
    app: Flask, users: dict[str, int], ready: int
) -> None:
    from composer.models import Recipient, RecipientList

    with app.app_context():
        db.session.execute(
            sa.update(RecipientList).values(uploaded_at=utcnow() - timedelta(days=91))
        )
        db.session.commit()
    app.config["SEND_WORKER"] = "inprocess"
    try:
        app.test_client().get("/login")

        def purged() -> bool:
            with app.app_context():
                done = db.session.scalar(sa.select(RecipientList.purged_at))
                db.session.remove()
            return done is not None

        assert _wait_for(purged), "the list was not purged"
        with app.app_context():
            emails = set(db.session.scalars(sa.select(Recipient.email)))
            event = db.session.scalars(
                sa.select(AuditEvent).where(AuditEvent.action == "recipients.purged")
            ).one()
        assert emails == {""}
        assert event.actor == "retention (automatic)"
    finally:
        _stop_sender(app)


def _stop_sender(app: Flask) -> None:
    sender = app.extensions.get("composer.sender")
    if sender is not None:
        sender.stop()


# Sending control: never the whole list twice; in doubt until an admin settles it -----------------


def _prepared_run(app: Flask, incident_id: int) -> tuple[Any, str, str]:
    """Press Send (and Yes), then write its delivery rows as the worker would; the signed-in
    client, its CSRF token and the progress page's URL."""
    client = app.test_client()
    token = sign_in(client, "admin")
    page = client.get(f"/incidents/{incident_id}/send").get_data(as_text=True)
    bundle = page.split('name="bundle_sha256" value="')[1][:64]
    url = confirmed_post(
        client,
        f"/incidents/{incident_id}/send",
        {"csrf_token": token, "bundle_sha256": bundle, "intent": "now"},
    ).headers["Location"]
    with app.app_context():
        run_id = db.session.scalars(sa.select(SendRun.id)).one()
        preparing.prepare(db.session(), run_id)
        db.session.remove()
    return client, token, url


def _runs_made(app: Flask) -> int:
    with app.app_context():
        return int(db.session.scalar(sa.select(sa.func.count()).select_from(SendRun)) or 0)


def test_pressing_yes_twice_starts_one_send(app: Flask, users: dict[str, int], ready: int) -> None:
    approve_notice(app, ready, users)
    client = app.test_client()
    token = sign_in(client, "admin")
    page = client.get(f"/incidents/{ready}/send").get_data(as_text=True)
    assert "Send now to 3 recipients" in page
    bundle = page.split('name="bundle_sha256" value="')[1][:64]
    data = {"csrf_token": token, "bundle_sha256": bundle, "intent": "now"}
    asked = client.post(f"/incidents/{ready}/send", data=data)
    assert asked.status_code == 200
    question = asked.get_data(as_text=True)
    assert "emailed to 3 recipients" in question
    assert "Yes, send to 3 recipients now" in question
    assert _runs_made(app) == 0, "asking sent nothing"
    first = client.post(f"/incidents/{ready}/send", data={**data, "confirm": "3"})
    second = client.post(
        f"/incidents/{ready}/send", data={**data, "confirm": "3"}, follow_redirects=True
    )
    assert first.status_code == 302
    assert "Nothing more was started" in second.get_data(as_text=True)
    assert _runs_made(app) == 1


def test_a_confirmation_of_another_count_is_asked_again(
    app: Flask, users: dict[str, int], ready: int
) -> None:
    approve_notice(app, ready, users)
    client = app.test_client()
    token = sign_in(client, "admin")
    page = client.get(f"/incidents/{ready}/send").get_data(as_text=True)
    bundle = page.split('name="bundle_sha256" value="')[1][:64]
    data = {"csrf_token": token, "bundle_sha256": bundle, "intent": "now", "confirm": "2"}
    response = client.post(f"/incidents/{ready}/send", data=data)
    assert response.status_code == 200
    assert "it is now 3" in response.get_data(as_text=True)
    assert _runs_made(app) == 0
    # No intent (an old form, or a crafted post): nothing is sent, never "now" by default.
    del data["intent"]
    client.post(f"/incidents/{ready}/send", data={**data, "confirm": "3"})
    assert _runs_made(app) == 0


def test_a_finished_send_offers_only_the_people_it_did_not_reach(
    app: Flask, users: dict[str, int], ready: int
) -> None:
    approve_notice(app, ready, users)
    client, token, url = _prepared_run(app, ready)
    client.post(url + "/cancel", data={"csrf_token": token})
    page = client.get(f"/incidents/{ready}/send").get_data(as_text=True)
    assert "Send now to" not in page
    assert "This list was sent" in page
    assert "3 never sent: the send was cancelled" in page
    assert "Send to the 3 people this send did not reach" in page
    # No start form; the whole list, pressed from a stale page: refused, nothing made.
    assert 'name="bundle_sha256"' not in page.split('id="send-title"')[1]
    old = {"csrf_token": token, "intent": "now", "confirm": "3"}
    with app.app_context():
        old["bundle_sha256"] = db.session.scalars(sa.select(SendRun.bundle_sha256)).one()
    refused = client.post(f"/incidents/{ready}/send", data=old, follow_redirects=True)
    assert "this list was already sent" in refused.get_data(as_text=True)
    assert _runs_made(app) == 1

    asked = client.post(url + "/unreached", data={"csrf_token": token})
    assert "emailed to the 3 people send" in asked.get_data(as_text=True)
    assert (
        client.post(url + "/unreached", data={"csrf_token": token, "confirm": "3"}).status_code
        == 302
    )
    again = client.post(
        url + "/unreached", data={"csrf_token": token, "confirm": "3"}, follow_redirects=True
    )
    assert "Nothing was sent: this send is running" in again.get_data(as_text=True)
    work(app)
    data = client.get(url + ".json").get_json()
    assert (data["state"], data["counts"]["accepted"]) == ("finished", 3)
    with app.app_context():
        sent = [m.to_email for m in db.session.scalars(sa.select(DevOutboxMessage))]
    assert sorted(sent) == ["al@example.com", "bo@example.com", "cy@example.com"]
    page = client.get(f"/incidents/{ready}/send").get_data(as_text=True)
    assert "Send now to" not in page
    assert "did not reach" not in page
    assert _runs_made(app) == 1


def _in_doubt(app: Flask) -> None:
    """The run's deliveries went out in a request whose answer was lost."""
    with app.app_context():
        run = db.session.scalars(sa.select(SendRun)).one()
        batch = SendBatch(
            run_id=run.id,
            cohort_key="x",
            state="in-doubt",
            size=3,
            worker="w",
            lease_until=utcnow(),
            doubt_since=utcnow(),
        )
        db.session.add(batch)
        db.session.flush()
        db.session.execute(
            sa.update(Delivery)
            .where(Delivery.run_id == run.id)
            .values(state="in-doubt", batch_id=batch.id)
        )
        run.state = "in-doubt"
        db.session.commit()


def test_in_doubt_recipients_are_settled_by_an_admin_told_the_risk(
    app: Flask, users: dict[str, int], ready: int
) -> None:
    approve_notice(app, ready, users)
    client, token, url = _prepared_run(app, ready)
    _in_doubt(app)
    app.config["MAIL_GATEWAY"] = "sendgrid"  # for the page only: nothing is sent here
    page = client.get(url).get_data(as_text=True)
    assert "The Event Webhook is not configured" in page
    assert "3 recipients are in doubt" in page
    assert "not finished until they are settled" in page
    assert "Send the 3 in-doubt recipients again (some may get two copies)" in page
    asked = client.post(url + "/in-doubt/resend", data={"csrf_token": token})
    question = asked.get_data(as_text=True)
    assert "Up to 3 of them may get two copies" in question
    assert "Yes, send to these 3 again" in question
    assert client.get(url + ".json").get_json()["counts"]["in-doubt"] == 3, "asking did nothing"
    done = client.post(url + "/in-doubt/resend", data={"csrf_token": token, "confirm": "3"})
    assert done.status_code == 302
    data = client.get(url + ".json").get_json()
    assert (data["state"], data["counts"]["queued"]) == ("running", 3)
    twice = client.post(
        url + "/in-doubt/resend", data={"csrf_token": token, "confirm": "3"}, follow_redirects=True
    )
    assert "no recipients in doubt any more" in twice.get_data(as_text=True)
    with app.app_context():
        actions = db.session.scalars(sa.select(AuditEvent.action)).all()
    assert actions.count("send.in_doubt_resent") == 1


def test_marking_in_doubt_recipients_delivered_finishes_the_send(
    app: Flask, users: dict[str, int], ready: int
) -> None:
    approve_notice(app, ready, users)
    client, token, url = _prepared_run(app, ready)
    _in_doubt(app)
    asked = client.post(url + "/in-doubt/delivered", data={"csrf_token": token})
    assert "up to 3 of them got nothing" in asked.get_data(as_text=True)
    client.post(url + "/in-doubt/delivered", data={"csrf_token": token, "confirm": "3"})
    data = client.get(url + ".json").get_json()
    assert (data["state"], data["counts"]["accepted"]) == ("finished", 3)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(DevOutboxMessage)) == 0


def test_the_send_page_says_when_the_webhook_cannot_settle_in_doubt_recipients(
    app: Flask, users: dict[str, int], ready: int
) -> None:
    approve_notice(app, ready, users)
    client = app.test_client()
    sign_in(client, "admin")
    app.config["MAIL_GATEWAY"] = "sendgrid"
    page = client.get(f"/incidents/{ready}/send").get_data(as_text=True)
    assert "The Event Webhook is not configured" in page
    app.config["SENDGRID_WEBHOOK_PUBLIC_KEY"] = public_key_b64(generate_webhook_key())
    with app.app_context():
        db.session.add(
            WebhookEventSeen(
                sg_event_id="e1", received_at=utcnow() - timedelta(hours=2), event="processed"
            )
        )
        db.session.commit()
    page = client.get(f"/incidents/{ready}/send").get_data(as_text=True)
    assert "The Event Webhook has been silent since" in page
    with app.app_context():
        db.session.add(WebhookEventSeen(sg_event_id="e2", received_at=utcnow(), event="delivered"))
        db.session.commit()
    page = client.get(f"/incidents/{ready}/send").get_data(as_text=True)
    assert "data-webhook-warning" not in page

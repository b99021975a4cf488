"""Staff email: queued with the change it reports, delivered after the commit, never twice."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from composer.delivery import staff_mail
from composer.delivery.gateways import (
    GatewayError,
    GatewayRejected,
    GatewayUnavailable,
    MailMessage,
)
from composer.extensions import db
from composer.models import DevOutboxMessage, StaffMessage, User, utcnow
from composer.web.mail import deliver_staff_mail
from composer.workers.runtime import mail_gateway
from tests.sending.fake_sendgrid import FakeSendGrid, running

BASE_URL = "https://notices.example.com/"
SUBJECT = "A notice is waiting for your review"
TEXT = "Ana submitted the notice for incident 3."
LINK = "/incidents/3/review"


class ScriptedGateway:
    """Raises the scripted errors in turn, then accepts; records what it accepted."""

    name = "scripted"

    def __init__(self, *errors: GatewayError) -> None:
        self.errors = list(errors)
        self.sent: list[MailMessage] = []

    def send(self, message: MailMessage) -> str:
        if self.errors:
            raise self.errors.pop(0)
        self.sent.append(message)
        return f"scripted-{len(self.sent)}"


@pytest.fixture
def ctx(app: Flask) -> Iterator[None]:
    with app.app_context():
        yield


def staff(users: dict[str, int], *who: str) -> list[User]:
    found = [db.session.get(User, users[w]) for w in who]
    assert all(u is not None for u in found)
    return [u for u in found if u is not None]


def queued(users: dict[str, int], *who: str) -> list[int]:
    rows = staff_mail.queue(db.session(), staff(users, *who), subject=SUBJECT, text=TEXT, link=LINK)
    db.session.commit()
    return [row.id for row in rows]


def row(message_id: int) -> StaffMessage:
    db.session.expire_all()
    found = db.session.get(StaffMessage, message_id)
    assert found is not None
    return found


def deliver(gateway: Any, **options: Any) -> staff_mail.DeliveryReport:
    return staff_mail.deliver_pending(db.session(), gateway, base_url=BASE_URL, **options)


def test_queue_adds_rows_in_the_callers_transaction(ctx: None, users: dict[str, int]) -> None:
    lee, ada = staff(users, "approver", "admin")
    ada.active = False
    db.session.commit()
    rows = staff_mail.queue(db.session(), [lee, ada, lee], subject=SUBJECT, text=TEXT, link=LINK)
    assert [r.to_user_id for r in rows] == [lee.id]  # inactive skipped, each user once
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(StaffMessage)) == 0

    [message_id] = queued(users, "approver")
    stored = row(message_id)
    assert (stored.to_email, stored.subject, stored.link) == ("lee@example.com", SUBJECT, LINK)
    assert (stored.sent_at, stored.attempts, stored.last_error) == (None, 0, None)


@pytest.mark.parametrize(
    ("subject", "link"),
    [
        ("Review\r\nBcc: everyone@example.net", LINK),
        ("Review\nnow", LINK),
        ("", LINK),
        (SUBJECT, "https://evil.example/review"),
        (SUBJECT, "//evil.example/review"),
        (SUBJECT, "/\\evil.example"),
        (SUBJECT, "incidents/3"),
        (SUBJECT, "/incidents/3\r\n"),
    ],
)
def test_queue_refuses_bad_subjects_and_links(
    ctx: None, users: dict[str, int], subject: str, link: str
) -> None:
    with pytest.raises(staff_mail.StaffMailError):
        staff_mail.queue(
            db.session(), staff(users, "approver"), subject=subject, text=TEXT, link=link
        )


def test_delivers_through_the_dev_outbox_with_an_absolute_link(
    ctx: None, users: dict[str, int]
) -> None:
    [message_id] = queued(users, "approver")
    report = deliver(mail_gateway())
    assert report == staff_mail.DeliveryReport(sent=1, failed=0)
    stored = db.session.scalars(sa.select(DevOutboxMessage)).one()
    assert stored.to_email == "lee@example.com"
    assert stored.to_name == "Lee"
    assert stored.subject == SUBJECT
    assert stored.text == f"{TEXT}\n\nhttps://notices.example.com/incidents/3/review\n"
    sent = row(message_id)
    assert sent.sent_at is not None
    assert sent.attempts == 1
    assert sent.gateway_message_id == stored.gateway_message_id


def test_a_failure_stays_pending_and_the_next_run_sends_it_once(
    ctx: None, users: dict[str, int]
) -> None:
    [message_id] = queued(users, "approver")
    gateway = ScriptedGateway(GatewayUnavailable("SendGrid had a problem on its side (HTTP 503)."))

    assert deliver(gateway) == staff_mail.DeliveryReport(sent=0, failed=1)
    pending = row(message_id)
    assert pending.sent_at is None
    assert pending.attempts == 1
    assert pending.last_error == "SendGrid had a problem on its side (HTTP 503)."
    assert pending.claimed_at is None  # released: the next run may try at once

    assert deliver(gateway) == staff_mail.DeliveryReport(sent=1, failed=0)
    sent = row(message_id)
    assert sent.sent_at is not None
    assert (sent.attempts, sent.last_error, sent.gateway_message_id) == (2, None, "scripted-1")

    assert deliver(gateway) == staff_mail.DeliveryReport(sent=0, failed=0)
    assert len(gateway.sent) == 1


def test_a_refused_message_does_not_stop_the_others(ctx: None, users: dict[str, int]) -> None:
    first, second = queued(users, "approver", "admin")
    gateway = ScriptedGateway(
        GatewayRejected("SendGrid refused the message (HTTP 400).", status=400)
    )
    assert deliver(gateway) == staff_mail.DeliveryReport(sent=1, failed=1)
    assert row(first).sent_at is None
    assert row(second).sent_at is not None


def test_an_outage_stops_the_run(ctx: None, users: dict[str, int]) -> None:
    first, second = queued(users, "approver", "admin")
    gateway = ScriptedGateway(GatewayUnavailable("down"))
    assert deliver(gateway) == staff_mail.DeliveryReport(sent=0, failed=1)
    assert row(first).attempts == 1
    assert row(second).attempts == 0  # not tried at all
    assert staff_mail.count_unsent(db.session()) == 2


def test_a_message_another_run_holds_is_left_alone(ctx: None, users: dict[str, int]) -> None:
    [message_id] = queued(users, "approver")
    claimed_at = utcnow()
    held = row(message_id)
    held.claimed_at = claimed_at
    held.attempts = 1
    db.session.commit()
    gateway = ScriptedGateway()
    assert deliver(gateway, now=lambda: claimed_at + timedelta(minutes=1)).sent == 0
    # That run crashed mid-send: once its lease is over, the message is tried again.
    assert deliver(gateway, now=lambda: claimed_at + timedelta(minutes=6)).sent == 1
    assert row(message_id).attempts == 2


def test_gives_up_after_max_attempts(ctx: None, users: dict[str, int]) -> None:
    [message_id] = queued(users, "approver")
    gateway = ScriptedGateway(*[GatewayRejected("no", status=400) for _ in range(3)])
    for _ in range(4):
        deliver(gateway, max_attempts=3)
    assert row(message_id).attempts == 3
    assert row(message_id).sent_at is None
    assert gateway.sent == []


def test_addresses_never_reach_the_log(
    ctx: None, users: dict[str, int], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="composer.delivery.staff_mail")
    first, _second = queued(users, "approver", "admin")
    deliver(
        ScriptedGateway(GatewayRejected("SendGrid refused the message (HTTP 400).", status=400))
    )
    assert f"Staff message {first} not sent" in caplog.text
    assert "sent through scripted as scripted-1" in caplog.text
    assert "@" not in caplog.text


def test_refuses_a_base_url_that_is_not_an_address(ctx: None, users: dict[str, int]) -> None:
    queued(users, "approver")
    with pytest.raises(staff_mail.StaffMailError, match="APP_BASE_URL"):
        staff_mail.deliver_pending(db.session(), ScriptedGateway(), base_url="notices")


@pytest.fixture
def fake() -> Iterator[FakeSendGrid]:
    with running() as server:
        yield server


def test_web_delivery_through_sendgrid(
    app: Flask, users: dict[str, int], fake: FakeSendGrid
) -> None:
    app.config.update(MAIL_GATEWAY="sendgrid", SENDGRID_API_KEY="SG.test", SENDGRID_HOST=fake.url)
    with app.test_request_context():
        [message_id] = queued(users, "approver")
        assert deliver_staff_mail() == staff_mail.DeliveryReport(sent=1, failed=0)
        assert row(message_id).gateway_message_id == "sg-1"
    body = fake.requests[0].body
    assert body["personalizations"] == [{"to": [{"email": "lee@example.com", "name": "Lee"}]}]
    assert body["content"][0]["value"].endswith("http://localhost:5000/incidents/3/review\n")


def test_web_delivery_swallows_errors(
    app: Flask, users: dict[str, int], caplog: pytest.LogCaptureFixture
) -> None:
    app.config.update(MAIL_GATEWAY="sendgrid", SENDGRID_API_KEY="")
    with app.test_request_context():
        [message_id] = queued(users, "approver")
        assert deliver_staff_mail() is None
        assert row(message_id).sent_at is None
    assert "SENDGRID_API_KEY is empty" in caplog.text
    assert "@" not in caplog.text


def test_cli_delivers_and_counts(app: Flask, users: dict[str, int], runner: Any) -> None:
    with app.app_context():
        queued(users, "approver", "admin")
    result = runner.invoke(args=["mail", "deliver"])
    assert result.exit_code == 0, result.output
    assert "Sent 2, failed 0 (gateway: outbox); 0 still unsent." in result.output
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(DevOutboxMessage)) == 2

    app.config.update(MAIL_GATEWAY="sendgrid")  # conftest: no key, and a closed port
    with app.app_context():
        queued(users, "approver")
    result = runner.invoke(args=["mail", "deliver"])
    assert result.exit_code == 1
    assert "SENDGRID_API_KEY is empty" in result.output

    app.config.update(SENDGRID_API_KEY="SG.test")
    result = runner.invoke(args=["mail", "deliver"])
    assert result.exit_code == 1
    assert "Sent 0, failed 1 (gateway: sendgrid); 1 still unsent." in result.output

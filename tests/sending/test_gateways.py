"""The mail gateways: SendGrid against a local stand-in server, and the dev outbox."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import sessionmaker

from composer.delivery.gateways import (
    DevOutboxGateway,
    GatewayAuthError,
    GatewayConfigError,
    GatewayRateLimited,
    GatewayRejected,
    GatewayTimedOut,
    GatewayUnavailable,
    InvalidMessage,
    MailMessage,
    SendGridGateway,
    gateway_from_config,
)
from composer.extensions import db
from composer.models import DevOutboxMessage
from tests.sending.fake_sendgrid import FakeSendGrid, Reply, running

KEY = "SG.test-key-not-real"
SENDER = "Example Ltd <security@example.com>"


def message(**changes: Any) -> MailMessage:
    fields: dict[str, Any] = {
        "to_email": "lee@example.com",
        "to_name": "Lee Approver",
        "subject": "A notice is waiting for your review",
        "text": "Please review the notice for incident 3.",
        "html": None,
    }
    fields.update(changes)
    return MailMessage(**fields)


@pytest.fixture
def fake() -> Iterator[FakeSendGrid]:
    with running() as server:
        yield server


def gateway(fake: FakeSendGrid, **options: Any) -> SendGridGateway:
    return SendGridGateway(KEY, SENDER, fake.url, options.pop("timeout", 5.0), **options)


def test_one_request_per_message_with_one_recipient(fake: FakeSendGrid) -> None:
    gw = gateway(fake)
    first = gw.send(message(html="<p>Please review.</p>"))
    second = gw.send(message(to_email="kim@example.com", to_name=""))

    assert (first, second) == ("sg-1", "sg-2")
    assert len(fake.requests) == 2
    request = fake.requests[0]
    assert request.path == "/v3/mail/send"
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.headers["Content-Type"] == "application/json"
    body = request.body
    assert body["personalizations"] == [
        {"to": [{"email": "lee@example.com", "name": "Lee Approver"}]}
    ]
    assert body["from"] == {"email": "security@example.com", "name": "Example Ltd"}
    assert body["subject"] == "A notice is waiting for your review"
    assert body["content"] == [
        {"type": "text/plain", "value": "Please review the notice for incident 3."},
        {"type": "text/html", "value": "<p>Please review.</p>"},
    ]
    assert "custom_args" not in body
    assert "reply_to" not in body
    assert body["tracking_settings"]["click_tracking"]["enable"] is False
    # No name: no name key. Text only: one content part.
    assert fake.requests[1].body["personalizations"] == [{"to": [{"email": "kim@example.com"}]}]
    assert [c["type"] for c in fake.requests[1].body["content"]] == ["text/plain"]


def test_neither_the_key_nor_addresses_are_logged(
    fake: FakeSendGrid, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    gateway(fake).send(message())
    fake.reply(400, message="lee@example.com is not valid")
    with pytest.raises(GatewayRejected):
        gateway(fake).send(message())
    assert KEY not in caplog.text
    assert "@" not in caplog.text


def test_reply_to_and_a_bare_sender(fake: FakeSendGrid) -> None:
    gw = SendGridGateway(
        KEY, "security@example.com", fake.url, 5.0, reply_to="Help <help@example.com>"
    )
    gw.send(message())
    body = fake.requests[0].body
    assert body["from"] == {"email": "security@example.com"}
    assert body["reply_to"] == {"email": "help@example.com", "name": "Help"}


def test_the_client_has_a_timeout() -> None:
    gw = SendGridGateway(KEY, SENDER, "https://api.sendgrid.com", 7.5)
    assert gw._client.client.timeout == 7.5
    # The client builds a child per URL segment; the timeout must reach the one that posts.
    assert gw._client.client.mail.send.timeout == 7.5


@pytest.mark.parametrize("status", [401, 403])
def test_refused_key(fake: FakeSendGrid, status: int) -> None:
    fake.reply(status, message="The provided authorization grant is invalid, expired, or revoked")
    with pytest.raises(GatewayAuthError, match="SendGrid refused the API key"):
        gateway(fake).send(message())


def test_rate_limited_says_when_to_retry(fake: FakeSendGrid) -> None:
    fake.reply(429, {"X-RateLimit-Reset": "1000030"}, message="too many requests")
    gw = gateway(fake, clock=lambda: 1_000_000.0)
    with pytest.raises(GatewayRateLimited) as caught:
        gw.send(message())
    assert caught.value.retry_after == 30.0
    assert "about 30 seconds" in str(caught.value)


def test_rate_limited_against_the_real_clock(fake: FakeSendGrid) -> None:
    fake.reply(429, {"X-RateLimit-Reset": str(int(time.time()) + 60)})
    with pytest.raises(GatewayRateLimited) as caught:
        gateway(fake).send(message())
    assert caught.value.retry_after is not None
    assert 50 <= caught.value.retry_after <= 61


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_unavailable(fake: FakeSendGrid, status: int) -> None:
    fake.reply(status)
    with pytest.raises(GatewayUnavailable, match=f"HTTP {status}"):
        gateway(fake).send(message())


def test_rejected_message_names_no_address(fake: FakeSendGrid) -> None:
    fake.reply(400, message="lee@example.com does not contain a valid address.", field="to")
    with pytest.raises(GatewayRejected) as caught:
        gateway(fake).send(message())
    assert caught.value.status == 400
    assert "does not contain a valid address" in str(caught.value)
    assert "lee@example.com" not in str(caught.value)


def test_a_slow_server_times_out(fake: FakeSendGrid) -> None:
    fake.replies.append(Reply(202, {"X-Message-Id": "late"}, delay=10))
    started = time.monotonic()
    with pytest.raises(GatewayUnavailable) as caught:
        gateway(fake, timeout=0.5).send(message())
    assert time.monotonic() - started < 5
    assert isinstance(caught.value, GatewayTimedOut)
    assert caught.value.maybe_sent
    assert "may have been accepted" in str(caught.value)


def test_connection_refused() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    gw = SendGridGateway(KEY, SENDER, f"http://127.0.0.1:{port}", 2.0)
    with pytest.raises(GatewayUnavailable, match="Could not reach SendGrid") as caught:
        gw.send(message())
    assert not caught.value.maybe_sent


HOSTILE = [
    {"subject": "Review\r\nBcc: everyone@example.net"},
    {"subject": "Review\nX-Injected: 1"},
    {"subject": "Review\u2028now"},
    {"subject": "   "},
    {"to_email": "lee@example.com\r\nBcc: everyone@example.net"},
    {"to_email": "lee@example.com, kim@example.com"},
    {"to_email": "Lee <lee@example.com>"},
    {"to_email": "not-an-address"},
    {"to_name": "Lee\r\nBcc: everyone@example.net"},
    {"text": ""},
]


@pytest.mark.parametrize("change", HOSTILE)
def test_hostile_messages_are_refused_before_sending(
    fake: FakeSendGrid, change: dict[str, str]
) -> None:
    gw = gateway(fake)
    with pytest.raises(InvalidMessage):
        gw.send(message(**change))
    assert fake.requests == []


def test_config_picks_the_gateway(app: Flask) -> None:
    factory = sessionmaker()
    assert isinstance(gateway_from_config({}, factory), DevOutboxGateway)
    assert gateway_from_config(app.config, factory).name == "outbox"
    chosen = gateway_from_config(
        {
            "MAIL_GATEWAY": "sendgrid",
            "SENDGRID_API_KEY": KEY,
            "MAIL_SENDER": SENDER,
            "SENDGRID_HOST": "https://api.eu.sendgrid.com/",
            "SENDGRID_TIMEOUT_SECONDS": "3",
        },
        factory,
    )
    assert isinstance(chosen, SendGridGateway)
    assert (chosen.host, chosen.timeout) == ("https://api.eu.sendgrid.com", 3.0)


@pytest.mark.parametrize(
    ("settings", "says"),
    [
        ({"SENDGRID_API_KEY": ""}, "SENDGRID_API_KEY is empty"),
        ({"MAIL_GATEWAY": "smtp"}, "must be one of 'outbox', 'sendgrid'"),
        ({"SENDGRID_HOST": "http://sendgrid.example.net"}, "must be an https:// URL"),
        ({"SENDGRID_TIMEOUT_SECONDS": 0}, "must be a positive number"),
        ({"SENDGRID_TIMEOUT_SECONDS": "soon"}, "must be a number of seconds"),
        ({"MAIL_SENDER": "Example Ltd"}, "MAIL_SENDER must be an address"),
        ({"MAIL_SENDER": "x@example.com\r\nBcc: y@example.net"}, "line break"),
    ],
)
def test_config_errors_say_what_to_set(settings: dict[str, Any], says: str) -> None:
    config = {"MAIL_GATEWAY": "sendgrid", "SENDGRID_API_KEY": KEY, "MAIL_SENDER": SENDER}
    config.update(settings)
    with pytest.raises(GatewayConfigError, match=says):
        gateway_from_config(config, sessionmaker())


def test_dev_outbox_stores_the_message(app: Flask) -> None:
    with app.app_context():
        gw = DevOutboxGateway(sessionmaker(db.engine))
        message_id = gw.send(message(html="<p>Hi</p>"))
        assert message_id.startswith("dev-")
        stored = db.session.scalars(sa.select(DevOutboxMessage)).one()
        assert stored.gateway_message_id == message_id
        assert (stored.to_email, stored.to_name) == ("lee@example.com", "Lee Approver")
        assert stored.subject == "A notice is waiting for your review"
        assert stored.text == "Please review the notice for incident 3."
        assert stored.html == "<p>Hi</p>"
        assert stored.created_at.tzinfo is not None

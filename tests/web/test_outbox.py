"""The dev outbox pages: admins read what the app "sent"; nobody else, and only when it is on."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy.orm import sessionmaker

from composer.delivery.gateways import DevOutboxGateway, MailMessage
from composer.extensions import db
from composer.models import DevOutboxMessage
from tests.conftest import sign_in

HOSTILE_HTML = (
    '<p>Dear Lee,</p><script>alert("x")</script><img src="https://tracker.example/p.gif">'
)


def send(app: Flask, **changes: str | None) -> int:
    fields: dict[str, str | None] = {
        "to_email": "lee@example.com",
        "to_name": "Lee",
        "subject": "A notice is waiting for your review",
        "text": "Open https://notices.example.com/incidents/3/review",
        "html": None,
    }
    fields.update(changes)
    with app.app_context():
        DevOutboxGateway(sessionmaker(db.engine)).send(MailMessage(**fields))  # type: ignore[arg-type]
        newest = db.session.scalar(
            db.select(DevOutboxMessage.id).order_by(DevOutboxMessage.id.desc()).limit(1)
        )
        assert newest is not None
        return newest


def test_admin_reads_the_outbox_newest_first(app: Flask, users: dict[str, int]) -> None:
    send(app, subject="First <b>message</b>")
    second = send(app, subject="Second message", text="Line one\n<script>x</script>")
    client = app.test_client()
    sign_in(client, "admin")

    page = client.get("/outbox").get_data(as_text=True)
    assert page.index("Second message") < page.index("First &lt;b&gt;message&lt;/b&gt;")
    assert "<b>message</b>" not in page
    assert f'href="/outbox/{second}"' in page
    assert 'href="/outbox">Dev outbox</a>' in client.get("/incidents/").get_data(as_text=True)

    response = client.get(f"/outbox/{second}")
    assert response.status_code == 200
    shown = response.get_data(as_text=True)
    assert "<pre" in shown
    assert "Line one\n&lt;script&gt;x&lt;/script&gt;" in shown
    assert "lee@example.com" in shown
    assert "<iframe" not in shown  # no HTML part, no frame
    assert client.get(f"/outbox/{second}/body.html").status_code == 404


def test_the_html_part_is_only_shown_sandboxed(app: Flask, users: dict[str, int]) -> None:
    message_id = send(app, html=HOSTILE_HTML)
    client = app.test_client()
    sign_in(client, "admin")

    shown = client.get(f"/outbox/{message_id}").get_data(as_text=True)
    assert f'sandbox src="/outbox/{message_id}/body.html"' in shown
    assert "<script>" not in shown

    frame = client.get(f"/outbox/{message_id}/body.html")
    assert frame.status_code == 200
    assert frame.mimetype == "text/html"
    csp = frame.headers["Content-Security-Policy"]
    assert csp.startswith("sandbox; default-src 'none'; style-src 'unsafe-inline'")
    assert "script-src" not in csp
    assert frame.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert frame.get_data(as_text=True) == HOSTILE_HTML


@pytest.mark.parametrize("who", ["author", "approver"])
def test_other_roles_are_refused(app: Flask, users: dict[str, int], who: str) -> None:
    message_id = send(app, html="<p>Hi</p>")
    client = app.test_client()
    sign_in(client, who)
    for url in ("/outbox", f"/outbox/{message_id}", f"/outbox/{message_id}/body.html"):
        assert client.get(url).status_code == 403, url
    assert "Dev outbox" not in client.get("/incidents/").get_data(as_text=True)


def test_anonymous_is_sent_to_sign_in(app: Flask, users: dict[str, int]) -> None:
    message_id = send(app)
    client = app.test_client()
    for url in ("/outbox", f"/outbox/{message_id}"):
        response = client.get(url)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login")


def test_off_when_sending_through_sendgrid(app: Flask, users: dict[str, int]) -> None:
    message_id = send(app, html="<p>Hi</p>")
    app.config["MAIL_GATEWAY"] = "sendgrid"
    client = app.test_client()
    sign_in(client, "admin")
    for url in ("/outbox", f"/outbox/{message_id}", f"/outbox/{message_id}/body.html"):
        response = client.get(url)
        assert response.status_code == 404, url
        assert "The dev outbox is off" in response.get_data(as_text=True)
    assert "Dev outbox" not in client.get("/incidents/").get_data(as_text=True)


def test_unknown_message(app: Flask, users: dict[str, int]) -> None:
    client = app.test_client()
    sign_in(client, "admin")
    response = client.get("/outbox/999")
    assert response.status_code == 404
    assert "no message number 999" in response.get_data(as_text=True)
    assert "No messages yet." in client.get("/outbox").get_data(as_text=True)

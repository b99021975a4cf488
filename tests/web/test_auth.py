"""Signing in and out: passwords, throttling, session renewal, cookies, CSRF, redirects."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from composer.extensions import db
from composer.models import AuditEvent, User
from tests.conftest import PASSWORD, csrf_token, sign_in


def post_login(client: FlaskClient, email: str, password: str, **extra: str) -> object:
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": csrf_token(client), **extra},
    )


def test_pages_need_sign_in(client: FlaskClient) -> None:
    response = client.get("/incidents/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_passwords_are_stored_as_argon2id(app: Flask, users: dict[str, int]) -> None:
    with app.app_context():
        user = db.session.get(User, users["author"])
        assert user is not None
        assert user.password_hash.startswith("$argon2id$")
        assert PASSWORD not in user.password_hash


def test_wrong_password_is_refused_without_saying_which_part(
    client: FlaskClient, users: dict[str, int]
) -> None:
    wrong = post_login(client, "ana@example.com", "not the password")
    nobody = post_login(client, "nobody@example.com", PASSWORD)
    for response in (wrong, nobody):
        assert response.status_code == 401  # type: ignore[attr-defined]
        assert "do not match an active account" in response.get_data(as_text=True)  # type: ignore[attr-defined]
    assert client.get("/incidents/").status_code == 302


def test_deactivated_account_cannot_sign_in(
    app: Flask, client: FlaskClient, users: dict[str, int]
) -> None:
    with app.app_context():
        user = db.session.get(User, users["author"])
        assert user is not None
        user.active = False
        db.session.commit()
    assert post_login(client, "ana@example.com", PASSWORD).status_code == 401  # type: ignore[attr-defined]


class Clock:
    """The time the sign-in form sees, moved by the test."""

    def __init__(self) -> None:
        self.now = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr("composer.web.auth.utcnow", clock)
    return clock


def client_at(app: Flask, address: str) -> FlaskClient:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def test_an_attacker_cannot_lock_the_user_out(
    app: Flask, users: dict[str, int], clock: Clock
) -> None:
    attacker = client_at(app, "198.51.100.66")
    for _ in range(5):
        assert post_login(attacker, "ana@example.com", "guess").status_code == 401  # type: ignore[attr-defined]
    refused = post_login(attacker, "ana@example.com", PASSWORD)
    assert refused.status_code == 429  # type: ignore[attr-defined]
    assert refused.headers["Retry-After"] == "60"  # type: ignore[attr-defined]
    assert "Too many wrong passwords for this account" in refused.get_data(as_text=True)  # type: ignore[attr-defined]
    assert "Wait 1 minute and try again." in refused.get_data(as_text=True)  # type: ignore[attr-defined]
    # The real user, at their own address, signs in with the right password at once.
    user = client_at(app, "192.0.2.10")
    assert post_login(user, "ana@example.com", PASSWORD).status_code == 302  # type: ignore[attr-defined]
    assert user.get("/incidents/").status_code == 200


def test_waits_grow_with_each_wrong_password_and_a_right_one_clears_them(
    app: Flask, users: dict[str, int], clock: Clock
) -> None:
    client = client_at(app, "192.0.2.10")
    for _ in range(5):
        post_login(client, "ANA@example.com", "guess")
    for minutes in (1, 2, 4, 8, 15, 15):
        clock.advance(minutes=minutes, seconds=-1)
        early = post_login(client, "ana@example.com", PASSWORD)
        assert early.status_code == 429  # type: ignore[attr-defined]
        assert early.headers["Retry-After"] == "1"  # type: ignore[attr-defined]
        clock.advance(seconds=1)
        assert post_login(client, "ana@example.com", "guess").status_code == 401  # type: ignore[attr-defined]
    clock.advance(minutes=15)
    assert post_login(client, "ana@example.com", PASSWORD).status_code == 302  # type: ignore[attr-defined]
    client.post("/logout", data={"csrf_token": csrf_token(client, "/incidents/")})
    for _ in range(5):  # the count started again
        assert post_login(client, "ana@example.com", "guess").status_code == 401  # type: ignore[attr-defined]


def test_one_address_guessing_at_many_accounts_is_stopped(
    app: Flask, users: dict[str, int], clock: Clock
) -> None:
    app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"] = 3
    attacker = client_at(app, "198.51.100.66")
    for name in ("a", "b", "c"):
        post_login(attacker, f"{name}@example.com", "guess")
    refused = post_login(attacker, "ana@example.com", PASSWORD)
    assert refused.status_code == 429  # type: ignore[attr-defined]
    assert "from your network" in refused.get_data(as_text=True)  # type: ignore[attr-defined]
    assert refused.headers["Retry-After"] == str(15 * 60)  # type: ignore[attr-defined]
    # Nobody else is held up.
    assert post_login(client_at(app, "192.0.2.10"), "ana@example.com", PASSWORD).status_code == 302  # type: ignore[attr-defined]
    clock.advance(minutes=15, seconds=1)
    assert post_login(attacker, "lee@example.com", PASSWORD).status_code == 302  # type: ignore[attr-defined]


def test_guesses_from_many_addresses_spare_the_users_usual_address(
    app: Flask, users: dict[str, int], clock: Clock
) -> None:
    usual = client_at(app, "192.0.2.10")
    sign_in(usual, "author")
    usual.post("/logout", data={"csrf_token": csrf_token(usual, "/incidents/")})
    clock.advance(days=3)
    for n in range(20):
        post_login(client_at(app, f"203.0.113.{n}"), "ana@example.com", "guess")
    refused = post_login(client_at(app, "203.0.113.77"), "ana@example.com", PASSWORD)
    assert refused.status_code == 429  # type: ignore[attr-defined]
    assert "recently signed in from" in refused.get_data(as_text=True)  # type: ignore[attr-defined]
    assert post_login(usual, "ana@example.com", PASSWORD).status_code == 302  # type: ignore[attr-defined]


def test_throttle_durations_set_from_the_environment_are_seconds(
    app: Flask, users: dict[str, int], clock: Clock
) -> None:
    # COMPOSER_LOGIN_MAX_DELAY=90 arrives as the number 90.
    app.config.update(LOGIN_FAILURES_BEFORE_DELAY=1, LOGIN_MAX_DELAY=90)
    client = client_at(app, "192.0.2.10")
    assert post_login(client, "ana@example.com", "guess").status_code == 401  # type: ignore[attr-defined]
    clock.advance(minutes=1)
    assert post_login(client, "ana@example.com", "guess").status_code == 401  # type: ignore[attr-defined]
    clock.advance(seconds=89)  # two minutes, but no more than LOGIN_MAX_DELAY
    assert post_login(client, "ana@example.com", PASSWORD).headers["Retry-After"] == "1"  # type: ignore[attr-defined]
    clock.advance(seconds=1)
    assert post_login(client, "ana@example.com", PASSWORD).status_code == 302  # type: ignore[attr-defined]


def test_session_is_renewed_at_sign_in(client: FlaskClient, users: dict[str, int]) -> None:
    csrf_token(client)
    before = client.get_cookie("session")
    assert before is not None
    sign_in(client, "author")
    after = client.get_cookie("session")
    assert after is not None
    assert after.value != before.value
    # The anonymous session's cookie is not a signed-in session.
    stale = FlaskClient(client.application)
    stale.set_cookie("session", before.value)
    assert stale.get("/incidents/").status_code == 302


def test_sign_out_invalidates_copies_of_the_session_cookie(
    app: Flask, client: FlaskClient, users: dict[str, int]
) -> None:
    token = sign_in(client, "author")
    cookie = client.get_cookie("session")
    assert cookie is not None
    stolen = app.test_client()
    stolen.set_cookie("session", cookie.value)
    assert stolen.get("/incidents/").status_code == 200
    client.post("/logout", data={"csrf_token": token})
    assert stolen.get("/incidents/").status_code == 302


def test_session_cookie_flags(client: FlaskClient, users: dict[str, int]) -> None:
    token = csrf_token(client)
    response = client.post(
        "/login", data={"email": "ana@example.com", "password": PASSWORD, "csrf_token": token}
    )
    header = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("session="))
    assert "Secure" in header
    assert "HttpOnly" in header
    assert "SameSite=Lax" in header


def test_forms_without_a_valid_csrf_token_are_refused(
    client: FlaskClient, users: dict[str, int], app: Flask
) -> None:
    response = client.post("/login", data={"email": "ana@example.com", "password": PASSWORD})
    assert response.status_code == 400
    assert "The form had expired" in response.get_data(as_text=True)
    sign_in(client, "author")
    with app.app_context():
        events_before = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
    for data in ({"title": "No token"}, {"title": "Forged", "csrf_token": "forged"}):
        response = client.post("/incidents/", data=data)
        assert response.status_code == 400
    with app.app_context():
        events_after = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
    assert events_after == events_before


def test_expired_csrf_on_a_step_shows_the_typed_answers_again(
    client: FlaskClient, users: dict[str, int]
) -> None:
    token = sign_in(client, "author")
    response = client.post("/incidents/", data={"title": "Leak", "csrf_token": token})
    step_url = response.headers["Location"]
    response = client.post(
        step_url,
        data={"q.discovered": "2026-11-05", "action": "next"},
        headers={"Origin": "http://localhost"},  # from this site's page, as a browser says
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "was not saved yet" in page
    assert 'value="2026-11-05"' in page
    assert client.get(step_url).get_data(as_text=True).count('value="2026-11-05"') == 0


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/incidents/", "/incidents/"),
        ("//evil.example/x", "/incidents/"),
        ("https://evil.example/", "/incidents/"),
        ("/\\evil.example", "/incidents/"),
    ],
)
def test_sign_in_only_redirects_within_the_site(
    client: FlaskClient, users: dict[str, int], target: str, expected: str
) -> None:
    response = post_login(client, "ana@example.com", PASSWORD, next=target)
    assert response.headers["Location"] == expected  # type: ignore[attr-defined]


def test_security_headers_are_set(client: FlaskClient) -> None:
    response = client.get("/login")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert not re.search(r"<script>(?!</script>)", response.get_data(as_text=True))

"""The password an approver types to approve: its own per-user waits, apart from sign-in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask

from composer.models import ReviewState
from tests.conftest import PASSWORD, csrf_token
from tests.web.test_reviews import (  # noqa: F401 - fixtures used by name
    approve,
    client_for,
    drafted,
    empty_render_cache,
    people,
    review_id_of,
    review_state,
    submit,
    text,
)


@pytest.fixture
def in_review(request: pytest.FixtureRequest) -> tuple[int, int]:
    client, token, incident_id = request.getfixturevalue("drafted")
    return incident_id, review_id_of(submit(client, token, incident_id))


def guess(app: Flask, address: str, email: str = "lee@example.com") -> int:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    data = {"email": email, "password": "guess", "csrf_token": csrf_token(client)}
    return client.post("/login", data=data).status_code


def test_sign_in_guesses_at_an_approver_do_not_block_their_approval(
    app: Flask, in_review: tuple[int, int]
) -> None:
    incident_id, review_id = in_review
    lee, token = client_for(app, "approver")
    # Guesses from lee's own address (the test client's) and from twenty others.
    statuses = [guess(app, "127.0.0.1") for _ in range(6)]
    statuses += [guess(app, f"203.0.113.{n}") for n in range(21)]
    # Sign-in is held up: the sixth guess from lee's address, and new addresses once the
    # account has had 20 failures.
    assert statuses[:6] == [401] * 5 + [429]
    assert statuses[-1] == 429
    response = approve(lee, token, incident_id, review_id)
    assert response.status_code == 302
    assert review_state(app, review_id) == ReviewState.APPROVED.value


def test_wrong_passwords_at_approval_slow_only_that_approvers_approvals(
    app: Flask, in_review: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [datetime(2026, 12, 7, 9, 0, tzinfo=UTC)]
    monkeypatch.setattr("composer.web.reviews.decisions.utcnow", lambda: now[0])
    incident_id, review_id = in_review
    lee, token = client_for(app, "approver")
    for _ in range(5):
        wrong = approve(lee, token, incident_id, review_id, password="not my password")
        assert wrong.status_code == 422
        assert "That password is not right, so nothing was approved" in text(wrong)
    held = approve(lee, token, incident_id, review_id)
    assert held.status_code == 429
    assert held.headers["Retry-After"] == "60"
    assert "You have typed a wrong password too many times" in text(held)
    assert "Wait 1 minute and try again." in text(held)
    assert review_state(app, review_id) == ReviewState.IN_REVIEW.value
    # Lee's sign-in, from the same address, is not held up by it.
    again = app.test_client()
    data = {"email": "lee@example.com", "password": PASSWORD, "csrf_token": csrf_token(again)}
    assert again.post("/login", data=data).status_code == 302
    now[0] += timedelta(minutes=1)
    assert approve(lee, token, incident_id, review_id).status_code == 302
    assert review_state(app, review_id) == ReviewState.APPROVED.value

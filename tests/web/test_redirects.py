"""Where the browser goes after a form: ``next`` after sign-in and ``back`` after an admin sets
the approvals an incident needs. Only pages of this site, checked as the browser reads them."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import PASSWORD, csrf_token, sign_in
from tests.web.test_wizard import new_incident

# Each leads off the site once a browser has read it, or cannot be a header at all.
HOSTILE = [
    "//evil.example/x",
    "///evil.example",
    "////evil.example",
    "https://evil.example/",
    "http:evil.example",
    "javascript:alert(1)",
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r/evil.example",
    "/\r\nSet-Cookie: x=1",
    "\t//evil.example",
    " //evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/\x00/evil.example",
    "/%09/evil.example",
    "/%0A/evil.example",
    "/%0a/x",
    "/%0D/evil.example",
    "/%5Cevil.example",
    "/%5c%5cevil.example",
    "/%2F%2Fevil.example",
    "/%2f/evil.example",
    "%2F%2Fevil.example",
    "/\u3000/x" + "y" * 3000,  # too long for any page of ours
]

# Pages of this site, kept as they are.
LOCAL = [
    "/incidents/",
    "/incidents/?q=a%20b&page=2",
    "/reviews#mine",
    "/incidents/%252F%252Fevil.example",  # paths on this site, however odd
    "/%20/evil.example",
]


def post_login(client: FlaskClient, target: str) -> Any:
    data = {"email": "ana@example.com", "password": PASSWORD, "next": target}
    return client.post("/login", data={**data, "csrf_token": csrf_token(client)})


@pytest.mark.parametrize("target", HOSTILE)
def test_sign_in_never_sends_the_browser_off_the_site(
    client: FlaskClient, users: dict[str, int], target: str
) -> None:
    response = post_login(client, target)
    assert response.status_code == 302
    assert response.headers["Location"] == "/incidents/"
    # The sign-in went through: the user is in, not shown an error.
    assert client.get("/incidents/").status_code == 200


@pytest.mark.parametrize("target", LOCAL)
def test_sign_in_returns_to_the_page_asked_for(
    client: FlaskClient, users: dict[str, int], target: str
) -> None:
    response = post_login(client, target)
    assert response.status_code == 302
    assert response.headers["Location"] == target


@pytest.mark.parametrize(
    "query", ["/%09/evil.example", "/%0A/x", "%2F%2Fevil.example", "/%5Cevil.example"]
)
def test_the_sign_in_form_does_not_carry_a_hostile_next(
    client: FlaskClient, users: dict[str, int], query: str
) -> None:
    page = client.get(f"/login?next={query}")
    assert page.status_code == 200
    assert 'name="next" value=""' in page.get_data(as_text=True)


def test_the_sign_in_form_carries_a_local_next_through_a_wrong_password(
    client: FlaskClient, users: dict[str, int]
) -> None:
    assert 'name="next" value="/reviews"' in client.get("/login?next=/reviews").get_data(
        as_text=True
    )
    data = {"email": "ana@example.com", "password": "wrong", "next": "/reviews"}
    wrong = client.post("/login", data={**data, "csrf_token": csrf_token(client)})
    assert wrong.status_code == 401
    assert 'name="next" value="/reviews"' in wrong.get_data(as_text=True)


def test_a_page_that_needs_sign_in_comes_back_after_it(
    client: FlaskClient, users: dict[str, int]
) -> None:
    to_login = client.get("/reviews?tab=mine")
    form = client.get(to_login.headers["Location"]).get_data(as_text=True)
    assert 'name="next" value="/reviews?tab=mine"' in form
    assert post_login(client, "/reviews?tab=mine").headers["Location"] == "/reviews?tab=mine"


@pytest.fixture
def incident_and_admin(app: Flask, users: dict[str, int]) -> tuple[int, FlaskClient, str]:
    author = app.test_client()
    incident_id = new_incident(author, sign_in(author, "author"))
    admin = app.test_client()
    return incident_id, admin, sign_in(admin, "admin")


def set_required(admin: FlaskClient, token: str, incident_id: int, back: str | None) -> Any:
    data = {"required": "2", "csrf_token": token}
    if back is not None:
        data["back"] = back
    return admin.post(f"/incidents/{incident_id}/required-approvals", data=data)


@pytest.mark.parametrize("back", HOSTILE)
def test_the_approvals_form_never_sends_the_admin_off_the_site(
    incident_and_admin: tuple[int, FlaskClient, str], back: str
) -> None:
    incident_id, admin, token = incident_and_admin
    summary = set_required(admin, token, incident_id, None).headers["Location"]
    assert summary.startswith(f"/incidents/{incident_id}")
    response = set_required(admin, token, incident_id, back)
    assert response.status_code == 302
    assert response.headers["Location"] == summary


def test_the_approvals_form_returns_to_the_page_it_was_on(
    incident_and_admin: tuple[int, FlaskClient, str],
) -> None:
    incident_id, admin, token = incident_and_admin
    back = f"/incidents/{incident_id}/reviews/1"
    assert set_required(admin, token, incident_id, back).headers["Location"] == back

"""Ids in URLs: a number too large for the database (2**63, 2**31, 5,000 digits) in any route's
``<int:...>`` is a 404 page, like an id that does not exist, and never a 500."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from composer.web.urls import MAX_URL_ID
from tests.conftest import sign_in

HUGE = [str(2**63), str(2**63 - 1), str(2**31), str(MAX_URL_ID + 1), "9" * 5000]


def _routes_with_ids(app: Flask) -> list[tuple[str, str, str]]:
    """(rule, method, url) for every route with an ``<int:...>`` part, each id set to a
    placeholder."""
    found = []
    for rule in app.url_map.iter_rules():
        ints = [
            name for name, conv in rule._converters.items() if type(conv).__name__ == "IdConverter"
        ]
        if not ints:
            continue
        method = "GET" if "GET" in (rule.methods or ()) else sorted(rule.methods or {"POST"})[0]
        url = rule.rule
        for name, conv in rule._converters.items():
            url = url.replace(f"<{name}>", "x")  # a bare <name> is a string
            for spelled in (f"<int:{name}>", f"<{type(conv).__name__}:{name}>"):
                url = url.replace(spelled, "{id}" if name in ints else "x")
        url = url.replace("<", "").replace(">", "")  # any other converter: a plain word
        found.append((rule.rule, method, url))
    return found


def test_every_route_with_an_id_is_covered(app: Flask) -> None:
    routes = _routes_with_ids(app)
    assert len(routes) > 20  # incidents, versions, reviews, lists, runs, batches, users ...
    assert all("{id}" in url for _rule, _method, url in routes)


@pytest.mark.parametrize("number", HUGE, ids=["2**63", "2**63-1", "2**31", "max+1", "5000 digits"])
def test_an_id_too_large_for_the_database_is_404_in_every_route(
    app: Flask, client: FlaskClient, users: dict[str, int], number: str
) -> None:
    token = sign_in(client, "admin")
    for rule, method, url in _routes_with_ids(app):
        response = client.open(
            url.replace("{id}", number), method=method, data={"csrf_token": token}
        )
        assert response.status_code == 404, (rule, method, response.status_code)


def test_the_largest_id_is_an_ordinary_missing_one(
    app: Flask, client: FlaskClient, users: dict[str, int]
) -> None:
    token = sign_in(client, "admin")
    for rule, method, url in _routes_with_ids(app):
        if method != "GET":
            continue
        response = client.get(url.replace("{id}", str(MAX_URL_ID)), data={"csrf_token": token})
        assert response.status_code in (403, 404), (rule, response.status_code)


@pytest.mark.parametrize("number", [2**63, 2**40])
def test_a_huge_number_outside_the_url_is_a_404_too(
    client: FlaskClient, users: dict[str, int], number: int
) -> None:
    token = sign_in(client, "author")
    response = client.post(
        "/api/lint",
        json={"text": "Your data was stolen.", "incident_id": number},
        headers={"X-CSRFToken": token},
    )
    assert response.status_code == 404  # never a 500, on SQLite (64-bit) or PostgreSQL (32-bit)
    assert response.get_json()["error"]

"""Linting in a request can never hold the app: the time budget, the cache of results, and
incident numbers no database can hold (``POST /api/lint`` and the editor page)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from composer.lint.engine import Linter
from composer.lint.findings import LintResult
from composer.web.linting import time_budget
from tests.conftest import sign_in
from tests.web.test_notice_editor import lint, save


@pytest.fixture
def author(client: FlaskClient, users: dict[str, int]) -> str:
    return sign_in(client, "author")


@pytest.fixture
def incident_id(client: FlaskClient, author: str) -> int:
    from tests.web.test_wizard import new_incident

    return new_incident(client, author, "Mailing supplier leak")


@pytest.fixture
def lint_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The texts the linter is asked to check, in order."""
    calls: list[str] = []
    original = Linter.lint

    def spy(self: Linter, text: str, *args: Any, **kwargs: Any) -> LintResult:
        calls.append(text)
        return original(self, text, *args, **kwargs)

    monkeypatch.setattr(Linter, "lint", spy)
    return calls


def long_notice(paragraphs: int = 40) -> str:
    """Paragraphs no earlier test has checked (the parse cache is shared by the process)."""
    mark = uuid.uuid4().hex[:8]
    return "\n\n".join(
        f"Paragraph {i} ({mark}): on 3 May a criminal copied the names and email addresses of "
        f"some customers from our supplier's system, and we may have lost more data since then."
        for i in range(paragraphs)
    )


@pytest.mark.parametrize("incident", [2**63, 2**64, 10**30, 0, -1, -(2**63)])
def test_an_incident_number_no_incident_can_have_is_not_found(
    client: FlaskClient, author: str, incident: int
) -> None:
    response = lint(client, author, {"text": "Some customers.", "incident_id": incident})
    assert response.status_code == 404
    assert response.get_json() == {"error": f"There is no incident number {incident}."}


@pytest.mark.parametrize("incident", [1.5, "3", True, [3], {"id": 3}])
def test_an_incident_number_that_is_not_a_whole_number_is_refused(
    client: FlaskClient, author: str, incident: Any
) -> None:
    response = lint(client, author, {"text": "Some customers.", "incident_id": incident})
    assert response.status_code == 400
    assert "whole number" in response.get_json()["error"]


def test_a_check_that_runs_out_of_time_says_how_much_it_covered(
    client: FlaskClient, author: str, app: Flask
) -> None:
    app.config["LINT_TIME_BUDGET_SECONDS"] = 1e-9
    text = long_notice()
    body = lint(client, author, {"text": text}).get_json()
    assert body["complete"] is False
    assert 0 < body["checked_chars"] < len(text)
    assert "Checking stopped" in body["note"]
    assert f"of {len(text):,} characters" in body["note"]
    # What was checked has its findings; nothing past it is reported.
    assert body["findings"]
    assert all(f["end"] <= body["checked_chars"] for f in body["findings"])


def test_a_check_within_the_budget_is_complete(client: FlaskClient, author: str) -> None:
    text = long_notice(3)
    body = lint(client, author, {"text": text}).get_json()
    assert set(body) == {"findings", "stats"}  # the LINT.md shape, with nothing added
    assert any(f["text"] == "some customers" for f in body["findings"])


def test_the_editor_page_says_when_checking_stopped_early(
    client: FlaskClient, author: str, incident_id: int, app: Flask
) -> None:
    app.config["LINT_TIME_BUDGET_SECONDS"] = 1e-9
    save(client, author, incident_id, long_notice())
    page = client.get(f"/incidents/{incident_id}/notice").get_data(as_text=True)
    assert "Checking stopped after" in page
    assert "The rest of the text and against the incident" in page


def test_the_editor_page_does_not_check_a_saved_text_again(
    client: FlaskClient, author: str, incident_id: int, lint_calls: list[str], app: Flask
) -> None:
    body = long_notice(5)
    save(client, author, incident_id, body)
    for _ in range(3):
        page = client.get(f"/incidents/{incident_id}/notice")
        assert page.status_code == 200
        assert "some customers" in page.get_data(as_text=True)
    assert lint_calls.count(body) == 1
    # Another person opening the page gets the same result without a new check.
    approver = app.test_client()
    sign_in(approver, "approver")
    assert approver.get(f"/incidents/{incident_id}/notice").status_code == 200
    assert lint_calls.count(body) == 1
    # The live panel asking about the same text with the same facts is answered from it too.
    assert lint(client, author, {"text": body, "incident_id": incident_id}).status_code == 200
    assert lint_calls.count(body) == 1


def test_a_result_is_reused_only_for_the_same_text_and_facts(
    client: FlaskClient, author: str, incident_id: int, lint_calls: list[str]
) -> None:
    text = long_notice(2)
    lint(client, author, {"text": text, "incident_id": incident_id})
    lint(client, author, {"text": text})  # no facts: another result
    lint(client, author, {"text": text + " Call us."})  # another text
    lint(client, author, {"text": text})
    assert lint_calls == [text, text, text + " Call us."]


@pytest.mark.parametrize("value", ["soon", 0, -1, None, float("inf")])
def test_a_budget_that_is_not_a_number_of_seconds_is_named(app: Flask, value: Any) -> None:
    app.config["LINT_TIME_BUDGET_SECONDS"] = value
    with app.app_context(), pytest.raises(ValueError, match="LINT_TIME_BUDGET_SECONDS"):
        time_budget()


def test_the_budget_may_come_from_the_environment_as_a_whole_number(app: Flask) -> None:
    app.config["LINT_TIME_BUDGET_SECONDS"] = 5  # COMPOSER_LINT_TIME_BUDGET_SECONDS=5
    with app.app_context():
        assert time_budget() == 5.0

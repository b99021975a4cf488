"""The checklist wizard over HTTP: saving, validation, navigation, finishing, facts."""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from composer.extensions import db
from composer.models import Answer, AuditEvent, Incident
from tests.conftest import sign_in
from tests.sample_answers import STEP_FORMS


@pytest.fixture
def author(client: FlaskClient, users: dict[str, int]) -> str:
    return sign_in(client, "author")


def new_incident(client: FlaskClient, token: str, title: str = "Supplier leak") -> int:
    response = client.post("/incidents/", data={"title": title, "csrf_token": token})
    assert response.status_code == 302
    match = re.search(r"/incidents/(\d+)/steps/timing$", response.headers["Location"])
    assert match, response.headers["Location"]
    return int(match.group(1))


def post_step(
    client: FlaskClient,
    token: str,
    incident_id: int,
    step: str,
    form: dict[str, Any],
    action: str = "next",
) -> Any:
    return client.post(
        f"/incidents/{incident_id}/steps/{step}",
        data={**form, "csrf_token": token, "action": action},
    )


def fill_all(client: FlaskClient, token: str, incident_id: int) -> None:
    for step, form in STEP_FORMS.items():
        response = post_step(client, token, incident_id, step, form)
        assert response.status_code == 302, (step, response.get_data(as_text=True)[:3000])


def test_new_incident_starts_at_first_step_and_is_audited(
    client: FlaskClient, author: str, app: Flask
) -> None:
    incident_id = new_incident(client, author, "  Supplier   leak ")
    page = client.get(f"/incidents/{incident_id}/steps/timing").get_data(as_text=True)
    assert "When it happened" in page
    assert "Step 1 of 10" in page
    with app.app_context():
        incident = db.session.get(Incident, incident_id)
        assert incident is not None
        assert incident.title == "Supplier leak"
        event = db.session.scalars(sa.select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
        assert event is not None
        assert event.action == "incident.created"
        assert event.actor == "ana@example.com"


def test_blank_incident_name_is_refused_with_message(client: FlaskClient, author: str) -> None:
    response = client.post("/incidents/", data={"title": "   ", "csrf_token": author})
    assert response.status_code == 422
    assert "Give the incident a short name" in response.get_data(as_text=True)


def test_valid_step_moves_to_the_next_one(client: FlaskClient, author: str) -> None:
    incident_id = new_incident(client, author)
    response = post_step(client, author, incident_id, "timing", STEP_FORMS["timing"])
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/incidents/{incident_id}/steps/account")


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"q.discovered": "yesterday"}, "“yesterday” is not a date"),
        ({"q.discovered": "2026-02-30"}, "“2026-02-30” is not a date"),
        ({"q.discovered": "2999-01-01"}, "This date is in the future"),
        (
            {"q.occurred.from": "2026-11-04", "q.discovered": "2026-11-02"},
            "This is before “When it happened” (4 November 2026)",
        ),
        (
            {"q.occurred.from": "2026-11-04", "q.occurred.to": "2026-11-01"},
            "The end date is before the start date",
        ),
    ],
)
def test_bad_dates_are_explained_and_kept(
    client: FlaskClient, author: str, form: dict[str, str], message: str
) -> None:
    incident_id = new_incident(client, author)
    response = post_step(client, author, incident_id, "timing", form)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in page
    assert "Your answers are saved, but some need fixing" in page
    # Nothing typed is lost: the bad value is still in the field after a fresh load.
    again = client.get(f"/incidents/{incident_id}/steps/timing").get_data(as_text=True)
    for value in form.values():
        assert f'value="{value}"' in again
    assert message in again


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-5", "A count cannot be negative"),
        ("lots", "“lots” is not a number"),
        ("500-100", "put the smaller number first"),
        ("12e4", "is not a number"),
    ],
)
def test_bad_counts_are_explained(
    client: FlaskClient, author: str, value: str, message: str
) -> None:
    incident_id = new_incident(client, author)
    response = post_step(
        client, author, incident_id, "protection-and-scale", {"q.people_affected": value}
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert message in page
    assert f'value="{value}"' in page


def test_back_saves_even_invalid_answers_and_goes_back(
    client: FlaskClient, author: str, app: Flask
) -> None:
    incident_id = new_incident(client, author)
    response = post_step(
        client, author, incident_id, "account", {"q.description": "Half a thought"}, action="back"
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/steps/timing")
    with app.app_context():
        answer = db.session.scalar(sa.select(Answer).where(Answer.question_id == "description"))
        assert answer is not None
        assert answer.value["value"] == "Half a thought"


def test_save_and_exit_then_resume_returns_to_the_same_step(
    client: FlaskClient, author: str
) -> None:
    incident_id = new_incident(client, author)
    post_step(client, author, incident_id, "harm", {"q.harms": ["phishing"]}, action="exit")
    response = client.get(f"/incidents/{incident_id}")
    assert response.headers["Location"].endswith("/steps/harm")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert re.search(r'value="phishing"\s+checked', page)


def test_conditional_question_only_counts_when_its_condition_holds(
    client: FlaskClient, author: str
) -> None:
    incident_id = new_incident(client, author)
    # A supplier name typed while "criminal outsider" is chosen is kept but not a fact.
    post_step(
        client,
        author,
        incident_id,
        "account",
        {"q.description": "x", "q.actor": "criminal-outsider", "q.supplier_name": "Acme"},
    )
    facts = client.get(f"/incidents/{incident_id}/facts.json").get_json()
    assert "supplier_name" not in facts["facts"]["what_happened"]
    # Choosing "supplier" without a name is fine for moving on, but blocks finishing.
    post_step(client, author, incident_id, "account", {"q.description": "x", "q.actor": "supplier"})
    facts = client.get(f"/incidents/{incident_id}/facts.json").get_json()
    assert facts["facts"]["what_happened"]["supplier_name"] is None
    assert "what_happened.supplier_name" in facts["status"]["missing"]


def test_finishing_with_missing_answers_lists_each_with_a_link(
    client: FlaskClient, author: str
) -> None:
    incident_id = new_incident(client, author)
    response = client.post(f"/incidents/{incident_id}/finish", data={"csrf_token": author})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "The checklist cannot be finished yet" in page
    assert f'href="/incidents/{incident_id}/steps/timing#q-discovered"' in page
    assert "Give at least one way for customers to contact you." in page
    assert "or tick “Not yet known”" in page


def test_complete_checklist_finishes_and_facts_follow_the_schema(
    client: FlaskClient, author: str, app: Flask
) -> None:
    incident_id = new_incident(client, author)
    fill_all(client, author, incident_id)
    summary = client.get(f"/incidents/{incident_id}/summary").get_data(as_text=True)
    assert "Every required answer is in" in summary
    assert "Not yet known" in summary  # next update was ticked unknown
    response = client.post(f"/incidents/{incident_id}/finish", data={"csrf_token": author})
    assert response.status_code == 302
    assert "Checklist finished" in client.get(f"/incidents/{incident_id}/summary").get_data(
        as_text=True
    )
    doc = client.get(f"/incidents/{incident_id}/facts.json").get_json()
    assert doc["schema"] == "composer-facts/1"
    assert doc["status"] == {
        "complete": True,
        "unknown": ["next_steps.next_update"],
        "missing": [],
        "invalid": [],
    }
    facts = doc["facts"]
    assert facts["what_happened"]["occurred"] == {"start": "2026-11-01", "end": "2026-11-03"}
    assert facts["what_happened"]["actor"] == "supplier"
    assert facts["what_happened"]["supplier_name"] == "Acme Mail Ltd"
    assert facts["what_happened"]["law_enforcement"] == {"involved": True, "delay_requested": False}
    assert [c["id"] for c in facts["data"]["categories"]] == ["name", "email", "password-hashed"]
    assert facts["data"]["categories"][1]["label"]
    assert facts["data"]["password_storage"] == "bcrypt"
    assert "key_safe" not in facts["data"]["encryption"]
    assert facts["data"]["records_affected"] == {"min": 120000, "max": 120000}
    assert facts["data"]["people_affected"] == {"min": 90000, "max": 100000}
    assert facts["impact"]["countries"] == [
        {"code": "GB", "name": "United Kingdom", "count": 60000},
        {"code": "US", "name": "United States", "count": None},
    ]
    assert facts["impact"]["us_states"][0] == {"code": "CA", "name": "California", "count": 700}
    assert facts["next_steps"]["contact"]["email"] == "help@example.com"
    assert facts["next_steps"]["next_update"] is None
    assert "months" not in facts["next_steps"]["offer"]
    assert doc["incident"]["checklist_finished_at"]


def test_editing_a_finished_checklist_into_an_incomplete_one_reopens_it(
    client: FlaskClient, author: str
) -> None:
    incident_id = new_incident(client, author)
    fill_all(client, author, incident_id)
    client.post(f"/incidents/{incident_id}/finish", data={"csrf_token": author})
    post_step(client, author, incident_id, "contact", {"q.reference": ""}, action="exit")
    doc = client.get(f"/incidents/{incident_id}/facts.json").get_json()
    assert doc["incident"]["checklist_finished_at"] is None
    assert doc["status"]["complete"] is False


def test_every_change_is_audited_with_before_and_after(
    client: FlaskClient, author: str, app: Flask
) -> None:
    incident_id = new_incident(client, author)
    post_step(client, author, incident_id, "account", {"q.description": "First"}, action="exit")
    post_step(client, author, incident_id, "account", {"q.description": "Second"}, action="exit")
    post_step(client, author, incident_id, "account", {"q.description": "Second"}, action="exit")
    with app.app_context():
        events = db.session.scalars(
            sa.select(AuditEvent)
            .where(AuditEvent.action == "incident.answers_changed")
            .order_by(AuditEvent.seq)
        ).all()
    assert len(events) == 2  # saving the same answer again is not a change
    assert events[1].before == {"description": {"unknown": False, "value": "First"}}
    assert events[1].after == {"description": {"unknown": False, "value": "Second"}}
    assert events[1].subject_id == str(incident_id)


def test_hostile_text_is_escaped_on_every_page(client: FlaskClient, author: str) -> None:
    incident_id = new_incident(client, author, '<script>alert("t")</script>')
    hostile = '<script>alert(1)</script><img src=x onerror=alert(2)> "quoted"\r\nnext line'
    post_step(client, author, incident_id, "account", {"q.description": hostile}, action="exit")
    for url in (
        "/incidents/",
        f"/incidents/{incident_id}/summary",
        f"/incidents/{incident_id}/steps/account",
    ):
        page = client.get(url).get_data(as_text=True)
        assert "<script>alert" not in page, url
        assert "<img src=x" not in page, url
    facts = client.get(f"/incidents/{incident_id}/facts.json").get_json()
    assert facts["facts"]["what_happened"]["description"].endswith('"quoted"\nnext line')


def test_step_and_incident_that_do_not_exist_are_404(client: FlaskClient, author: str) -> None:
    incident_id = new_incident(client, author)
    assert client.get(f"/incidents/{incident_id}/steps/nope").status_code == 404
    response = client.get("/incidents/999/summary")
    assert response.status_code == 404
    assert "There is no incident number 999" in response.get_data(as_text=True)


def test_oversized_request_is_refused_with_413(client: FlaskClient, author: str) -> None:
    incident_id = new_incident(client, author)
    response = post_step(
        client, author, incident_id, "account", {"q.description": "x" * (3 * 1024 * 1024)}
    )
    assert response.status_code == 413
    assert "too large" in response.get_data(as_text=True)


def test_navigation_buttons_save_before_leaving_the_step(client: FlaskClient, author: str) -> None:
    incident_id = new_incident(client, author)
    response = post_step(
        client, author, incident_id, "account", {"q.description": "Typed"}, action="summary"
    )
    assert response.headers["Location"].endswith(f"/incidents/{incident_id}/summary")
    response = post_step(
        client, author, incident_id, "harm", {"q.harms": ["fraud"]}, action="goto:contact"
    )
    assert response.headers["Location"].endswith(f"/incidents/{incident_id}/steps/contact")
    facts = client.get(f"/incidents/{incident_id}/facts.json").get_json()
    assert facts["facts"]["what_happened"]["description"] == "Typed"
    assert facts["facts"]["impact"]["harms"] == ["fraud"]
    page = client.get(f"/incidents/{incident_id}/steps/contact").get_data(as_text=True)
    assert 'value="summary"' in page
    assert "Phone number</label>" in page  # one of a required group: not "(optional)"

"""The notice editor and ``POST /api/lint`` over HTTP: saving, auditing, roles, limits, findings."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from composer.extensions import db
from composer.models import AuditEvent, Incident, NoticeVersion
from composer.notices import versions as notices
from tests.conftest import csrf_token, sign_in, user_by_email
from tests.web.test_wizard import fill_all, new_incident

SUBJECT = "Important information about your account"
PLAY_COM = (
    "Dear customer,\n\n"
    "A company that handles part of our marketing communications has had a security breach. "
    "Unfortunately this has meant that some customer names and email addresses may have been "
    "compromised. We take privacy and security very seriously. Please be assured we have taken "
    "every step. We apologise for any inconvenience.\n"
)


def lint(client: FlaskClient, token: str | None, payload: Any, **kwargs: Any) -> Any:
    headers = {"X-CSRFToken": token} if token else {}
    if "data" in kwargs:
        return client.post("/api/lint", headers=headers, **kwargs)
    return client.post("/api/lint", headers=headers, json=payload, **kwargs)


def save(
    client: FlaskClient, token: str, incident_id: int, body: str, subject: str = SUBJECT
) -> Any:
    return client.post(
        f"/incidents/{incident_id}/notice",
        data={"subject": subject, "body": body, "csrf_token": token},
    )


def version_events(app: Flask) -> list[AuditEvent]:
    with app.app_context():
        return list(
            db.session.scalars(
                sa.select(AuditEvent)
                .where(AuditEvent.action == "notice.version_created")
                .order_by(AuditEvent.seq)
            )
        )


def versions(app: Flask) -> list[NoticeVersion]:
    with app.app_context():
        return list(db.session.scalars(sa.select(NoticeVersion).order_by(NoticeVersion.id)))


@pytest.fixture
def author(client: FlaskClient, users: dict[str, int]) -> str:
    return sign_in(client, "author")


@pytest.fixture
def incident_id(client: FlaskClient, author: str) -> int:
    return new_incident(client, author, "Mailing supplier leak")


# The editor page and saving ----------------------------------------------------------------


def test_author_saves_the_notice_and_sees_its_findings(
    client: FlaskClient, author: str, incident_id: int, app: Flask
) -> None:
    page = client.get(f"/incidents/{incident_id}/notice").get_data(as_text=True)
    assert "Not saved yet." in page
    assert 'name="subject"' in page
    assert 'name="body"' in page
    assert ">Save</button>" in page
    assert ">Draft notice</button>" in page

    # A browser sends a textarea's line breaks as CRLF; they are stored as "\n".
    response = save(client, author, incident_id, PLAY_COM.replace("\n", "\r\n"))
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/incidents/{incident_id}/notice")

    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Saved as version 1." in page
    assert "Version 1" in page
    assert "by Ana" in page
    # The findings are on the page without JavaScript: the words, and the message.
    assert '<q class="finding__words">may have been compromised</q>' in page
    assert "Say what happened" in page
    # The textarea holds the text exactly (the newline after the tag is eaten by the parser).
    assert ">\nDear customer,\n\nA company" in page
    assert f'value="{SUBJECT}"' in page

    [version] = versions(app)
    assert version.incident_id == incident_id
    assert version.number == 1
    assert version.subject == SUBJECT
    assert version.body == PLAY_COM
    assert version.source == "edit"
    assert version.parent_id is None
    with app.app_context():
        saved = db.session.get(NoticeVersion, version.id)
        assert saved is not None
        assert saved.created_by.email == "ana@example.com"


def test_saving_is_audited_with_a_digest_not_the_text(
    client: FlaskClient, author: str, incident_id: int, app: Flask
) -> None:
    save(client, author, incident_id, PLAY_COM)
    second = PLAY_COM.replace("some customer names", "the names of 20,000 customers")
    client.post(
        f"/incidents/{incident_id}/notice",
        data={"subject": SUBJECT, "body": second, "parent": "1", "csrf_token": author},
    )

    events = version_events(app)
    assert len(events) == 2
    first_event, second_event = events
    assert first_event.subject_type == "incident"
    assert first_event.subject_id == str(incident_id)
    assert first_event.actor == "ana@example.com"
    assert first_event.before is None
    first_sha = hashlib.sha256(f"{SUBJECT}\n\n{PLAY_COM}".encode()).hexdigest()
    digest = {
        "version": 1,
        "sha256": first_sha,
        "subject_chars": len(SUBJECT),
        "body_chars": len(PLAY_COM),
    }
    assert first_event.after == {**digest, "source": "edit", "parent": None}
    assert second_event.before == digest
    assert second_event.after is not None
    assert second_event.after["version"] == 2
    assert second_event.after["parent"] == 1
    assert (
        second_event.after["sha256"]
        == hashlib.sha256(f"{SUBJECT}\n\n{second}".encode()).hexdigest()
    )
    for event in events:
        recorded = json.dumps([event.before, event.after])
        assert "marketing" not in recorded
        assert "customer" not in recorded
        assert "account" not in recorded


def test_saving_the_same_text_again_records_nothing(
    client: FlaskClient, author: str, incident_id: int, app: Flask
) -> None:
    save(client, author, incident_id, PLAY_COM)
    response = save(client, author, incident_id, PLAY_COM.replace("\n", "\r\n"))
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "No changes to save: the text is the same as version 1." in page
    assert len(version_events(app)) == 1
    assert len(versions(app)) == 1


def test_an_empty_save_is_refused_and_stores_nothing(
    client: FlaskClient, author: str, incident_id: int, app: Flask
) -> None:
    response = save(client, author, incident_id, "", subject="")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "The subject line is empty" in page
    assert "The notice text is empty" in page
    assert version_events(app) == []
    assert versions(app) == []


def test_a_notice_over_the_limit_is_refused_and_kept_on_screen(
    client: FlaskClient, author: str, incident_id: int, app: Flask
) -> None:
    app.config["LINT_MAX_CHARS"] = 200
    body = "We are sorry. " * 20  # 280 characters
    response = save(client, author, incident_id, body)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "The notice is 280 characters long; the limit is 200." in page
    assert "Nothing was saved" in page
    assert body in page
    assert f'value="{SUBJECT}"' in page
    assert "data-unsaved" in page
    assert version_events(app) == []


def test_save_version_refuses_a_long_body_with_a_typed_error(app: Flask, incident_id: int) -> None:
    with app.app_context():
        incident = db.session.get(Incident, incident_id)
        assert incident is not None
        author = user_by_email("ana@example.com")
        with pytest.raises(notices.NoticeInvalid) as raised:
            notices.save_version(
                db.session(), incident, subject=SUBJECT, body="x" * 11, by=author, max_body_chars=10
            )
        assert set(raised.value.errors) == {"body"}
        assert "11 characters long; the limit is 10" in raised.value.errors["body"]


def test_an_expired_form_token_keeps_the_text(
    client: FlaskClient, author: str, incident_id: int, app: Flask
) -> None:
    response = client.post(
        f"/incidents/{incident_id}/notice",
        data={"subject": "Typed subject", "body": "Text typed before the token expired."},
        headers={"Origin": "http://localhost"},  # from this site's page, as a browser says
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "was not saved yet" in page
    assert "Text typed before the token expired." in page
    assert 'value="Typed subject"' in page
    assert version_events(app) == []


def test_the_incident_list_and_fact_sheet_link_to_the_editor(
    client: FlaskClient, author: str, incident_id: int
) -> None:
    url = f"/incidents/{incident_id}/notice"
    listing = client.get("/incidents/").get_data(as_text=True)
    assert f'href="{url}">Write<span class="visually-hidden"> the notice for' in listing
    sheet = client.get(f"/incidents/{incident_id}/summary").get_data(as_text=True)
    assert f'href="{url}"' in sheet
    assert f'action="{url}/draft"' in sheet
    assert ">Draft notice</button>" in sheet
    save(client, author, incident_id, PLAY_COM)
    listing = client.get("/incidents/").get_data(as_text=True)
    assert f'href="{url}">Edit<span' in listing
    assert "version 1</span>" in listing
    sheet = client.get(f"/incidents/{incident_id}/summary").get_data(as_text=True)
    assert "Edit the notice" in sheet
    assert ">Draft notice</button>" not in sheet


# Roles -------------------------------------------------------------------------------------


def test_approvers_and_admins_read_but_cannot_save(
    client: FlaskClient, author: str, incident_id: int, app: Flask
) -> None:
    save(client, author, incident_id, PLAY_COM)
    client.post("/logout", data={"csrf_token": author})
    for who in ("approver", "admin"):
        token = sign_in(client, who)
        page = client.get(f"/incidents/{incident_id}/notice")
        assert page.status_code == 200
        text = page.get_data(as_text=True)
        assert re.search(r"<textarea[^>]*\breadonly\b", text), who
        assert re.search(r'<input type="text" id="notice-subject"[^>]*\breadonly\b', text), who
        assert ">Save</button>" not in text
        assert "Draft again from facts" not in text
        assert "Only authors can change it." in text
        assert "may have been compromised" in text
        assert "data-readonly" in text
        assert save(client, token, incident_id, "Changed by someone else.").status_code == 403
        draft = client.post(f"/incidents/{incident_id}/notice/draft", data={"csrf_token": token})
        assert draft.status_code == 403
        client.post("/logout", data={"csrf_token": token})
    assert [v.body for v in versions(app)] == [PLAY_COM]
    assert len(version_events(app)) == 1


def test_signed_out_visitors_are_sent_to_sign_in(
    client: FlaskClient, users: dict[str, int]
) -> None:
    token = csrf_token(client)  # from the sign-in page, so the POST gets past the CSRF check
    for response in (
        client.get("/incidents/1/notice"),
        client.post(
            "/incidents/1/notice", data={"subject": "Hi", "body": "Hello.", "csrf_token": token}
        ),
    ):
        assert response.status_code == 302
        assert "/login" in response.headers["Location"]


def test_unknown_incident_editor_is_404(client: FlaskClient, author: str) -> None:
    assert client.get("/incidents/999/notice").status_code == 404


# POST /api/lint ----------------------------------------------------------------------------


def test_lint_returns_findings_whose_offsets_quote_the_text(
    client: FlaskClient, author: str
) -> None:
    # Curly quotes, an emoji and accents: offsets are code points into the exact text given.
    curly = PLAY_COM.replace("We take", "We\u2019ve said \u201cwe take")
    text = "Note 📧 for café users:\n\n" + curly
    response = lint(client, author, {"text": text})
    assert response.status_code == 200
    assert response.is_json
    body = response.get_json()
    assert set(body) == {"findings", "stats"}
    findings = body["findings"]
    assert findings
    for finding in findings:
        assert text[finding["start"] : finding["end"]] == finding["text"], finding
        assert finding["severity"] in ("error", "warning", "suggestion")
    quoted = {f["text"] for f in findings}
    assert "may have been compromised" in quoted
    assert any("customer names" in q for q in quoted)
    stats = body["stats"]
    for key in ("words", "sentences", "grade", "reading_ease", "errors", "warnings"):
        assert key in stats
    assert stats["warnings"] == sum(f["severity"] == "warning" for f in findings)


def test_lint_without_the_csrf_header_is_refused(client: FlaskClient, author: str) -> None:
    response = lint(client, None, {"text": "Some customers may have been affected."})
    assert response.status_code == 400
    assert response.is_json
    assert "X-CSRFToken" in response.get_json()["error"]
    response = lint(client, "not-the-token", {"text": "Some customers."})
    assert response.status_code == 400
    assert response.is_json


def test_lint_needs_a_signed_in_user(client: FlaskClient, users: dict[str, int]) -> None:
    response = client.post("/api/lint", json={"text": "Hello."})
    assert response.status_code == 401
    assert response.is_json
    assert "Sign in" in response.get_json()["error"]


def test_lint_refuses_text_over_the_limit_with_413(client: FlaskClient, author: str) -> None:
    response = lint(client, author, {"text": "a" * 50_001})
    assert response.status_code == 413
    body = response.get_json()
    assert body["limit"] == 50_000
    assert "50,001 characters" in body["error"]
    assert "at most 50,000 characters" in body["error"]
    assert lint(client, author, {"text": "word " * 10_000}).status_code == 200


def test_the_limit_is_configurable_and_bodies_too_big_to_read_get_json_too(
    client: FlaskClient, author: str, app: Flask
) -> None:
    app.config["LINT_MAX_CHARS"] = 100
    response = lint(client, author, {"text": "b" * 101})
    assert response.status_code == 413
    assert "at most 100 characters" in response.get_json()["error"]
    app.config["MAX_CONTENT_LENGTH"] = 1000
    response = lint(client, author, {"text": "c" * 2000})
    assert response.status_code == 413
    assert response.is_json
    assert "at most 100 characters" in response.get_json()["error"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"data": "{not json", "content_type": "application/json"}, "JSON object"),
        ({"data": "text=hello", "content_type": "application/x-www-form-urlencoded"}, "JSON"),
        ({"data": '["a list"]', "content_type": "application/json"}, "JSON object"),
        ({"data": "{}", "content_type": "application/json"}, '"text" is required'),
        ({"data": '{"text": 12}', "content_type": "application/json"}, '"text" is required'),
        ({"data": '{"text": null}', "content_type": "application/json"}, '"text" is required'),
        ({"data": '{"text": "a \\ud800 b"}', "content_type": "application/json"}, "Unicode"),
        (
            {"data": '{"text": "Hi.", "incident_id": "3"}', "content_type": "application/json"},
            '"incident_id"',
        ),
        (
            {"data": '{"text": "Hi.", "incident_id": true}', "content_type": "application/json"},
            '"incident_id"',
        ),
    ],
)
def test_lint_bad_requests_are_400_json(
    client: FlaskClient, author: str, kwargs: dict[str, str], message: str
) -> None:
    response = lint(client, author, None, **kwargs)
    assert response.status_code == 400
    assert response.is_json
    assert message in response.get_json()["error"]


def test_lint_unknown_incident_is_404_json(client: FlaskClient, author: str) -> None:
    response = lint(client, author, {"text": "Hello.", "incident_id": 999})
    assert response.status_code == 404
    assert response.get_json() == {"error": "There is no incident number 999."}


def test_other_api_errors_are_json(client: FlaskClient, author: str) -> None:
    response = client.get("/api/lint")
    assert response.status_code == 405
    assert response.is_json
    assert client.get("/api/nothing-here").is_json


def test_lint_switches_come_from_configuration(
    client: FlaskClient, author: str, app: Flask
) -> None:
    app.config["LINT_DISABLED"] = ["hedge"]
    app.config["LINT_EXCEPTIONS"] = "compromised"
    response = lint(client, author, {"text": "Some customer names may have been compromised."})
    categories = {f["category"] for f in response.get_json()["findings"]}
    assert "hedge" not in categories
    assert "jargon" not in categories
    assert "vague-scope" in categories
    assert app.extensions["composer.linter"].config.disabled == frozenset({"hedge"})


@pytest.mark.skipif(
    importlib.util.find_spec("composer.lint.factcheck") is None,
    reason="composer/lint/factcheck.py (checks against the incident's facts) is not there yet",
)
def test_lint_with_an_incident_checks_against_its_facts(
    client: FlaskClient, author: str, incident_id: int
) -> None:
    fill_all(client, author, incident_id)  # names, email addresses and hashed passwords
    text = (
        "On 1 November a criminal copied the names of 95,000 customers from our mailing "
        "supplier, Acme Mail Ltd. Call 0800 123 4567 or email help@example.com.\n"
    )
    alone = lint(client, author, {"text": text, "incident_id": None}).get_json()
    with_facts = lint(client, author, {"text": text, "incident_id": incident_id}).get_json()
    assert "missing-element" not in {f["category"] for f in alone["findings"]}
    missing = [f for f in with_facts["findings"] if f["category"] == "missing-element"]
    assert missing, with_facts["findings"]
    # Passwords are in the facts and not in the text.
    assert any("password" in f["message"].lower() for f in missing), missing

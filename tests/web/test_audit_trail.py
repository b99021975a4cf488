"""An incident's audit trail over HTTP: the page, the fact sheet's excerpt, the evidence pack
downloads, who may see and download what, formula-safe CSV, and tampering shown on screen."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape

from composer import audit
from composer.extensions import db
from composer.models import AuditEvent
from composer.support.csv_safe import FORMULA_TRIGGERS
from tests.conftest import sign_in, user_by_email
from tests.test_audit import drop_guards
from tests.web.test_wizard import new_incident

HOSTILE_TITLE = "=cmd|' /C calc'!A0"
HOSTILE_ACTOR = "@SUM(1)"


@pytest.fixture
def incident_id(app: Flask, users: dict[str, int]) -> int:
    author = app.test_client()
    token = sign_in(author, "author")
    incident_id = new_incident(author, token, "Mailing supplier leak")
    response = author.post(
        f"/incidents/{incident_id}/notice",
        data={
            "subject": "We lost control of your email address",
            "body": "On 3 May a criminal copied the email addresses of our customers.\n",
            "csrf_token": token,
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    return incident_id


def record(app: Flask, incident_id: int, action: str, **fields: Any) -> None:
    with app.app_context():
        audit.record(
            db.session(),
            actor=None,
            actor_label=fields.pop("actor_label", "test"),
            action=action,
            subject_type="incident",
            subject_id=incident_id,
            after=fields or None,
        )
        db.session.commit()


def incident_events(app: Flask, incident_id: int) -> list[AuditEvent]:
    with app.app_context():
        return list(
            db.session.scalars(
                sa.select(AuditEvent)
                .where(AuditEvent.subject_type == "incident")
                .where(AuditEvent.subject_id == str(incident_id))
                .order_by(AuditEvent.seq)
            )
        )


def logged(app: Flask) -> int:
    """Events in the whole log (sign-ins and accounts included)."""
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) or 0


def rows_of(response: Any) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True), newline="")))


def test_page_lists_the_trail_newest_first_in_the_readers_timezone(
    app: Flask, client: FlaskClient, incident_id: int
) -> None:
    with app.app_context():
        user_by_email("ana@example.com").timezone = "America/New_York"
        db.session.commit()
    record(app, incident_id, "review.approved", version=1, approvals=1, required=1)
    sign_in(client, "author")
    response = client.get(f"/incidents/{incident_id}/audit")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    text = html.unescape(page)
    events = incident_events(app, incident_id)
    assert [e.action for e in events] == [
        "incident.created",
        "notice.version_created",
        "review.approved",
    ]
    # Newest first, each in plain words.
    approved = text.index("Approved version 1 (1 of 1 approvals)")
    saved = text.index("Version 1 saved (sha256 ")
    created = text.index("Incident “Mailing supplier leak” created")
    assert approved < saved < created
    assert "Notice version saved" in text
    assert f"Audit log intact: {logged(app)} events checked." in text
    # Short hashes, with the full one on hover.
    for e in events:
        assert f'<code title="{e.hash}">{e.hash[:12]}</code>' in page
    local = events[0].at.astimezone(ZoneInfo("America/New_York"))
    assert f"{local.day} {local:%b %Y, %H:%M} E" in text  # EST or EDT
    # Authors can read the trail but not download the pack.
    assert "Approvers and admins can download" in text
    assert f"/incidents/{incident_id}/audit.csv" not in page


def test_fact_sheet_shows_the_latest_ten_events_and_links_to_the_trail(
    app: Flask, client: FlaskClient, incident_id: int
) -> None:
    for n in range(10):
        record(app, incident_id, "review.commented", version=1, comment=f"Comment number {n}")
    sign_in(client, "approver")
    page = html.unescape(client.get(f"/incidents/{incident_id}/summary").get_data(as_text=True))
    assert "Full audit trail" in page
    assert f'href="/incidents/{incident_id}/audit"' in page
    assert "Showing the latest 10 of 12 events." in page
    assert "Comment on version 1: “Comment number 9”" in page
    assert "Comment on version 1: “Comment number 0”" in page
    # The two oldest events are left for the full trail.
    assert "Version 1 saved" not in page
    assert "Incident “Mailing supplier leak” created" not in page


@pytest.mark.parametrize("who", ["approver", "admin"])
def test_approvers_and_admins_download_the_csv_and_the_download_is_audited(
    app: Flask, client: FlaskClient, incident_id: int, who: str
) -> None:
    sign_in(client, who)
    page = client.get(f"/incidents/{incident_id}/audit").get_data(as_text=True)
    assert f'href="/incidents/{incident_id}/audit.csv"' in page
    assert f'href="/incidents/{incident_id}/audit.json"' in page

    response = client.get(f"/incidents/{incident_id}/audit.csv")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    disposition = response.headers["Content-Disposition"]
    assert re.fullmatch(
        rf'attachment; filename="incident-{incident_id}-evidence-\d{{4}}-\d\d-\d\d\.csv"',
        disposition,
    ), disposition
    rows = rows_of(response)
    assert [r["label"] for r in rows] == ["Incident created", "Notice version saved"]
    assert rows[1]["version"] == "1"

    email = {"approver": "lee@example.com", "admin": "ada@example.com"}[who]
    last = incident_events(app, incident_id)[-1]
    assert (last.action, last.actor, last.after) == (
        "evidence.exported",
        email,
        {"format": "csv", "events": 2},
    )
    # The next pack shows the earlier export.
    again = rows_of(client.get(f"/incidents/{incident_id}/audit.csv"))
    assert again[-1]["summary"] == "Evidence pack exported as CSV (2 events)"
    assert again[-1]["actor"] == email


def test_json_pack_hashes_recompute_and_the_chain_is_reported(
    app: Flask, client: FlaskClient, incident_id: int
) -> None:
    sign_in(client, "admin")
    before = logged(app)
    response = client.get(f"/incidents/{incident_id}/audit.json")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert response.headers["Content-Disposition"].endswith('.json"')
    pack = response.get_json()
    assert pack["incident"] == {"id": incident_id, "title": "Mailing supplier leak"}
    assert pack["generated_by"] == "ada@example.com"
    assert pack["chain"] == {"ok": True, "events": before, "problems": []}
    assert len(pack["events"]) == 2
    for doc in pack["events"]:
        rebuilt = AuditEvent(
            seq=doc["seq"],
            at=datetime.fromisoformat(doc["at"]),
            actor_id=doc["actor_id"],
            actor=doc["actor"],
            action=doc["action"],
            subject_type=doc["subject_type"],
            subject_id=doc["subject_id"],
            before=doc["before"],
            after=doc["after"],
            prev_hash=doc["prev_hash"],
        )
        assert audit.event_hash(rebuilt) == doc["hash"]
    assert "criminal copied" not in response.get_data(as_text=True)


def test_hostile_text_comes_out_of_the_csv_as_text(
    app: Flask, client: FlaskClient, users: dict[str, int]
) -> None:
    author = app.test_client()
    incident_id = new_incident(author, sign_in(author, "author"), HOSTILE_TITLE)
    record(app, incident_id, "review.commented", actor_label=HOSTILE_TITLE, comment="hi")
    record(app, incident_id, HOSTILE_ACTOR, actor_label=HOSTILE_ACTOR)
    sign_in(client, "approver")
    rows = rows_of(client.get(f"/incidents/{incident_id}/audit.csv"))
    assert rows[0]["details"].startswith("{")
    assert HOSTILE_TITLE in rows[0]["details"]
    assert rows[1]["actor"] == "'" + HOSTILE_TITLE
    assert rows[2]["actor"] == "'" + HOSTILE_ACTOR
    assert rows[2]["action"] == "'" + HOSTILE_ACTOR
    assert rows[2]["label"] == "'" + HOSTILE_ACTOR
    for row in rows:
        for cell in row.values():
            assert not cell or cell.lstrip()[:1] not in FORMULA_TRIGGERS, cell
    # The page shows the same text as it was typed, escaped.
    page = client.get(f"/incidents/{incident_id}/audit").get_data(as_text=True)
    assert str(escape(HOSTILE_TITLE)) in page


def test_who_may_see_and_download(
    app: Flask, client: FlaskClient, incident_id: int, users: dict[str, int]
) -> None:
    for path in ("audit", "audit.csv", "audit.json"):
        response = client.get(f"/incidents/{incident_id}/{path}")
        assert response.status_code == 302
        assert "/login" in response.headers["Location"]
    sign_in(client, "author")
    assert client.get(f"/incidents/{incident_id}/audit").status_code == 200
    assert client.get(f"/incidents/{incident_id}/audit.csv").status_code == 403
    assert client.get(f"/incidents/{incident_id}/audit.json").status_code == 403
    assert [e.action for e in incident_events(app, incident_id)][-1] != "evidence.exported"
    approver = app.test_client()
    sign_in(approver, "approver")
    for path in ("audit", "audit.csv", "audit.json"):
        missing = approver.get(f"/incidents/999/{path}")
        assert missing.status_code == 404
        assert "There is no incident number 999" in missing.get_data(as_text=True)


def test_tampering_is_shown_prominently_and_in_the_pack(
    app: Flask, client: FlaskClient, incident_id: int
) -> None:
    created = incident_events(app, incident_id)[0]
    with app.app_context():
        drop_guards()
        db.session.execute(
            sa.text("UPDATE audit_event SET actor = 'mallory' WHERE seq = :seq"),
            {"seq": created.seq},
        )
        db.session.commit()
    sign_in(client, "approver")
    page = html.unescape(client.get(f"/incidents/{incident_id}/audit").get_data(as_text=True))
    assert "Audit log intact" not in page
    assert 'role="alert"' in page
    assert "Audit log check failed" in page
    problem = f"event {created.seq} (incident.created) was changed after it was written"
    assert problem in page
    pack = client.get(f"/incidents/{incident_id}/audit.json").get_json()
    assert pack["chain"]["ok"] is False
    assert problem in pack["chain"]["problems"]
    assert pack["events"][0]["actor"] == "mallory"

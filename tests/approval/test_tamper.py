"""Rewrites by someone with database write access (issue 15): sending refuses them, naming
what it found. Raw SQL throughout, dropping the database's own guards where they stand in the
way, as an attacker would; the suite runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from composer import approval
from composer.extensions import db
from composer.models import DevOutboxMessage, Incident, RunState, SendRun, User
from composer.notices import versions
from composer.settings import settings_of
from composer.workers.inprocess import worker_for
from tests.conftest import sign_in
from tests.sending.scenario import ApprovedSend, approved_send

PEOPLE = (
    "email,first_name,last_name,country,data_categories\n"
    "al@example.com,Al,Smith,GB,email\n"
    "bo@example.com,Bo,Jones,GB,email\n"
    "cy@example.com,Cy,Brown,GB,email\n"
)


@dataclass
class Sent:
    incident_id: int
    run_id: int | None


def _approved(app: Flask, users: dict[str, int], *, start: bool) -> Sent:
    with app.app_context():
        session = db.session()
        author, approver = session.get(User, users["author"]), session.get(User, users["approver"])
        assert author is not None
        assert approver is not None
        made: ApprovedSend = approved_send(
            session,
            PEOPLE,
            author=author,
            approver=approver,
            config=app.config,
            catalogue=app.extensions["composer.catalogue"],
            start=start,
        )
        return Sent(made.incident.id, made.run.id if made.run else None)


@pytest.fixture
def approved(app: Flask, users: dict[str, int]) -> Sent:
    app.config["SEND_WORKER"] = "none"
    return _approved(app, users, start=False)


def drop_guard(table: str) -> None:
    """Drop the triggers that refuse UPDATE on ``table``'s rows."""
    if db.engine.dialect.name == "sqlite":
        db.session.execute(sa.text(f"DROP TRIGGER IF EXISTS {table}_no_update"))
    else:
        db.session.execute(sa.text(f"DROP TRIGGER IF EXISTS {table}_immutable ON {table}"))
    db.session.commit()


def send_page(app: Flask, incident_id: int) -> str:
    client = app.test_client()
    sign_in(client, "admin")
    return client.get(f"/incidents/{incident_id}/send").get_data(as_text=True)


def release_problem(app: Flask, incident_id: int) -> str:
    """What the release check says (as the Send page, the sender and the CLI call it)."""
    with app.app_context():
        session = db.session()
        incident = session.get(Incident, incident_id)
        assert incident is not None
        version = versions.latest_version(session, incident)
        assert version is not None
        bundle = approval.incident_bundle(
            session,
            incident,
            version,
            settings=settings_of(app),
            catalogue=app.extensions["composer.catalogue"],
            today=date.today(),
        )
        with pytest.raises(approval.ApprovalError) as caught:
            approval.release_check(session, incident, bundle)
        return str(caught.value)


def test_an_untouched_approval_is_ready_to_send(app: Flask, approved: Sent, runner: Any) -> None:
    assert "Not ready to send" not in send_page(app, approved.incident_id)
    result = runner.invoke(args=["approval", "check", str(approved.incident_id)])
    assert result.exit_code == 0, result.output


def test_recipient_addresses_rewritten_after_approval_refuse_sending(
    app: Flask, approved: Sent, runner: Any
) -> None:
    with app.app_context():
        # The stored digest (RecipientList.digest) is left as it was: only the rows change.
        db.session.execute(
            sa.text("UPDATE recipient SET email = 'mallory@example.net' WHERE email = :e"),
            {"e": "bo@example.com"},
        )
        db.session.commit()
    expected = "was changed in the database after it was uploaded"
    page = send_page(app, approved.incident_id)
    assert "Not ready to send" in page
    assert expected in page
    assert "people.csv" in page
    result = runner.invoke(args=["approval", "check", str(approved.incident_id)])
    assert result.exit_code == 1
    assert expected in result.output


def test_the_sender_stops_a_run_whose_recipients_were_rewritten(
    app: Flask, users: dict[str, int]
) -> None:
    app.config["SEND_WORKER"] = "none"
    sent = _approved(app, users, start=True)
    with app.app_context():
        db.session.execute(
            sa.text("UPDATE recipient SET email = 'mallory@example.net' WHERE email = :e"),
            {"e": "bo@example.com"},
        )
        db.session.commit()
    sender = worker_for(app)
    for _ in range(3):
        sender.work_once()
    with app.app_context():
        run = db.session.get(SendRun, sent.run_id)
        assert run is not None
        assert run.state == RunState.STOPPED.value
        assert "was changed in the database after it was uploaded" in (run.message or "")
        # Stopped before its first batch: nobody got the notice, least of all the new address.
        assert db.session.scalars(sa.select(DevOutboxMessage.to_email)).all() == []


def test_a_version_and_its_review_records_rewritten_to_match_are_refused(
    app: Flask, approved: Sent, runner: Any
) -> None:
    with app.app_context():
        session = db.session()
        incident = session.get(Incident, approved.incident_id)
        assert incident is not None
        version = versions.latest_version(session, incident)
        assert version is not None
        drop_guard("notice_version")
        drop_guard("review_decision")
        body = "Dear {{ first_name }},\n\nNothing happened. Please ignore the press.\n"
        sha = versions.content_sha256(version.subject, body)
        session.execute(
            sa.text("UPDATE notice_version SET body = :b, sha256 = :s WHERE id = :i"),
            {"b": body, "s": sha, "i": version.id},
        )
        session.commit()
        session.expire_all()
        version = versions.latest_version(session, incident)
        assert version is not None
        bundle = approval.incident_bundle(
            session,
            incident,
            version,
            settings=settings_of(app),
            catalogue=app.extensions["composer.catalogue"],
            today=date.today(),
        )
        manifest = json.dumps(bundle.manifest())
        session.execute(
            sa.text("UPDATE review SET bundle_sha256 = :h, bundle_manifest = :m WHERE id = :r"),
            {"h": bundle.sha256, "m": manifest, "r": approval.current_review(session, incident).id},  # type: ignore[union-attr]
        )
        session.execute(
            sa.text("UPDATE review_decision SET bundle_sha256 = :h"), {"h": bundle.sha256}
        )
        session.commit()
    problem = release_problem(app, approved.incident_id)
    assert "the approval of version 1 by lee@example.com" in problem
    assert "does not match its signature (its signature does not match)" in problem
    page = send_page(app, approved.incident_id)
    assert "Not ready to send" in page
    assert "does not match its signature" in page
    result = runner.invoke(args=["approval", "check", str(approved.incident_id)])
    assert result.exit_code == 1
    assert "does not match its signature" in result.output


def test_an_approval_whose_signature_was_removed_is_refused(app: Flask, approved: Sent) -> None:
    with app.app_context():
        drop_guard("review_decision")
        db.session.execute(sa.text("UPDATE review_decision SET signature = NULL"))
        db.session.commit()
    assert "does not match its signature (it has no signature)" in release_problem(
        app, approved.incident_id
    )


def test_an_approver_swapped_in_the_database_is_refused(
    app: Flask, approved: Sent, users: dict[str, int]
) -> None:
    from composer.models import Role
    from tests.conftest import make_user

    other = make_user(app, "liz@example.com", Role.APPROVER)
    with app.app_context():
        drop_guard("review_decision")
        db.session.execute(sa.text("UPDATE review_decision SET user_id = :u"), {"u": other})
        db.session.commit()
    assert "by liz@example.com" in release_problem(app, approved.incident_id)


def test_the_sender_recounts_a_running_send_and_stops_it(app: Flask, users: dict[str, int]) -> None:
    app.config["SEND_WORKER"] = "none"
    sent = _approved(app, users, start=True)
    with app.app_context():
        run = db.session.get(SendRun, sent.run_id)
        assert run is not None
        run.batch_size = 1
        db.session.commit()
    sender = worker_for(app)
    sender.work_once()  # checks (and recounts), then sends one batch of one
    with app.app_context():
        db.session.execute(
            sa.text("UPDATE recipient SET email = 'mallory@example.net' WHERE email = :e"),
            {"e": "cy@example.com"},
        )
        db.session.commit()
    sender.recheck_seconds = sender.recount_seconds = 0.0  # the re-check is due now
    for _ in range(3):
        sender.work_once()
    with app.app_context():
        run = db.session.get(SendRun, sent.run_id)
        assert run is not None
        assert run.state == RunState.STOPPED.value
        assert "was changed in the database after it was uploaded" in (run.message or "")
        sent_to = db.session.scalars(sa.select(DevOutboxMessage.to_email)).all()
        assert len(sent_to) == 1
        assert "mallory@example.net" not in sent_to

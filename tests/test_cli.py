"""The flask commands: accounts, demo accounts, facts and audit verification."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from flask import Flask

from composer.extensions import db
from composer.models import Role, User
from tests.conftest import sign_in
from tests.sample_answers import STEP_FORMS


def test_create_user_with_prompted_password(app: Flask, runner: Any) -> None:
    password = "a long enough password"
    result = runner.invoke(
        args=["create-user", "Kim@Example.com", "--role", "approver", "--role", "author"],
        input=f"{password}\n{password}\n",
    )
    assert result.exit_code == 0, result.output
    assert "Created kim@example.com with roles: approver, author." in result.output
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.email == "kim@example.com"))
        assert user is not None
        assert user.roles == {Role.APPROVER, Role.AUTHOR}
        assert password not in result.output


def test_create_user_refuses_weak_password_and_unknown_role(runner: Any) -> None:
    result = runner.invoke(
        args=["create-user", "kim@example.com", "--role", "author"], input="short\nshort\n"
    )
    assert result.exit_code == 1
    assert "at least 12 characters" in result.output
    result = runner.invoke(args=["create-user", "kim@example.com", "--role", "king"])
    assert result.exit_code == 2
    assert "'king' is not one of" in result.output


def test_demo_accounts_are_made_and_printed_only_once(app: Flask, runner: Any) -> None:
    first = runner.invoke(args=["demo-accounts"])
    assert first.exit_code == 0
    for email, role in (("author", "author"), ("approver", "approver"), ("admin", "admin")):
        assert f"{email}@example.com" in first.output
        assert role in first.output
    password = first.output.splitlines()[1].split()[1]
    second = runner.invoke(args=["demo-accounts"])
    assert "no demo accounts were made" in second.output
    assert password not in second.output
    client = app.test_client()
    sign_in(client, "author@example.com", password)


def test_facts_command_prints_the_same_document_as_the_web(
    app: Flask, runner: Any, users: dict[str, int]
) -> None:
    client = app.test_client()
    token = sign_in(client, "author")
    location = client.post("/incidents/", data={"title": "Leak", "csrf_token": token}).headers[
        "Location"
    ]
    incident_id = int(location.split("/")[2])
    for step, form in STEP_FORMS.items():
        client.post(f"/incidents/{incident_id}/steps/{step}", data={**form, "csrf_token": token})
    result = runner.invoke(args=["facts", str(incident_id)])
    assert result.exit_code == 0, result.output
    assert (
        json.loads(result.output) == client.get(f"/incidents/{incident_id}/facts.json").get_json()
    )
    missing = runner.invoke(args=["facts", "999"])
    assert missing.exit_code == 1
    assert "There is no incident number 999" in missing.output


def test_audit_verify_exit_codes(app: Flask, runner: Any, users: dict[str, int]) -> None:
    ok = runner.invoke(args=["audit", "verify"])
    assert ok.exit_code == 0
    assert "Audit chain intact: 3 events." in ok.output
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            db.session.execute(sa.text("DROP TRIGGER audit_event_no_update"))
        else:
            db.session.execute(sa.text("DROP TRIGGER audit_event_append_only ON audit_event"))
        db.session.execute(sa.text("UPDATE audit_event SET after = NULL WHERE seq = 1"))
        db.session.commit()
    broken = runner.invoke(args=["audit", "verify"])
    assert broken.exit_code == 1
    assert "event 1 (user.created) was changed after it was written" in broken.output

"""The command line: one group behind ``python -m composer`` and ``flask --app composer``;
the app commands for accounts, demo accounts, facts and audit verification."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

import composer
from composer import cli
from composer.__main__ import main
from composer.extensions import db
from composer.models import Role, User
from tests.conftest import sign_in
from tests.paths import REPO_ROOT
from tests.sample_answers import STEP_FORMS

#: What ``flask`` itself adds to every app's command line.
FLASK_OWN_COMMANDS = {"routes", "run", "shell"}


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


def _listed_commands(help_text: str) -> set[str]:
    listing = help_text.split("Commands:", 1)[1]
    return set(re.findall(r"^  (\S+)", listing, flags=re.MULTILINE))


def _environment(tmp_path: Path, **settings: str) -> dict[str, str]:
    """The process environment with the app's database, keys and checkpoint under tmp_path."""
    env = dict(os.environ)
    env.update(
        COMPOSER_SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'unused.sqlite3'}",
        COMPOSER_SECRET_KEY="cli-test",
        COMPOSER_AUDIT_SIGNING_KEY="test-audit-signing-key-not-for-production",
        COMPOSER_AUDIT_CHECKPOINT_FILE=str(tmp_path / "audit_checkpoint.json"),
        COMPOSER_SEND_WORKER="none",
    )
    env.update({f"COMPOSER_{name}": value for name, value in settings.items()})
    return env


def test_python_dash_m_and_flask_list_the_same_commands(tmp_path: Path) -> None:
    env = _environment(tmp_path)
    python_m, flask = (
        subprocess.run(
            [sys.executable, "-m", *program, "--help"],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for program in (["composer"], ["flask", "--app", "composer"])
    )
    ours = _listed_commands(python_m)
    assert {"lint", "draft", "render", "create-user", "audit", "send", "letters", "db"} <= ours
    assert ours == _listed_commands(flask) - FLASK_OWN_COMMANDS
    assert not (tmp_path / "unused.sqlite3").exists()


def test_app_commands_run_from_python_dash_m_in_an_app_made_for_them(
    app: Flask, capsys: pytest.CaptureFixture[str]
) -> None:
    made: list[Flask] = []

    def create_app() -> Flask:
        made.append(app)
        return app

    status = cli.run(
        ["create-user", "lee@example.com", "--role", "author", "--generate-password"],
        create_app=create_app,
    )
    assert status == 0
    assert "Created lee@example.com with roles: author." in capsys.readouterr().out
    assert made == [app]
    assert cli.run(["facts", "999"], create_app=create_app) == 1
    assert "There is no incident number 999." in capsys.readouterr().err


def test_lint_and_draft_create_no_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def refuse() -> None:
        raise AssertionError("lint and draft must not create the app")

    monkeypatch.setattr(composer, "create_app", refuse)
    notice = tmp_path / "notice.txt"
    notice.write_text("On 3 May a criminal copied your name and email address.\n")
    assert main(["lint", str(notice)]) == 0
    facts = REPO_ROOT / "tests" / "rendering" / "facts" / "supplier.json"
    assert main(["draft", "--facts", str(facts), "--company", "Example Shop"]) == 0
    assert capsys.readouterr().out.count("Subject: ") == 1


def test_python_dash_m_composer_lint_needs_no_database(tmp_path: Path) -> None:
    # Settings the app refuses to start with, and a database that does not answer: a lint run
    # that made the app or opened the database would fail.
    env = _environment(
        tmp_path,
        SQLALCHEMY_DATABASE_URI="postgresql+psycopg://nobody@127.0.0.1:9/nothing",
        SEND_THREADS="0",
    )
    notice = tmp_path / "notice.txt"
    notice.write_text("Failure to reset your password will result in your account being closed.\n")
    proc = subprocess.run(
        [sys.executable, "-m", "composer", "lint", "--format", "jsonl", str(notice)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert json.loads(proc.stdout)["file"] == str(notice)
    failing = subprocess.run(
        [sys.executable, "-m", "composer", "facts", "1"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert failing.returncode != 0
    assert "SEND_THREADS must be a whole number" in failing.stderr

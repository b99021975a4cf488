"""Fixtures: an app on a fresh, fully migrated database per test (SQLite or PostgreSQL)."""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade

from composer import create_app
from composer.accounts import create_user
from composer.extensions import db
from composer.models import Role, User

PASSWORD = "correct horse battery staple"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        choices=["sqlite", "postgresql"],
        default="sqlite",
        help="Database for the suite; postgresql needs COMPOSER_TEST_POSTGRES_URL.",
    )


def base_config(tmp_path: Path, uri: str) -> dict[str, Any]:
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key-not-for-production",
        "SQLALCHEMY_DATABASE_URI": uri,
        # Cheap hashing keeps the suite fast; production uses the Defaults.
        "PASSWORD_HASH_TIME_COST": 1,
        "PASSWORD_HASH_MEMORY_KIB": 1024,
        "PASSWORD_HASH_PARALLELISM": 1,
        # Mail stays in the database whatever the environment says; a test that picks
        # SendGrid must also set SENDGRID_HOST to its own local server.
        "MAIL_GATEWAY": "outbox",
        "SENDGRID_API_KEY": "",
        "SENDGRID_HOST": "http://127.0.0.1:9",
        # No sending thread unless a test asks for one (the browser tests' live server does).
        "SEND_WORKER": "none",
        # Each test's audit checkpoint beside its own database, not in the shared instance/.
        "AUDIT_SIGNING_KEY": "test-audit-signing-key-not-for-production",
        "AUDIT_CHECKPOINT_FILE": str(tmp_path / "audit_checkpoint.json"),
    }


def _migrated_template(uri: str, tmp: Path) -> None:
    app = create_app(base_config(tmp, uri))
    with app.app_context():
        upgrade()
        db.engine.dispose()


@pytest.fixture(scope="session")
def database_factory(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    """Returns a function giving a fresh migrated database URI for each test."""
    backend = request.config.getoption("--db")
    tmp = tmp_path_factory.mktemp("db")
    if backend == "sqlite":
        template = tmp / "template.sqlite3"
        _migrated_template(f"sqlite:///{template}", tmp)

        def make_sqlite(path: Path) -> str:
            target = path / "test.sqlite3"
            shutil.copyfile(template, target)
            return f"sqlite:///{target}"

        yield make_sqlite
        return

    server_url = os.environ.get("COMPOSER_TEST_POSTGRES_URL")
    if not server_url:
        pytest.exit("--db=postgresql needs COMPOSER_TEST_POSTGRES_URL", returncode=2)
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    base = sa.engine.make_url(server_url)
    template_name = f"composer_tpl_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{template_name}"'))
    _migrated_template(base.set(database=template_name).render_as_string(False), tmp)
    made: list[str] = []

    def make_postgres(_path: Path) -> str:
        name = f"composer_t_{uuid.uuid4().hex[:10]}"
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"'))
        made.append(name)
        return base.set(database=name).render_as_string(False)

    yield make_postgres
    with admin.connect() as conn:
        for name in [*made, template_name]:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def app(database_factory: Any, tmp_path: Path) -> Iterator[Flask]:
    app = create_app(base_config(tmp_path, database_factory(tmp_path)))
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> Any:
    return app.test_cli_runner()


def make_user(app: Flask, email: str, *roles: Role, password: str = PASSWORD) -> int:
    with app.app_context():
        user = create_user(
            db.session,
            app.extensions["composer.password_hasher"],
            email=email,
            display_name=email.split("@")[0].title(),
            password=password,
            roles=roles,
            created_by=None,
            actor_label="test",
        )
        db.session.commit()
        return user.id


@pytest.fixture
def users(app: Flask) -> dict[str, int]:
    return {
        "author": make_user(app, "ana@example.com", Role.AUTHOR),
        "approver": make_user(app, "lee@example.com", Role.APPROVER),
        "admin": make_user(app, "ada@example.com", Role.ADMIN),
    }


EMAILS = {"author": "ana@example.com", "approver": "lee@example.com", "admin": "ada@example.com"}
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(client: FlaskClient, url: str = "/login") -> str:
    page = client.get(url).get_data(as_text=True)
    match = CSRF_RE.search(page)
    assert match, f"no CSRF token on {url}"
    return match.group(1)


def sign_in(client: FlaskClient, who: str, password: str = PASSWORD) -> str:
    """Sign in through the real form; returns a CSRF token valid for the new session."""
    token = csrf_token(client)
    response = client.post(
        "/login", data={"email": EMAILS.get(who, who), "password": password, "csrf_token": token}
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    return csrf_token(client, "/incidents/")


def user_by_email(email: str) -> User:
    user = db.session.scalar(sa.select(User).where(User.email == email))
    assert user is not None
    return user

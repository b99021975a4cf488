"""SQLite allows one writer at a time, and a recipient import holds the write lock until it
commits. Other writes (a sign-in records an audit event) wait for it, up to
SQLITE_BUSY_TIMEOUT_SECONDS, instead of failing with "database is locked"; if the wait runs
out, the person gets a "busy, try again" page (503 with Retry-After), never a 500."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from composer import create_app
from composer.extensions import db
from composer.models import Incident, RecipientList, Role, User
from composer.recipients import lists
from tests.conftest import PASSWORD, base_config, csrf_token, make_user, sign_in
from tests.web.test_wizard import new_incident


@pytest.fixture(autouse=True)
def sqlite_only(request: pytest.FixtureRequest) -> None:
    if request.config.getoption("--db") != "sqlite":
        pytest.skip("the write lock held for a whole import is SQLite's")


class SlowCsv(io.RawIOBase):
    """A recipient file arriving slowly, as a large upload does: one line per read, and a
    pause of ``pause`` seconds after the first rows (the import then holds the write lock)."""

    def __init__(self, rows: int, pause: float) -> None:
        self.lines = [b"email,first_name\n"] + [
            f"person{n}@example.com,Person {n}\n".encode() for n in range(rows)
        ]
        self.pause = pause
        self.holding = threading.Event()
        self.served = 0

    def readable(self) -> bool:
        return True

    def readline(self, size: int | None = -1) -> bytes:
        if self.served == 3:
            self.holding.set()
            time.sleep(self.pause)
        if self.served >= len(self.lines):
            return b""
        self.served += 1
        return self.lines[self.served - 1]


def import_in_background(app: Flask, incident_id: int, stream: SlowCsv) -> threading.Thread:
    def run() -> None:
        with app.app_context():
            session = db.session()
            lists.import_csv(
                session,
                stream,  # type: ignore[arg-type]
                incident=session.get_one(Incident, incident_id),
                by=session.scalars(sa.select(User).where(User.email == "ana@example.com")).one(),
                categories={"email", "name"},
                filename="big.csv",
                max_bytes=10**9,
                chunk_rows=2,
                second_process_from_bytes=0,
            )
            session.commit()

    thread = threading.Thread(target=run)
    thread.start()
    assert stream.holding.wait(10), "the import never started"
    return thread


def sign_in_as_lee(client: FlaskClient) -> Any:
    token = csrf_token(client)
    return client.post(
        "/login", data={"email": "lee@example.com", "password": PASSWORD, "csrf_token": token}
    )


def lists_in(app: Flask) -> int:
    with app.app_context():
        return len(db.session.scalars(sa.select(RecipientList)).all())


def test_signing_in_during_a_large_import_waits_for_it_and_works(
    app: Flask, users: dict[str, int]
) -> None:
    author = app.test_client()
    incident_id = new_incident(author, sign_in(author, "author"))
    stream = SlowCsv(rows=20, pause=1.5)
    thread = import_in_background(app, incident_id, stream)
    started = time.monotonic()
    response = sign_in_as_lee(app.test_client())
    waited = time.monotonic() - started
    thread.join()
    assert response.status_code == 302, response.get_data(as_text=True)
    assert waited > 0.5  # it really did wait for the import's lock
    assert lists_in(app) == 1  # and the import was not disturbed


def test_every_connection_waits_30_seconds_by_default(app: Flask) -> None:
    with app.app_context():
        assert db.session.execute(sa.text("PRAGMA busy_timeout")).scalar() == 30_000
    other = sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"])  # outside the app too
    with other.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
    other.dispose()


@pytest.fixture
def impatient_app(database_factory: Callable[[Path], str], tmp_path: Path) -> Iterator[Flask]:
    config = base_config(tmp_path, database_factory(tmp_path))
    app = create_app({**config, "SQLITE_BUSY_TIMEOUT_SECONDS": 0.2})
    yield app
    with app.app_context():
        db.engine.dispose()


def test_when_the_wait_runs_out_the_page_says_busy_with_retry_after(
    impatient_app: Flask,
) -> None:
    app = impatient_app
    make_user(app, "ana@example.com", Role.AUTHOR)
    make_user(app, "lee@example.com", Role.APPROVER)
    author = app.test_client()
    incident_id = new_incident(author, sign_in(author, "author"))
    stream = SlowCsv(rows=20, pause=1.5)
    thread = import_in_background(app, incident_id, stream)
    response = sign_in_as_lee(app.test_client())
    thread.join()
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    page = response.get_data(as_text=True)
    assert "The database is busy" in page
    assert "Try again in a minute" in page
    assert lists_in(app) == 1
    # Once the import is done, the same sign-in works.
    assert sign_in_as_lee(app.test_client()).status_code == 302

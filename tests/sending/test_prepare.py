"""Pressing Send only makes the run; the worker writes its delivery rows in steps, with
progress on the page, and a crash or a cancel while preparing loses and repeats nothing. The
progress page says why a send is waiting."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import sessionmaker

from composer import create_app
from composer.delivery import control, ratelimit
from composer.delivery import preparing as preparation
from composer.extensions import db
from composer.models import AuditEvent, Delivery, RunState, SendRun, User, utcnow
from composer.workers.inprocess import worker_for
from tests.conftest import base_config, sign_in
from tests.sending.fake_sendgrid import running
from tests.sending.scenario import approved_send
from tests.sending.test_crash import start_celery_worker, start_worker, worker_env

PEOPLE = (
    "email,first_name,last_name,country,data_categories,address_line_1,city,postcode\n"
    "al@example.com,Al,Smith,GB,email,,,\n"
    "bo@example.com,Bo,Jones,IE,email,,,\n"
    ",Cy,Brown,GB,email,1 High Street,Leeds,LS1 1AA\n"
    "di@example.com,Di,Green,GB,email,,,\n"
    "ed@example.com,Ed,White,IE,email,,,\n"
)


@pytest.fixture
def incident_id(app: Flask, users: dict[str, int]) -> int:
    """An approved notice for PEOPLE (four by email, one by post), nothing started; the worker
    is driven by hand, two recipients a prepare step."""
    app.config.update(SEND_WORKER="none", SEND_PREPARE_ROWS=2)
    with app.app_context():
        made = approved_send(
            db.session(),
            PEOPLE,
            author=_user(users["author"]),
            approver=_user(users["approver"]),
            config=app.config,
            catalogue=app.extensions["composer.catalogue"],
            start=False,
        )
        return made.incident.id


def _user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    assert user is not None
    return user


def press_send(client: FlaskClient, incident_id: int, token: str) -> str:
    page = client.get(f"/incidents/{incident_id}/send").get_data(as_text=True)
    bundle = page.split('name="bundle_sha256" value="')[1][:64]
    response = client.post(
        f"/incidents/{incident_id}/send",
        data={"csrf_token": token, "bundle_sha256": bundle, "intent": "now", "confirm": "5"},
    )
    assert response.status_code == 302
    return str(response.headers["Location"])


def deliveries(app: Flask) -> list[tuple[int, str]]:
    with app.app_context():
        rows = db.session.execute(sa.select(Delivery.recipient_id, Delivery.state)).all()
        return [(r.recipient_id, r.state) for r in rows]


def started_events(app: Flask) -> list[dict[str, Any]]:
    with app.app_context():
        events = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "send.started")
        ).all()
        return [dict(e.after or {}) for e in events]


def test_send_returns_at_once_and_the_worker_prepares_with_progress_shown(
    app: Flask, incident_id: int
) -> None:
    client = app.test_client()
    token = sign_in(client, "admin")
    url = press_send(client, incident_id, token)
    # The request made the run and nothing else.
    assert deliveries(app) == []
    assert started_events(app) == []
    data = client.get(url + ".json").get_json()
    assert data["state"] == "preparing"
    assert data["waiting"] == "preparing"
    assert data["status"].startswith("Preparing: 0 of 5 recipients (nothing has been sent yet).")
    # A second press while preparing starts nothing more.
    again = client.post(
        f"/incidents/{incident_id}/send", data={"csrf_token": token, "bundle_sha256": "x"}
    )
    assert again.status_code == 302
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(SendRun)) == 1

    sender = worker_for(app)
    assert sender.work_once()  # one step: two recipients
    data = client.get(url + ".json").get_json()
    assert (data["state"], data["prepared"], data["to_prepare"]) == ("preparing", 2, 5)
    page = client.get(url).get_data(as_text=True)
    assert "Preparing: 2 of 5 recipients" in page
    # While preparing, the admin can pause it or cancel the whole send (nothing has gone out).
    assert re.search(r"/pause\"[^<]*>\s*<input[^>]*>\s*<button[^>]*>Pause<", page)
    assert ">Cancel the send<" in page
    assert "Cancel the rest" not in page

    for _ in range(10):
        sender.work_once()
    data = client.get(url + ".json").get_json()
    assert data["state"] == "finished"
    assert data["counts"]["accepted"] == 4
    assert data["counts"]["post"] == 1
    assert data["status"] is None
    assert sorted(r for r, _ in deliveries(app)) == sorted({r for r, _ in deliveries(app)})
    assert len(deliveries(app)) == 5
    (event,) = started_events(app)
    assert (event["by_email"], event["by_post"]) == (4, 1)


@pytest.fixture
def preparing(app: Flask, users: dict[str, int]) -> int:
    """A run of PEOPLE just made (as pressing Send makes it); its id."""
    with app.app_context():
        made = approved_send(
            db.session(),
            PEOPLE,
            author=_user(users["author"]),
            approver=_user(users["approver"]),
            config=app.config,
            catalogue=app.extensions["composer.catalogue"],
            start=False,
        )
        from composer.recipients.cohorts import latest_list

        recipient_list = latest_list(db.session(), made.incident)
        assert recipient_list is not None
        run = preparation.start_run(
            db.session(),
            made.incident,
            recipient_list,
            made.release,
            by=_user(users["admin"]),
        )
        db.session.commit()
        run_id = run.id
        db.session.remove()
    return run_id


def test_a_crash_inside_a_step_loses_the_step_and_the_restart_repeats_nothing(
    app: Flask, preparing: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    with app.app_context():
        assert preparation.prepare_step(db.session(), preparing, rows=2, now=utcnow())
        db.session.remove()

        # The worker dies after writing the next step's rows, before its commit.
        real_insert = preparation._insert_deliveries

        def insert_then_die(connection: Any, rows: list[tuple[object, ...]]) -> None:
            real_insert(connection, rows)
            raise KeyboardInterrupt("kill -9")

        monkeypatch.setattr(preparation, "_insert_deliveries", insert_then_die)
        with pytest.raises(KeyboardInterrupt):
            preparation.prepare_step(db.session(), preparing, rows=2, now=utcnow())
        db.session.remove()  # the process is gone: its transaction with it
        monkeypatch.undo()
        assert len(deliveries(app)) == 2

        # A new worker carries on from the committed step.
        preparation.prepare(db.session(), preparing, rows=2)
        run = db.session.get(SendRun, preparing)
        assert run is not None
        assert run.state == RunState.RUNNING.value
    rows = deliveries(app)
    assert len(rows) == 5
    assert len({r for r, _ in rows}) == 5
    assert sorted(s for _, s in rows) == ["post", "queued", "queued", "queued", "queued"]
    assert len(started_events(app)) == 1
    with app.app_context():  # nothing left to do: preparing again writes nothing
        assert not preparation.prepare_step(db.session(), preparing, rows=2, now=utcnow())
    assert len(deliveries(app)) == 5


def test_two_workers_on_the_same_step_write_it_once(app: Flask, preparing: int) -> None:
    """Worker A has read the cursor and its recipients; worker B writes that same step and
    commits before A does: A's step is refused and writes nothing."""
    with app.app_context():
        other = sessionmaker(bind=db.engine)()
        raced: list[bool] = []

        def b_first(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if statement.startswith("UPDATE send_run SET prepared_through") and not raced:
                raced.append(True)
                assert preparation.prepare_step(other, preparing, rows=2, now=utcnow())

        sa.event.listen(db.engine, "before_cursor_execute", b_first)
        try:
            assert not preparation.prepare_step(db.session(), preparing, rows=2, now=utcnow())
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", b_first)
            other.close()
        assert raced
        rows = deliveries(app)
        assert len(rows) == 2
        assert len({r for r, _ in rows}) == 2
        preparation.prepare(db.session(), preparing, rows=2)
    rows = deliveries(app)
    assert len(rows) == 5
    assert len({r for r, _ in rows}) == 5


def test_cancel_while_preparing_stops_it_and_nothing_is_sent(app: Flask, preparing: int) -> None:
    with app.app_context():
        assert preparation.prepare_step(db.session(), preparing, rows=2, now=utcnow())
        run = db.session.get(SendRun, preparing)
        assert run is not None
        control.cancel(db.session(), run, now=utcnow())
        db.session.commit()
        assert not preparation.prepare_step(db.session(), preparing, rows=2, now=utcnow())
        preparation.prepare(db.session(), preparing, rows=2)
        run = db.session.get(SendRun, preparing)
        assert run is not None
        assert run.state == RunState.CANCELLED.value
    rows = deliveries(app)
    assert len(rows) == 2
    assert {s for _, s in rows} == {"cancelled"}
    assert started_events(app) == []


def test_bad_input(app: Flask, preparing: int) -> None:
    with app.app_context():
        with pytest.raises(ValueError, match="at least one"):
            preparation.prepare_step(db.session(), preparing, rows=0, now=utcnow())
        assert not preparation.prepare_step(db.session(), 999_999, rows=2, now=utcnow())
    assert deliveries(app) == []


def test_the_page_says_why_a_send_is_waiting_and_until_when(
    app: Flask, users: dict[str, int], preparing: int
) -> None:
    app.config["SEND_WORKER"] = "none"
    with app.app_context():
        preparation.prepare(db.session(), preparing)
        run = db.session.get(SendRun, preparing)
        assert run is not None
        incident_id = run.incident_id
    client = app.test_client()
    sign_in(client, "admin")
    url = f"/incidents/{incident_id}/send/runs/{preparing}"

    def set_run(**values: Any) -> dict[str, Any]:
        with app.app_context():
            db.session.execute(sa.update(SendRun).where(SendRun.id == preparing).values(values))
            db.session.commit()
        data: dict[str, Any] = client.get(url + ".json").get_json()
        return data

    data = set_run(not_before=utcnow() + timedelta(seconds=30), failures=0)
    assert data["waiting"] == "gateway_rate_limit"
    assert "SendGrid asked us to slow down (429)" in data["status"]
    assert data["until"] is not None
    # The estimate counts the wait: 30 s before anything more can go.
    assert data["eta_seconds"] >= 29
    assert "SendGrid asked us to slow down" in client.get(url).get_data(as_text=True)

    data = set_run(failures=3)
    assert data["waiting"] == "backoff"
    assert "after 3 failed attempts in a row" in data["status"]

    data = set_run(state="paused", not_before=None, failures=0)
    assert data["waiting"] == "paused"
    assert "4 still queued" in data["status"]

    data = set_run(state="running")
    assert data["waiting"] is None
    assert data["status"] is None

    # Under a rate limit of 4 a second, with the next minute already reserved.
    app.config["SEND_RATE_PER_SECOND"] = 4
    with app.app_context():
        ratelimit.reserve(db.session(), 240, 4, now=utcnow())
    data = client.get(url + ".json").get_json()
    assert data["waiting"] == "rate_limit"
    assert "rate limit of 4 recipients a second" in data["status"]
    # The estimate is the rate's: 4 recipients left at 4 a second.
    assert data["eta_seconds"] == 1


def celery_env(app: Flask, env: dict[str, str]) -> dict[str, str] | None:
    """``env`` for Celery workers (Redis broker), or None where they cannot run (SQLite, or
    no Redis: the crash tests say the same)."""
    if not str(app.config["SQLALCHEMY_DATABASE_URI"]).startswith("postgresql"):
        return None
    redis_url = os.environ.get("COMPOSER_TEST_REDIS_URL")
    if not redis_url:
        if os.environ.get("CI"):
            pytest.fail("COMPOSER_TEST_REDIS_URL is not set: scripts/test starts Redis in CI")
        return None
    import redis

    redis.Redis.from_url(redis_url).flushdb()  # no tasks left over from an earlier run
    return dict(
        env,
        COMPOSER_SEND_WORKER="celery",
        COMPOSER_CELERY_BROKER_URL=redis_url,
        COMPOSER_CELERY_SEND_TASK_SECONDS="2",
        COMPOSER_CELERY_SEND_TASKS_PER_RUN="2",
        COMPOSER_CELERY_VISIBILITY_TIMEOUT_SECONDS="20",
    )


@pytest.mark.parametrize("kind", ["send work", "celery"])
def test_kill_9_while_preparing_loses_nothing_and_repeats_nothing(
    app: Flask, users: dict[str, int], kind: str
) -> None:
    """A real worker process (``flask send work``, or a Celery worker on PostgreSQL) killed
    three times mid-prepare; a fresh one carries on from the last committed step and sends
    everyone, once."""
    people = "email,first_name\n" + "".join(f"p{i}@example.com,P{i}\n" for i in range(6000))
    with app.app_context():
        made = approved_send(
            db.session(),
            people,
            author=_user(users["author"]),
            approver=_user(users["approver"]),
            config=app.config,
            catalogue=app.extensions["composer.catalogue"],
            start=False,
        )
        from composer.recipients.cohorts import latest_list

        recipient_list = latest_list(db.session(), made.incident)
        assert recipient_list is not None
        run_id = preparation.start_run(
            db.session(), made.incident, recipient_list, made.release, by=_user(users["admin"])
        ).id
        db.session.commit()
        db.session.remove()

    def prepared_through() -> tuple[str, int]:
        with app.app_context():
            row = db.session.execute(
                sa.select(SendRun.state, SendRun.prepared_through).where(SendRun.id == run_id)
            ).one()
            db.session.remove()
        return row.state, row.prepared_through or 0

    with running() as fake:
        env = worker_env(app, fake.url)
        env["COMPOSER_SEND_PREPARE_ROWS"] = "250"  # 24 steps
        if kind == "celery":
            found = celery_env(app, env)
            if found is None:
                pytest.skip("Celery workers run on PostgreSQL with Redis (scripts/test)")
            env = found

        def start() -> subprocess.Popen[bytes]:
            if kind == "celery":  # it queues tasks for preparing runs when it starts
                return start_celery_worker(env, "prepare")
            return start_worker(env)

        kills = 0
        for _ in range(3):
            before = prepared_through()[1]
            worker = start()
            deadline = time.monotonic() + 60
            try:
                while time.monotonic() < deadline:  # until it has written a step or more
                    state, through = prepared_through()
                    if state != "preparing" or through > before:
                        break
                    time.sleep(0.01)
            finally:
                worker.send_signal(signal.SIGKILL)
                worker.wait()
            kills += prepared_through()[0] == "preparing"
        assert kills >= 2, "the worker finished preparing before it was killed: proved little"
        last = start()
        if kind == "celery":  # Celery workers keep running: wait for the run to finish
            deadline = time.monotonic() + 120
            while prepared_through()[0] != "finished" and time.monotonic() < deadline:
                assert last.poll() is None, "the Celery worker exited"
                time.sleep(0.2)
            last.terminate()
        assert last.wait(timeout=120) == 0
        emails = [a.email for a in fake.accepted]
    recipients = [r for r, _ in deliveries(app)]
    assert len(recipients) == len(set(recipients)) == 6000
    assert len(emails) == len(set(emails)) == 6000
    assert len(started_events(app)) == 1


@pytest.mark.parametrize("value", [0, -5, "many", 2.5, True])
def test_a_bad_prepare_step_size_stops_start_up_naming_the_setting(
    tmp_path: Path, value: object
) -> None:
    config = base_config(tmp_path, f"sqlite:///{tmp_path / 'x.sqlite3'}")
    with pytest.raises(ValueError, match="SEND_PREPARE_ROWS must be a whole number"):
        create_app({**config, "SEND_PREPARE_ROWS": value})
    assert create_app({**config, "SEND_PREPARE_ROWS": "300"}).config["SEND_PREPARE_ROWS"]

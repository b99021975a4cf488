"""Crash test: ``kill -9`` the sending workers at random moments during a 20,000-recipient send,
with faults injected throughout (429 with reset, 5xx, time-outs, connection resets), restart
them, finish; the local SendGrid server's log shows every recipient accepted exactly once.

The fake server runs in its own process; worker processes are ``flask --app composer send work``
(the same dispatcher as the in-process worker), or Celery workers with a Redis broker; this
test process serves the app's Event Webhook, and a thread posts signed "processed" events for
what the fake accepted, as SendGrid would. On PostgreSQL (``--db=postgresql``) two workers run
at once, and the same test runs with two Celery workers (Redis started by scripts/test).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from composer.delivery import control
from composer.extensions import db
from composer.models import Delivery, DeliveryState, Role, RunState, SendRun, User, utcnow
from tests.browser.conftest import LiveServer
from tests.conftest import make_user, sign_in
from tests.paths import REPO_ROOT
from tests.sending.fake_sendgrid import (
    Accepted,
    acceptance_counts,
    generate_webhook_key,
    make_events,
    post_events,
    public_key_b64,
    start_process,
)
from tests.sending.scenario import approved_send

RECIPIENTS = 20_000
ROOT = REPO_ROOT


def people_csv(n: int) -> bytes:
    countries = ["GB", "IE", "FR"]
    rows = ["email,first_name,last_name,country,data_categories"]
    rows += [f"p{i}@example.com,Pat{i},Doe,{countries[i % 3]},email" for i in range(n)]
    return ("\n".join(rows) + "\n").encode()


def prepare(app: Flask, recipients: int = RECIPIENTS) -> int:
    """An approved notice, ``recipients`` (20,000) in 3 cohorts, and a started run."""
    with app.app_context():
        session = db.session()
        ana = session.get(User, make_user(app, "ana@example.com", Role.AUTHOR))
        lee = session.get(User, make_user(app, "lee@example.com", Role.APPROVER))
        assert ana is not None
        assert lee is not None
        made = approved_send(
            session,
            people_csv(recipients),
            author=ana,
            approver=lee,
            config=app.config,
            catalogue=app.extensions["composer.catalogue"],
        )
        assert made.run is not None
        return made.run.id


class EventPoster(threading.Thread):
    """Posts signed "processed" events for every recipient the fake has accepted, as SendGrid
    does, a few times a second."""

    def __init__(self, log_path: Path, url: str, key: object) -> None:
        super().__init__(daemon=True)
        self.log_path = log_path
        self.url = url
        self.key = key
        self.posted = 0
        self.offset = 0
        self.failed_posts = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            self.post_new()
            self.stopping.wait(0.2)

    def post_new(self) -> None:
        if not self.log_path.exists():
            return
        # Only the whole lines added since the last look (the fake appends and flushes).
        with self.log_path.open("rb") as log:
            log.seek(self.offset)
            data = log.read()
        complete = data[: data.rfind(b"\n") + 1]
        self.offset += len(complete)
        accepted = [Accepted(**json.loads(line)) for line in complete.splitlines() if line]
        for start in range(0, len(accepted), 1000):
            chunk = accepted[start : start + 1000]
            # SendGrid retries a post that fails (a busy database answers 500): so do we.
            for _ in range(100):
                try:
                    status = post_events(self.url, make_events(chunk, "processed"), self.key)  # type: ignore[arg-type]
                except OSError:
                    status = 0
                if status == 204:
                    break
                self.failed_posts += 1
                time.sleep(0.1)
            else:
                raise AssertionError("the webhook kept refusing events")
        self.posted += len(accepted)


def worker_env(app: Flask, fake_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        COMPOSER_SQLALCHEMY_DATABASE_URI=str(app.config["SQLALCHEMY_DATABASE_URI"]),
        COMPOSER_SECRET_KEY="crash-test",
        # Every process that writes to the database shares the audit signing key and checkpoint.
        COMPOSER_AUDIT_SIGNING_KEY=str(app.config["AUDIT_SIGNING_KEY"]),
        COMPOSER_AUDIT_CHECKPOINT_FILE=str(app.config["AUDIT_CHECKPOINT_FILE"]),
        COMPOSER_MAIL_GATEWAY="sendgrid",
        COMPOSER_SENDGRID_API_KEY="SG.crash-test",
        COMPOSER_SENDGRID_HOST=fake_url,
        COMPOSER_SENDGRID_TIMEOUT_SECONDS="0.5",
        COMPOSER_SEND_LEASE_SECONDS="1",
        COMPOSER_SEND_WORKER="none",
        # Three batches in flight per worker process: killed threads leave claims mid-request.
        COMPOSER_SEND_THREADS="3",
        COMPOSER_CHECKLISTS_DIR=str(app.config.get("CHECKLISTS_DIR") or ROOT / "checklists"),
    )
    return env


def start_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flask",
            "--app",
            "composer",
            "send",
            "work",
            "--until-done",
            "--idle",
            "0.2",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.fixture
def served(app: Flask) -> Iterator[LiveServer]:
    server = LiveServer(app)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def start_celery_worker(env: dict[str, str], name: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "--app",
            "composer.celery_worker",
            "worker",
            "--pool",
            "solo",
            "--hostname",
            f"{name}@%h",
            "--loglevel",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def is_postgresql(app: Flask) -> bool:
    return str(app.config["SQLALCHEMY_DATABASE_URI"]).startswith("postgresql")


def test_kill_9_at_random_points_loses_nothing_and_sends_nothing_twice(
    app: Flask, served: LiveServer, tmp_path: Path
) -> None:
    """``send work`` processes: one on SQLite, two at once on PostgreSQL."""
    workers_at_once = 2 if is_postgresql(app) else 1

    def start(env: dict[str, str]) -> list[subprocess.Popen[bytes]]:
        return [start_worker(env) for _ in range(workers_at_once)]

    def finish(workers: list[subprocess.Popen[bytes]], deadline: float) -> None:
        for w in workers:  # --until-done: they exit when nothing is running
            w.wait(timeout=max(1.0, deadline - time.monotonic()))

    crash_and_check(app, served, tmp_path, start=start, finish=finish)


def test_two_celery_workers_killed_at_random_lose_nothing_and_send_nothing_twice(
    app: Flask, served: LiveServer, tmp_path: Path
) -> None:
    """The scaled-out deployment: two Celery workers (Redis broker) on PostgreSQL."""
    if not is_postgresql(app):
        pytest.skip("the Celery deployment runs on PostgreSQL: run with --db=postgresql")
    redis_url = os.environ.get("COMPOSER_TEST_REDIS_URL")
    if not redis_url:
        if os.environ.get("CI"):
            pytest.fail("COMPOSER_TEST_REDIS_URL is not set: scripts/test starts Redis in CI")
        pytest.skip("needs COMPOSER_TEST_REDIS_URL (scripts/test starts a Redis server)")
    import redis

    redis.Redis.from_url(redis_url).flushdb()  # no tasks left over from an earlier run

    def start(env: dict[str, str]) -> list[subprocess.Popen[bytes]]:
        env = dict(
            env,
            COMPOSER_SEND_WORKER="celery",
            COMPOSER_CELERY_BROKER_URL=redis_url,
            COMPOSER_CELERY_SEND_TASK_SECONDS="2",
            COMPOSER_CELERY_SEND_TASKS_PER_RUN="2",
            COMPOSER_CELERY_VISIBILITY_TIMEOUT_SECONDS="20",
        )
        return [start_celery_worker(env, f"crash{i}") for i in range(2)]

    def finish(workers: list[subprocess.Popen[bytes]], deadline: float) -> None:
        # Celery workers keep running: wait for the run to finish, then stop them.
        try:
            while time.monotonic() < deadline:
                with app.app_context():
                    state = db.session.scalar(sa.select(SendRun.state))
                    db.session.remove()
                if state != RunState.RUNNING.value:
                    return
                assert all(w.poll() is None for w in workers), "a Celery worker exited"
                time.sleep(0.5)
        finally:
            for w in workers:
                w.terminate()
            for w in workers:
                try:
                    w.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    w.kill()
                    w.wait()

    crash_and_check(app, served, tmp_path, start=start, finish=finish)


def in_doubt_ids(app: Flask, run_id: int) -> tuple[str, set[str]]:
    with app.app_context():
        run = db.session.get(SendRun, run_id)
        assert run is not None
        ids = {
            str(i)
            for i in db.session.scalars(
                sa.select(Delivery.id).where(
                    Delivery.run_id == run_id, Delivery.state == DeliveryState.IN_DOUBT.value
                )
            )
        }
        state = run.state
        db.session.remove()
    return state, ids


def settle_what_events_cannot(
    app: Flask, run_id: int, log_path: Path, finish: Callable[[], None]
) -> None:
    """A worker killed after claiming but before its request went out leaves a batch in doubt
    that no event will ever settle: the run ends ``in-doubt``. The fake's log shows SendGrid
    never took them (what it took, the events settled), so the admin sends them again."""
    for _ in range(5):
        time.sleep(2)  # the poster's last events
        state, doubtful = in_doubt_ids(app, run_id)
        if state != RunState.IN_DOUBT.value:
            return
        taken = set(acceptance_counts(log_path, "o"))
        assert not doubtful & taken, "events did not settle a batch SendGrid took"
        with app.app_context():
            run = db.session.get(SendRun, run_id)
            admin = db.session.scalar(sa.select(User))
            assert run is not None
            assert admin is not None
            control.resend_in_doubt(
                db.session(), run, by=admin, expected=len(doubtful), now=utcnow()
            )
            db.session.commit()
            db.session.remove()
        finish()


def crash_and_check(
    app: Flask,
    served: LiveServer,
    tmp_path: Path,
    *,
    start: Callable[[dict[str, str]], list[subprocess.Popen[bytes]]],
    finish: Callable[[list[subprocess.Popen[bytes]], float], None],
) -> None:
    """Start workers, let them work a random while, ``kill -9`` them, eight times; then let
    them finish and check the fake's log: every recipient accepted exactly once."""
    key = generate_webhook_key()
    app.config["SENDGRID_WEBHOOK_PUBLIC_KEY"] = public_key_b64(key)
    run_id = prepare(app)
    rng = random.Random(20261129)
    log_path = tmp_path / "accepted.jsonl"
    with start_process(
        log_path,
        seed=7,
        p429=0.05,
        p5xx=0.05,
        p_timeout=0.03,
        p_reset=0.03,
        rate_limit_reset=1,
        timeout_hold=2,
    ) as fake:
        poster = EventPoster(log_path, served.url + "/webhooks/sendgrid", key)
        poster.start()
        env = worker_env(app, fake.url)
        kills = 0
        try:
            for _ in range(8):  # start, let them work a random while, kill -9
                workers = start(env)
                time.sleep(rng.uniform(1.5, 4.0))
                for w in workers:
                    if w.poll() is None:
                        w.send_signal(signal.SIGKILL)
                        kills += 1
                    w.wait()
            # Then let them finish.
            finish(start(env), time.monotonic() + 240)
            settle_what_events_cannot(
                app, run_id, log_path, lambda: finish(start(env), time.monotonic() + 240)
            )
        finally:
            poster.stopping.set()
            poster.join(10)
        poster.post_new()

    counts = acceptance_counts(log_path, "o")
    with app.app_context():
        run = db.session.get(SendRun, run_id)
        assert run is not None
        states = dict(
            db.session.execute(
                sa.select(Delivery.state, sa.func.count()).group_by(Delivery.state)
            ).all()
        )
        ids = {str(i) for i in db.session.scalars(sa.select(Delivery.id))}
    assert kills >= 4, "the workers were hardly killed: the test proved little"
    assert run.state == RunState.FINISHED.value, (run.state, states)
    assert states == {DeliveryState.ACCEPTED.value: RECIPIENTS}
    lost = ids - set(counts)
    duplicated = {o: n for o, n in counts.items() if n > 1}
    assert len(lost) == 0, f"{len(lost)} recipients never accepted"
    assert duplicated == {}, f"{len(duplicated)} recipients accepted more than once"
    assert sum(counts.values()) == RECIPIENTS


NO_WEBHOOK_RECIPIENTS = 300


def _state_and_doubtful(app: Flask, run_id: int) -> tuple[str, set[str]]:
    """The run's state and the ids of the deliveries in doubt, read afresh."""
    with app.app_context():
        state = db.session.get(SendRun, run_id, populate_existing=True).state  # type: ignore[union-attr]
        doubtful = {
            str(i)
            for i in db.session.scalars(
                sa.select(Delivery.id).where(Delivery.state == DeliveryState.IN_DOUBT.value)
            )
        }
        db.session.remove()
    return state, doubtful


def test_without_the_webhook_nobody_gets_two_copies_unless_an_admin_chooses(
    app: Flask, tmp_path: Path
) -> None:
    """Issue 16's no-webhook fault run, kept short: time-outs, resets after accepting, 429s and
    three kills with no Event Webhook. Nobody gets two copies; the recipients in doubt wait
    (the run ends ``in-doubt``, not finished) until the admin, told how many may get two
    copies, sends them again; only they can have two."""
    assert not app.config.get("SENDGRID_WEBHOOK_PUBLIC_KEY")
    run_id = prepare(app, NO_WEBHOOK_RECIPIENTS)
    with app.app_context():
        run = db.session.get(SendRun, run_id)
        assert run is not None
        run.batch_size = 20  # fifteen requests or more: room for faults
        db.session.commit()
    make_user(app, "ada@example.com", Role.ADMIN)
    # The pages as the workers' deployment shows them; this process sends nothing itself.
    app.config.update(MAIL_GATEWAY="sendgrid", SEND_WORKER="none")
    client = app.test_client()
    token = sign_in(client, "ada@example.com")
    with app.app_context():
        incident_id = db.session.get(SendRun, run_id).incident_id  # type: ignore[union-attr]
    url = f"/incidents/{incident_id}/send/runs/{run_id}"
    rng = random.Random(20261207)
    log_path = tmp_path / "accepted.jsonl"
    chosen: set[str] = set()  # deliveries the admin chose to send again
    with start_process(
        log_path,
        seed=11,
        p429=0.1,
        p_timeout=0.15,
        p_reset=0.15,
        reset_after_share=1.0,
        rate_limit_reset=1,
        timeout_hold=2,
    ) as fake:
        env = worker_env(app, fake.url)
        kills = 0
        for _ in range(3):
            worker = start_worker(env)
            time.sleep(rng.uniform(1.0, 2.5))
            if worker.poll() is None:
                worker.send_signal(signal.SIGKILL)
                kills += 1
            worker.wait()
        start_worker(env).wait(timeout=120)  # --until-done: it stops when only doubt is left

        counts = acceptance_counts(log_path, "o")
        state, doubtful = _state_and_doubtful(app, run_id)
        assert kills >= 1
        assert {o: n for o, n in counts.items() if n > 1} == {}, "someone got two copies"
        assert doubtful, "nothing was in doubt: the faults proved little"
        assert state == RunState.IN_DOUBT.value
        page = client.get(url).get_data(as_text=True)
        n = len(doubtful)
        assert f"{n:,} recipients are in doubt" in page
        assert "The Event Webhook is not configured" in page

        # The admin settles: send them again, told how many may get two copies. New faults may
        # leave some in doubt again: they choose again, up to a few times.
        for _ in range(5):
            asked = client.post(url + "/in-doubt/resend", data={"csrf_token": token})
            assert f"Up to {n:,} of them may get two copies" in asked.get_data(as_text=True)
            done = client.post(
                url + "/in-doubt/resend", data={"csrf_token": token, "confirm": str(n)}
            )
            assert done.status_code == 302
            chosen |= doubtful
            start_worker(env).wait(timeout=120)
            state, doubtful = _state_and_doubtful(app, run_id)
            if not doubtful:
                break
            n = len(doubtful)

    counts = acceptance_counts(log_path, "o")
    with app.app_context():
        states = dict(
            db.session.execute(
                sa.select(Delivery.state, sa.func.count()).group_by(Delivery.state)
            ).all()
        )
        ids = {str(i) for i in db.session.scalars(sa.select(Delivery.id))}
    assert state == RunState.FINISHED.value, (state, states)
    assert states == {DeliveryState.ACCEPTED.value: NO_WEBHOOK_RECIPIENTS}
    assert ids <= set(counts), "someone never got it"
    twice = {o for o, k in counts.items() if k > 1}
    assert twice <= chosen, "someone the admin did not choose got two copies"

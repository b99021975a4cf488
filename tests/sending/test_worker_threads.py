"""The in-process sender with several threads (SEND_THREADS): batches in flight at once, every
recipient sent exactly once."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from composer import create_app
from composer.delivery import control, release, tables
from composer.extensions import db
from composer.models import Delivery, SendRun, User, utcnow
from composer.workers.inprocess import InProcessWorker, worker_for
from tests.conftest import base_config
from tests.sending.fake_sendgrid import Fault, Reply, running
from tests.sending.scenario import started_run

PEOPLE = "email,first_name\n" + "".join(f"p{i}@example.com,P{i}\n" for i in range(40))


def _start(app: Flask, users: dict[str, int], fake_url: str, threads: int) -> int:
    app.config.update(
        MAIL_GATEWAY="sendgrid",
        SENDGRID_API_KEY="SG.threads",
        SENDGRID_HOST=fake_url,
        SENDGRID_TIMEOUT_SECONDS=5,
        SEND_THREADS=threads,
    )
    return started_run(app, users, PEOPLE, batch_size=5)  # 8 batches


def _finished(app: Flask, run_id: int, seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with app.app_context():
            state = db.session.get(SendRun, run_id).state  # type: ignore[union-attr]
            db.session.remove()
        if state == "finished":
            return True
        time.sleep(0.1)
    return False


def _send_to_end(app: Flask, run_id: int, *, idle_seconds: float = 1.0) -> InProcessWorker:
    """Start the app's sender, wait for the run to finish, stop the sender."""
    sender = worker_for(app, idle_seconds=idle_seconds)
    sender.wake()
    try:
        assert _finished(app, run_id), "the send did not finish"
    finally:
        sender.stop()
    return sender


def test_three_threads_keep_batches_in_flight_and_send_everyone_once(
    app: Flask, users: dict[str, int]
) -> None:
    with running() as fake:
        # Each answer takes a while, as SendGrid's do: the other threads send meanwhile.
        fake.replies.extend(Reply(202, delay=0.3) for _ in range(8))
        run_id = _start(app, users, fake.url, threads=3)
        assert _send_to_end(app, run_id).threads == 3
        assert fake.stats["max_in_flight"] >= 2
        assert fake.stats["max_in_flight"] <= 3
        counts = Counter(a.email for a in fake.accepted)
    assert sorted(counts) == sorted(f"p{i}@example.com" for i in range(40))
    assert set(counts.values()) == {1}
    with app.app_context():
        states = Counter(db.session.scalars(sa.select(Delivery.state)))
    assert states == {"accepted": 40}


def test_threads_with_faults_still_send_everyone_once(app: Flask, users: dict[str, int]) -> None:
    with running() as fake:
        # A 5xx, a 429, and a connection reset (nothing accepted, but the sender cannot know:
        # in doubt, never sent again on its own; the admin, who knows, sends it again).
        fake.fault(Fault.SERVER_ERROR, Fault.RATE_LIMITED, Fault.RESET_BEFORE)
        run_id = _start(app, users, fake.url, threads=2)
        sender = worker_for(app, idle_seconds=0.1)
        sender.wake()
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with app.app_context():
                    run = db.session.get(SendRun, run_id)
                    assert run is not None
                    if run.state == "finished":
                        break
                    if run.state == "in-doubt":
                        doubt = tables.run_counts(db.session(), run)["in-doubt"]
                        admin = db.session.get(User, users["admin"])
                        assert admin is not None
                        control.resend_in_doubt(
                            db.session(), run, by=admin, expected=doubt, now=utcnow()
                        )
                        db.session.commit()
                        db.session.remove()
                        break
                    db.session.remove()
                time.sleep(0.1)
            sender.wake()
            assert _finished(app, run_id), "the send did not finish"
        finally:
            sender.stop()
        counts = Counter(a.email for a in fake.accepted)
    assert len(counts) == 40
    assert set(counts.values()) == {1}


def test_threads_prepare_a_new_run_in_steps_then_send_everyone_once(
    app: Flask, users: dict[str, int]
) -> None:
    """A run as pressing Send makes it: the threads prepare it (one at a time, seven
    recipients a step), then send it."""
    with running() as fake:
        app.config.update(SEND_PREPARE_ROWS=7)
        run_id = _start(app, users, fake.url, threads=3)
        with app.app_context():  # undo the scenario's preparing: back to a run just made
            db.session.execute(sa.delete(Delivery).where(Delivery.run_id == run_id))
            db.session.execute(
                sa.update(SendRun)
                .where(SendRun.id == run_id)
                .values(state="preparing", prepared_through=None, prepared_at=None)
            )
            db.session.commit()
        _send_to_end(app, run_id, idle_seconds=0.1)
        counts = Counter(a.email for a in fake.accepted)
    assert len(counts) == 40
    assert set(counts.values()) == {1}
    with app.app_context():
        recipients = list(db.session.scalars(sa.select(Delivery.recipient_id)))
        run = db.session.get(SendRun, run_id)
        assert run is not None
        assert run.prepared_at is not None
    assert len(recipients) == len(set(recipients)) == 40


def test_a_worker_needs_at_least_one_thread(app: Flask) -> None:
    with pytest.raises(ValueError, match="SEND_THREADS"):
        InProcessWorker(app, lambda: None, lambda: None, threads=0)  # type: ignore[arg-type,return-value]


@pytest.mark.parametrize("threads", [0, -1, "four", 1.5, True])
def test_the_app_refuses_to_start_with_a_bad_thread_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threads: object
) -> None:
    # Found when the app starts, not as a failed send: 0 used to become 1 without a word.
    config = base_config(tmp_path, f"sqlite:///{tmp_path / 'x.sqlite3'}")
    with pytest.raises(ValueError, match=r"SEND_THREADS must be a whole number of 1 or more"):
        create_app({**config, "SEND_THREADS": threads})
    # From the environment, as an operator would set it.
    monkeypatch.setenv("COMPOSER_SEND_THREADS", "0")
    with pytest.raises(ValueError, match=r"it is 0\."):
        create_app(config)
    monkeypatch.setenv("COMPOSER_SEND_THREADS", "3")
    assert create_app(config).config["SEND_THREADS"] == 3


def test_stop_ends_every_thread(app: Flask) -> None:
    app.config["SEND_THREADS"] = 4
    sender = worker_for(app, idle_seconds=0.05)
    sender.wake()
    alive = [t for t in sender._threads if t is not None]
    assert len(alive) == 4
    sender.stop(timeout=10)
    assert not any(t.is_alive() for t in alive)


def test_threads_check_the_approval_once_between_them(
    app: Flask, users: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Rebuilding the bundle to check it against the approval takes over a second at a
    # million recipients: the second thread waits for the first's check rather than repeat it.
    checks: list[int] = []
    real = release.content_for_run

    def slow_check(*args: object, **kwargs: object) -> object:
        checks.append(1)
        time.sleep(0.5)  # both threads ask while it runs
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(release, "content_for_run", slow_check)
    with running() as fake:
        fake.replies.extend(Reply(202, delay=0.1) for _ in range(8))
        run_id = _start(app, users, fake.url, threads=2)
        _send_to_end(app, run_id, idle_seconds=0.05)
        assert fake.stats["max_in_flight"] == 2  # both threads sent
        assert len(fake.accepted) == 40
    assert len(checks) == 1

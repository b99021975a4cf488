"""``send work``: a sending worker process beside the app."""

from __future__ import annotations

import time

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import func, select

from composer.extensions import db
from composer.models import RunState, SendRun
from composer.workers.inprocess import InProcessWorker, worker_for

send_cli = AppGroup("send", help="Bulk sending of approved notices.")


@send_cli.command("work")
@click.option("--until-done", is_flag=True, help="Exit when no send is running or scheduled.")
@click.option("--idle", default=1.0, show_default=True, help="Seconds to wait when idle.")
def send_work_command(until_done: bool, idle: float) -> None:
    """Run a sending worker in this process: the same dispatcher as the in-process sender, with
    SEND_THREADS batches in flight; it renders waiting postal letter batches when no email is
    waiting. Safe to run several at once and to kill at any moment (the outbox recovers)."""
    sender = worker_for(current_app._get_current_object(), idle_seconds=idle)  # type: ignore[attr-defined]
    # SEND_THREADS - 1 more threads send alongside this loop; they stop with the process.
    sender.start_helpers()
    try:
        _send_work_loop(sender, until_done=until_done, idle=idle)
    finally:
        sender.stop()


def _send_work_loop(sender: InProcessWorker, *, until_done: bool, idle: float) -> None:
    while True:
        try:
            sender.keep_house()  # the retention purge, now and then
            busy = sender.work_once() or sender.render_letters()
        except Exception:  # a lock timeout or a bug: log it (no personal data) and go on
            current_app.logger.exception("send worker: a dispatch failed; retrying")
            db.session.remove()
            time.sleep(idle)
            continue
        if busy:
            continue
        running = db.session.scalar(
            select(func.count())
            .select_from(SendRun)
            .where(
                SendRun.state.in_(
                    [RunState.PREPARING.value, RunState.RUNNING.value, RunState.SCHEDULED.value]
                )
            )
        )
        db.session.remove()
        if until_done and not running:
            return
        time.sleep(idle)

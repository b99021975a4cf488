"""The Celery worker, the scaled-out sender (``SEND_WORKER = "celery"``): Celery worker processes
with a Redis broker, sending through the same :class:`composer.workers.dispatcher.Dispatcher` as
the in-process threads (README "Sending with Celery" shows how to start them;
``composer.celery_worker`` is the Celery application they load).

Waiting letter batches are rendered by ``composer.render_letters`` tasks, one batch per
task (queued when an admin prepares letters, and when a worker starts).

The outbox in the database, not the broker, knows who has been sent. A task only says "keep
sending run N for a while": it dispatches batches for up to ``CELERY_SEND_TASK_SECONDS``, then
queues its own successor, until the run is finished, paused, cancelled or stopped. So tasks are
idempotent (a claim is exclusive; a duplicate task just claims other batches) and acknowledged
late: a worker killed with ``kill -9`` loses only a task message, never a recipient. What it had
claimed is recovered by the outbox (lease, in doubt, duplicate window); its task comes back
when Redis redelivers unacknowledged messages (``CELERY_VISIBILITY_TIMEOUT_SECONDS``), and
every worker queues tasks for all running runs when it starts.

A run just started is ``preparing``: its tasks write the delivery rows step by step
(``composer.delivery.preparing.prepare_step``, each step committed with how far it got),
then send.

Task arguments are run ids only: no personal data goes through the broker.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from typing import Any

from celery import Celery, Task
from celery.signals import worker_process_init, worker_ready
from flask import Flask
from sqlalchemy import select

from composer.delivery import schedule
from composer.delivery.release import BUSY_OUTCOMES
from composer.models import RunState, SendRun, utcnow
from composer.settings import settings_of

log = logging.getLogger(__name__)

SEND_TASK = "composer.send_run"
LETTERS_TASK = "composer.render_letters"
#: Outcomes after which a run needs a person (or is done): its tasks stop.
#: (``in-doubt``: nothing left to send; events or an admin settle the rest.)
_STOP = {"finished", "paused", "cancelled", "stopped", RunState.FINISHED.value, "in-doubt"}


def celery_init_app(app: Flask) -> Celery:
    """Create the app's Celery instance (``app.extensions["celery"]``) with its tasks."""
    found = app.extensions.get("celery")
    if isinstance(found, Celery):
        return found

    class FlaskTask(Task):  # type: ignore[misc]
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            with app.app_context():
                return self.run(*args, **kwargs)

    settings = settings_of(app)
    celery = Celery(app.import_name, task_cls=FlaskTask)
    celery.conf.update(
        broker_url=settings.celery_broker_url,
        # Acknowledge after the task ran, and requeue a task whose worker process died.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": settings.celery_visibility_timeout_seconds,
        },
        # Publishing from a web request must not hang when Redis is down.
        broker_connection_timeout=5,
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5},
        worker_hijack_root_logger=False,
    )
    app.extensions["celery"] = celery

    @celery.task(name=SEND_TASK, bind=True)  # type: ignore[untyped-decorator]
    def send_run(task: Task, run_id: int) -> str:
        outcome, countdown = _send_for_a_while(app, run_id)
        if outcome not in _STOP:
            # "waiting" (a 429's reset, backoff, in-doubt batches), "scheduled" (not yet its
            # time) or time's up: carry on from a fresh task.
            task.apply_async((run_id,), countdown=countdown)
        return outcome

    @celery.task(name=LETTERS_TASK, bind=True)  # type: ignore[untyped-decorator]
    def render_letters(task: Task) -> int:
        from composer.workers.runtime import render_pending_letters

        # One batch per task (each takes seconds); the next task renders the next one.
        if render_pending_letters(app):
            task.apply_async()
            return 1
        return 0

    @worker_process_init.connect(weak=False)  # type: ignore[untyped-decorator]
    def _fresh_connections(**_: Any) -> None:
        # A forked pool process must not share the parent's database connections.
        from composer.extensions import db

        with app.app_context():
            db.engine.dispose(close=False)

    @worker_ready.connect(weak=False)  # type: ignore[untyped-decorator]
    def _kick_running_runs(**_: Any) -> None:
        # A worker starting (after a crash, say) picks up every run still running.
        with app.app_context():
            try:
                queued = queue_running_runs(app)
                queue_letters(app)
            except Exception:  # the broker or database is not there yet: say so, go on
                log.exception("could not queue send tasks for running runs")
                return
        log.info("queued send tasks for %d running run(s)", queued)

    return celery


def _dispatcher(app: Flask) -> Any:
    """This process's dispatcher (one per worker process, so the approval check is cached)."""
    from composer.workers.dispatcher import Dispatcher
    from composer.workers.runtime import dispatch_settings, mail_gateway

    found = app.extensions.get("composer.celery_dispatcher")
    if found is None or found.name != _worker_name():

        def gateway() -> Any:
            with app.app_context():
                return mail_gateway()

        def settings() -> Any:
            with app.app_context():
                return dispatch_settings()

        found = Dispatcher(app, gateway, settings, name=_worker_name())
        app.extensions["composer.celery_dispatcher"] = found
    return found


def _worker_name() -> str:
    return f"celery-{socket.gethostname()}-{os.getpid()}"[:100]


def _send_for_a_while(app: Flask, run_id: int) -> tuple[str, float]:
    """Dispatch batches of ``run_id`` for up to ``CELERY_SEND_TASK_SECONDS``; the last outcome,
    and how many seconds the next task should wait."""
    from composer.extensions import db

    dispatcher = _dispatcher(app)
    deadline = time.monotonic() + settings_of(app).celery_send_task_seconds
    session = db.session()
    outcome = "sent"
    try:
        if schedule.start_due(session, now=utcnow()):
            session.commit()
        wait = schedule.waiting_seconds(session, run_id, now=utcnow())
        if wait is not None:  # not yet its time: look again then (or in a minute, at most)
            return RunState.SCHEDULED.value, min(max(wait, 1.0), 60.0)
        gateway = dispatcher.gateway_factory()
        settings = dispatcher.settings_factory()
        while time.monotonic() < deadline:
            result = dispatcher.dispatch(session, gateway, settings, run_id)
            if result is None:
                return "stopped", 0
            outcome = str(result.outcome)
            if outcome in _STOP:
                return outcome, 0
            if outcome not in BUSY_OUTCOMES:
                # Waiting or nothing to claim now (other workers hold the rest): look again
                # in a moment, from a fresh task.
                return outcome, 1
    finally:
        db.session.remove()
    return outcome, 0


def queue_running_runs(app: Flask, run_id: int | None = None) -> int:
    """Queue ``CELERY_SEND_TASKS_PER_RUN`` send tasks for ``run_id`` (or for every running or
    scheduled run); how many were queued. Raises when the broker cannot be reached."""
    from composer.extensions import db

    celery = celery_init_app(app)
    if run_id is None:
        run_ids = list(
            db.session.scalars(
                select(SendRun.id).where(
                    SendRun.state.in_(
                        [
                            RunState.PREPARING.value,
                            RunState.RUNNING.value,
                            RunState.SCHEDULED.value,
                        ]
                    )
                )
            )
        )
    else:
        run_ids = [run_id]
    per_run = max(1, settings_of(app).celery_send_tasks_per_run)
    for rid in run_ids:
        for _ in range(per_run):
            celery.send_task(SEND_TASK, args=(rid,))
    return len(run_ids) * per_run


def queue_letters(app: Flask) -> None:
    """Queue a task that renders waiting letter batches, one after another. Raises when the
    broker cannot be reached."""
    celery_init_app(app).send_task(LETTERS_TASK)

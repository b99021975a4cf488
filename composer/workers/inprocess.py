"""The in-process worker, the embedded default (``SEND_WORKER = "inprocess"``): daemon threads
in the app's process that send every running run (through the shared
:class:`~composer.workers.dispatcher.Dispatcher`), render waiting letter batches and run the
retention purge. ``flask --app composer send work`` runs the same threads in a process of its
own.

Also how the web layer wakes whichever worker ``SEND_WORKER`` names: these threads, or the
Celery workers (``composer.workers.celery_tasks``) by queuing tasks.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app

from composer.delivery.dispatch import DispatchSettings
from composer.delivery.gateways import MailGateway
from composer.extensions import current_settings
from composer.settings import settings_of
from composer.workers.dispatcher import Dispatcher
from composer.workers.runtime import (
    dispatch_settings,
    mail_gateway,
    purge_due,
    render_pending_letters,
)

log = logging.getLogger(__name__)


class InProcessWorker(Dispatcher):
    """Daemon threads in the app's process that send every running run, batch after batch.

    The first thread also renders waiting letter batches when there is no email to send
    (``letters``) and runs the retention purge now and then (``housekeeping``). With
    ``threads`` > 1 the others only send, so that many batches are in flight at once: while
    one thread waits for SendGrid's answer (a large share of a batch's time, and most of it
    against the real service), another claims and builds the next. Each thread claims its
    own batches (``composer.delivery.dispatch.claim_batch``), as separate workers do.
    """

    def __init__(
        self,
        app: Any,
        gateway_factory: Callable[[], MailGateway],
        settings_factory: Callable[[], DispatchSettings],
        *,
        idle_seconds: float = 1.0,
        letters: Callable[[], bool] | None = None,
        housekeeping: Callable[[], None] | None = None,
        housekeeping_seconds: float = 3600.0,
        threads: int = 1,
    ) -> None:
        super().__init__(app, gateway_factory, settings_factory, name=f"inprocess-{id(self)}")
        if threads < 1:
            raise ValueError("a sending worker needs at least one thread (SEND_THREADS >= 1)")
        self.threads = threads
        self.letters = letters
        #: Run when the thread starts and then every ``housekeeping_seconds`` (the retention
        #: purge, in the embedded default).
        self.housekeeping = housekeeping
        self.housekeeping_seconds = housekeeping_seconds
        self._housekept: float | None = None
        self.idle_seconds = idle_seconds
        #: One per thread, so that waking one never swallows another's wake-up.
        self._wakes = [threading.Event() for _ in range(threads)]
        self._stop = threading.Event()
        self._threads: list[threading.Thread | None] = [None] * threads
        self._lock = threading.Lock()

    def render_letters(self) -> bool:
        """Render one waiting letter batch (it takes seconds: only when no email is waiting);
        True when there was one."""
        return self.letters() if self.letters is not None else False

    def wake(self) -> None:
        """Start the threads if needed, and have them look for work now."""
        self._start(range(self.threads))

    def start_helpers(self) -> None:
        """Start only the threads that just send (``flask send work`` runs the first one's
        loop in its own main thread)."""
        self._start(range(1, self.threads))

    def _start(self, which: range) -> None:
        with self._lock:
            for k in which:
                thread = self._threads[k]
                if thread is None or not thread.is_alive():
                    thread = threading.Thread(
                        target=self._loop,
                        args=(k,),
                        name=f"composer-sender-{k + 1}",
                        daemon=True,
                    )
                    self._threads[k] = thread
                    thread.start()
        for wake in self._wakes:
            wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        for wake in self._wakes:
            wake.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            if thread is not None:
                thread.join(max(0.0, deadline - time.monotonic()))

    def keep_house(self) -> None:
        """Run the housekeeping if it is due (never more often than ``housekeeping_seconds``)."""
        if self.housekeeping is None:
            return
        if self._housekept is not None and (
            time.monotonic() - self._housekept < self.housekeeping_seconds
        ):
            return
        self._housekept = time.monotonic()
        try:
            self.housekeeping()
        except Exception:  # say so, and try again at the next interval
            log.exception("housekeeping failed")

    def _loop(self, k: int = 0) -> None:
        wake = self._wakes[k]
        while not self._stop.is_set():
            if k == 0:
                self.keep_house()
            try:
                busy = self.work_once() or (k == 0 and self.render_letters())
            except Exception:  # a bug must not kill the sender for good
                log.exception("the sending worker failed; retrying")
                busy = False
            if not busy:
                wake.wait(self.idle_seconds)
                wake.clear()


def worker_for(app: Flask, *, idle_seconds: float = 1.0) -> InProcessWorker:
    """A sending worker for ``app``: its gateway and settings are read from the app's settings
    (used by the in-process thread and by ``flask --app composer send work``)."""
    site = settings_of(app)

    def gateway() -> Any:
        with app.app_context():
            return mail_gateway()

    def settings() -> DispatchSettings:
        with app.app_context():
            return dispatch_settings()

    return InProcessWorker(
        app,
        gateway,
        settings,
        idle_seconds=idle_seconds,
        letters=lambda: render_pending_letters(app),
        housekeeping=lambda: purge_due(app),
        housekeeping_seconds=site.recipient_purge_every_seconds,
        threads=site.send_threads,
    )


def wake_sender(run_id: int) -> str | None:
    """Have the configured worker send ``run_id`` now. Returns a problem in words when the
    workers could not be told (the run is saved and will be picked up when they start)."""
    if current_settings().send_worker == "celery":
        from composer.workers.celery_tasks import queue_running_runs

        try:
            queue_running_runs(current_app._get_current_object(), run_id)  # type: ignore[attr-defined]
        except Exception:
            current_app.logger.exception("could not queue send tasks for run %s", run_id)
            return (
                "The send is saved, but the Celery broker could not be reached: start Redis "
                "and the workers (README, Sending with Celery); they pick it up when they start."
            )
        return None
    sender = worker()
    if sender is not None:
        sender.wake()
    return None


def wake_letters() -> str | None:
    """Have the configured worker render waiting letter batches now; a problem in words when
    the workers could not be told."""
    if current_settings().send_worker == "celery":
        from composer.workers.celery_tasks import queue_letters

        try:
            queue_letters(current_app._get_current_object())  # type: ignore[attr-defined]
        except Exception:
            current_app.logger.exception("could not queue letter rendering")
            return (
                "The letters are saved, but the Celery broker could not be reached: start Redis "
                "and the workers; they render waiting letters when they start."
            )
        return None
    sender = worker()
    if sender is not None:
        sender.wake()
    return None


_worker_lock = threading.Lock()


def worker() -> InProcessWorker | None:
    """The app's in-process sender (``SEND_WORKER = "inprocess"``), started on first use."""
    if current_settings().send_worker != "inprocess":
        return None
    extensions = current_app.extensions
    with _worker_lock:
        found: InProcessWorker | None = extensions.get("composer.sender")
        if found is None:
            found = worker_for(current_app._get_current_object())  # type: ignore[attr-defined]
            extensions["composer.sender"] = found
    return found

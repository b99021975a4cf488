"""The :class:`Dispatcher`: what every sending worker sends through.

"Worker" here means whatever runs the dispatcher: the in-process threads
(``composer.workers.inprocess``, ``SEND_WORKER = "inprocess"``), ``flask --app composer send
work`` (the same threads' loop in a process of its own), or a Celery worker process
(``composer.workers.celery_tasks``, ``SEND_WORKER = "celery"``). The PDF renderer's child
process (``composer.rendering.child_process``) is not a worker in this sense.

Before a run's first batch it rebuilds the bundle and checks it against the approval
(``composer.delivery.release``): if anything changed since legal signed, the run stops and says
what. The domain code takes a session; the dispatcher pushes an app context only to reach the
database session and settings.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from composer import approval
from composer.delivery import release, schedule
from composer.delivery.dispatch import DispatchResult, DispatchSettings, dispatch_once
from composer.delivery.gateways import CohortContent, MailGateway
from composer.models import RunState, SendRun, utcnow
from composer.settings import settings_of


class Dispatcher:
    """Sends batches of running runs: checks each run's bundle against the approval (before a
    run's first batch here, then again every ``recheck_seconds``), then calls
    ``composer.delivery.dispatch.dispatch_once``. The in-process threads, ``flask --app composer
    send work`` and the Celery tasks (``composer.workers.celery_tasks``) all send through this
    one class."""

    def __init__(
        self,
        app: Any,
        gateway_factory: Callable[[], MailGateway],
        settings_factory: Callable[[], DispatchSettings],
        *,
        name: str,
    ) -> None:
        self.app = app
        self.gateway_factory = gateway_factory
        self.settings_factory = settings_factory
        self.name = name
        #: Each run's checked content, and when it was checked: rebuilding the bundle for every
        #: batch would cost more than sending it.
        self._content: dict[int, tuple[Callable[[str], CohortContent], float]] = {}
        self.recheck_seconds = 30.0
        #: The re-check also recomputes the recipient list's digest from its rows (a scan of
        #: the list: about 6 s at a million recipients on SQLite) before a run's first batch
        #: and then at most this often, not every ``recheck_seconds``.
        self.recount_seconds = 300.0
        self._recounted: dict[int, float] = {}
        # One check at a time: threads sharing this dispatcher wait for the check under way
        # rather than each repeating it (at a million recipients, over a second each).
        self._content_lock = threading.Lock()
        self._prepare_lock = threading.Lock()

    def work_once(self) -> bool:
        """Dispatch one batch for each running run; True when anything was sent."""
        from composer.extensions import db

        with self.app.app_context():
            session = db.session()
            busy = False
            try:
                if schedule.start_due(session, now=utcnow()):
                    session.commit()
                run_ids = list(
                    session.scalars(
                        select(SendRun.id).where(
                            SendRun.state.in_([RunState.RUNNING.value, RunState.PREPARING.value])
                        )
                    )
                )
                gateway = self.gateway_factory()
                settings = self.settings_factory()
                for run_id in run_ids:
                    result = self.dispatch(session, gateway, settings, run_id)
                    busy |= result is not None and result.outcome in release.BUSY_OUTCOMES
            finally:
                db.session.remove()
            return busy

    def dispatch(
        self,
        session: Session,
        gateway: MailGateway,
        settings: DispatchSettings,
        run_id: int,
    ) -> DispatchResult | None:
        """One step of ``run_id``; None when the run is gone or was stopped because what would
        be sent no longer matches the approval (the run's message says what changed)."""
        run = session.get(SendRun, run_id)
        if run is None:
            return None
        if run.state == RunState.PREPARING.value:
            return self._prepare(session, gateway, settings, run_id)
        cached = self._content.get(run_id)
        try:
            if self._stale(cached):
                with self._content_lock:
                    cached = self._content.get(run_id)
                    if self._stale(cached):
                        counted = self._recounted.get(run_id)
                        recount = counted is None or (
                            time.monotonic() - counted > self.recount_seconds
                        )
                        cached = (
                            release.content_for_run(
                                session,
                                run,
                                settings=settings_of(self.app),
                                catalogue=self.app.extensions["composer.catalogue"],
                                today=date.today(),
                                recount=recount,
                            ),
                            time.monotonic(),
                        )
                        self._content[run_id] = cached
                        if recount:
                            self._recounted[run_id] = cached[1]
            assert cached is not None
            content = cached[0]
        except approval.ApprovalError as exc:
            session.rollback()
            run = session.get(SendRun, run_id)
            if run is not None and run.state == RunState.RUNNING.value:
                run.state = RunState.STOPPED.value
                run.message = str(exc)
                session.commit()
            return None
        return dispatch_once(session, gateway, run_id, content, settings, worker=self.name)

    def _prepare(
        self,
        session: Session,
        gateway: MailGateway,
        settings: DispatchSettings,
        run_id: int,
    ) -> DispatchResult:
        """One prepare step of ``run_id`` (no content is needed yet: the approval is checked
        before the first batch goes). One thread of this process prepares at a time; the
        others send other runs meanwhile (on SQLite they would only wait for its lock)."""
        if not self._prepare_lock.acquire(blocking=False):
            session.rollback()
            return DispatchResult(outcome="waiting")
        try:

            def no_content(key: str) -> CohortContent:  # pragma: no cover - never asked
                raise AssertionError("a preparing run sends nothing")

            return dispatch_once(session, gateway, run_id, no_content, settings, worker=self.name)
        finally:
            self._prepare_lock.release()

    def _stale(self, cached: tuple[Callable[[str], CohortContent], float] | None) -> bool:
        return cached is None or time.monotonic() - cached[1] > self.recheck_seconds

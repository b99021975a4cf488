"""Who drives running send runs through :func:`composer.sending.outbox.dispatch_once`: the
:class:`Dispatcher` (shared by every kind of worker) and the embedded default's thread.

Before a run's first batch the worker rebuilds the bundle and checks it against the approval
(``approval.release_check``): if anything changed since legal signed, the run stops and says
what. No Flask in the dispatch code; the thread pushes an app context only to reach the
database session and settings.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from composer import approval
from composer.checklist import Catalogue
from composer.models import Incident, NoticeVersion, RunState, SendRun, utcnow
from composer.sending import outbox, schedule
from composer.sending.gateways import CohortContent, MailGateway

log = logging.getLogger(__name__)

#: Outcomes after which a worker looks for more work at once rather than resting.
BUSY_OUTCOMES = frozenset({"sent", RunState.PREPARING.value})


def run_release(
    session: Session,
    run: SendRun,
    *,
    config: Any,
    catalogue: Catalogue,
    today: date,
    recount: bool = True,
) -> tuple[NoticeVersion, approval.Release]:
    """The notice version and release ``run`` may still send: the bundle rebuilt as it would be
    sent now, checked against the approval and against the bundle the run started with, and
    (``recount``) the recipient rows against the list's recorded digest.
    Raises ``approval.ApprovalError`` (not approved, or changed since) otherwise. Email
    (``content_for_run``) and letters (``composer.sending.postal``) both start here."""
    from composer.notices import latest_version

    incident = session.get(Incident, run.incident_id)
    assert incident is not None
    version = latest_version(session, incident)
    if version is None:
        raise approval.NotApproved("Not sent: the notice has no versions.")
    bundle = approval.incident_bundle(
        session, incident, version, config=config, catalogue=catalogue, today=today
    )
    release = approval.release_check(session, incident, bundle, check_recipients_rows=recount)
    if release.bundle.sha256 != run.bundle_sha256:
        raise approval.BundleMismatch(
            release.review, ["the approval changed since this send started"]
        )
    return version, release


def content_for_run(
    session: Session,
    run: SendRun,
    *,
    config: Any,
    catalogue: Catalogue,
    today: date,
    recount: bool = True,
) -> Callable[[str], CohortContent]:
    """Rebuild the run's bundle and check it against the approval; returns the content for each
    cohort key. Raises ``approval.ApprovalError`` (not approved, or changed since) otherwise."""
    _, release = run_release(
        session, run, config=config, catalogue=catalogue, today=today, recount=recount
    )
    variants = {v.spec.key: v for v in release.bundle.variants}
    fallback = release.bundle.variants[0]

    def content(key: str) -> CohortContent:
        variant = variants.get(key, fallback if len(variants) == 1 else None)
        if variant is None:
            raise approval.BundleMismatch(
                release.review, [f"a recipient cohort ({key}) that legal has not seen"]
            )
        return CohortContent(subject=variant.subject, html=variant.html, text=variant.text)

    return content


class Dispatcher:
    """Sends batches of running runs: checks each run's bundle against the approval (before a
    run's first batch here, then again every ``recheck_seconds``), then calls
    :func:`outbox.dispatch_once`. The in-process thread, ``flask --app composer send work`` and
    the Celery tasks (``composer.tasks``) all send through this one class."""

    def __init__(
        self,
        app: Any,
        gateway_factory: Callable[[], MailGateway],
        settings_factory: Callable[[], outbox.DispatchSettings],
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
                    busy |= result is not None and result.outcome in BUSY_OUTCOMES
            finally:
                db.session.remove()
            return busy

    def dispatch(
        self,
        session: Session,
        gateway: MailGateway,
        settings: outbox.DispatchSettings,
        run_id: int,
    ) -> outbox.DispatchResult | None:
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
                            content_for_run(
                                session,
                                run,
                                config=self.app.config,
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
        return outbox.dispatch_once(session, gateway, run_id, content, settings, worker=self.name)

    def _prepare(
        self,
        session: Session,
        gateway: MailGateway,
        settings: outbox.DispatchSettings,
        run_id: int,
    ) -> outbox.DispatchResult:
        """One prepare step of ``run_id`` (no content is needed yet: the approval is checked
        before the first batch goes). One thread of this process prepares at a time; the
        others send other runs meanwhile (on SQLite they would only wait for its lock)."""
        if not self._prepare_lock.acquire(blocking=False):
            session.rollback()
            return outbox.DispatchResult(outcome="waiting")
        try:

            def no_content(key: str) -> CohortContent:  # pragma: no cover - never asked
                raise AssertionError("a preparing run sends nothing")

            return outbox.dispatch_once(
                session, gateway, run_id, no_content, settings, worker=self.name
            )
        finally:
            self._prepare_lock.release()

    def _stale(self, cached: tuple[Callable[[str], CohortContent], float] | None) -> bool:
        return cached is None or time.monotonic() - cached[1] > self.recheck_seconds


class InProcessWorker(Dispatcher):
    """Daemon threads in the app's process that send every running run, batch after batch.

    The first thread also renders waiting letter batches when there is no email to send
    (``letters``) and runs the retention purge now and then (``housekeeping``). With
    ``threads`` > 1 the others only send, so that many batches are in flight at once: while
    one thread waits for SendGrid's answer (a large share of a batch's time, and most of it
    against the real service), another claims and builds the next. Each thread claims its
    own batches (``outbox.claim_batch``), as separate workers do.
    """

    def __init__(
        self,
        app: Any,
        gateway_factory: Callable[[], MailGateway],
        settings_factory: Callable[[], outbox.DispatchSettings],
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

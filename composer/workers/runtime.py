"""What every worker needs from the app, read from its settings (``composer.settings``): the
mail gateway, the dispatch settings, letter rendering and the retention purge.

Used by each kind of worker alike: the in-process threads (``composer.workers.inprocess``),
``flask --app composer send work`` and the Celery tasks (``composer.workers.celery_tasks``).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from flask import Flask
from sqlalchemy.orm import sessionmaker

from composer.delivery import letters
from composer.delivery.dispatch import DispatchSettings
from composer.delivery.gateways import MailGateway, gateway_for
from composer.extensions import current_settings, db
from composer.models import utcnow
from composer.rendering.child_process import max_concurrent
from composer.settings import Settings, settings_of


def mail_gateway() -> MailGateway:
    """The gateway ``MAIL_GATEWAY`` names; the dev outbox writes through its own sessions."""
    return gateway_for(current_settings(), sessionmaker(db.engine))


def render_pending_letters(app: Flask) -> bool:
    """Render the oldest waiting letter batches of any run, up to :func:`render_processes` of
    them at once (each in its own renderer process, so a big print run uses every core); True
    when a batch was rendered or refused (call again), False when none is waiting. For a
    background worker loop: each batch gets its own thread, app context and database session,
    and commits. Each batch is claimed in the database first, so two threads (or workers)
    never render the same one, and a batch whose renderer was killed is taken again later."""
    processes = render_processes(settings_of(app))
    if processes == 1:
        return _render_one(app)
    with ThreadPoolExecutor(processes, thread_name_prefix="composer-letters") as pool:
        return any(list(pool.map(lambda _: _render_one(app), range(processes))))


def _render_one(app: Flask) -> bool:
    with app.app_context():
        try:
            return letters.render_next(
                db.session(),
                settings=current_settings(),
                catalogue=app.extensions["composer.catalogue"],
                now=utcnow(),
                actor_label="letters",
            )
        finally:
            db.session.remove()


def render_processes(settings: Settings) -> int:
    """Letter batches rendered at once: ``LETTER_RENDER_PROCESSES``, at most the renders this
    process may run at once (``RENDER_MAX_CONCURRENT``, by default the CPU cores)."""
    limit = max_concurrent()
    return min(settings.letter_render_processes or limit, limit)


def dispatch_settings() -> DispatchSettings:
    """How the current app's workers send (``MAIL_SENDER``, ``SEND_LEASE_SECONDS``,
    ``SEND_RATE_PER_SECOND``, ...)."""
    settings = current_settings()
    return DispatchSettings(
        sender=settings.mail_sender,
        reply_to=settings.mail_reply_to,
        lease=timedelta(seconds=settings.send_lease_seconds),
        rate_per_second=settings.send_rate_per_second or None,
        prepare_rows=settings.send_prepare_rows,
    )


def purge_due(app: Flask) -> None:
    """Purge the personal data of lists past the retention period (``composer.retention``),
    and kept forms past their expiry whatever the period; logs counts only."""
    from composer import retention

    days = settings_of(app).recipient_retention_days
    with app.app_context():
        try:
            if days <= 0:
                retention.delete_expired_kept_forms(db.session(), now=utcnow())
                return
            report = retention.purge(
                db.session(),
                older_than=timedelta(days=days),
                now=utcnow(),
                actor_label="retention (automatic)",
            )
        finally:
            db.session.remove()
    if report.purged:
        app.logger.info(
            "retention: purged the personal data of %d recipient list(s) older than %d days",
            len(report.purged),
            days,
        )

"""What every worker needs from the app: its mail gateway, its dispatch settings, letter
rendering and the retention purge, each read from the app's configuration."""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from flask import Flask, current_app
from sqlalchemy.orm import sessionmaker

from composer.delivery import dispatch as outbox
from composer.delivery import letters as postal
from composer.delivery.gateways import MailGateway, gateway_from_config
from composer.extensions import db
from composer.models import utcnow
from composer.rendering.child_process import max_concurrent
from composer.settings import letter_render_processes, send_prepare_rows


def mail_gateway() -> MailGateway:
    """The gateway ``MAIL_GATEWAY`` names; the dev outbox writes through its own sessions."""
    return gateway_from_config(current_app.config, sessionmaker(db.engine))


def render_pending_letters(app: Flask) -> bool:
    """Render the oldest waiting letter batches of any run, up to :func:`render_processes` of
    them at once (each in its own renderer process, so a big print run uses every core); True
    when a batch was rendered or refused (call again), False when none is waiting. For a
    background worker loop: each batch gets its own thread, app context and database session,
    and commits. Each batch is claimed in the database first, so two threads (or workers)
    never render the same one, and a batch whose renderer was killed is taken again later."""
    processes = render_processes(app.config)
    if processes == 1:
        return _render_one(app)
    with ThreadPoolExecutor(processes, thread_name_prefix="composer-letters") as pool:
        return any(list(pool.map(lambda _: _render_one(app), range(processes))))


def _render_one(app: Flask) -> bool:
    with app.app_context():
        try:
            return postal.render_next(
                db.session(),
                config=app.config,
                catalogue=app.extensions["composer.catalogue"],
                now=utcnow(),
                actor_label="letters",
            )
        finally:
            db.session.remove()


def render_processes(config: Mapping[str, Any]) -> int:
    """Letter batches rendered at once: ``LETTER_RENDER_PROCESSES``, at most the renders this
    process may run at once (``RENDER_MAX_CONCURRENT``, by default the CPU cores)."""
    limit = max_concurrent()
    return min(letter_render_processes(config) or limit, limit)


def dispatch_settings() -> outbox.DispatchSettings:
    cfg = current_app.config
    return outbox.DispatchSettings(
        sender=str(cfg["MAIL_SENDER"]),
        reply_to=str(cfg.get("MAIL_REPLY_TO") or ""),
        lease=timedelta(seconds=float(cfg.get("SEND_LEASE_SECONDS", 120))),
        rate_per_second=float(cfg.get("SEND_RATE_PER_SECOND") or 0) or None,
        prepare_rows=send_prepare_rows(cfg),
    )


def purge_due(app: Flask) -> None:
    """Purge the personal data of lists past the retention period (``composer.retention``),
    and kept forms past their expiry whatever the period; logs counts only."""
    from composer import retention

    days = int(app.config.get("RECIPIENT_RETENTION_DAYS") or 0)
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

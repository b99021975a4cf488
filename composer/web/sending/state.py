"""What the send pages know about an incident's sends: the approved release (or why there is
none), its runs, one run by id, and what to say about SendGrid's Event Webhook."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import abort
from sqlalchemy import select

from composer import approval
from composer.delivery import reconcile
from composer.extensions import current_settings, db
from composer.models import Incident, RunState, SendRun, utcnow
from composer.notices import versions
from composer.rendering.errors import RenderError
from composer.web.common import catalogue, today

#: A run in one of these states blocks starting another send for the incident.
ACTIVE_STATES = (
    RunState.PREPARING,
    RunState.RUNNING,
    RunState.PAUSED,
    RunState.SCHEDULED,
    RunState.STOPPED,
    RunState.IN_DOUBT,
)


def release_of(incident: Incident) -> tuple[approval.Release | None, str | None]:
    """The approved release, or why there is none."""
    version = versions.latest_version(db.session(), incident)
    if version is None:
        return None, "There is no notice yet."
    try:
        bundle = approval.incident_bundle(
            db.session(),
            incident,
            version,
            settings=current_settings(),
            catalogue=catalogue(),
            today=today(),
        )
        return approval.release_check(db.session(), incident, bundle), None
    except approval.ApprovalError as exc:
        return None, str(exc)
    except RenderError as exc:
        return None, f"The notice cannot be rendered: {exc}"


def runs_of(incident: Incident) -> list[SendRun]:
    return list(
        db.session.scalars(
            select(SendRun).where(SendRun.incident_id == incident.id).order_by(SendRun.id.desc())
        )
    )


def run_or_404(incident: Incident, run_id: int) -> SendRun:
    run = db.session.get(SendRun, run_id)
    if run is None or run.incident_id != incident.id:
        abort(404, description=f"This incident has no send {run_id}.")
    return run


def webhook_status() -> dict[str, Any]:
    """What the send pages say about the Event Webhook: only SendGrid has one, and without it
    (or while it is silent) in-doubt recipients wait for an admin."""
    settings = current_settings()
    silent_seconds = settings.send_webhook_silent_seconds
    return {
        "webhook_relevant": settings.mail_gateway == "sendgrid",
        "webhook": reconcile.webhook_status(
            db.session(),
            configured=bool(settings.sendgrid_webhook_public_key),
            silent_after=timedelta(seconds=silent_seconds),
            now=utcnow(),
        ),
        "silent_minutes": round(silent_seconds / 60),
    }

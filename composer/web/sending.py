"""Sending over HTTP: the send page (release check, test send, send), a run's progress with
pause, resume and cancel, and SendGrid's signed Event Webhook.

Sending needs the admin role; a test send goes to the signed-in person's own address. The
domain work is in ``composer.sending`` (outbox, worker) and ``composer.approval``.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from composer import approval, audit, notices
from composer.extensions import csrf, db
from composer.models import Incident, Role, RunState, SendRun, utcnow
from composer.rendering.errors import RenderError
from composer.rendering.merge import Recipient as MergeRecipient
from composer.sending import outbox
from composer.sending.cohorts import latest_list
from composer.sending.gateways import BatchMessage, BatchRecipient, CohortContent, GatewayError
from composer.sending.webhook import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookKeyInvalid,
    WebhookRejected,
    parse_events,
    verify_signature,
)
from composer.sending.worker import InProcessWorker
from composer.web import catalogue, today
from composer.web.access import require_role, signed_in
from composer.web.incidents import _incident

bp = Blueprint("sending", __name__)

DONE_STATES = ("accepted", "delivered", "bounced", "dropped", "invalid", "cancelled", "post")


def dispatch_settings() -> outbox.DispatchSettings:
    cfg = current_app.config
    return outbox.DispatchSettings(
        sender=str(cfg["MAIL_SENDER"]),
        reply_to=str(cfg.get("MAIL_REPLY_TO") or ""),
        doubt_window=timedelta(seconds=float(cfg.get("SEND_DOUBT_WINDOW_SECONDS", 600))),
        lease=timedelta(seconds=float(cfg.get("SEND_LEASE_SECONDS", 120))),
        rate_per_second=float(cfg.get("SEND_RATE_PER_SECOND") or 0) or None,
    )


def worker_for(app: Flask, *, idle_seconds: float = 1.0) -> InProcessWorker:
    """A sending worker for ``app``: its gateway and settings are read from the app's config
    (used by the in-process thread and by ``flask --app composer send work``)."""
    from composer.web.mail import mail_gateway

    def gateway() -> Any:
        with app.app_context():
            return mail_gateway()

    def settings() -> outbox.DispatchSettings:
        with app.app_context():
            return dispatch_settings()

    return InProcessWorker(app, gateway, settings, idle_seconds=idle_seconds)


def wake_sender(run_id: int) -> str | None:
    """Have the configured worker send ``run_id`` now. Returns a problem in words when the
    workers could not be told (the run is saved and will be picked up when they start)."""
    mode = current_app.config.get("SEND_WORKER", "inprocess")
    if mode == "celery":
        from composer.tasks import queue_running_runs

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


def worker() -> InProcessWorker | None:
    """The app's in-process sender (``SEND_WORKER = "inprocess"``), started on first use."""
    if current_app.config.get("SEND_WORKER", "inprocess") != "inprocess":
        return None
    extensions = current_app.extensions
    found: InProcessWorker | None = extensions.get("composer.sender")
    if found is None:
        found = worker_for(current_app._get_current_object())  # type: ignore[attr-defined]
        extensions["composer.sender"] = found
    return found


def _release(incident: Incident) -> tuple[approval.Release | None, str | None]:
    """The approved release, or why there is none."""
    version = notices.latest_version(db.session(), incident)
    if version is None:
        return None, "There is no notice yet."
    try:
        bundle = approval.incident_bundle(
            db.session(),
            incident,
            version,
            config=current_app.config,
            catalogue=catalogue(),
            today=today(),
        )
        return approval.release_check(db.session(), incident, bundle), None
    except approval.ApprovalError as exc:
        return None, str(exc)
    except RenderError as exc:
        return None, f"The notice cannot be rendered: {exc}"


def _runs(incident: Incident) -> list[SendRun]:
    return list(
        db.session.scalars(
            select(SendRun).where(SendRun.incident_id == incident.id).order_by(SendRun.id.desc())
        )
    )


@bp.get("/incidents/<int:incident_id>/send")
@signed_in
def send_page(incident_id: int) -> str:
    incident = _incident(incident_id)
    release, problem = _release(incident)
    recipient_list = latest_list(db.session(), incident)
    return render_template(
        "sending/send.html",
        incident=incident,
        release=release,
        problem=problem,
        recipient_list=recipient_list,
        runs=_runs(incident),
    )


@bp.post("/incidents/<int:incident_id>/send/test")
@require_role(Role.AUTHOR, Role.ADMIN)
def test_send(incident_id: int) -> Response:
    """The approved notice, first variant, to the signed-in person's own address."""
    incident = _incident(incident_id)
    release, problem = _release(incident)
    back = redirect(url_for(".send_page", incident_id=incident_id))
    if release is None:
        flash(f"No test sent. {problem}", "error")
        return back
    from composer.web.mail import mail_gateway

    variant = release.bundle.variants[0]
    name = current_user.display_name.split()
    me = MergeRecipient(
        first_name=name[0] if name else "",
        last_name=" ".join(name[1:]),
        email=current_user.email,
        reference="TEST",
    )
    message = BatchMessage(
        batch_id=0,
        content=CohortContent(subject=variant.subject, html=variant.html, text=variant.text),
        sender=str(current_app.config["MAIL_SENDER"]),
        reply_to=str(current_app.config.get("MAIL_REPLY_TO") or ""),
        recipients=[
            BatchRecipient(outbox_id=0, email=me.email, name=me.full_name, values=me.merge_values())
        ],
    )
    try:
        mail_gateway().send_batch(message)
    except GatewayError as exc:
        flash(f"The test could not be sent: {exc}", "error")
        return back
    audit.record(
        db.session(),
        actor=current_user,
        action="send.test",
        subject_type="incident",
        subject_id=incident.id,
        after={"bundle_sha256": release.bundle.sha256, "variant": variant.spec.key},
    )
    db.session.commit()
    flash(f"Test sent to {current_user.email} ({variant.spec.label}).", "success")
    return back


@bp.post("/incidents/<int:incident_id>/send")
@require_role(Role.ADMIN)
def start(incident_id: int) -> Response:
    incident = _incident(incident_id, for_update=True)
    back = redirect(url_for(".send_page", incident_id=incident_id))
    release, problem = _release(incident)
    if release is None:
        flash(f"Nothing was sent. {problem}", "error")
        return back
    recipient_list = latest_list(db.session(), incident)
    if recipient_list is None or not recipient_list.imported:
        flash("Nothing was sent: upload the recipient list first.", "error")
        return back
    if request.form.get("bundle_sha256") != release.bundle.sha256:
        flash("Nothing was sent: what would be sent changed since you opened the page.", "error")
        return back
    active = [r for r in _runs(incident) if r.state in (RunState.RUNNING, RunState.PAUSED)]
    if active:
        flash("A send for this incident is already running.", "error")
        return redirect(url_for(".progress", incident_id=incident_id, run_id=active[0].id))
    run = outbox.start_run(db.session(), incident, recipient_list, release, by=current_user)
    db.session.commit()
    problem = wake_sender(run.id)
    if problem:
        flash(problem, "error")
    else:
        flash("Sending started.", "success")
    return redirect(url_for(".progress", incident_id=incident_id, run_id=run.id))


def _run_or_404(incident: Incident, run_id: int) -> SendRun:
    run = db.session.get(SendRun, run_id)
    if run is None or run.incident_id != incident.id:
        abort(404, description=f"This incident has no send {run_id}.")
    return run


def progress_data(run: SendRun) -> dict[str, Any]:
    counts = outbox.run_counts(db.session(), run)
    total = sum(counts.values())
    done = sum(counts[s] for s in DONE_STATES)
    elapsed = max((utcnow() - run.created_at).total_seconds(), 0.001)
    rate = done / elapsed if done else 0.0
    eta = (total - done) / rate if rate and run.state == RunState.RUNNING.value else None
    return {
        "state": run.state,
        "message": run.message,
        "counts": counts,
        "total": total,
        "done": done,
        "percent": round(100 * done / total, 1) if total else 100.0,
        "eta_seconds": round(eta) if eta is not None else None,
    }


@bp.get("/incidents/<int:incident_id>/send/runs/<int:run_id>")
@signed_in
def progress(incident_id: int, run_id: int) -> str:
    incident = _incident(incident_id)
    run = _run_or_404(incident, run_id)
    return render_template("sending/run.html", incident=incident, run=run, data=progress_data(run))


@bp.get("/incidents/<int:incident_id>/send/runs/<int:run_id>.json")
@signed_in
def progress_json(incident_id: int, run_id: int) -> Response:
    incident = _incident(incident_id)
    return jsonify(progress_data(_run_or_404(incident, run_id)))


@bp.post("/incidents/<int:incident_id>/send/runs/<int:run_id>/<any(pause, resume, cancel):action>")
@require_role(Role.ADMIN)
def control(incident_id: int, run_id: int, action: str) -> Response:
    incident = _incident(incident_id, for_update=True)
    run = _run_or_404(incident, run_id)
    if action == "pause":
        outbox.pause(db.session(), run)
    elif action == "resume":
        outbox.resume(db.session(), run)
    else:
        outbox.cancel(db.session(), run, now=utcnow())
    audit.record(
        db.session(),
        actor=current_user,
        action=f"send.{action}d" if action != "cancel" else "send.cancelled",
        subject_type="incident",
        subject_id=incident.id,
        after={"run": run.id, "state": run.state},
    )
    db.session.commit()
    if action == "resume":
        problem = wake_sender(run.id)
        if problem:
            flash(problem, "error")
    return redirect(url_for(".progress", incident_id=incident_id, run_id=run_id))


@bp.post("/webhooks/sendgrid")
@csrf.exempt  # type: ignore[untyped-decorator]  # SendGrid signs its posts instead
def webhook() -> tuple[str, int]:
    """SendGrid's Event Webhook: signed (ECDSA over timestamp + body), fresh, applied once."""
    key = str(current_app.config.get("SENDGRID_WEBHOOK_PUBLIC_KEY") or "")
    if not key:
        return "The Event Webhook is not configured (SENDGRID_WEBHOOK_PUBLIC_KEY).", 503
    payload = request.get_data(cache=False)
    try:
        verify_signature(
            key,
            payload,
            request.headers.get(SIGNATURE_HEADER),
            request.headers.get(TIMESTAMP_HEADER),
            now=time.time(),
            max_age_seconds=int(current_app.config.get("SENDGRID_WEBHOOK_MAX_AGE_SECONDS", 300)),
        )
        events = parse_events(payload)
    except WebhookKeyInvalid as exc:
        current_app.logger.error("Event Webhook key unusable: %s", exc)
        return "The Event Webhook's verification key is not usable.", 503
    except WebhookRejected as exc:
        return f"Refused: {exc}", 403
    except ValueError as exc:
        return f"Refused: {exc}", 400
    outbox.apply_events(db.session(), events, now=utcnow())
    db.session.commit()
    return "", 204

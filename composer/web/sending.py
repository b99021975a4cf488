"""Sending over HTTP: the send page (release check, test send, send), a run's progress with
pause, resume and cancel, and SendGrid's signed Event Webhook.

Sending needs the admin role; a test send goes to the signed-in person's own address. The
domain work is in ``composer.sending`` (outbox, worker) and ``composer.approval``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import (
    Blueprint,
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
from sqlalchemy import func, select
from werkzeug.wrappers import Response

from composer import approval, audit
from composer.delivery import dispatch, ratelimit, schedule
from composer.delivery.gateways import BatchMessage, BatchRecipient, CohortContent, GatewayError
from composer.delivery.webhook import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookKeyInvalid,
    WebhookRejected,
    parse_events,
    skipped_summary,
    verify_signature,
)
from composer.extensions import csrf, db
from composer.models import (
    DeliveryState,
    Incident,
    RecipientList,
    Role,
    RunState,
    SendBatch,
    SendRun,
    utcnow,
)
from composer.notices import versions
from composer.recipients.cohorts import latest_list
from composer.rendering.errors import RenderError
from composer.rendering.merge_fields import Recipient
from composer.web.access import require_role, signed_in
from composer.web.common import catalogue, localtime, today, user_zone
from composer.web.incidents import _incident
from composer.workers.inprocess import wake_sender, worker
from composer.workers.runtime import dispatch_settings

bp = Blueprint("sending", __name__)

#: A run in one of these states blocks starting another send for the incident.
ACTIVE_STATES = (
    RunState.PREPARING,
    RunState.RUNNING,
    RunState.PAUSED,
    RunState.SCHEDULED,
    RunState.STOPPED,
    RunState.IN_DOUBT,
)
DONE_STATES = (
    "accepted",
    "delivered",
    "bounced",
    "dropped",
    "invalid",
    "cancelled",
    "post",
    "already-sent",
)


@bp.before_app_request
def _sender_carries_on() -> None:
    """The embedded default: the sending threads start with the app's first request, so a
    send that was running (or scheduled, or letters waiting) when the app stopped carries on
    after a restart without anyone pressing anything, and the retention purge runs."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if app.extensions.get("composer.sender") is not None:
        return
    sender = worker()
    if sender is not None:
        sender.wake()


def _release(incident: Incident) -> tuple[approval.Release | None, str | None]:
    """The approved release, or why there is none."""
    version = versions.latest_version(db.session(), incident)
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
    return _send_page(_incident(incident_id))


def _webhook() -> dict[str, Any]:
    """What the send pages say about the Event Webhook: only SendGrid has one, and without it
    (or while it is silent) in-doubt recipients wait for an admin."""
    cfg = current_app.config
    return {
        "webhook_relevant": cfg.get("MAIL_GATEWAY") == "sendgrid",
        "webhook": dispatch.webhook_status(
            db.session(),
            configured=bool(cfg.get("SENDGRID_WEBHOOK_PUBLIC_KEY")),
            silent_after=timedelta(seconds=float(cfg.get("SEND_WEBHOOK_SILENT_SECONDS") or 600)),
            now=utcnow(),
        ),
        "silent_minutes": round(float(cfg.get("SEND_WEBHOOK_SILENT_SECONDS") or 600) / 60),
    }


def _send_page(incident: Incident, *, send_at: str = "", send_at_error: str = "") -> str:
    release, problem = _release(incident)
    recipient_list = latest_list(db.session(), incident)
    runs = _runs(incident)
    active = next((r for r in runs if r.state in ACTIVE_STATES), None)
    # The latest send of this very list: once there is one, the whole list is never offered
    # again, only the people that send did not reach.
    list_run = next((r for r in runs if recipient_list and r.list_id == recipient_list.id), None)
    return render_template(
        "sending/send.html",
        incident=incident,
        release=release,
        problem=problem,
        recipient_list=recipient_list,
        runs=runs,
        active_run=active,
        list_run=list_run,
        earlier_runs=any(
            r.list_id != (recipient_list.id if recipient_list else None) for r in runs
        ),
        unreached=(
            dispatch.unreached(db.session(), list_run)
            if list_run is not None and list_run.state in dispatch.UNREACHED_RUN_STATES
            else None
        ),
        in_doubt=dispatch.run_counts(db.session(), active)["in-doubt"] if active else 0,
        send_at=send_at,
        send_at_error=send_at_error,
        zone=user_zone().key,
        earliest=datetime.now(user_zone()).strftime("%Y-%m-%dT%H:%M"),
        **_webhook(),
    )


def _confirm(
    *,
    incident: Incident,
    title: str,
    what: str,
    count: int,
    action: str,
    button: str,
    fields: dict[str, str] | None = None,
    warning: str = "",
    changed: str = "",
    back: str,
) -> str:
    """The one question before anything is sent: what will happen, to how many people. The
    form posts back with ``confirm`` set to the count, which the server checks again."""
    return render_template(
        "sending/confirm.html",
        incident=incident,
        title=title,
        what=what,
        count=count,
        action=action,
        button=button,
        fields=fields or {},
        warning=warning,
        changed=changed,
        back=back,
    )


def _confirmed(count: int) -> tuple[bool, str]:
    """Whether the form carries the admin's confirmation of ``count``; when it carries another
    count, a sentence saying the figure changed."""
    given = request.form.get("confirm")
    if given is None:
        return False, ""
    if given == str(count):
        return True, ""
    return False, f"The number changed since you were asked: it is now {count:,}. Check again."


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
    from composer.workers.runtime import mail_gateway

    variant = release.bundle.variants[0]
    name = current_user.display_name.split()
    me = Recipient(
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
def start(incident_id: int) -> Response | tuple[str, int]:
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
    intent = request.form.get("intent", "")
    if intent not in ("now", "schedule"):
        flash("Nothing was sent: choose Send now or Schedule the send.", "error")
        return back
    runs = _runs(incident)
    active = [r for r in runs if r.state in ACTIVE_STATES]
    if active:
        flash(
            f"Nothing more was started: a send for this incident is already {active[0].state}.",
            "error",
        )
        return redirect(url_for(".progress", incident_id=incident_id, run_id=active[0].id))
    sent = next((r for r in runs if r.list_id == recipient_list.id), None)
    if sent is not None:
        # Never the whole list twice (a second press of Send lands here too).
        flash(
            f"Nothing was sent: this list was already sent (send {sent.id}, {sent.state}). "
            "Only the people that send did not reach can be sent to.",
            "error",
        )
        return redirect(url_for(".progress", incident_id=incident_id, run_id=sent.id))
    send_at = request.form.get("send_at", "").strip()
    when = None
    if intent == "schedule":  # an empty date is an error here, never "now"
        try:
            when = schedule.parse_local_time(send_at, user_zone(), now=utcnow())
        except schedule.ScheduleError as exc:
            db.session.rollback()
            return _send_page(incident, send_at=send_at, send_at_error=str(exc)), 422
    count = recipient_list.imported
    confirmed, changed = _confirmed(count)
    if not confirmed:
        skip = (
            " Anyone on it who already had this notice version by email from an earlier send "
            "is skipped, not sent it twice."
            if runs
            else ""
        )
        fields = {"intent": intent, "bundle_sha256": release.bundle.sha256, "send_at": send_at}
        page = _confirm(
            incident=incident,
            title="Schedule the send?" if when else "Send the notice now?",
            what=(
                f"The approved notice will be emailed to {count:,} recipients from "
                f"{recipient_list.filename}"
                + (f" at {localtime(when)}." if when else ", starting now.")
                + " Those with no email address go on the postal list."
                + skip
                + " This cannot be undone once an email has gone."
            ),
            count=count,
            action=url_for(".start", incident_id=incident_id),
            button=(
                f"Yes, schedule it for {count:,} recipients"
                if when
                else f"Yes, send to {count:,} recipients now"
            ),
            fields=fields,
            changed=changed,
            back=url_for(".send_page", incident_id=incident_id),
        )
        db.session.rollback()
        return page, 200
    run = dispatch.start_run(
        db.session(), incident, recipient_list, release, by=current_user, scheduled_for=when
    )
    db.session.commit()
    problem = wake_sender(run.id)
    if problem:
        flash(problem, "error")
    elif when is not None:
        flash(f"Sending is scheduled for {localtime(when)}.", "success")
    else:
        flash("Sending started.", "success")
    return redirect(url_for(".progress", incident_id=incident_id, run_id=run.id))


def _run_or_404(incident: Incident, run_id: int) -> SendRun:
    run = db.session.get(SendRun, run_id)
    if run is None or run.incident_id != incident.id:
        abort(404, description=f"This incident has no send {run_id}.")
    return run


def progress_data(run: SendRun) -> dict[str, Any]:
    """What the progress page shows (and its JSON, read by ``static/js/send-progress.js``):
    the counts, an estimate, and when the send is not moving, why and until when
    (``waiting``: a reason code; ``status``: the sentence; ``until``: ISO time or None)."""
    session = db.session()
    now = utcnow()
    counts = dispatch.run_counts(session, run)
    total = sum(counts.values())
    done = sum(counts[s] for s in DONE_STATES)
    rate_limit = dispatch_settings().rate_per_second
    to_prepare = _to_prepare(run) if run.state == RunState.PREPARING.value else None
    prepared = total
    if to_prepare is not None:  # "0 of 201", not of the rows written so far
        total = max(total, to_prepare)
    wait = _waiting(run, counts, rate_limit, to_prepare=to_prepare, now=now)
    eta: float | None = None
    if run.state == RunState.RUNNING.value:
        left = counts[DeliveryState.QUEUED.value] + counts[DeliveryState.SENDING.value]
        held = max((run.not_before - now).total_seconds(), 0.0) if run.not_before else 0.0
        if rate_limit:
            # The limit sets the pace: the estimate says so from the start, and does not
            # climb while batches wait their turn.
            eta = left / rate_limit + held if left else None
        elif done:
            first = session.scalar(
                select(func.min(SendBatch.claimed_at)).where(SendBatch.run_id == run.id)
            )
            elapsed = max((now - (first or run.created_at)).total_seconds(), 0.001)
            eta = left / (done / elapsed) + held if left else None
    return {
        "state": run.state,
        "message": run.message,
        "counts": counts,
        "total": total,
        "done": done,
        "percent": round(100 * done / total, 1) if total else 100.0,
        "eta_seconds": round(eta) if eta is not None else None,
        "scheduled_for": (
            localtime(run.not_before)
            if run.state == RunState.SCHEDULED.value and run.not_before
            else None
        ),
        "waiting": wait.reason,
        "status": wait.text,
        "until": wait.until.isoformat() if wait.until is not None else None,
        "prepared": prepared if to_prepare is not None else None,
        "to_prepare": to_prepare,
    }


@dataclass(frozen=True)
class _Waiting:
    #: "preparing", "scheduled", "paused", "rate_limit", "gateway_rate_limit", "backoff", or
    #: None when the send is moving (or over).
    reason: str | None = None
    text: str | None = None
    until: datetime | None = None


def _to_prepare(run: SendRun) -> int:
    """Recipients a preparing run will have (the list's imported rows)."""
    imported = db.session.scalar(
        select(RecipientList.imported).where(RecipientList.id == run.list_id)
    )
    return int(imported or 0)


def _waiting(
    run: SendRun,
    counts: dict[str, int],
    rate_limit: float | None,
    *,
    to_prepare: int | None,
    now: datetime,
) -> _Waiting:
    """Why ``run`` is not sending at this moment, in words, and until when."""
    queued = counts[DeliveryState.QUEUED.value]
    if run.state == RunState.PREPARING.value:
        prepared = sum(counts.values())
        then = (
            f"it waits for its time, {localtime(run.not_before)}"
            if run.not_before
            else "sending starts"
        )
        return _Waiting(
            "preparing",
            f"Preparing: {prepared:,} of {to_prepare or prepared:,} recipients (nothing has "
            f"been sent yet). When every recipient is ready, {then}.",
        )
    if run.state == RunState.SCHEDULED.value:
        return _Waiting(
            "scheduled",
            f"Scheduled for {localtime(run.not_before)}: nothing has been sent yet.",
            run.not_before,
        )
    if run.state == RunState.PAUSED.value:
        if run.prepared_at is None:
            return _Waiting(
                "paused",
                f"Paused while preparing ({sum(counts.values()):,} recipients ready): nothing "
                "is prepared or sent until an admin resumes.",
            )
        return _Waiting(
            "paused",
            f"Paused: nothing more is sent until an admin resumes ({queued:,} still queued).",
        )
    if run.state != RunState.RUNNING.value or not queued:
        return _Waiting()
    if run.not_before is not None and run.not_before > now:
        if run.failures:
            attempts = (
                "a failed attempt"
                if run.failures == 1
                else f"{run.failures} failed attempts in a row"
            )
            return _Waiting(
                "backoff",
                f"Backing off after {attempts} to reach the mail service: the next try is at "
                f"{_clock(run.not_before, now=now)}.",
                run.not_before,
            )
        return _Waiting(
            "gateway_rate_limit",
            "SendGrid asked us to slow down (429): waiting for its rate-limit reset at "
            f"{_clock(run.not_before, now=now)}.",
            run.not_before,
        )
    if rate_limit:
        turn = ratelimit.next_turn(db.session())
        if turn is not None and turn > now:
            return _Waiting(
                "rate_limit",
                f"Paced by the sending rate limit of {rate_limit:g} recipients a second: the "
                f"next batch goes at {_clock(turn, now=now)}.",
                turn,
            )
    return _Waiting()


def _clock(at: datetime, *, now: datetime) -> str:
    """``at`` in the viewer's zone, to the second when it is within the hour."""
    if at - now > timedelta(hours=1):
        return localtime(at)
    return f"{at.astimezone(user_zone()):%H:%M:%S %Z}"


@bp.get("/incidents/<int:incident_id>/send/runs/<int:run_id>")
@signed_in
def progress(incident_id: int, run_id: int) -> str:
    incident = _incident(incident_id)
    run = _run_or_404(incident, run_id)
    return render_template(
        "sending/run.html",
        incident=incident,
        run=run,
        data=progress_data(run),
        unreached=(
            dispatch.unreached(db.session(), run)
            if run.state in dispatch.UNREACHED_RUN_STATES
            else None
        ),
        **_webhook(),
    )


@bp.get("/incidents/<int:incident_id>/send/runs/<int:run_id>.json")
@signed_in
def progress_json(incident_id: int, run_id: int) -> Response:
    incident = _incident(incident_id)
    return jsonify(progress_data(_run_or_404(incident, run_id)))


@bp.post(
    "/incidents/<int:incident_id>/send/runs/<int:run_id>/<any(pause, resume, cancel, now):action>"
)
@require_role(Role.ADMIN)
def control(incident_id: int, run_id: int, action: str) -> Response | str:
    incident = _incident(incident_id, for_update=True)
    run = _run_or_404(incident, run_id)
    if action == "now" and run.state == RunState.SCHEDULED.value:
        count = dispatch.run_counts(db.session(), run)["queued"]
        confirmed, changed = _confirmed(count)
        if not confirmed:
            page = _confirm(
                incident=incident,
                title="Send it now?",
                what=(
                    f"Send {run.id} is scheduled for {localtime(run.not_before)}. Send it now "
                    f"instead: the approved notice will be emailed to {count:,} recipients, "
                    "starting at once."
                ),
                count=count,
                action=url_for(".control", incident_id=incident_id, run_id=run_id, action="now"),
                button=f"Yes, send to {count:,} recipients now",
                changed=changed,
                back=url_for(".progress", incident_id=incident_id, run_id=run_id),
            )
            db.session.rollback()
            return page
    if action == "now":  # a scheduled send, started at once
        if schedule.send_now(db.session(), run, by=current_user):
            db.session.commit()
            problem = wake_sender(run.id)
            flash(problem or "Sending started.", "error" if problem else "success")
        else:
            flash(f"This send is {run.state}, not scheduled: nothing changed.", "error")
        return redirect(url_for(".progress", incident_id=incident_id, run_id=run_id))
    if action == "pause":
        dispatch.pause(db.session(), run)
    elif action == "resume":
        dispatch.resume(db.session(), run)
    else:
        dispatch.cancel(db.session(), run, now=utcnow())
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


@bp.post("/incidents/<int:incident_id>/send/runs/<int:run_id>/unreached")
@require_role(Role.ADMIN)
def resend_unreached(incident_id: int, run_id: int) -> Response | str:
    """Send a finished or cancelled run again to the people it did not reach, once confirmed."""
    incident = _incident(incident_id, for_update=True)
    run = _run_or_404(incident, run_id)
    here = redirect(url_for(".progress", incident_id=incident_id, run_id=run_id))
    if run.state not in dispatch.UNREACHED_RUN_STATES:
        flash(f"Nothing was sent: this send is {run.state}.", "error")
        return here
    release, problem = _release(incident)
    if release is None or release.bundle.sha256 != run.bundle_sha256:
        flash(
            "Nothing was sent: what would be sent is no longer what this send sent "
            f"({problem or 'the notice or the list changed since'}).",
            "error",
        )
        return here
    missed = dispatch.unreached(db.session(), run)
    confirmed, changed = _confirmed(missed.total)
    if not confirmed:
        page = _confirm(
            incident=incident,
            title="Send to the people this send did not reach?",
            what=(
                f"The approved notice will be emailed to the {missed.total:,} people send "
                f"{run.id} did not reach: "
                + "; ".join(f"{n:,} {why}" for why, n in missed.offered)
                + ". Nobody it reached is sent it again."
            ),
            count=missed.total,
            action=url_for(".resend_unreached", incident_id=incident_id, run_id=run_id),
            button=f"Yes, send to these {missed.total:,} people",
            changed=changed,
            back=url_for(".progress", incident_id=incident_id, run_id=run_id),
        )
        db.session.rollback()
        return page
    try:
        count = dispatch.resend_unreached(
            db.session(), run, by=current_user, expected=missed.total, now=utcnow()
        )
    except dispatch.SendControlError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return here
    db.session.commit()
    problem = wake_sender(run.id)
    flash(
        problem or f"Sending to the {count:,} people not reached.",
        "error" if problem else "success",
    )
    return here


@bp.post(
    "/incidents/<int:incident_id>/send/runs/<int:run_id>/in-doubt/<any(resend, delivered):choice>"
)
@require_role(Role.ADMIN)
def settle_in_doubt(incident_id: int, run_id: int, choice: str) -> Response | str:
    """An admin settles a run's in-doubt recipients: send them again (some may get two copies)
    or mark them delivered (some may have got nothing), once confirmed with the count."""
    incident = _incident(incident_id, for_update=True)
    run = _run_or_404(incident, run_id)
    here = redirect(url_for(".progress", incident_id=incident_id, run_id=run_id))
    count = dispatch.run_counts(db.session(), run)["in-doubt"]
    confirmed, changed = _confirmed(count)
    if count and not confirmed:
        resend = choice == "resend"
        page = _confirm(
            incident=incident,
            title=("Send the in-doubt recipients again?" if resend else "Mark them delivered?"),
            what=(
                f"{count:,} recipients of send {run.id} are in doubt: the request for them timed "
                "out or its worker stopped, and SendGrid sent no event saying it took it. "
                + (
                    f"They will be emailed again. Up to {count:,} of them may get two copies."
                    if resend
                    else f"They will be counted as sent and not emailed again. If SendGrid did "
                    f"not take the request, up to {count:,} of them got nothing."
                )
            ),
            count=count,
            action=url_for(
                ".settle_in_doubt", incident_id=incident_id, run_id=run_id, choice=choice
            ),
            button=(
                f"Yes, send to these {count:,} again, knowing up to {count:,} may get two copies"
                if resend
                else f"Yes, mark these {count:,} delivered"
            ),
            warning="Some may get two copies." if resend else "Some may have got nothing.",
            changed=changed,
            back=url_for(".progress", incident_id=incident_id, run_id=run_id),
        )
        db.session.rollback()
        return page
    settle = dispatch.resend_in_doubt if choice == "resend" else dispatch.mark_in_doubt_delivered
    try:
        done = settle(db.session(), run, by=current_user, expected=count, now=utcnow())
    except dispatch.SendControlError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return here
    db.session.commit()
    if choice == "resend":
        problem = wake_sender(run.id)
        flash(
            problem or f"Sending the {done:,} in-doubt recipients again.",
            "error" if problem else "success",
        )
    else:
        flash(f"{done:,} in-doubt recipients marked delivered.", "success")
    return here


@bp.post("/webhooks/sendgrid")
@csrf.exempt  # type: ignore[untyped-decorator]  # SendGrid signs its posts instead
def webhook() -> tuple[str, int] | tuple[str, int, dict[str, str]]:
    """SendGrid's Event Webhook: signed (ECDSA over timestamp + body), fresh, applied once.
    Items that are not usable events are skipped, never the whole post (SendGrid would retry
    it, good events and all, for ever): 204 when every item was used, else 200 and a line
    saying what was skipped and why."""
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
    dispatch.apply_events(db.session(), events, now=utcnow())
    db.session.commit()
    skipped = skipped_summary(events)
    if skipped:
        current_app.logger.warning("Event Webhook: %s", skipped)
        return skipped, 200, {"Content-Type": "text/plain; charset=utf-8"}
    return "", 204

"""A run's page and its controls: progress (HTML and JSON), pause, resume, cancel, send a
scheduled run now, send to the people it did not reach, and settle the in-doubt."""

from __future__ import annotations

from flask import flash, jsonify, redirect, render_template, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from composer import audit
from composer.delivery import control as send_control
from composer.delivery import dispatch, schedule
from composer.extensions import db
from composer.models import Role, RunState, utcnow
from composer.web.access import require_role, signed_in
from composer.web.common import localtime
from composer.web.incidents import _incident
from composer.web.sending.confirm import confirm_page, confirmation
from composer.web.sending.progress import progress_data
from composer.web.sending.state import release_of, run_or_404, webhook_status
from composer.workers.inprocess import wake_sender


@signed_in
def progress(incident_id: int, run_id: int) -> str:
    incident = _incident(incident_id)
    run = run_or_404(incident, run_id)
    return render_template(
        "sending/run.html",
        incident=incident,
        run=run,
        data=progress_data(run),
        unreached=(
            send_control.unreached(db.session(), run)
            if run.state in send_control.UNREACHED_RUN_STATES
            else None
        ),
        **webhook_status(),
    )


@signed_in
def progress_json(incident_id: int, run_id: int) -> Response:
    incident = _incident(incident_id)
    return jsonify(progress_data(run_or_404(incident, run_id)))


@require_role(Role.ADMIN)
def control(incident_id: int, run_id: int, action: str) -> Response | str:
    incident = _incident(incident_id, for_update=True)
    run = run_or_404(incident, run_id)
    if action == "now" and run.state == RunState.SCHEDULED.value:
        count = dispatch.run_counts(db.session(), run)["queued"]
        confirmed, changed = confirmation(count)
        if not confirmed:
            page = confirm_page(
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
        send_control.pause(db.session(), run)
    elif action == "resume":
        send_control.resume(db.session(), run)
    else:
        send_control.cancel(db.session(), run, now=utcnow())
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


@require_role(Role.ADMIN)
def resend_unreached(incident_id: int, run_id: int) -> Response | str:
    """Send a finished or cancelled run again to the people it did not reach, once confirmed."""
    incident = _incident(incident_id, for_update=True)
    run = run_or_404(incident, run_id)
    here = redirect(url_for(".progress", incident_id=incident_id, run_id=run_id))
    if run.state not in send_control.UNREACHED_RUN_STATES:
        flash(f"Nothing was sent: this send is {run.state}.", "error")
        return here
    release, problem = release_of(incident)
    if release is None or release.bundle.sha256 != run.bundle_sha256:
        flash(
            "Nothing was sent: what would be sent is no longer what this send sent "
            f"({problem or 'the notice or the list changed since'}).",
            "error",
        )
        return here
    missed = send_control.unreached(db.session(), run)
    confirmed, changed = confirmation(missed.total)
    if not confirmed:
        page = confirm_page(
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
        count = send_control.resend_unreached(
            db.session(), run, by=current_user, expected=missed.total, now=utcnow()
        )
    except send_control.SendControlError as exc:
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


@require_role(Role.ADMIN)
def settle_in_doubt(incident_id: int, run_id: int, choice: str) -> Response | str:
    """An admin settles a run's in-doubt recipients: send them again (some may get two copies)
    or mark them delivered (some may have got nothing), once confirmed with the count."""
    incident = _incident(incident_id, for_update=True)
    run = run_or_404(incident, run_id)
    here = redirect(url_for(".progress", incident_id=incident_id, run_id=run_id))
    count = dispatch.run_counts(db.session(), run)["in-doubt"]
    confirmed, changed = confirmation(count)
    if count and not confirmed:
        resend = choice == "resend"
        page = confirm_page(
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
    settle = (
        send_control.resend_in_doubt if choice == "resend" else send_control.mark_in_doubt_delivered
    )
    try:
        done = settle(db.session(), run, by=current_user, expected=count, now=utcnow())
    except send_control.SendControlError as exc:
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

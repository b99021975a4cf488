"""The send page: the release check, a test send to oneself, and starting (or scheduling) the
send of the latest recipient list."""

from __future__ import annotations

from datetime import datetime

from flask import flash, redirect, render_template, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from composer import audit
from composer.delivery import control, dispatch, preparing, schedule
from composer.delivery.gateways import BatchMessage, BatchRecipient, CohortContent, GatewayError
from composer.extensions import current_settings, db
from composer.models import Incident, Role, utcnow
from composer.recipients.cohorts import latest_list
from composer.rendering.merge_fields import Recipient
from composer.web.access import require_role, signed_in
from composer.web.common import localtime, user_zone
from composer.web.forms.sending import StartSendForm
from composer.web.incidents import _incident
from composer.web.sending.confirm import confirm_page, confirmation
from composer.web.sending.state import ACTIVE_STATES, release_of, runs_of, webhook_status
from composer.workers.inprocess import wake_sender


@signed_in
def send_page(incident_id: int) -> str:
    return _send_page(_incident(incident_id))


def _send_page(incident: Incident, *, send_at: str = "", send_at_error: str = "") -> str:
    release, problem = release_of(incident)
    recipient_list = latest_list(db.session(), incident)
    runs = runs_of(incident)
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
            control.unreached(db.session(), list_run)
            if list_run is not None and list_run.state in control.UNREACHED_RUN_STATES
            else None
        ),
        in_doubt=dispatch.run_counts(db.session(), active)["in-doubt"] if active else 0,
        send_at=send_at,
        send_at_error=send_at_error,
        zone=user_zone().key,
        earliest=datetime.now(user_zone()).strftime("%Y-%m-%dT%H:%M"),
        **webhook_status(),
    )


@require_role(Role.AUTHOR, Role.ADMIN)
def test_send(incident_id: int) -> Response:
    """The approved notice, first variant, to the signed-in person's own address."""
    incident = _incident(incident_id)
    release, problem = release_of(incident)
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
    settings = current_settings()
    message = BatchMessage(
        batch_id=0,
        content=CohortContent(subject=variant.subject, html=variant.html, text=variant.text),
        sender=settings.mail_sender,
        reply_to=settings.mail_reply_to or "",
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


@require_role(Role.ADMIN)
def start(incident_id: int) -> Response | tuple[str, int]:
    incident = _incident(incident_id, for_update=True)
    back = redirect(url_for(".send_page", incident_id=incident_id))
    release, problem = release_of(incident)
    if release is None:
        flash(f"Nothing was sent. {problem}", "error")
        return back
    recipient_list = latest_list(db.session(), incident)
    if recipient_list is None or not recipient_list.imported:
        flash("Nothing was sent: upload the recipient list first.", "error")
        return back
    form = StartSendForm.posted()
    if form.bundle_sha256 != release.bundle.sha256:
        flash("Nothing was sent: what would be sent changed since you opened the page.", "error")
        return back
    intent = form.intent
    if intent not in ("now", "schedule"):
        flash("Nothing was sent: choose Send now or Schedule the send.", "error")
        return back
    runs = runs_of(incident)
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
    send_at = form.send_at
    when = None
    if intent == "schedule":  # an empty date is an error here, never "now"
        try:
            when = schedule.parse_local_time(send_at, user_zone(), now=utcnow())
        except schedule.ScheduleError as exc:
            db.session.rollback()
            return _send_page(incident, send_at=send_at, send_at_error=str(exc)), 422
    count = recipient_list.imported
    confirmed, changed = confirmation(count)
    if not confirmed:
        skip = (
            " Anyone on it who already had this notice version by email from an earlier send "
            "is skipped, not sent it twice."
            if runs
            else ""
        )
        fields = {"intent": intent, "bundle_sha256": release.bundle.sha256, "send_at": send_at}
        page = confirm_page(
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
    run = preparing.start_run(
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

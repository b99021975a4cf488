"""What reviewers and authors do to a review: comment, approve with their password, ask for
changes, withdraw; and an admin's number of approvals an incident needs."""

from __future__ import annotations

import math

from flask import flash, redirect, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from composer import accounts, approval
from composer.approval import ApprovalError, ApprovalRefused, BundleMismatch
from composer.extensions import db
from composer.models import Incident, Review, ReviewState, Role, utcnow
from composer.rendering.errors import RenderError
from composer.web.access import require_role
from composer.web.auth import login_throttle
from composer.web.common import password_hasher
from composer.web.forms.reviews import (
    ApproveForm,
    CommentForm,
    NoteForm,
    RequiredApprovalsForm,
)
from composer.web.incidents import _incident
from composer.web.redirects import local_target
from composer.web.reviews.context import bundle_for, default_required, review_or_404
from composer.web.reviews.notify import deliver_mail, notify_author
from composer.web.reviews.page import render_review


def _locked(incident_id: int, review_id: int) -> tuple[Incident, Review]:
    incident = _incident(incident_id, for_update=True)
    return incident, review_or_404(incident, review_id)


def _refused(incident: Incident, review: Review, exc: ApprovalError) -> tuple[str, int]:
    db.session.rollback()
    incident = _incident(incident.id)
    review = review_or_404(incident, review.id)
    status = (
        403 if isinstance(exc, ApprovalRefused) else 409 if isinstance(exc, BundleMismatch) else 422
    )
    return render_review(incident, review, error=str(exc), form=dict(request.form), status=status)


@require_role(Role.APPROVER, Role.AUTHOR)
def add_comment(incident_id: int, review_id: int) -> Response | tuple[str, int]:
    incident, found = _locked(incident_id, review_id)
    form = CommentForm.posted()
    part, quote, start, end = form.part, form.quote, form.start, form.end
    if not quote:
        part, start, end = "general", None, None
    elif part not in ("subject", "body") or start is None or end is None:
        # Without JavaScript the passage is pasted: find it in the text (body first).
        for name, source in (("body", found.version.body), ("subject", found.version.subject)):
            at = source.find(quote)
            if at >= 0:
                part, start, end = name, at, at + len(quote)
                break
        else:
            return _refused(
                incident,
                found,
                ApprovalError(
                    f"The passage “{quote[:80]}” is not in version {found.version.number}'s "
                    "text: copy it from the text exactly, or leave the passage empty to "
                    "comment on the whole notice."
                ),
            )
    try:
        approval.comment(
            db.session(),
            found,
            by=current_user,
            text=form.text,
            part=part,
            start=start,
            end=end,
        )
    except ApprovalError as exc:
        return _refused(incident, found, exc)
    db.session.commit()
    flash("Comment added.", "success")
    return redirect(url_for(".review", incident_id=incident_id, review_id=review_id) + "#comments")


@require_role(Role.APPROVER)
def approve(incident_id: int, review_id: int) -> Response | tuple[str, int]:
    incident, found = _locked(incident_id, review_id)
    form = ApproveForm.posted()
    refusal = approval.approval_refusal(db.session(), found, current_user)
    if refusal:
        return _refused(incident, found, ApprovalRefused(refusal))
    if form.bundle_sha256 != found.bundle_sha256:
        return _refused(
            incident,
            found,
            ApprovalError(
                "The page you approved from showed a different bundle: reload and check again."
            ),
        )
    try:
        # Its own per-user count: sign-in guesses at this account never hold up an approval.
        confirmed = accounts.confirm_password(
            db.session(),
            password_hasher(),
            login_throttle(),
            current_user._get_current_object(),
            form.password,
            now=utcnow(),
        )
    except accounts.TooManyAttempts as exc:
        db.session.commit()
        seconds = str(math.ceil(exc.retry_after.total_seconds()))
        page, status = render_review(
            incident,
            found,
            error=str(exc),
            error_field="password",
            form={"note": form.note},
            status=429,
        )
        return page, status, {"Retry-After": seconds}  # type: ignore[return-value]
    if not confirmed:
        db.session.commit()  # keep the failed check for throttling
        return render_review(
            incident,
            found,
            error="That password is not right, so nothing was approved. Type your password again.",
            error_field="password",
            form={"note": form.note},
            status=422,
        )
    try:
        bundle = bundle_for(incident, found.version)
        approval.approve(db.session(), found, by=current_user, bundle=bundle, note=form.note)
    except ApprovalError as exc:
        return _refused(incident, found, exc)
    except RenderError as exc:
        return _refused(incident, found, ApprovalError(f"This version cannot be rendered: {exc}"))
    db.session.commit()
    if found.state == ReviewState.APPROVED.value:
        flash(f"You approved version {found.version.number}. It is ready to send.", "success")
    else:
        left = found.required_approvals - len(found.approvals)
        flash(
            f"You approved version {found.version.number}. {left} more approval"
            f"{'s are' if left != 1 else ' is'} needed.",
            "success",
        )
    return redirect(url_for(".review", incident_id=incident_id, review_id=review_id))


@require_role(Role.APPROVER)
def request_changes(incident_id: int, review_id: int) -> Response | tuple[str, int]:
    incident, found = _locked(incident_id, review_id)
    try:
        approval.request_changes(db.session(), found, by=current_user, note=NoteForm.posted().note)
    except ApprovalError as exc:
        return _refused(incident, found, exc)
    notify_author(incident, found)
    db.session.commit()
    deliver_mail()
    flash(
        f"Sent version {found.version.number} back to {found.submitted_by.display_name} "
        "with your comments.",
        "success",
    )
    return redirect(url_for(".review", incident_id=incident_id, review_id=review_id))


@require_role(Role.AUTHOR)
def withdraw(incident_id: int, review_id: int) -> Response | tuple[str, int]:
    incident, found = _locked(incident_id, review_id)
    try:
        approval.withdraw(db.session(), found, by=current_user)
    except ApprovalError as exc:
        return _refused(incident, found, exc)
    db.session.commit()
    flash(f"Version {found.version.number} was withdrawn from review.", "info")
    return redirect(url_for("notices.editor", incident_id=incident_id))


@require_role(Role.ADMIN)
def set_required(incident_id: int) -> Response | tuple[str, int]:
    incident = _incident(incident_id, for_update=True)
    form = RequiredApprovalsForm.posted()
    value = form.required
    back = local_target(form.back) or url_for("incidents.summary", incident_id=incident_id)
    try:
        approval.set_required_approvals(
            db.session(),
            incident,
            value if value is not None else 0,
            by=current_user,
            default=default_required(),
        )
    except ApprovalError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(back)
    db.session.commit()
    flash(
        f"Notices for this incident now need {value} approval{'s' if value != 1 else ''}.",
        "success",
    )
    return redirect(back)

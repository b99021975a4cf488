"""Legal sign-off over HTTP: submit a version for review, the approval view, comments, requests
for changes, approval with the approver's password, the review queue, and the approvals rule.

The rules live in ``composer.approval``; this module parses requests, builds the bundle from the
app's settings, and turns refusals into pages: 403 for someone who may not do a thing (four eyes,
role), 409 when the text or settings moved on, 422 for input to fix.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from composer import accounts, approval, evidence, incidents
from composer.approval import ApprovalError, ApprovalRefused, BundleMismatch
from composer.checklist import describe
from composer.extensions import db
from composer.models import Incident, NoticeVersion, Review, ReviewState, Role, User, utcnow
from composer.notices import previews, versions
from composer.notices.diff import diff_notices
from composer.rendering.errors import RenderError
from composer.web import kept_forms
from composer.web.access import can, require_role, signed_in
from composer.web.auth import login_throttle
from composer.web.common import catalogue, password_hasher, today
from composer.web.incidents import _incident
from composer.web.notices import (
    CATEGORY_LABELS,
    company_name,
    lint_subject,
    lint_text,
)
from composer.web.redirects import local_target

bp = Blueprint("reviews", __name__)

STATE_LABELS = {
    ReviewState.IN_REVIEW.value: "In review",
    ReviewState.CHANGES_REQUESTED.value: "Changes requested",
    ReviewState.APPROVED.value: "Approved",
    ReviewState.VOIDED.value: "Voided",
    ReviewState.WITHDRAWN.value: "Withdrawn",
}


def default_required() -> int:
    return int(current_app.config.get("REQUIRED_APPROVALS") or approval.DEFAULT_REQUIRED_APPROVALS)


def bundle_for(incident: Incident, version: NoticeVersion) -> approval.Bundle:
    """The bundle for ``version`` as it would be sent now. Raises ``RenderError`` with a
    message for the user."""
    return approval.incident_bundle(
        db.session(),
        incident,
        version,
        config=current_app.config,
        catalogue=catalogue(),
        today=today(),
    )


def _review_or_404(incident: Incident, review_id: int) -> Review:
    review = approval.get_review(db.session(), incident, review_id)
    if review is None:
        abort(404, description=f"This incident has no review {review_id}.")
    return review


# Submitting --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SubmitCheck:
    version: NoticeVersion
    summary: dict[str, Any]
    errors: list[Any]
    warnings: list[approval.WarningToAcknowledge]


def _check_for_submit(incident: Incident, version: NoticeVersion) -> SubmitCheck:
    result = lint_text(version.body, incident)
    subject_findings = lint_subject(version.subject)
    errors = [f for f in [*subject_findings, *result.findings] if f.severity == "error"]
    return SubmitCheck(
        version=version,
        summary=approval.lint_summary(result, subject_findings),
        errors=errors,
        warnings=approval.warnings_to_acknowledge(result, subject_findings),
    )


def _render_submit(
    incident: Incident,
    check: SubmitCheck,
    *,
    reasons: dict[str, str] | None = None,
    problems: dict[str, str] | None = None,
    message: str | None = None,
    status: int = 200,
) -> tuple[str, int]:
    session = db.session()
    page = render_template(
        "reviews/submit.html",
        incident=incident,
        version=check.version,
        summary=check.summary,
        errors=check.errors,
        warnings=check.warnings,
        reasons=reasons or {},
        problems=problems or {},
        message=message,
        labels=CATEGORY_LABELS,
        open_review=approval.open_review(session, incident),
        required=approval.required_approvals(incident, default_required()),
        max_reason=approval.review.MAX_REASON_CHARS,
    )
    return page, status


def _latest_or_redirect(incident: Incident) -> NoticeVersion | Response:
    latest = versions.latest_version(db.session(), incident)
    if latest is None:
        flash("There is no notice to submit yet: write or draft one first.", "error")
        return redirect(url_for("notices.editor", incident_id=incident.id))
    return latest


@bp.get("/incidents/<int:incident_id>/notice/submit")
@require_role(Role.AUTHOR)
def submit_form(incident_id: int) -> Response | tuple[str, int]:
    incident = _incident(incident_id)
    latest = _latest_or_redirect(incident)
    if isinstance(latest, Response):
        return latest
    kept = kept_forms.take("reviews.submit", incident_id=incident_id)
    reasons = None
    if kept is not None:
        reasons = {
            name.removeprefix("reason-"): values[0] if values else ""
            for name, values in kept.fields.items()
            if name.startswith("reason-")
        }
    return _render_submit(incident, _check_for_submit(incident, latest), reasons=reasons)


def _approvers_to_notify(review: Review) -> list[User]:
    session = db.session()
    return [
        user
        for user in session.scalars(select(User).where(User.active).order_by(User.id))
        if approval.approval_refusal(session, review, user) is None
    ]


@bp.post("/incidents/<int:incident_id>/notice/submit")
@require_role(Role.AUTHOR)
def submit(incident_id: int) -> Response | tuple[str, int]:
    incident = _incident(incident_id, for_update=True)
    latest = _latest_or_redirect(incident)
    if isinstance(latest, Response):
        return latest
    check = _check_for_submit(incident, latest)
    reasons = {w.key: request.form.get(f"reason-{w.key}", "") for w in check.warnings}
    posted = request.form.get("sha256", "")
    if posted != latest.sha256:
        return _render_submit(
            incident,
            check,
            reasons=reasons,
            message=(
                f"Version {latest.number} was saved while you were on this page, so nothing was "
                f"submitted. Check version {latest.number} below and submit it."
            ),
            status=409,
        )
    try:
        bundle = bundle_for(incident, latest)
        review = approval.submit(
            db.session(),
            incident,
            latest,
            by=current_user,
            summary=check.summary,
            warnings=check.warnings,
            reasons=reasons,
            bundle=bundle,
            default_required=default_required(),
        )
    except approval.SubmitRefused as exc:
        db.session.rollback()
        return _render_submit(
            _incident(incident_id),
            check,
            reasons=reasons,
            problems=exc.problems,
            message=str(exc),
            status=422,
        )
    except RenderError as exc:
        db.session.rollback()
        return _render_submit(
            _incident(incident_id),
            check,
            reasons=reasons,
            message=f"This version cannot be rendered, so it cannot go to review: {exc}",
            status=422,
        )
    notified = _notify_approvers(incident, review)
    db.session.commit()
    _deliver_mail()
    who = f"{notified} approver{'s' if notified != 1 else ''}" if notified else "no approver"
    flash(
        f"Version {latest.number} is with legal for review. We told {who} by email and in the "
        "review queue.",
        "success",
    )
    if not notified:
        flash(
            "Nobody can approve it yet: there is no active approver who did not write it. "
            "Ask an admin to add one.",
            "warning",
        )
    return redirect(url_for(".review", incident_id=incident_id, review_id=review.id))


def _notify_approvers(incident: Incident, review: Review) -> int:
    from composer.delivery import staff_mail

    approvers = _approvers_to_notify(review)
    link = url_for(".review", incident_id=incident.id, review_id=review.id)
    staff_mail.queue(
        db.session(),
        approvers,
        subject=(
            f"Please review: {_one_line(incident.title)} (notice version {review.version.number})"
        ),
        text=(
            f"{current_user.display_name} submitted version {review.version.number} of the "
            f"customer notice for incident #{incident.id}, “{incident.title}”, for legal "
            f"review. It needs {review.required_approvals} approval"
            f"{'s' if review.required_approvals != 1 else ''}.\n\n"
            "Open the approval view to read what will be sent, comment, and approve or ask "
            "for changes:"
        ),
        link=link,
    )
    return len(approvers)


def _one_line(text: str) -> str:
    """Text for an email subject: no line breaks or control characters, whatever was typed."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())[:120]


def _deliver_mail() -> None:
    from composer.web.mail import deliver_staff_mail

    deliver_staff_mail()


# The approval view -------------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    text: str
    comments: tuple[int, ...]


def segments(text: str, ranges: list[tuple[int, int, int]]) -> list[Segment]:
    """``text`` cut at every comment's start and end, each piece with the comments covering it
    (``ranges`` are (start, end, comment number))."""
    cuts = sorted({0, len(text), *(s for s, _, _ in ranges), *(e for _, e, _ in ranges)})
    pieces = []
    for a, b in itertools.pairwise(cuts):
        if a >= b:
            continue
        covering = tuple(n for s, e, n in ranges if s <= a and b <= e)
        pieces.append(Segment(text[a:b], covering))
    return pieces


def _previous_seen(review: Review) -> NoticeVersion | None:
    """The last version legal saw before this one (or the last approved one)."""
    session = db.session()
    earlier = session.scalar(
        select(Review)
        .join(NoticeVersion, Review.version_id == NoticeVersion.id)
        .where(
            Review.incident_id == review.incident_id,
            NoticeVersion.number < review.version.number,
        )
        .order_by(NoticeVersion.number.desc(), Review.id.desc())
        .limit(1)
    )
    return earlier.version if earlier else None


def _drift(incident: Incident, review: Review) -> list[str] | str | None:
    """What changed between the submitted bundle and the bundle as it would be built now:
    None when nothing did, a list of changes, or a message when it cannot be rendered now."""
    if review.state not in (ReviewState.IN_REVIEW.value, ReviewState.APPROVED.value):
        return None
    try:
        bundle = bundle_for(incident, review.version)
    except RenderError as exc:
        return str(exc)
    if bundle.sha256 == review.bundle_sha256:
        return None
    return approval.changed_parts(review.bundle_manifest, bundle.manifest())


def render_review(
    incident: Incident,
    review: Review,
    *,
    error: str | None = None,
    error_field: str | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> tuple[str, int]:
    session = db.session()
    version = review.version
    cat = catalogue()
    evaluation = incidents.evaluate(cat, incident, today=today())
    body_ranges: list[tuple[int, int, int]] = []
    subject_ranges: list[tuple[int, int, int]] = []
    for number, c in enumerate(review.comments, start=1):
        if c.start is None or c.end is None:
            continue
        (body_ranges if c.part == "body" else subject_ranges).append((c.start, c.end, number))
    base = _previous_seen(review)
    diff = diff_notices(base.subject, base.body, version.subject, version.body) if base else None
    try:
        email = previews.email_preview(version, company=company_name())
        email_error = None
    except RenderError as exc:
        email, email_error = None, str(exc)
    latest = versions.latest_version(session, incident)
    page = render_template(
        "reviews/review.html",
        incident=incident,
        review=review,
        version=version,
        latest=latest,
        state_labels=STATE_LABELS,
        refusal=approval.approval_refusal(session, review, current_user),
        can_comment=review.is_open and (can(Role.APPROVER) or can(Role.AUTHOR)),
        can_withdraw=review.is_open and can(Role.AUTHOR),
        editors=approval.editors_of(session, version),
        body_segments=segments(version.body, body_ranges),
        subject_segments=segments(version.subject, subject_ranges),
        base=base,
        diff=diff,
        email=email,
        email_error=email_error,
        sample=previews.SAMPLE_RECIPIENT,
        drift=_drift(incident, review),
        labels=CATEGORY_LABELS,
        catalogue=cat,
        evaluation=evaluation,
        describe=describe,
        can_edit=False,
        audit_trail=evidence.recent_trail(session, incident.id, limit=50),
        required_default=default_required(),
        error=error,
        error_field=error_field,
        form=form or {},
        reviews=approval.reviews_for(session, incident),
    )
    return page, status


@bp.get("/incidents/<int:incident_id>/review")
@signed_in
def current(incident_id: int) -> Response:
    """The incident's newest review, or the editor when there is none."""
    incident = _incident(incident_id)
    review = approval.current_review(db.session(), incident)
    if review is None:
        flash("This notice has not been submitted for legal review yet.", "info")
        return redirect(url_for("notices.editor", incident_id=incident_id))
    return redirect(url_for(".review", incident_id=incident_id, review_id=review.id))


@bp.get("/incidents/<int:incident_id>/reviews/<int:review_id>")
@signed_in
def review(incident_id: int, review_id: int) -> tuple[str, int]:
    incident = _incident(incident_id)
    found = _review_or_404(incident, review_id)
    if approval.record_view(db.session(), found, by=current_user):
        db.session.commit()
    kept = kept_forms.take(
        "reviews.add_comment",
        "reviews.approve",
        "reviews.request_changes",
        incident_id=incident_id,
        review_id=review_id,
    )
    if kept is None:
        return render_review(incident, found)
    if kept.endpoint == "reviews.add_comment":
        form = {"quote": kept.get("quote"), "text": kept.get("text"), "part": kept.get("part")}
    elif kept.endpoint == "reviews.approve":
        form = {"note": kept.get("note")}
    else:
        form = {"changes_note": kept.get("note")}
    return render_review(incident, found, form=form)


def _locked(incident_id: int, review_id: int) -> tuple[Incident, Review]:
    incident = _incident(incident_id, for_update=True)
    return incident, _review_or_404(incident, review_id)


def _refused(incident: Incident, review: Review, exc: ApprovalError) -> tuple[str, int]:
    db.session.rollback()
    incident = _incident(incident.id)
    review = _review_or_404(incident, review.id)
    status = (
        403 if isinstance(exc, ApprovalRefused) else 409 if isinstance(exc, BundleMismatch) else 422
    )
    return render_review(incident, review, error=str(exc), form=dict(request.form), status=status)


@bp.post("/incidents/<int:incident_id>/reviews/<int:review_id>/comments")
@require_role(Role.APPROVER, Role.AUTHOR)
def add_comment(incident_id: int, review_id: int) -> Response | tuple[str, int]:
    incident, found = _locked(incident_id, review_id)
    form = request.form
    part = form.get("part", "")
    quote = form.get("quote", "").strip()
    start = _int(form.get("start"))
    end = _int(form.get("end"))
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
            text=form.get("text", ""),
            part=part,
            start=start,
            end=end,
        )
    except ApprovalError as exc:
        return _refused(incident, found, exc)
    db.session.commit()
    flash("Comment added.", "success")
    return redirect(url_for(".review", incident_id=incident_id, review_id=review_id) + "#comments")


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


@bp.post("/incidents/<int:incident_id>/reviews/<int:review_id>/approve")
@require_role(Role.APPROVER)
def approve(incident_id: int, review_id: int) -> Response | tuple[str, int]:
    incident, found = _locked(incident_id, review_id)
    refusal = approval.approval_refusal(db.session(), found, current_user)
    if refusal:
        return _refused(incident, found, ApprovalRefused(refusal))
    if request.form.get("bundle_sha256") != found.bundle_sha256:
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
            request.form.get("password", ""),
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
            form={"note": request.form.get("note", "")},
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
            form={"note": request.form.get("note", "")},
            status=422,
        )
    try:
        bundle = bundle_for(incident, found.version)
        approval.approve(
            db.session(), found, by=current_user, bundle=bundle, note=request.form.get("note", "")
        )
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


@bp.post("/incidents/<int:incident_id>/reviews/<int:review_id>/request-changes")
@require_role(Role.APPROVER)
def request_changes(incident_id: int, review_id: int) -> Response | tuple[str, int]:
    incident, found = _locked(incident_id, review_id)
    try:
        approval.request_changes(
            db.session(), found, by=current_user, note=request.form.get("note", "")
        )
    except ApprovalError as exc:
        return _refused(incident, found, exc)
    _notify_author(incident, found)
    db.session.commit()
    _deliver_mail()
    flash(
        f"Sent version {found.version.number} back to {found.submitted_by.display_name} "
        "with your comments.",
        "success",
    )
    return redirect(url_for(".review", incident_id=incident_id, review_id=review_id))


def _notify_author(incident: Incident, review: Review) -> None:
    from composer.delivery import staff_mail

    staff_mail.queue(
        db.session(),
        [review.submitted_by],
        subject=(
            f"Changes requested: {_one_line(incident.title)} "
            f"(notice version {review.version.number})"
        ),
        text=(
            f"{current_user.display_name} asked for changes to version {review.version.number} "
            f"of the customer notice for incident #{incident.id}, “{incident.title}”. "
            "Their comments are in the approval view:"
        ),
        link=url_for(".review", incident_id=incident.id, review_id=review.id),
    )


@bp.post("/incidents/<int:incident_id>/reviews/<int:review_id>/withdraw")
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


@bp.post("/incidents/<int:incident_id>/required-approvals")
@require_role(Role.ADMIN)
def set_required(incident_id: int) -> Response | tuple[str, int]:
    incident = _incident(incident_id, for_update=True)
    value = _int(request.form.get("required"))
    back = local_target(request.form.get("back")) or url_for(
        "incidents.summary", incident_id=incident_id
    )
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


# The queue ---------------------------------------------------------------------------------------


@bp.get("/reviews")
@signed_in
def queue() -> str:
    items = approval.review_queue(db.session(), current_user)
    return render_template(
        "reviews/queue.html",
        mine=[i for i in items if i.refusal is None],
        others=[i for i in items if i.refusal is not None],
        recent=_recently_closed(),
        state_labels=STATE_LABELS,
    )


def _recently_closed(limit: int = 10) -> list[Review]:
    return list(
        db.session.scalars(
            select(Review)
            .where(Review.state != ReviewState.IN_REVIEW.value)
            .order_by(Review.id.desc())
            .limit(limit)
        )
    )


@bp.app_context_processor
def review_count() -> dict[str, Any]:
    """The number on the "Reviews" link: open reviews the signed-in approver can approve."""

    def count() -> int:
        if not current_user.is_authenticated or not current_user.has_role(Role.APPROVER):
            return 0
        return approval.waiting_for(db.session(), current_user)

    return {"reviews_waiting": count}

"""The approval view: what will be sent, the comments on it, what changed since legal last saw
it, and whether the bundle moved on since it was submitted."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from flask import flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from composer import approval, evidence, incidents
from composer.checklist import describe
from composer.extensions import db
from composer.models import Incident, NoticeVersion, Review, ReviewState, Role
from composer.notices import previews, versions
from composer.notices.diff import diff_notices
from composer.rendering.errors import RenderError
from composer.web import kept_forms
from composer.web.access import can, signed_in
from composer.web.common import catalogue, company_name, today
from composer.web.deadlines import deadlines_panel
from composer.web.incidents import _incident
from composer.web.linting import CATEGORY_LABELS
from composer.web.reviews.context import STATE_LABELS, bundle_for, default_required, review_or_404


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
        deadlines_panel=deadlines_panel(incident),
    )
    return page, status


@signed_in
def current(incident_id: int) -> Response:
    """The incident's newest review, or the editor when there is none."""
    incident = _incident(incident_id)
    review = approval.current_review(db.session(), incident)
    if review is None:
        flash("This notice has not been submitted for legal review yet.", "info")
        return redirect(url_for("notices.editor", incident_id=incident_id))
    return redirect(url_for(".review", incident_id=incident_id, review_id=review.id))


@signed_in
def review(incident_id: int, review_id: int) -> tuple[str, int]:
    incident = _incident(incident_id)
    found = review_or_404(incident, review_id)
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

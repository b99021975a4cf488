"""What the review views share: the state labels, the approvals rule's default, the bundle as
it would be sent now, and a review by id."""

from __future__ import annotations

from flask import abort

from composer import approval
from composer.extensions import current_settings, db
from composer.models import Incident, NoticeVersion, Review, ReviewState
from composer.web.common import catalogue, today

STATE_LABELS = {
    ReviewState.IN_REVIEW.value: "In review",
    ReviewState.CHANGES_REQUESTED.value: "Changes requested",
    ReviewState.APPROVED.value: "Approved",
    ReviewState.VOIDED.value: "Voided",
    ReviewState.WITHDRAWN.value: "Withdrawn",
}


def default_required() -> int:
    return current_settings().required_approvals


def bundle_for(incident: Incident, version: NoticeVersion) -> approval.Bundle:
    """The bundle for ``version`` as it would be sent now. Raises ``RenderError`` with a
    message for the user."""
    return approval.incident_bundle(
        db.session(),
        incident,
        version,
        settings=current_settings(),
        catalogue=catalogue(),
        today=today(),
    )


def review_or_404(incident: Incident, review_id: int) -> Review:
    review = approval.get_review(db.session(), incident, review_id)
    if review is None:
        abort(404, description=f"This incident has no review {review_id}.")
    return review

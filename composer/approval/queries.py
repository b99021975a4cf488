"""Reading reviews: which review is open or current, the last approval, who may approve a
version (four eyes) and the review queue with the count of reviews waiting for someone.

Plain functions over a SQLAlchemy session; nothing here changes a review. No Flask.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from composer.models import Incident, NoticeVersion, Review, ReviewState, Role, User


def reviews_for(session: Session, incident: Incident) -> list[Review]:
    """Every review of the incident's notice, newest first."""
    return list(
        session.scalars(
            select(Review).where(Review.incident_id == incident.id).order_by(Review.id.desc())
        )
    )


def open_review(session: Session, incident: Incident) -> Review | None:
    return session.scalar(
        select(Review).where(
            Review.incident_id == incident.id, Review.state == ReviewState.IN_REVIEW.value
        )
    )


def current_review(session: Session, incident: Incident) -> Review | None:
    """The newest review, whatever its state (None before the first submission)."""
    return session.scalar(
        select(Review).where(Review.incident_id == incident.id).order_by(Review.id.desc()).limit(1)
    )


def get_review(session: Session, incident: Incident, review_id: int) -> Review | None:
    review = session.get(Review, review_id)
    if review is None or review.incident_id != incident.id:
        return None
    return review


def last_approved(
    session: Session, incident: Incident, *, before: NoticeVersion | None = None
) -> Review | None:
    """The newest review that was approved (even if a later edit voided it), optionally only
    among versions older than ``before``: "the last notice legal approved"."""
    query = (
        select(Review)
        .join(NoticeVersion, Review.version_id == NoticeVersion.id)
        .where(Review.incident_id == incident.id, Review.approved_at.is_not(None))
    )
    if before is not None:
        query = query.where(NoticeVersion.number < before.number)
    return session.scalar(query.order_by(NoticeVersion.number.desc(), Review.id.desc()).limit(1))


def editors_of(session: Session, version: NoticeVersion) -> dict[int, User]:
    """Everyone who saved a version of the notice since the last approved one, up to and
    including ``version``: they wrote some of its text, so none of them may approve it."""
    floor = _last_approved_number(session, version)
    versions = session.scalars(
        select(NoticeVersion).where(
            NoticeVersion.incident_id == version.incident_id,
            NoticeVersion.number > floor,
            NoticeVersion.number <= version.number,
        )
    )
    return {v.created_by_id: v.created_by for v in versions}


def approval_refusal(session: Session, review: Review, user: User) -> str | None:
    """Why ``user`` may not approve ``review`` (None when they may)."""
    if not user.has_role(Role.APPROVER):
        return "Only approvers (legal) can approve a notice."
    if review.state != ReviewState.IN_REVIEW.value:
        return closed_message(review)
    editors = editors_of(session, review.version)
    if user.id in editors:
        numbers = _versions_saved_by(session, review.version, user)
        which = ", ".join(str(n) for n in numbers)
        plural = "s" if len(numbers) != 1 else ""
        return (
            f"You saved version{plural} {which} of this notice, so someone else must approve it "
            "(four eyes: nobody approves text they wrote)."
        )
    if user.id == review.submitted_by_id:
        return "You submitted this version for review, so someone else must approve it."
    if any(d.user_id == user.id for d in review.approvals):
        return "You have already approved this version."
    return None


def _last_approved_number(session: Session, version: NoticeVersion) -> int:
    """The number of the last version approved before ``version`` (0 for none)."""
    incident = session.get(Incident, version.incident_id)
    assert incident is not None
    approved = last_approved(session, incident, before=version)
    return approved.version.number if approved else 0


def _versions_saved_by(session: Session, version: NoticeVersion, user: User) -> list[int]:
    floor = _last_approved_number(session, version)
    return list(
        session.scalars(
            select(NoticeVersion.number)
            .where(
                NoticeVersion.incident_id == version.incident_id,
                NoticeVersion.created_by_id == user.id,
                NoticeVersion.number > floor,
                NoticeVersion.number <= version.number,
            )
            .order_by(NoticeVersion.number)
        )
    )


def closed_message(review: Review) -> str:
    """Why a review that is no longer open cannot take another step, in words."""
    state = ReviewState(review.state)
    number = review.version.number
    if state is ReviewState.APPROVED:
        return f"Version {number} is already approved."
    if state is ReviewState.CHANGES_REQUESTED:
        return (
            f"Changes were requested on version {number}; the author needs to revise it and "
            "submit again."
        )
    if state is ReviewState.VOIDED:
        return f"This review no longer applies: {review.close_reason or 'it was voided'}."
    return f"Version {number} was withdrawn from review."


@dataclass(frozen=True)
class QueueItem:
    review: Review
    incident: Incident
    #: None when the user can approve it; otherwise why not.
    refusal: str | None


def review_queue(session: Session, user: User) -> list[QueueItem]:
    """Open reviews, oldest first, each with whether ``user`` can approve it."""
    reviews = session.scalars(
        select(Review).where(Review.state == ReviewState.IN_REVIEW.value).order_by(Review.id)
    )
    items = []
    for review in reviews:
        incident = session.get(Incident, review.incident_id)
        assert incident is not None
        items.append(QueueItem(review, incident, approval_refusal(session, review, user)))
    return items


def waiting_for(session: Session, user: User) -> int:
    """How many open reviews ``user`` could approve now (the count on the review queue)."""
    if not user.has_role(Role.APPROVER):
        return 0
    return sum(item.refusal is None for item in review_queue(session, user))

"""Staff mail about reviews: approvers told of a submission, the author of a request for
changes."""

from __future__ import annotations

from flask import url_for
from flask_login import current_user
from sqlalchemy import select

from composer import approval
from composer.extensions import db
from composer.models import Incident, Review, User


def _approvers_to_notify(review: Review) -> list[User]:
    session = db.session()
    return [
        user
        for user in session.scalars(select(User).where(User.active).order_by(User.id))
        if approval.approval_refusal(session, review, user) is None
    ]


def notify_approvers(incident: Incident, review: Review) -> int:
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


def deliver_mail() -> None:
    from composer.web.mail import deliver_staff_mail

    deliver_staff_mail()


def notify_author(incident: Incident, review: Review) -> None:
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

"""The review queue, and the number on the "Reviews" link."""

from __future__ import annotations

from typing import Any

from flask import render_template
from flask_login import current_user
from sqlalchemy import select

from composer import approval
from composer.extensions import db
from composer.models import Review, ReviewState, Role
from composer.web.access import signed_in
from composer.web.reviews.context import STATE_LABELS


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


def review_count() -> dict[str, Any]:
    """The number on the "Reviews" link: open reviews the signed-in approver can approve."""

    def count() -> int:
        if not current_user.is_authenticated or not current_user.has_role(Role.APPROVER):
            return 0
        return approval.waiting_for(db.session(), current_user)

    return {"reviews_waiting": count}

"""Legal review of a notice version: the review itself, approvers' decisions and comments.

A :class:`Review` is one submission of one :class:`~composer.models.NoticeVersion` for sign-off.
It records the SHA-256 of the canonical bundle (``composer.approval.bundle``) at submission, and
every decision records the bundle hash the approver saw; sending recomputes it. Decisions and
comments are evidence: database triggers (migration 0004) refuse UPDATE and DELETE on them.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from composer.models.base import Base, UTCDateTime, utcnow
from composer.models.notice import NoticeVersion
from composer.models.user import User


class ReviewState(enum.StrEnum):
    """Where a review stands. Only ``in-review`` is open; the others are final."""

    #: Waiting for approvers.
    IN_REVIEW = "in-review"
    #: An approver sent it back to the authors with comments.
    CHANGES_REQUESTED = "changes-requested"
    #: Enough eligible approvers approved this exact bundle.
    APPROVED = "approved"
    #: A new version was saved (or what the bundle covers changed): the approval, or the
    #: request for one, no longer applies.
    VOIDED = "voided"
    #: An author took it back before a decision.
    WITHDRAWN = "withdrawn"


class DecisionKind(enum.StrEnum):
    APPROVE = "approve"
    REQUEST_CHANGES = "request-changes"


class Review(Base):
    """One submission of a notice version for legal sign-off."""

    __tablename__ = "review"
    __table_args__ = (
        CheckConstraint(
            "state IN ('in-review', 'changes-requested', 'approved', 'voided', 'withdrawn')",
            name="state_known",
        ),
        CheckConstraint("required_approvals >= 1", name="required_positive"),
        # At most one open review per incident.
        Index(
            "uq_review_open_per_incident",
            "incident_id",
            unique=True,
            sqlite_where=text("state = 'in-review'"),
            postgresql_where=text("state = 'in-review'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id"))
    #: The exact version under review.
    version_id: Mapped[int] = mapped_column(ForeignKey("notice_version.id"))
    #: A :class:`ReviewState` value.
    state: Mapped[str] = mapped_column(String(20), default=ReviewState.IN_REVIEW.value)
    #: Approvals needed, fixed when submitted (an admin may raise it while open, never lower).
    required_approvals: Mapped[int] = mapped_column(default=1)
    #: SHA-256 (hex) of the canonical bundle at submission: what the approvers sign.
    bundle_sha256: Mapped[str] = mapped_column(String(64))
    #: The bundle's parts and their hashes ({"parts": {name: sha256}, ...}), so a mismatch at
    #: send time can say what changed.
    bundle_manifest: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: The lint report at submission: counts and grade ({"errors": 0, "warnings": 2, ...}).
    lint_summary: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: Each lint warning the author acknowledged, with their reason:
    #: [{"rule", "category", "message", "excerpt", "start", "end", "reason"}].
    acknowledgements: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    submitted_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    #: When the last required approval came in (kept when the approval is later voided).
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    #: When the review left ``in-review`` or ``approved`` for a final state, by whom and why.
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), default=None)
    close_reason: Mapped[str | None] = mapped_column(Text, default=None)

    version: Mapped[NoticeVersion] = relationship(lazy="joined")
    submitted_by: Mapped[User] = relationship(foreign_keys=[submitted_by_id], lazy="joined")
    closed_by: Mapped[User | None] = relationship(foreign_keys=[closed_by_id], lazy="joined")
    decisions: Mapped[list[ReviewDecision]] = relationship(
        back_populates="review", lazy="selectin", order_by="ReviewDecision.id"
    )
    comments: Mapped[list[ReviewComment]] = relationship(
        back_populates="review", lazy="selectin", order_by="ReviewComment.id"
    )

    @property
    def is_open(self) -> bool:
        return self.state == ReviewState.IN_REVIEW.value

    @property
    def approvals(self) -> list[ReviewDecision]:
        return [d for d in self.decisions if d.kind == DecisionKind.APPROVE.value]


class ReviewDecision(Base):
    """An approver's approval or request for changes. Never changed once written."""

    __tablename__ = "review_decision"
    __table_args__ = (
        UniqueConstraint("review_id", "user_id", "kind"),
        CheckConstraint("kind IN ('approve', 'request-changes')", name="kind_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("review.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    #: A :class:`DecisionKind` value.
    kind: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: The bundle hash the approver was shown and decided on.
    bundle_sha256: Mapped[str] = mapped_column(String(64))
    #: What the approver wrote with the decision ("" for none).
    note: Mapped[str] = mapped_column(Text, default="")
    #: For an approval: HMAC, with the installation's signing key (not in the database), of
    #: the review, the version (id, number, SHA-256), the bundle hash, the approver and the
    #: time ("v1:<key id>:<hex>"), so a decision or version rewritten in the database no
    #: longer matches its signature. None for requests for changes, and for approvals made
    #: before signing began (migration 0011), which sending refuses.
    signature: Mapped[str | None] = mapped_column(String(80), default=None)

    review: Mapped[Review] = relationship(back_populates="decisions")
    user: Mapped[User] = relationship(lazy="joined")


class ReviewComment(Base):
    """A comment on a review, anchored to a passage of the text under review (or general).
    Never changed once written."""

    __tablename__ = "review_comment"
    __table_args__ = (CheckConstraint("part IN ('subject', 'body', 'general')", name="part_known"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("review.id"))
    author_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: Which text the anchor is in: "subject", "body", or "general" for no anchor.
    part: Mapped[str] = mapped_column(String(10))
    #: Character offsets of the passage in that text (None for a general comment).
    start: Mapped[int | None] = mapped_column(default=None)
    end: Mapped[int | None] = mapped_column(default=None)
    #: The passage itself, as it was when commented on.
    quote: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str] = mapped_column(Text)

    review: Mapped[Review] = relationship(back_populates="comments")
    author: Mapped[User] = relationship(lazy="joined")

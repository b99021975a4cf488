"""Incidents and the answers recorded for their checklist."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from composer.models.base import Base, UTCDateTime, utcnow
from composer.models.user import User


class Incident(Base):
    __tablename__ = "incident"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    #: Which checklist (file id and version) the answers belong to.
    checklist_id: Mapped[str] = mapped_column(String(64))
    checklist_version: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    #: The step the checklist was last saved on, so a user can resume there.
    last_step_id: Mapped[str | None] = mapped_column(String(64), default=None)
    #: Set when someone finished the checklist with every required answer valid.
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    #: Approvals a notice for this incident needs before it can be sent; None means the
    #: site's ``REQUIRED_APPROVALS``. Only admins change it, never downwards during a review.
    required_approvals: Mapped[int | None] = mapped_column(default=None)

    created_by: Mapped[User] = relationship(lazy="joined")
    answers: Mapped[list[Answer]] = relationship(
        back_populates="incident", cascade="all, delete-orphan", lazy="selectin"
    )

    def raw_answers(self) -> dict[str, Any]:
        return {a.question_id: a.value for a in self.answers}


class Answer(Base):
    """The raw answer to one checklist question, exactly as typed (validated on use)."""

    __tablename__ = "answer"
    __table_args__ = (UniqueConstraint("incident_id", "question_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id", ondelete="CASCADE"))
    question_id: Mapped[str] = mapped_column(String(64))
    value: Mapped[Any] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    updated_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))

    incident: Mapped[Incident] = relationship(back_populates="answers")

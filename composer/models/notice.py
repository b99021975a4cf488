"""The notice an incident's comms team is writing, as a numbered series of immutable versions."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from composer.models.base import Base, UTCDateTime, utcnow
from composer.models.user import User


class VersionSource(enum.StrEnum):
    """How a version's text came to be."""

    #: Written by the draft generator from the incident's facts.
    DRAFT_FROM_FACTS = "draft-from-facts"
    #: Typed or pasted by a person in the editor.
    EDIT = "edit"


class NoticeVersion(Base):
    """One saved text of an incident's customer notice. Never changed once written.

    Every save of changed text adds a version with the next ``number``; legal approval (later)
    binds to ``sha256``, so the row must stay exactly as written: nothing in the code updates or
    deletes one, and database triggers (migration 0003) refuse UPDATE and DELETE.
    """

    __tablename__ = "notice_version"
    __table_args__ = (
        UniqueConstraint("incident_id", "number"),
        CheckConstraint("number >= 1", name="number_positive"),
        CheckConstraint("source IN ('draft-from-facts', 'edit')", name="source_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The incident the notice is about. No ON DELETE CASCADE: a notice's history outlives
    #: nothing silently.
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id"))
    #: 1, 2, 3 ... within the incident, in the order the versions were saved.
    number: Mapped[int]
    #: The email subject line ("" only for text saved before subjects existed).
    subject: Mapped[str] = mapped_column(Text)
    #: The notice text (Markdown) exactly as saved, with line breaks normalised to "\n".
    body: Mapped[str] = mapped_column(Text)
    #: SHA-256 (hex) of the canonical text: subject, "\n\n", body, UTF-8
    #: (``composer.notices.versions.content_sha256``).
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    #: A :class:`VersionSource` value.
    source: Mapped[str] = mapped_column(String(20))
    #: The version this one was edited from (None for a draft from the facts or a first text).
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("notice_version.id"), default=None)

    created_by: Mapped[User] = relationship(lazy="joined")
    parent: Mapped[NoticeVersion | None] = relationship(remote_side=[id], lazy="joined")

    @property
    def short_sha(self) -> str:
        """The first 12 hex digits of the hash, for people to compare by eye."""
        return self.sha256[:12]


def latest_version(session: Session, incident_id: int) -> NoticeVersion | None:
    """The incident's newest notice version, or None before anyone has saved one."""
    return session.scalar(
        select(NoticeVersion)
        .where(NoticeVersion.incident_id == incident_id)
        .order_by(NoticeVersion.number.desc())
        .limit(1)
    )

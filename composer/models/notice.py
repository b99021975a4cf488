"""The notice an incident's comms team is writing."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from composer.models.base import Base, UTCDateTime, utcnow
from composer.models.user import User


class NoticeDraft(Base):
    """The working text of an incident's customer notice: one per incident.

    Versions (and drafting from the facts) come later; until then each save overwrites ``body``.
    """

    __tablename__ = "notice_draft"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The incident the notice is about; unique, so there is one working draft per incident.
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incident.id", ondelete="CASCADE"), unique=True
    )
    #: The notice text exactly as saved, with line breaks normalised to "\n".
    body: Mapped[str] = mapped_column(Text, default="")
    #: When the text last changed (UTC); saving the same text again does not move it.
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: Who last changed the text.
    updated_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))

    updated_by: Mapped[User] = relationship(lazy="joined")

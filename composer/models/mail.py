"""Email: the development outbox, and notifications queued for staff."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from composer.models.base import Base, UTCDateTime, utcnow


class DevOutboxMessage(Base):
    """An email the dev outbox gateway "sent": stored so a person can read it in the browser."""

    __tablename__ = "dev_outbox_message"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: When the gateway accepted it (UTC).
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    to_email: Mapped[str] = mapped_column(String(254))
    to_name: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(998))
    #: The plain-text part.
    text: Mapped[str] = mapped_column(Text)
    #: The HTML part, if the message had one; only ever shown in a sandboxed frame.
    html: Mapped[str | None] = mapped_column(Text, default=None)
    #: The id the gateway returned for it, as a real provider would ("dev-<hex>").
    gateway_message_id: Mapped[str] = mapped_column(String(64), unique=True)


class StaffMessage(Base):
    """An email to a member of staff ("a notice is waiting for your review").

    Queued in the same transaction as the change it reports, and delivered after that commit
    by ``composer.delivery.staff_mail.deliver_pending``; a row whose ``sent_at`` is set is
    never resent.
    """

    __tablename__ = "staff_message"
    __table_args__ = (Index("ix_staff_message_sent_at", "sent_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: When it was queued (UTC).
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    to_user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    #: The user's address when the message was queued.
    to_email: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(998))
    text: Mapped[str] = mapped_column(Text)
    #: A path in the app ("/incidents/3/review"); made absolute with ``APP_BASE_URL`` on sending.
    link: Mapped[str] = mapped_column(String(500))
    #: When the gateway accepted it; None while it is pending.
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    #: When a delivery run last took it; other runs leave it alone for a while, so two runs
    #: at once do not both send it.
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    #: Delivery attempts so far, counted when an attempt starts.
    attempts: Mapped[int] = mapped_column(default=0)
    #: Why the last attempt failed, in words for an admin (never an email address).
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    #: The id the gateway gave it, for matching against the provider's logs.
    gateway_message_id: Mapped[str | None] = mapped_column(String(128), default=None)

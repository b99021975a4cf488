"""Forms posted after a session ended, kept until their writer signs in again."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from composer.models.base import Base, UTCDateTime, utcnow


class KeptForm(Base):
    """What one form held when it was posted without a usable session (docs/security.md).

    Read back once, by the account it belongs to, into the same form; never saved from here.
    """

    __tablename__ = "kept_form"
    __table_args__ = (Index("ix_kept_form_expires_at", "expires_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: SHA-256 (hex) of the one-time key; the key itself lives only in the browser's session.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: The account that may have it back: the one whose session ended, when that is known,
    #: else the first to sign in with the key.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    #: The endpoint the form was posted to ("notices.save") and its URL arguments (JSON).
    endpoint: Mapped[str] = mapped_column(String(80))
    view_args: Mapped[str] = mapped_column(String(500))
    #: The posted fields as JSON (ASCII only), without the CSRF token or any password.
    fields: Mapped[str] = mapped_column(Text)
    #: The client address it came from, for the limit on forms kept per address.
    address: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())

"""The append-only, hash-chained audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from composer.models.base import Base, UTCDateTime, utcnow


class AuditEvent(Base):
    """One state change. Rows are never updated or deleted (database triggers refuse it)."""

    __tablename__ = "audit_event"

    #: Position in the chain, 1, 2, 3 ... with no gaps; assigned under the head's lock.
    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    #: When it happened (UTC).
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: Who did it; None for the system or the command line.
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), default=None)
    #: A readable name for the actor at the time ("ana@example.com", "cli").
    actor: Mapped[str] = mapped_column(String(254))
    #: What happened, dotted: "incident.created", "incident.answers_changed", "user.created".
    action: Mapped[str] = mapped_column(String(64))
    #: What it happened to: ("incident", "12").
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(64))
    #: The changed values before and after, as JSON objects.
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    #: The previous event's hash ("0" * 64 for the first).
    prev_hash: Mapped[str] = mapped_column(String(64))
    #: SHA-256 over this event's canonical form, which includes prev_hash.
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: HMAC of ``seq`` and ``hash`` with the installation's signing key, which is not in the
    #: database ("v1:<key id>:<hex>"): a rewritten event cannot be signed again. None only for
    #: events written before signing began (migration 0011).
    signature: Mapped[str | None] = mapped_column(String(80), default=None)


class AuditHead(Base):
    """A single row naming the chain's last event; locking it serialises appends."""

    __tablename__ = "audit_head"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(primary_key=True, default=1)
    seq: Mapped[int] = mapped_column(default=0)
    last_hash: Mapped[str] = mapped_column(String(64), default="0" * 64)

"""Bulk sending: a send run, one delivery row per recipient (the outbox), the batches that
carry them to the gateway, and the Event Webhook events already applied.

The database is the source of truth (DESIGN.md): a delivery moves ``queued`` → ``sending`` (its
batch is claimed and committed before any request) → ``accepted`` (the gateway said 202) →
``delivered`` / ``bounced`` / ``dropped`` (webhook events). A batch whose outcome is unknown (a
time-out, or a worker killed between the claim and recording the answer) is ``in-doubt`` until
webhook events for it arrive or an admin settles it; it is never sent again on a timer.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from composer.models.base import Base, UTCDateTime, utcnow


class RunState(enum.StrEnum):
    #: Just made: the worker is writing its delivery rows (``prepared_through`` says how far);
    #: then it becomes running, or scheduled when it has a time (``not_before``).
    PREPARING = "preparing"
    #: Made, its recipients fixed, waiting for its time (``not_before``): nothing sent yet.
    SCHEDULED = "scheduled"
    RUNNING = "running"
    PAUSED = "paused"
    CANCELLED = "cancelled"
    #: Stopped by the gateway refusing the key (401/403): needs a person.
    STOPPED = "stopped"
    #: Nothing left to send, but some recipients are in doubt (a request that may have been
    #: accepted): webhook events settle them, or an admin does (``delivery.control.resend_in_doubt``
    #: or ``mark_in_doubt_delivered``). Not finished; no worker sends it.
    IN_DOUBT = "in-doubt"
    FINISHED = "finished"


class DeliveryState(enum.StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    IN_DOUBT = "in-doubt"
    ACCEPTED = "accepted"
    DELIVERED = "delivered"
    BOUNCED = "bounced"
    DROPPED = "dropped"
    #: The gateway refused this address (a 400 naming it): not sent.
    INVALID = "invalid"
    CANCELLED = "cancelled"
    #: No email address: goes to the postal list.
    POST = "post"
    #: This address already had this notice version by email (another delivery holds it in
    #: ``sent_address``): not sent again.
    ALREADY_SENT = "already-sent"


class BatchState(enum.StrEnum):
    SENDING = "sending"
    ACCEPTED = "accepted"
    IN_DOUBT = "in-doubt"
    #: Known not accepted (429, 5xx before sending, 400, 413): its deliveries were queued again.
    RETURNED = "returned"


class SendRun(Base):
    """One send of an approved notice to a recipient list."""

    __tablename__ = "send_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id"))
    #: The approved review whose bundle this run sends, and that bundle's hash.
    review_id: Mapped[int] = mapped_column(ForeignKey("review.id"))
    bundle_sha256: Mapped[str] = mapped_column(String(64))
    list_id: Mapped[int] = mapped_column(ForeignKey("recipient_list.id"))
    state: Mapped[str] = mapped_column(String(20), default=RunState.RUNNING.value)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    #: Personalizations per request (halved when the gateway says a request is too large).
    batch_size: Mapped[int] = mapped_column(default=1000)
    #: No request before this time (a 429's reset, or backoff after a 5xx), for every worker.
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    #: Consecutive failed attempts, for the backoff.
    failures: Mapped[int] = mapped_column(default=0)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    #: Why the run stopped or what is wrong, for the person watching it.
    message: Mapped[str | None] = mapped_column(Text, default=None)
    #: While preparing: the highest recipient id whose delivery row is written (chunks are
    #: committed with it, so a restarted worker carries on from here); None before the first.
    prepared_through: Mapped[int | None] = mapped_column(default=None)
    #: When every delivery row was written (None while preparing, or paused while preparing:
    #: resuming goes back to preparing).
    prepared_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class Delivery(Base):
    """One recipient's notice in a run: the outbox row."""

    __tablename__ = "delivery"
    __table_args__ = (
        Index("ix_delivery_run_state", "run_id", "state"),
        Index("ix_delivery_batch", "batch_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("send_run.id", ondelete="CASCADE"))
    recipient_id: Mapped[int] = mapped_column(ForeignKey("recipient.id"))
    #: The cohort (notice variant) the recipient is in.
    cohort_key: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(20), default=DeliveryState.QUEUED.value)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("send_batch.id"), default=None)
    #: The gateway's id for the request that carried it (X-Message-Id).
    message_id: Mapped[str | None] = mapped_column(String(100), default=None)
    #: What went wrong, without personal data.
    error: Mapped[str | None] = mapped_column(Text, default=None)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SendBatch(Base):
    """Up to ``batch_size`` deliveries of one cohort, sent in one request."""

    __tablename__ = "send_batch"
    __table_args__ = (Index("ix_send_batch_run_state", "run_id", "state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("send_run.id", ondelete="CASCADE"))
    cohort_key: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(20), default=BatchState.SENDING.value)
    size: Mapped[int]
    #: Which worker claimed it, and until when the claim holds; a claim past this time with no
    #: recorded answer means the worker died: the batch is in doubt.
    worker: Mapped[str] = mapped_column(String(100))
    lease_until: Mapped[datetime] = mapped_column(UTCDateTime())
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: When it became in doubt (the duplicate window counts from here).
    doubt_since: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    message_id: Mapped[str | None] = mapped_column(String(100), default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)


class WebhookEventSeen(Base):
    """An Event Webhook event already applied (SendGrid may post an event more than once)."""

    __tablename__ = "webhook_event_seen"
    #: The send pages ask when the last event arrived (is the webhook silent?).
    __table_args__ = (Index("ix_webhook_event_seen_received_at", "received_at"),)

    sg_event_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    event: Mapped[str] = mapped_column(String(20))


class SentAddress(Base):
    """The ledger that makes "at most once" a database rule: one row per notice version and
    normalised email address, written (and committed) when a delivery is claimed, before any
    request; its primary key refuses a second. A batch known not to have been sent gives its
    rows back; an in-doubt one keeps them until an admin chooses to send it again. Purged with
    the list (``composer.retention``): the digest is personal data."""

    __tablename__ = "sent_address"
    __table_args__ = (Index("ix_sent_address_delivery", "delivery_id"),)

    notice_version_id: Mapped[int] = mapped_column(
        ForeignKey("notice_version.id"), primary_key=True
    )
    #: SHA-256 of the address trimmed and lower-cased (``composer.delivery.ledger.address_digest``).
    address_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: The delivery that holds this address for this version.
    delivery_id: Mapped[int] = mapped_column(ForeignKey("delivery.id", ondelete="CASCADE"))


class SendRateLimit(Base):
    """A rate limit shared by every worker (``composer.delivery.ratelimit``): the earliest time
    the next reservation may start. One row, ``mail``, created by the migration."""

    __tablename__ = "send_rate_limit"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    next_at: Mapped[datetime] = mapped_column(UTCDateTime())

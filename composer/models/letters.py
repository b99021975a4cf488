"""Postal letters: the recipients of a send run who get the notice on paper, in batches.

A :class:`LetterBatch` is one PDF of letters (one letter per recipient, each starting on a new
page) and its manifest CSV. A :class:`Letter` puts one delivery (``delivery``) in one batch; the
unique index on ``letter.delivery_id`` makes sure nobody is ever put in two batches, so nobody
gets two letters, whatever the code does. ``composer.delivery.letters`` writes them; docs/postal.md
describes them.

The PDF and the manifest hold names and addresses: personal data, downloaded by admins only,
removed by the retention purge (``purged_at``; the counts, hashes and page numbers stay).
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, deferred, mapped_column

from composer.models.base import Base, UTCDateTime, utcnow


class LetterBatchState(enum.StrEnum):
    #: Prepared; its PDF is not made yet (a worker renders the oldest waiting batch first).
    WAITING = "waiting"
    #: The PDF and manifest are stored and can be downloaded.
    READY = "ready"
    #: Rendering was refused (the approval no longer matches, a letter could not be made);
    #: ``error`` says why. An admin can put it back to waiting.
    FAILED = "failed"


class LetterReason(enum.StrEnum):
    """Why a recipient gets a letter: the delivery's state when the letter was prepared."""

    POST = "post"
    BOUNCED = "bounced"
    DROPPED = "dropped"
    #: The address was refused before sending (SendGrid's 400 named it, or the batch's own
    #: check did): the email never left.
    INVALID = "invalid"


class LetterBatch(Base):
    """Up to ``LETTER_BATCH_SIZE`` letters of one send run, printed as one PDF."""

    __tablename__ = "letter_batch"
    __table_args__ = (
        UniqueConstraint("run_id", "number", name="uq_letter_batch_run_number"),
        Index("ix_letter_batch_state", "state", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("send_run.id", ondelete="CASCADE"))
    #: 1, 2, 3 ... within the run, in the order the batches were prepared.
    number: Mapped[int]
    state: Mapped[str] = mapped_column(String(20), default=LetterBatchState.WAITING.value)
    #: Letters in the batch.
    size: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: Who prepared it (None from the command line).
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), default=None)
    #: A worker rendering it holds it until then; a claim past this time means the worker died
    #: and another may take the batch.
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    #: Render attempts so far, counted when one starts.
    attempts: Mapped[int] = mapped_column(default=0)
    rendered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    #: The date printed on the letters (the day they were rendered, in the site's timezone).
    print_date: Mapped[date | None] = mapped_column(Date(), default=None)
    #: The approved bundle the letters were printed from.
    bundle_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    #: Pages in the PDF.
    pages: Mapped[int | None] = mapped_column(default=None)
    #: The PDF (loaded only when asked for) and its SHA-256.
    pdf: Mapped[bytes | None] = deferred(mapped_column(LargeBinary(), default=None))
    pdf_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    #: The manifest CSV, UTF-8 (loaded only when asked for), and its SHA-256.
    manifest: Mapped[bytes | None] = deferred(mapped_column(LargeBinary(), default=None))
    manifest_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    #: Why rendering failed, in words for an admin, without personal data.
    error: Mapped[str | None] = mapped_column(Text, default=None)
    #: When the retention purge removed the PDF and the manifest.
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class Letter(Base):
    """One recipient's letter: their delivery, in one batch, at one place in its PDF."""

    __tablename__ = "letter"
    __table_args__ = (
        # Nobody is in two batches, so nobody gets two letters.
        UniqueConstraint("delivery_id", name="uq_letter_delivery_id"),
        UniqueConstraint("batch_id", "sequence", name="uq_letter_batch_sequence"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("letter_batch.id", ondelete="CASCADE"))
    delivery_id: Mapped[int] = mapped_column(ForeignKey("delivery.id", ondelete="CASCADE"))
    #: 1, 2, 3 ... : the letter's place in the batch's PDF and manifest.
    sequence: Mapped[int]
    #: A :class:`LetterReason` value.
    reason: Mapped[str] = mapped_column(String(20))
    #: The letter's first page in the PDF and how many pages it has (once rendered).
    first_page: Mapped[int | None] = mapped_column(default=None)
    pages: Mapped[int | None] = mapped_column(default=None)

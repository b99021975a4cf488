"""Recipient lists uploaded for an incident: the people, and the rows that could not be used.

A :class:`RecipientList` is one uploaded CSV file. Every data row of the file ends up in exactly
one of three places: a new :class:`Recipient` (``imported``), folded into an earlier recipient
with the same email address (``merged``, its row number kept in ``source_rows``), or refused
with one :class:`RecipientRowError` per problem (``rejected``). ``composer.recipients.lists``
writes them; docs/recipients.md describes the file.

Everything here except the counts and the digest is personal data: masked in views, never
logged, purged after the retention period (``purged_at``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from composer.models.base import Base, UTCDateTime, utcnow
from composer.models.user import User


class RecipientList(Base):
    """One uploaded recipient file and what became of its rows."""

    __tablename__ = "recipient_list"
    __table_args__ = (Index("ix_recipient_list_incident_id", "incident_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id"))
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    #: When the upload was imported (UTC).
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: The file's name as the browser sent it (no path).
    filename: Mapped[str] = mapped_column(String(255))
    #: The file's size in bytes.
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    #: Data rows read (the header line not counted): always imported + merged + rejected.
    rows: Mapped[int] = mapped_column(default=0)
    #: Rows that became a new recipient.
    imported: Mapped[int] = mapped_column(default=0)
    #: Rows folded into an earlier row with the same email address.
    merged: Mapped[int] = mapped_column(default=0)
    #: Rows refused; their problems are in ``recipient_row_error``.
    rejected: Mapped[int] = mapped_column(default=0)
    #: Problems with the file as a whole that did not stop the import ("unknown column 'notes'
    #: was ignored"), in words for the uploader. Never holds personal data.
    warnings: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: SHA-256 (hex) of the sorted, normalised recipients (``list_digest``): part of what legal
    #: approves, so any change to the list shows.
    digest: Mapped[str] = mapped_column(String(64))
    #: When the recipients' personal data was purged (the counts and digest stay).
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)

    uploaded_by: Mapped[User] = relationship(lazy="joined")


class Recipient(Base):
    """One person on a list, normalised (``composer.rendering.merge_fields.Recipient`` rules)."""

    __tablename__ = "recipient"
    __table_args__ = (
        Index("ix_recipient_list_id", "list_id"),
        # One recipient per address within a list; post-only recipients have no address.
        Index(
            "uq_recipient_list_email",
            "list_id",
            "email",
            unique=True,
            sqlite_where=text("email <> ''"),
            postgresql_where=text("email <> ''"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("recipient_list.id", ondelete="CASCADE"))
    #: Normalised by email-validator and lower-cased; "" for someone reached by post only.
    email: Mapped[str] = mapped_column(String(254), default="")
    first_name: Mapped[str] = mapped_column(String(200), default="")
    last_name: Mapped[str] = mapped_column(String(200), default="")
    #: The recipient's own reference (a customer or case number).
    reference: Mapped[str] = mapped_column(String(200), default="")
    #: Postal address lines for the envelope window, name and country not included.
    address: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: ISO 3166-1 alpha-2, upper case, or "".
    country: Mapped[str] = mapped_column(String(2), default="")
    #: USPS two-letter code when ``country`` is US, or "".
    us_state: Mapped[str] = mapped_column(String(2), default="")
    #: A BCP 47 tag ("en", "en-GB"), or "".
    language: Mapped[str] = mapped_column(String(35), default="")
    #: Data category ids (checklists/data_categories.yaml) exposed for this person, sorted.
    data_categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: The file's row numbers (header = row 1) this recipient came from: the first row, then
    #: the rows merged into it.
    source_rows: Mapped[list[int]] = mapped_column(JSON, default=list)


class RecipientRowError(Base):
    """One problem with one rejected row of an uploaded file."""

    __tablename__ = "recipient_row_error"
    __table_args__ = (Index("ix_recipient_row_error_list_id", "list_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("recipient_list.id", ondelete="CASCADE"))
    #: The row's number as a spreadsheet shows it: the header line is row 1.
    row: Mapped[int]
    #: The column's name as the file spells it, or "" for a problem with the whole row.
    column: Mapped[str] = mapped_column(String(200), default="")
    #: What is wrong, in words for the uploader.
    problem: Mapped[str] = mapped_column(Text)
    #: The offending value, cut to 100 characters ("" for a whole-row problem).
    value: Mapped[str] = mapped_column(String(100), default="")

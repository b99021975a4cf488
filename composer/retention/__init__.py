"""Retention: recipients' personal data is purged once the retention period has passed.

:func:`purge` takes every recipient list uploaded more than ``older_than`` ago and not purged
yet, and removes its people's personal data from everywhere the app keeps it:

- ``recipient``: email address, first and last name, reference, postal address and language
  are blanked (see below for why the rows stay);
- ``recipient_row_error``: the rejected rows' problems are deleted; they quote the values
  (and email-validator's messages can quote parts of an address), and the list keeps how many
  rows were rejected;
- ``letter_batch``: the PDF letters and manifests of the list's send runs (the batch records,
  sizes, page counts and SHA-256 hashes stay);
- ``dev_outbox_message``: the development outbox's copies of customer notices sent to the list
  (the rows whose id is a delivery's message id plus its position; also any batch copy
  addressed to one of the list's addresses, which covers a batch whose answer was lost). Staff
  notifications and test sends to staff stay;
- ``sent_address``: the ledger of addresses each notice version went to (SHA-256 digests of
  the addresses, which a guess can confirm) for the list's runs.

What stays is what the evidence pack (the audit trail, ``composer.evidence``) and a run's
progress page need: the list's counts, file name and digest; every delivery with its state,
cohort and message id; send and letter batch records; the audit trail. Each recipient row keeps
its id, list, country, US state, data categories and source row numbers: on their own these
identify nobody, and they keep the per-cohort counts (how many people in each jurisdiction
were told what) that regulators ask for.

Why blank rather than delete recipient rows: ``delivery.recipient_id`` refers to them with no
cascade, and the deliveries are the record of who was sent what (state per recipient, message
ids to match against SendGrid's logs, counts per state and cohort). Deleting recipients would
mean deleting that record too, or changing the outbox's schema; a blank row costs a few bytes.

A list is kept, and reported with the reason, while a send run on it is scheduled, running,
paused or stopped (it may still send), or while letters for it are waiting to be printed
(purging then would silently cancel letters people are owed). Each list is purged in its own
transaction, committed before the next, with a ``recipients.purged`` audit event holding counts
only. A second purge finds nothing left to do and changes nothing. The dry run counts the same
things and changes nothing.

Forms kept for someone whose session ended (``kept_form``; docs/security.md) hold whatever was
typed, so :func:`purge` also deletes those past their expiry, whether or not any list is due
(:func:`delete_expired_kept_forms`).

No Flask: ``flask --app composer purge`` calls it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from composer import audit
from composer.models import (
    Delivery,
    DevOutboxMessage,
    KeptForm,
    LetterBatch,
    LetterBatchState,
    Recipient,
    RecipientList,
    RecipientRowError,
    RunState,
    SendBatch,
    SendRun,
    SentAddress,
)

#: Days a recipient list is kept before its people's personal data is purged (docs/retention.md
#: explains the choice).
DEFAULT_RETENTION_DAYS: Final = 90
#: Send run states that keep a list: the run may still send to it ("scheduled": a run waiting
#: for its start time, where runs can be scheduled).
ACTIVE_RUN_STATES: Final = (
    RunState.PREPARING.value,
    "scheduled",
    RunState.RUNNING.value,
    RunState.PAUSED.value,
    RunState.STOPPED.value,
    # Waiting for an admin, who may send its in-doubt recipients again.
    RunState.IN_DOUBT.value,
)
#: Values per ``IN (...)`` or ``OR`` list, well under every database's parameter limit.
_CHUNK: Final = 500


@dataclass(frozen=True)
class ListPurged:
    """One list purged (or, in a dry run, that would be): what was removed, counted."""

    list_id: int
    incident_id: int
    #: Recipient rows blanked.
    recipients: int
    #: Rejected-row problems deleted.
    row_errors: int
    #: Letter batches whose PDF and manifest were removed.
    letter_files: int
    #: Development outbox copies of customer notices deleted.
    outbox_messages: int


@dataclass(frozen=True)
class ListKept:
    """One list old enough to purge but kept, and why (in words, no personal data)."""

    list_id: int
    incident_id: int
    reason: str


@dataclass(frozen=True)
class PurgeReport:
    dry_run: bool
    #: Lists uploaded before this were due.
    cutoff: datetime
    purged: tuple[ListPurged, ...]
    kept: tuple[ListKept, ...]
    #: Kept forms past their expiry deleted (or that would be, on a dry run).
    expired_kept_forms: int = 0

    @property
    def recipients(self) -> int:
        return sum(p.recipients for p in self.purged)

    @property
    def row_errors(self) -> int:
        return sum(p.row_errors for p in self.purged)

    @property
    def letter_files(self) -> int:
        return sum(p.letter_files for p in self.purged)

    @property
    def outbox_messages(self) -> int:
        return sum(p.outbox_messages for p in self.purged)


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _count(session: Session, query: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)


def why_kept(session: Session, recipient_list: RecipientList) -> str | None:
    """Why ``recipient_list`` must keep its personal data now, or None."""
    active = session.execute(
        select(SendRun.id, SendRun.state)
        .where(SendRun.list_id == recipient_list.id, SendRun.state.in_(ACTIVE_RUN_STATES))
        .order_by(SendRun.id)
    ).all()
    if active:
        runs = ", ".join(f"send {run_id} is {state}" for run_id, state in active)
        return f"{runs}: it may still send to this list."
    waiting = session.execute(
        select(SendRun.id, func.count())
        .join(LetterBatch, LetterBatch.run_id == SendRun.id)
        .where(
            SendRun.list_id == recipient_list.id,
            LetterBatch.state == LetterBatchState.WAITING.value,
        )
        .group_by(SendRun.id)
        .order_by(SendRun.id)
    ).all()
    if waiting:
        runs = ", ".join(
            f"{count} letter batch{'es' if count != 1 else ''} of send {run_id}"
            for run_id, count in waiting
        )
        return f"{runs} waiting to be printed."
    return None


def _run_ids(session: Session, recipient_list: RecipientList) -> list[int]:
    return list(session.scalars(select(SendRun.id).where(SendRun.list_id == recipient_list.id)))


def _outbox_ids(session: Session, recipient_list: RecipientList, run_ids: list[int]) -> list[int]:
    """The dev outbox's copies of customer notices sent to the list's people."""
    message_ids: set[str] = set()
    for chunk in _chunks(run_ids):
        message_ids.update(
            m
            for m in session.scalars(
                select(Delivery.message_id)
                .where(Delivery.run_id.in_(chunk), Delivery.message_id.is_not(None))
                .distinct()
            )
            if m
        )
        message_ids.update(
            m
            for m in session.scalars(
                select(SendBatch.message_id).where(
                    SendBatch.run_id.in_(chunk), SendBatch.message_id.is_not(None)
                )
            )
            if m
        )
    found: set[int] = set()
    # A batch's copies are "<its message id>-<position>": the ids between "<id>-" and "<id>."
    # ("." follows "-"), found through the column's unique index.
    ordered = sorted(message_ids)
    for start in range(0, len(ordered), 50):
        ranges = [
            (DevOutboxMessage.gateway_message_id > f"{m}-")
            & (DevOutboxMessage.gateway_message_id < f"{m}.")
            for m in ordered[start : start + 50]
        ]
        found.update(session.scalars(select(DevOutboxMessage.id).where(or_(*ranges))))
    # Any batch copy to one of the list's addresses: covers a batch the dev outbox stored but
    # whose answer was never recorded (its message id is nowhere else).
    addresses = select(Recipient.email).where(
        Recipient.list_id == recipient_list.id, Recipient.email != ""
    )
    found.update(
        session.scalars(
            select(DevOutboxMessage.id).where(
                DevOutboxMessage.to_email.in_(addresses),
                DevOutboxMessage.gateway_message_id.like("dev-%-%"),
            )
        )
    )
    return sorted(found)


def _purge_list(
    session: Session, recipient_list: RecipientList, *, now: datetime, dry_run: bool
) -> ListPurged:
    run_ids = _run_ids(session, recipient_list)
    outbox = _outbox_ids(session, recipient_list, run_ids)
    recipients = _count(session, select(Recipient.id).where(Recipient.list_id == recipient_list.id))
    row_errors = _count(
        session,
        select(RecipientRowError.id).where(RecipientRowError.list_id == recipient_list.id),
    )
    letter_files = 0
    for chunk in _chunks(run_ids):
        letter_files += _count(
            session,
            select(LetterBatch.id).where(
                LetterBatch.run_id.in_(chunk),
                LetterBatch.purged_at.is_(None),
                or_(LetterBatch.pdf_sha256.is_not(None), LetterBatch.manifest_sha256.is_not(None)),
            ),
        )
    result = ListPurged(
        list_id=recipient_list.id,
        incident_id=recipient_list.incident_id,
        recipients=recipients,
        row_errors=row_errors,
        letter_files=letter_files,
        outbox_messages=len(outbox),
    )
    if dry_run:
        return result
    session.execute(
        update(Recipient)
        .where(Recipient.list_id == recipient_list.id)
        .values(email="", first_name="", last_name="", reference="", address=[], language="")
    )
    session.execute(delete(RecipientRowError).where(RecipientRowError.list_id == recipient_list.id))
    for chunk in _chunks(run_ids):
        session.execute(
            update(LetterBatch)
            .where(LetterBatch.run_id.in_(chunk), LetterBatch.purged_at.is_(None))
            .values(pdf=None, manifest=None, purged_at=now)
        )
    for chunk in _chunks(outbox):
        session.execute(delete(DevOutboxMessage).where(DevOutboxMessage.id.in_(chunk)))
    for chunk in _chunks(run_ids):  # the sent-address ledger's digests are personal data too
        session.execute(
            delete(SentAddress).where(
                SentAddress.delivery_id.in_(select(Delivery.id).where(Delivery.run_id.in_(chunk)))
            )
        )
    recipient_list.purged_at = now
    return result


def purge(
    session: Session,
    *,
    older_than: timedelta,
    now: datetime,
    dry_run: bool = False,
    actor_label: str = "retention",
) -> PurgeReport:
    """Purge the personal data of every list uploaded before ``now - older_than`` (see the
    module docstring for what goes, what stays, and which lists are kept). Commits after each
    list, with its ``recipients.purged`` audit event; a dry run counts and changes nothing."""
    cutoff = now - older_than
    due = list(
        session.scalars(
            select(RecipientList.id)
            .where(RecipientList.purged_at.is_(None), RecipientList.uploaded_at < cutoff)
            .order_by(RecipientList.id)
        )
    )
    purged: list[ListPurged] = []
    kept: list[ListKept] = []
    for list_id in due:
        # The lock keeps a letter render from storing personal data after the purge
        # (``composer.delivery.letters.rendering.render_batch`` takes the same lock before it
        # stores), and two purges apart.
        query = select(RecipientList).where(RecipientList.id == list_id)
        if not dry_run:
            query = query.with_for_update(of=RecipientList)
        recipient_list = session.scalar(query)
        if recipient_list is None or recipient_list.purged_at is not None:
            session.rollback()
            continue
        reason = why_kept(session, recipient_list)
        if reason is not None:
            kept.append(ListKept(recipient_list.id, recipient_list.incident_id, reason))
            session.rollback()
            continue
        done = _purge_list(session, recipient_list, now=now, dry_run=dry_run)
        purged.append(done)
        if dry_run:
            session.rollback()
            continue
        audit.record(
            session,
            actor=None,
            actor_label=actor_label,
            action="recipients.purged",
            subject_type="incident",
            subject_id=recipient_list.incident_id,
            after={
                "list_id": done.list_id,
                "recipients": done.recipients,
                "row_errors": done.row_errors,
                "letter_files": done.letter_files,
                "outbox_messages": done.outbox_messages,
                "retention_days": older_than.days,
            },
        )
        session.commit()
    expired = delete_expired_kept_forms(session, now=now, dry_run=dry_run)
    return PurgeReport(
        dry_run=dry_run,
        cutoff=cutoff,
        purged=tuple(purged),
        kept=tuple(kept),
        expired_kept_forms=expired,
    )


def delete_expired_kept_forms(session: Session, *, now: datetime, dry_run: bool = False) -> int:
    """Delete the kept forms whose time ran out (their writers never signed in again to take
    them) and commit; returns how many. A dry run counts them and changes nothing."""
    due = KeptForm.expires_at <= now
    if dry_run:
        return int(session.scalar(select(func.count()).select_from(KeptForm).where(due)) or 0)
    result = session.execute(delete(KeptForm).where(due))
    session.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]

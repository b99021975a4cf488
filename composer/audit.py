"""Append-only, hash-chained audit events.

Each event's hash covers its own fields and the previous event's hash, so editing, deleting
or reordering a stored row breaks the chain, and ``verify`` names where. Appends lock the
single ``audit_head`` row first, so concurrent writers cannot fork the chain.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from composer.models import AuditEvent, AuditHead, User, utcnow

GENESIS = "0" * 64


def _canonical(
    *,
    seq: int,
    at: datetime,
    actor_id: int | None,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: str,
    before: Any,
    after: Any,
    prev_hash: str,
) -> bytes:
    doc = {
        "seq": seq,
        "at": at.isoformat(timespec="microseconds"),
        "actor_id": actor_id,
        "actor": actor,
        "action": action,
        "subject": [subject_type, subject_id],
        "before": before,
        "after": after,
        "prev_hash": prev_hash,
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def event_hash(event: AuditEvent) -> str:
    """The hash ``event`` should have, recomputed from its stored fields."""
    return hashlib.sha256(
        _canonical(
            seq=event.seq,
            at=event.at,
            actor_id=event.actor_id,
            actor=event.actor,
            action=event.action,
            subject_type=event.subject_type,
            subject_id=event.subject_id,
            before=event.before,
            after=event.after,
            prev_hash=event.prev_hash,
        )
    ).hexdigest()


def record(
    session: Session,
    *,
    actor: User | None,
    action: str,
    subject_type: str,
    subject_id: object,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    actor_label: str | None = None,
) -> AuditEvent:
    """Append an event in the caller's transaction (it commits with the change it records)."""
    head = session.execute(
        update(AuditHead)
        .where(AuditHead.id == 1)
        .values(seq=AuditHead.seq + 1)
        .returning(AuditHead.seq, AuditHead.last_hash)
    ).one_or_none()
    if head is None:
        raise RuntimeError(
            "The audit log is not initialised: run 'flask --app composer db upgrade'."
        )
    seq, prev_hash = head
    # Round-trip through JSON now so the hash covers exactly what the database returns later.
    before = json.loads(json.dumps(before)) if before is not None else None
    after = json.loads(json.dumps(after)) if after is not None else None
    event = AuditEvent(
        seq=seq,
        at=utcnow(),
        actor_id=actor.id if actor else None,
        actor=actor_label or (actor.email if actor else "system"),
        action=action,
        subject_type=subject_type,
        subject_id=str(subject_id),
        before=before,
        after=after,
        prev_hash=prev_hash,
    )
    event.hash = event_hash(event)
    session.add(event)
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(last_hash=event.hash))
    return event


@dataclass(frozen=True)
class ChainReport:
    events: int
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(session: Session) -> ChainReport:
    """Walk the chain from the first event and report every break found."""
    problems: list[str] = []
    expected_prev = GENESIS
    expected_seq = 1
    count = 0
    for event in session.scalars(select(AuditEvent).order_by(AuditEvent.seq)):
        count += 1
        if event.seq != expected_seq:
            problems.append(
                f"event {expected_seq} is missing (next stored event is {event.seq}): "
                "rows were deleted or renumbered"
            )
        if event.prev_hash != expected_prev:
            problems.append(
                f"event {event.seq} does not follow the event before it: "
                "rows were deleted, inserted or reordered"
            )
        if event_hash(event) != event.hash:
            problems.append(f"event {event.seq} ({event.action}) was changed after it was written")
        expected_prev = event.hash
        expected_seq = event.seq + 1
    head = session.get(AuditHead, 1)
    if head is None:
        problems.append("the audit head row is missing")
    elif head.seq != expected_seq - 1 or head.last_hash != expected_prev:
        problems.append(
            f"the log should end at event {head.seq} but ends at {expected_seq - 1}: "
            "the latest events were deleted or the head was changed"
        )
    return ChainReport(events=count, problems=problems)

"""The audit log's hash chain: :func:`record` appends a signed event in the caller's
transaction, each event's hash covering its fields and the previous event's hash.

No Flask here.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any, Final

from sqlalchemy import update
from sqlalchemy.orm import Session

from composer.audit.seal import seal_of
from composer.models import AuditEvent, AuditHead, User, utcnow

#: The ``prev_hash`` of the first event.
GENESIS = "0" * 64

#: The head this session's transaction appended up to, to checkpoint after the commit.
APPENDED: Final = "composer.audit.appended"


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


def event_fields(seq: int, hash_: str) -> tuple[object, ...]:
    # The hash covers every field and, through prev_hash, every earlier event.
    return (seq, hash_)


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
    """Append a signed event in the caller's transaction (it commits with the change it
    records); the checkpoint outside the database moves forward after that commit."""
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
    seal = seal_of(session)
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
    event.signature = seal.sign("audit-event", *event_fields(seq, event.hash))
    session.add(event)
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(last_hash=event.hash))
    session.info[APPENDED] = (seq, event.hash)
    return event

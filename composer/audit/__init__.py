"""Append-only, hash-chained audit events, signed with a key kept outside the database.

Each event's hash covers its own fields and the previous event's hash, so editing, deleting
or reordering a stored row breaks the chain, and :func:`verify` names where. Appends lock the
single ``audit_head`` row first, so concurrent writers cannot fork the chain.

The database alone is not trusted (docs/audit.md). Someone with write access could recompute
every hash after a change, or delete the latest events and move ``audit_head`` back, and the
chain would still add up. So:

- every event carries an HMAC of its hash made with the installation's :class:`Seal` key, which
  is not in the database: a rewritten event cannot be signed again;
- after each commit that appended events, the new head (sequence number and hash) is signed
  and written to a checkpoint file outside the database (:class:`CheckpointFile`), which only
  ever moves forward: a log that ends before the checkpoint was truncated.

No Flask: the key reaches the session through ``session.info`` (``composer.extensions`` puts it
there for every session the app opens).
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from composer.models import AuditEvent, AuditHead, User, utcnow

log = logging.getLogger(__name__)

GENESIS = "0" * 64

#: Where a session keeps the installation's :class:`Seal` (``composer.extensions`` sets it).
SEAL_INFO: Final = "composer.seal"
#: The head this session's transaction appended up to, to checkpoint after the commit.
_APPENDED: Final = "composer.audit.appended"
_CHECKPOINT: Final = "composer.audit.checkpoint"
#: Signatures are ``v1:<key id>:<HMAC-SHA256 hex>``.
_SIGNATURE_VERSION: Final = "v1"


class MissingSeal(RuntimeError):
    """A session was asked to sign or check something without the installation's key."""


@dataclass(frozen=True)
class Seal:
    """The installation's signing key (HMAC-SHA256), and where the latest signed checkpoint of
    the audit log is kept outside the database (None: nowhere, so truncation is not caught)."""

    key: bytes = field(repr=False)
    checkpoint_path: Path | None = None

    def __post_init__(self) -> None:
        if len(self.key) < 16:
            raise ValueError("the audit signing key must be at least 16 bytes long")

    @property
    def key_id(self) -> str:
        """A short name for the key that reveals nothing of it: which key signed what."""
        return hmac.new(self.key, b"composer key id", hashlib.sha256).hexdigest()[:8]

    def sign(self, purpose: str, *fields: object) -> str:
        """``v1:<key id>:<hex>``: the HMAC of ``purpose`` and ``fields`` (each as text)."""
        message = json.dumps(
            [purpose, *map(str, fields)], ensure_ascii=False, separators=(",", ":")
        ).encode()
        digest = hmac.new(self.key, message, hashlib.sha256).hexdigest()
        return f"{_SIGNATURE_VERSION}:{self.key_id}:{digest}"

    def check(self, signature: str | None, purpose: str, *fields: object) -> str | None:
        """Why ``signature`` is not this key's signature of ``fields`` (None when it is)."""
        if not signature:
            return "it has no signature"
        key_id = _key_id_of(signature)
        if key_id != self.key_id:
            return f"it was signed with another key ({key_id or '?'}, not {self.key_id})"
        if not hmac.compare_digest(signature, self.sign(purpose, *fields)):
            return "its signature does not match"
        return None


def _key_id_of(signature: str) -> str:
    return signature.split(":")[1] if signature.count(":") == 2 else ""


def seal_of(session: Session) -> Seal:
    """The installation's key as given to ``session``; raises :class:`MissingSeal` without."""
    seal = session.info.get(SEAL_INFO)
    if seal is None and not session.in_transaction():
        session.connection()  # the app hands its key over as a session's transaction begins
        seal = session.info.get(SEAL_INFO)
    if not isinstance(seal, Seal):
        raise MissingSeal(
            "The audit signing key is not available to this database session: sessions get it "
            "from the app (composer.create_app), from AUDIT_SIGNING_KEY or instance/"
            "audit_signing_key."
        )
    return seal


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


def _event_fields(seq: int, hash_: str) -> tuple[object, ...]:
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
    event.signature = seal.sign("audit-event", *_event_fields(seq, event.hash))
    session.add(event)
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(last_hash=event.hash))
    session.info[_APPENDED] = (seq, event.hash)
    return event


# Checkpoints outside the database ----------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement that the log reached event ``seq`` with hash ``hash`` at ``at``, and
    that every event from ``signed_from`` on is signed."""

    seq: int
    hash: str
    at: str
    signed_from: int
    key_id: str
    signature: str

    @classmethod
    def make(cls, seal: Seal, *, seq: int, hash: str, signed_from: int) -> Checkpoint:
        at = datetime.now(UTC).isoformat(timespec="microseconds")
        signature = seal.sign("audit-checkpoint", seq, hash, at, signed_from)
        return cls(seq, hash, at, signed_from, seal.key_id, signature)

    def problem(self, seal: Seal) -> str | None:
        return seal.check(self.signature, "audit-checkpoint", *self._fields())

    def _fields(self) -> tuple[object, ...]:
        return (self.seq, self.hash, self.at, self.signed_from)

    def document(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "hash": self.hash,
            "at": self.at,
            "signed_from": self.signed_from,
            "key_id": self.key_id,
            "signature": self.signature,
        }

    @classmethod
    def from_document(cls, doc: Any) -> Checkpoint:
        if not isinstance(doc, dict):
            raise ValueError("not a checkpoint")
        return cls(
            seq=int(doc["seq"]),
            hash=str(doc["hash"]),
            at=str(doc["at"]),
            signed_from=int(doc["signed_from"]),
            key_id=str(doc["key_id"]),
            signature=str(doc["signature"]),
        )


class CheckpointUnreadable(ValueError):
    """The checkpoint file exists but is not a checkpoint (edited, or cut short)."""


@dataclass(frozen=True)
class CheckpointFile:
    """The latest checkpoint, in a small JSON file that only moves forward.

    Several processes on one host (web workers, the sender, the command line) share it: each
    advances it after its own commits under an exclusive lock on ``<file>.lock``, only to a
    higher sequence number, and replaces it atomically (write, fsync, rename), so it never
    holds half a checkpoint and never goes back.
    """

    path: Path

    def read(self) -> Checkpoint | None:
        """The checkpoint (None when there is no file yet). Raises
        :class:`CheckpointUnreadable` for a file that is not one."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            return Checkpoint.from_document(json.loads(text))
        except (ValueError, KeyError, TypeError) as exc:
            raise CheckpointUnreadable(f"{self.path} is not an audit checkpoint") from exc

    def advance(self, checkpoint: Checkpoint) -> bool:
        """Write ``checkpoint`` unless the file already holds one as far along; True when
        written."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                current = self.read()
            except CheckpointUnreadable:
                # Keep the evidence: a broken file is reported by verify, never overwritten.
                return False
            if current is not None and current.seq >= checkpoint.seq:
                return False
            handle, temp = tempfile.mkstemp(prefix=".checkpoint-", dir=self.path.parent)
            try:
                with os.fdopen(handle, "w", encoding="utf-8") as stream:
                    json.dump(checkpoint.document(), stream, indent=2)
                    stream.write("\n")
                    stream.flush()
                    os.fsync(stream.fileno())
                os.chmod(temp, 0o600)
                os.replace(temp, self.path)
            except BaseException:
                Path(temp).unlink(missing_ok=True)
                raise
            return True
        finally:
            os.close(fd)  # releases the lock


def prepare_checkpoint(session: Session) -> None:
    """Before a commit that appended events: sign the new head, if the checkpoint file may move
    to it. It may not when the log no longer contains the checkpoint it holds (rows were
    deleted or rewritten): moving on would bury the evidence, so it stays for ``verify``."""
    appended = session.info.pop(_APPENDED, None)
    seal = session.info.get(SEAL_INFO)
    if appended is None or not isinstance(seal, Seal) or seal.checkpoint_path is None:
        return
    # The head as this transaction leaves it (it holds the head's lock since its first append):
    # not what record() noted, which a rolled-back savepoint could have undone.
    head = session.execute(
        select(AuditHead.seq, AuditHead.last_hash).where(AuditHead.id == 1)
    ).one_or_none()
    if head is None or not head.seq:
        return
    seq, hash_ = head
    try:
        current = CheckpointFile(seal.checkpoint_path).read()
    except CheckpointUnreadable:
        log.error("audit checkpoint %s is unreadable; not advancing it", seal.checkpoint_path)
        return
    if current is None:
        signed_from = session.scalar(
            select(func.min(AuditEvent.seq)).where(AuditEvent.signature.is_not(None))
        )
        signed_from = signed_from or seq
    else:
        if current.seq >= seq:
            return  # another process is further along (or the log was cut: verify says so)
        held = session.scalar(select(AuditEvent.hash).where(AuditEvent.seq == current.seq))
        if held != current.hash or current.problem(seal) is not None:
            log.error(
                "the audit log no longer matches its checkpoint at event %d; not advancing it "
                "(run 'flask --app composer audit verify')",
                current.seq,
            )
            return
        signed_from = current.signed_from
    session.info[_CHECKPOINT] = Checkpoint.make(seal, seq=seq, hash=hash_, signed_from=signed_from)


def write_checkpoint(session: Session) -> None:
    """After the commit: move the checkpoint file forward to what this session appended."""
    checkpoint = session.info.pop(_CHECKPOINT, None)
    seal = session.info.get(SEAL_INFO)
    if checkpoint is None or not isinstance(seal, Seal) or seal.checkpoint_path is None:
        return
    try:
        CheckpointFile(seal.checkpoint_path).advance(checkpoint)
    except OSError:
        # The events are committed; the next commit's checkpoint covers them too.
        log.exception("could not write the audit checkpoint %s", seal.checkpoint_path)


def forget_appended(session: Session) -> None:
    """After a rollback: nothing this session appended was kept."""
    session.info.pop(_APPENDED, None)
    session.info.pop(_CHECKPOINT, None)


# Verifying --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainReport:
    """What :func:`verify` found: ``problems`` are signs of tampering; ``notes`` are limits of
    the check (no checkpoint yet, events older than signing)."""

    events: int
    problems: list[str]
    notes: list[str] = field(default_factory=list)
    #: The log's last event as stored (seq, hash), and the checkpoint outside the database.
    last_seq: int = 0
    last_hash: str = GENESIS
    checkpoint: Checkpoint | None = None
    #: The first signed event (None when none is).
    signed_from: int | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(session: Session, seal: Seal | None = None) -> ChainReport:
    """Walk the chain from the first event and report every break found: missing, reordered or
    edited rows, events rewritten with their hashes recomputed (the signature no longer
    matches), and a log that ends before its signed checkpoint (truncated)."""
    seal = seal or seal_of(session)
    problems: list[str] = []
    notes: list[str] = []
    expected_prev = GENESIS
    expected_seq = 1
    count = 0
    signed_from: int | None = None
    bad_run: list[int] = []  # consecutive events whose signature fails
    unsigned_before = 0

    def close_run() -> None:
        if len(bad_run) > 1:
            problems.append(
                f"events {bad_run[1]} to {bad_run[-1]} also fail their signatures: their hashes "
                f"were recomputed after event {bad_run[0]} was rewritten"
            )
        bad_run.clear()

    hashes: dict[int, str] = {}
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
        recomputed = event_hash(event)
        hash_ok = recomputed == event.hash
        if not hash_ok:
            problems.append(f"event {event.seq} ({event.action}) was changed after it was written")
        if event.signature is None and signed_from is None:
            unsigned_before = event.seq
        else:
            signed_from = signed_from or event.seq
            why = seal.check(event.signature, "audit-event", *_event_fields(event.seq, event.hash))
            if why is None:
                close_run()
            elif bad_run:
                bad_run.append(event.seq)
            else:
                bad_run.append(event.seq)
                if event.signature is None:
                    problems.append(
                        f"event {event.seq} ({event.action}) has no signature, though the "
                        "events before it are signed: it was inserted or rewritten"
                    )
                elif _key_id_of(event.signature) != seal.key_id:
                    problems.append(
                        f"event {event.seq} ({event.action}) {why.removeprefix('it ')}: was the "
                        "signing key (AUDIT_SIGNING_KEY, instance/audit_signing_key) replaced?"
                    )
                elif hash_ok:
                    problems.append(
                        f"event {event.seq} ({event.action}) was rewritten: {why}, so its "
                        "content or its hash was changed after it was signed"
                    )
                else:
                    problems.append(f"event {event.seq} ({event.action}): {why}")
        hashes[event.seq] = event.hash
        expected_prev = event.hash
        expected_seq = event.seq + 1
    close_run()
    last_seq = expected_seq - 1
    head = session.get(AuditHead, 1)
    if head is None:
        problems.append("the audit head row is missing")
    elif head.seq != last_seq or head.last_hash != expected_prev:
        problems.append(
            f"the log should end at event {head.seq} but ends at {last_seq}: "
            "the latest events were deleted or the head was changed"
        )
    checkpoint = _check_checkpoint(seal, hashes, last_seq, signed_from, problems, notes)
    if unsigned_before and (checkpoint is None or checkpoint.signed_from > unsigned_before):
        notes.append(
            f"events 1 to {unsigned_before} were written before events were signed; the "
            "signatures of later events cover them through the chain"
        )
    return ChainReport(
        events=count,
        problems=problems,
        notes=notes,
        last_seq=last_seq,
        last_hash=expected_prev,
        checkpoint=checkpoint,
        signed_from=signed_from,
    )


def _check_checkpoint(
    seal: Seal,
    hashes: dict[int, str],
    last_seq: int,
    signed_from: int | None,
    problems: list[str],
    notes: list[str],
) -> Checkpoint | None:
    if seal.checkpoint_path is None:
        notes.append(
            "no checkpoint file is configured, so deleting the latest events cannot be detected"
        )
        return None
    try:
        checkpoint = CheckpointFile(seal.checkpoint_path).read()
    except CheckpointUnreadable as exc:
        problems.append(f"the checkpoint file outside the database is unreadable: {exc}")
        return None
    if checkpoint is None:
        if last_seq:
            notes.append(
                f"there is no checkpoint at {seal.checkpoint_path} yet (it is written after the "
                "next change), so deleting the latest events cannot be detected"
            )
        return None
    why = checkpoint.problem(seal)
    if why is not None:
        problems.append(
            f"the checkpoint at {seal.checkpoint_path} cannot be trusted: {why} (event "
            f"{checkpoint.seq}, written {checkpoint.at})"
        )
        return checkpoint
    if checkpoint.seq > last_seq:
        problems.append(
            f"the log was truncated after event {last_seq}: the signed checkpoint kept outside "
            f"the database says it reached event {checkpoint.seq} on {checkpoint.at}"
        )
    elif hashes.get(checkpoint.seq) != checkpoint.hash:
        problems.append(
            f"event {checkpoint.seq} is not the event the signed checkpoint recorded on "
            f"{checkpoint.at}: the log was rewritten up to there"
        )
    if (signed_from is None or signed_from > checkpoint.signed_from) and (
        last_seq >= checkpoint.signed_from
    ):
        problems.append(
            f"events from {checkpoint.signed_from} on were signed, but event "
            f"{checkpoint.signed_from} has no signature now: signatures were removed"
        )
    return checkpoint


def signed_head(session: Session, report: ChainReport, seal: Seal | None = None) -> Checkpoint:
    """The log's last event as stored now, signed (for the evidence pack): anyone holding the
    key can later tell whether the log still reaches it."""
    seal = seal or seal_of(session)
    signed_from = report.signed_from or report.last_seq + 1
    return Checkpoint.make(
        seal, seq=report.last_seq, hash=report.last_hash, signed_from=signed_from
    )

"""The signed checkpoint outside the database: after each commit that appended events, the new
head (sequence number and hash) is signed and written to a file that only ever moves forward,
so a log that ends before it was truncated.

No Flask: ``composer.extensions`` calls :func:`prepare_checkpoint` before each commit,
:func:`write_checkpoint` after it and :func:`forget_appended` after a rollback.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from composer.audit.chain import APPENDED
from composer.audit.seal import SEAL_INFO, Seal
from composer.models import AuditEvent, AuditHead

log = logging.getLogger(__name__)

#: The checkpoint this session's transaction will write once it has committed.
CHECKPOINT: Final = "composer.audit.checkpoint"


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
    appended = session.info.pop(APPENDED, None)
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
    session.info[CHECKPOINT] = Checkpoint.make(seal, seq=seq, hash=hash_, signed_from=signed_from)


def write_checkpoint(session: Session) -> None:
    """After the commit: move the checkpoint file forward to what this session appended."""
    checkpoint = session.info.pop(CHECKPOINT, None)
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
    session.info.pop(APPENDED, None)
    session.info.pop(CHECKPOINT, None)

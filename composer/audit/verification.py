"""Verifying the audit log: the chain walked from its first event, each signature checked, and
the log's end compared with the signed checkpoint outside the database.

No Flask here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from composer.audit.chain import GENESIS, event_fields, event_hash
from composer.audit.checkpoints import Checkpoint, CheckpointFile, CheckpointUnreadable
from composer.audit.seal import Seal, key_id_of, seal_of
from composer.models import AuditEvent, AuditHead


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
            why = seal.check(event.signature, "audit-event", *event_fields(event.seq, event.hash))
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
                elif key_id_of(event.signature) != seal.key_id:
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

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

The code: ``seal`` (the key), ``chain`` (recording events), ``checkpoints`` (the file outside
the database) and ``verification`` (walking the chain). Callers use the names re-exported here
(``from composer import audit``; ``audit.record(...)``).
"""

from composer.audit.chain import GENESIS, event_hash, record
from composer.audit.checkpoints import (
    Checkpoint,
    CheckpointFile,
    CheckpointUnreadable,
    forget_appended,
    prepare_checkpoint,
    write_checkpoint,
)
from composer.audit.seal import SEAL_INFO, MissingSeal, Seal, seal_of
from composer.audit.verification import ChainReport, signed_head, verify

__all__ = [
    "GENESIS",
    "SEAL_INFO",
    "ChainReport",
    "Checkpoint",
    "CheckpointFile",
    "CheckpointUnreadable",
    "MissingSeal",
    "Seal",
    "event_hash",
    "forget_appended",
    "prepare_checkpoint",
    "record",
    "seal_of",
    "signed_head",
    "verify",
    "write_checkpoint",
]

"""The installation's seal: the signing key (HMAC-SHA256) kept outside the database, with which
audit events, checkpoints and approvals are signed, and where the signed checkpoint is kept.

No Flask: ``composer.extensions`` gives every session the app opens its :class:`Seal`, in
``session.info``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from sqlalchemy.orm import Session

#: Where a session keeps the installation's :class:`Seal` (``composer.extensions`` sets it).
SEAL_INFO: Final = "composer.seal"
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
        key_id = key_id_of(signature)
        if key_id != self.key_id:
            return f"it was signed with another key ({key_id or '?'}, not {self.key_id})"
        if not hmac.compare_digest(signature, self.sign(purpose, *fields)):
            return "its signature does not match"
        return None


def key_id_of(signature: str) -> str:
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

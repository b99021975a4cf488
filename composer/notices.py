"""The notice an incident's comms team writes: read and save the working draft.

Plain functions over a SQLAlchemy session; the caller commits. Every change is audited, but
the audit log keeps only the length and a SHA-256 of the text: the notice can hold details of
the incident that the log's readers need not see, and the hash still proves which text it was.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import select
from sqlalchemy.orm import Session

from composer import audit
from composer.models import Incident, NoticeDraft, User, utcnow

#: The longest notice saved, in characters. A long breach notice is about 1,500 words
#: (10,000 characters); this leaves room for pasted drafts with several language versions.
MAX_BODY_CHARS = 50_000


class NoticeError(ValueError):
    """A problem with what the user asked for, written for them."""


class NoticeTooLong(NoticeError):
    """The text is over the size limit; nothing was saved."""

    def __init__(self, length: int, limit: int) -> None:
        self.length = length
        self.limit = limit
        super().__init__(
            f"The notice is {length:,} characters long; the limit is {limit:,}. "
            "Nothing was saved: shorten it, or split it into separate notices."
        )


def normalise_body(body: str) -> str:
    """Line breaks as "\\n": browsers send a textarea's line breaks as "\\r\\n"."""
    return body.replace("\r\n", "\n").replace("\r", "\n")


def text_digest(body: str) -> dict[str, int | str]:
    """What the audit log records about a text instead of the text itself."""
    return {"chars": len(body), "sha256": hashlib.sha256(body.encode()).hexdigest()}


def draft_for(session: Session, incident: Incident) -> NoticeDraft | None:
    """The incident's working draft, or None before anyone has saved one."""
    return session.scalar(select(NoticeDraft).where(NoticeDraft.incident_id == incident.id))


def save_draft(
    session: Session,
    incident: Incident,
    body: str,
    *,
    by: User,
    max_chars: int = MAX_BODY_CHARS,
) -> NoticeDraft:
    """Store ``body`` as the incident's working draft, and audit the change.

    Line breaks are normalised to "\\n"; nothing else in the text is touched. Saving the text the
    draft already has changes nothing and records nothing. Before the first save, an empty text
    stores nothing either: the returned draft is then new and not added to the session. Raises
    :class:`NoticeTooLong` (nothing changed) when the text is over ``max_chars`` characters.
    The caller should hold a lock on the incident row, so two first saves cannot race.
    """
    body = normalise_body(body)
    if len(body) > max_chars:
        raise NoticeTooLong(len(body), max_chars)
    draft = draft_for(session, incident)
    if draft is None:
        if not body:
            return NoticeDraft(incident_id=incident.id, body="", updated_by_id=by.id)
        draft = NoticeDraft(incident_id=incident.id, body=body, updated_by=by)
        session.add(draft)
        before = None
    elif draft.body == body:
        return draft
    else:
        before = text_digest(draft.body)
        draft.body = body
        draft.updated_by = by
    draft.updated_at = utcnow()
    session.flush()
    audit.record(
        session,
        actor=by,
        action="notice.draft_saved",
        subject_type="incident",
        subject_id=incident.id,
        before=before,
        after={**text_digest(body), "draft_id": draft.id},
    )
    return draft

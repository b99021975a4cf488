"""The notice an incident's comms team writes, as numbered, immutable versions.

Plain functions over a SQLAlchemy session; the caller commits. Each save of changed text adds a
:class:`~composer.models.NoticeVersion` with the next number; nothing here ever updates or deletes
one (the database refuses to, too). Legal approval will be bound to a version's ``sha256``, the
SHA-256 of its canonical text (:func:`canonical_text`).

Every new version is audited, but the audit log keeps only the lengths and the hash, not the text:
the notice can hold details of the incident that the log's readers need not see, and the hash
still proves which text it was.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from composer import audit, models
from composer.models import Incident, NoticeVersion, User, VersionSource
from composer.rendering.errors import MergeFieldError, RenderError, SubjectError

#: The longest notice text saved, in characters. A long breach notice is about 1,500 words
#: (10,000 characters); this leaves room for pasted drafts with several language versions.
#: The app passes its ``LINT_MAX_CHARS`` setting instead.
MAX_BODY_CHARS = 50_000


class NoticeError(ValueError):
    """A problem with what the user asked for, written for them."""


class NoticeInvalid(NoticeError):
    """The text cannot be saved. ``errors`` maps each field with a problem ("subject", "body")
    to a message for the person who typed it; nothing was saved."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__(" ".join(self.errors.values()))


class VersionConflict(NoticeError):
    """Someone saved a newer version after the editor was opened; nothing was saved."""

    def __init__(self, latest: NoticeVersion, seen: int) -> None:
        self.latest = latest
        self.seen = seen
        super().__init__(
            f"{latest.created_by.display_name} saved version {latest.number} while you were "
            f"editing, so your text was not saved yet."
        )


@dataclass(frozen=True)
class SaveResult:
    """What a save did: ``version`` is the new version, or the newest one when nothing changed."""

    version: NoticeVersion | None
    created: bool


# The text and its hash -----------------------------------------------------------------------


def normalise_newlines(text: str) -> str:
    """Line breaks as "\\n": browsers send a textarea's line breaks as "\\r\\n"."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def canonical_text(subject: str, body: str) -> str:
    """The exact text a version's hash covers: the subject, a blank line, the body, with "\\n"
    line breaks. (A subject never holds a line break, so this reads back unambiguously.)"""
    return normalise_newlines(f"{subject}\n\n{body}")


def content_sha256(subject: str, body: str) -> str:
    """SHA-256, in hex, of the UTF-8 bytes of :func:`canonical_text`."""
    return hashlib.sha256(canonical_text(subject, body).encode("utf-8")).hexdigest()


def text_digest(version: NoticeVersion) -> dict[str, Any]:
    """What the audit log records about a version instead of its text."""
    return {
        "version": version.number,
        "sha256": version.sha256,
        "subject_chars": len(version.subject),
        "body_chars": len(version.body),
    }


# Checks at save time -------------------------------------------------------------------------


def body_too_long_message(length: int, limit: int) -> str:
    return (
        f"The notice is {length:,} characters long; the limit is {limit:,}. "
        "Nothing was saved: shorten it, or split it into separate notices."
    )


def check_text(subject: str, body: str, *, max_body_chars: int = MAX_BODY_CHARS) -> dict[str, str]:
    """The problems that stop ``subject`` and ``body`` from being saved, by field (empty when
    there are none): a size limit and no control characters in the body, then everything the
    rendering library checks before it renders a draft (``validate_draft``: a one-line subject
    with no control characters or encoded line breaks and a length limit; merge fields from its
    allow-list, and none in a link's address), so a saved version can always be rendered."""
    from composer.rendering.merge_fields import validate_merge_fields
    from composer.rendering.validation import validate_draft, validate_subject

    errors: dict[str, str] = {}
    # Subject and body are checked apart first, so both messages show at once.
    try:
        validate_subject(subject)
        validate_merge_fields(subject)
    except SubjectError as exc:
        errors["subject"] = str(exc)
    except MergeFieldError as exc:
        errors["subject"] = _merge_field_message(exc.in_part("subject"))

    if not body.strip():
        errors["body"] = "The notice text is empty: write or paste it, or draft it from the facts."
    elif len(body) > max_body_chars:
        errors["body"] = body_too_long_message(len(body), max_body_chars)
    elif (control := _control_character(body)) is not None:
        char, line = control
        errors["body"] = (
            f"Line {line} holds the invisible control character U+{ord(char):04X}, which "
            "cannot go into an email or letter. Delete it (it often comes from pasting)."
        )
    else:
        try:
            validate_merge_fields(body)
        except MergeFieldError as exc:
            errors["body"] = _merge_field_message(exc)

    if not errors:
        try:
            validate_draft(_Text(subject, body))
        except MergeFieldError as exc:
            errors["subject" if exc.part == "subject" else "body"] = _merge_field_message(exc)
        except SubjectError as exc:
            errors["subject"] = str(exc)
        except RenderError as exc:
            errors["body"] = str(exc)
    return errors


@dataclass(frozen=True)
class _Text:
    subject: str
    body: str


def _merge_field_message(exc: MergeFieldError) -> str:
    if exc.line is not None and exc.part != "subject":
        return f"Line {exc.line}: {exc.detail}"
    return _sentence(exc.detail)


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _control_character(text: str) -> tuple[str, int] | None:
    """The first control character other than a line break or tab, and its line."""
    for index, char in enumerate(text):
        if char not in "\n\t" and unicodedata.category(char) == "Cc":
            return char, text.count("\n", 0, index) + 1
    return None


# Reading versions ----------------------------------------------------------------------------


def latest_version(session: Session, incident: Incident) -> NoticeVersion | None:
    """The incident's newest version, or None before anyone has saved one."""
    return models.notice.latest_version(session, incident.id)


def get_version(session: Session, incident: Incident, number: int) -> NoticeVersion | None:
    return session.scalar(
        select(NoticeVersion).where(
            NoticeVersion.incident_id == incident.id, NoticeVersion.number == number
        )
    )


def list_versions(session: Session, incident: Incident) -> list[NoticeVersion]:
    """Every version of the incident's notice, oldest first."""
    return list(
        session.scalars(
            select(NoticeVersion)
            .where(NoticeVersion.incident_id == incident.id)
            .order_by(NoticeVersion.number)
        )
    )


def version_counts(session: Session) -> dict[int, int]:
    """How many versions each incident's notice has (incidents without one are left out)."""
    rows = session.execute(
        select(NoticeVersion.incident_id, func.count()).group_by(NoticeVersion.incident_id)
    )
    return {incident_id: count for incident_id, count in rows}


# Saving --------------------------------------------------------------------------------------


def save_version(
    session: Session,
    incident: Incident,
    *,
    subject: str,
    body: str,
    by: User,
    source: VersionSource = VersionSource.EDIT,
    parent: NoticeVersion | None = None,
    seen_latest: int | None = None,
    max_body_chars: int = MAX_BODY_CHARS,
) -> SaveResult:
    """Save ``subject`` and ``body`` as the incident's next version, and audit it.

    The subject loses surrounding spaces and line breaks become "\\n"; nothing else in the text is
    touched. Text identical to the newest version's creates nothing (``created`` is False).
    ``parent`` is the version the text was edited from. ``seen_latest`` is the newest version's
    number when the editor was opened (0 for none): if someone has saved a newer one since,
    :class:`VersionConflict` is raised instead of quietly replacing their text. Raises
    :class:`NoticeInvalid` when the text breaks a rule of :func:`check_text`.

    The caller should hold a lock on the incident row, so two saves cannot take the same number
    (the unique constraint on incident and number refuses it in any case).
    """
    subject = normalise_newlines(subject).strip(" ")
    body = normalise_newlines(body)
    errors = check_text(subject, body, max_body_chars=max_body_chars)
    if errors:
        raise NoticeInvalid(errors)
    if parent is not None and parent.incident_id != incident.id:
        raise ValueError("the parent version belongs to another incident")
    sha256 = content_sha256(subject, body)
    latest = latest_version(session, incident)
    if latest is not None and latest.sha256 == sha256:
        return SaveResult(version=latest, created=False)
    if latest is not None and seen_latest is not None and latest.number > seen_latest:
        raise VersionConflict(latest, seen_latest)

    version = NoticeVersion(
        incident_id=incident.id,
        number=(latest.number + 1) if latest else 1,
        subject=subject,
        body=body,
        sha256=sha256,
        created_by=by,
        source=str(source),
        parent=parent,
    )
    session.add(version)
    session.flush()
    audit.record(
        session,
        actor=by,
        action="notice.version_created",
        subject_type="incident",
        subject_id=incident.id,
        before=text_digest(latest) if latest else None,
        after={
            **text_digest(version),
            "source": version.source,
            "parent": parent.number if parent else None,
        },
    )
    # Any edit voids approval: legal signed a different text.
    from composer.approval.review import void_for_new_version

    void_for_new_version(session, incident, version, by=by)
    return SaveResult(version=version, created=True)


@dataclass(frozen=True)
class DraftedNotice:
    """What drafting from the facts did."""

    result: SaveResult
    #: Facts the checklist does not have yet (missing or needing a fix): the draft holds
    #: visible [SLOTS] for them.
    open_answers: int
    #: Facts marked "Not yet known": the draft says so in plain words.
    unknown_facts: int


def draft_from_facts(
    session: Session,
    incident: Incident,
    facts: Mapping[str, Any],
    *,
    company: str,
    by: User,
    max_body_chars: int = MAX_BODY_CHARS,
) -> DraftedNotice:
    """Write a first draft from the incident's facts document (docs/facts.md) and save it as a
    version (source ``draft-from-facts``). Works on an unfinished checklist too: what is missing
    becomes a visible slot, what is not known yet an honest sentence.

    Raises :class:`NoticeError` when the facts cannot be read or the draft cannot be saved."""
    from composer.notices.drafting import DraftError, draft_notice

    try:
        draft = draft_notice(facts, company=company)
    except DraftError as exc:
        raise NoticeError(f"The notice could not be drafted from the facts: {exc}") from None
    try:
        result = save_version(
            session,
            incident,
            subject=draft.subject,
            body=draft.body,
            by=by,
            source=VersionSource.DRAFT_FROM_FACTS,
            max_body_chars=max_body_chars,
        )
    except NoticeInvalid as exc:
        # The generator's own output should always pass: a company name that breaks the
        # subject rules is the likely cause.
        raise NoticeError(f"The drafted notice could not be saved: {exc}") from None
    status = facts.get("status", {})
    return DraftedNotice(
        result=result,
        open_answers=len(status.get("missing", [])) + len(status.get("invalid", [])),
        unknown_facts=len(status.get("unknown", [])),
    )

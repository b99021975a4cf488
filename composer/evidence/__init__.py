"""An incident's audit trail in plain words, and the evidence pack a regulator can recheck.

The trail is every audit event whose subject is the incident. The evidence pack carries each
of those events with every field its hash covers, so anyone can recompute the hashes
(SHA-256 over the canonical JSON described in :mod:`composer.audit`), plus the result of
checking the whole log's chain when the pack was made, each event's signature, and the log's
head signed when the pack was made (anyone holding the signing key can later tell whether the
log still reaches it unchanged).

The audit log holds hashes of notice text, never the text, and nothing here adds any.
No Flask: the web pages and the command line both call these functions.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from composer import audit
from composer.models import AuditEvent, Incident, User
from composer.support import csv_safe

#: Identifies the evidence pack's layout, so a reader can tell later layouts apart.
FORMAT = "notice-composer.evidence/1"

#: What each action is called on screen and in exports; unknown actions show as themselves.
ACTION_LABELS: Mapping[str, str] = {
    "incident.created": "Incident created",
    "incident.answers_changed": "Checklist answers changed",
    "incident.checklist_finished": "Checklist finished",
    "notice.version_created": "Notice version saved",
    "review.submitted": "Sent for legal review",
    "review.viewed": "Review opened",
    "review.commented": "Reviewer commented",
    "review.changes_requested": "Changes requested",
    "review.approved": "Approved",
    "review.voided": "Review voided",
    "review.withdrawn": "Review withdrawn",
    "approval_policy.changed": "Approval policy changed",
    "evidence.exported": "Evidence pack exported",
    "recipients.imported": "Recipient list uploaded",
    "recipients.refused": "Recipient file refused",
    "recipients.errors_downloaded": "Recipient error report downloaded",
    "recipients.purged": "Recipients' personal data purged",
    "send.test": "Test email sent",
    "send.started": "Sending started",
    "send.scheduled": "Sending scheduled",
    "send.scheduled_start": "Scheduled send started",
    "send.started_early": "Scheduled send started early",
    "send.paused": "Sending paused",
    "send.resumed": "Sending resumed",
    "send.cancelled": "Sending cancelled",
    "letters.prepared": "Postal letters prepared",
    "letters.rendered": "Postal letters printed to PDF",
    "letters.refused": "Postal letters refused",
    "letters.retried": "Postal letters tried again",
    "letters.downloaded": "Postal letters downloaded",
    "user.created": "Account created",
    "user.roles_changed": "Roles changed",
    "user.activated": "Account activated",
    "user.deactivated": "Account deactivated",
    "user.signed_in": "Signed in",
    "user.signed_out": "Signed out",
}

#: Hex digits of a hash shown to people; the full hash is always available next to it.
SHORT_HASH = 12

#: Longest quoted comment or reason in a one-line summary.
QUOTE_LIMIT = 80

CSV_HEADER = (
    "seq",
    "at",
    "actor",
    "action",
    "label",
    "summary",
    "version",
    "bundle_sha256",
    "details",
    "prev_hash",
    "hash",
    "signature",
)


def label_for(action: str) -> str:
    """The plain-words name of ``action``, or the action itself when it has none."""
    return ACTION_LABELS.get(action, action)


# The trail --------------------------------------------------------------------------------------


def _incident_events(incident_id: int) -> Any:
    return select(AuditEvent).where(
        AuditEvent.subject_type == "incident", AuditEvent.subject_id == str(incident_id)
    )


def incident_trail(session: Session, incident_id: int) -> list[AuditEvent]:
    """Every audit event about the incident, oldest first."""
    return list(session.scalars(_incident_events(incident_id).order_by(AuditEvent.seq)))


@dataclass(frozen=True)
class RecentTrail:
    """The latest few events about an incident, newest first, and how many there are in all."""

    events: list[AuditEvent]
    total: int


def recent_trail(session: Session, incident_id: int, *, limit: int = 10) -> RecentTrail:
    """The ``limit`` latest events about the incident (newest first) and the total count."""
    events = list(
        session.scalars(_incident_events(incident_id).order_by(AuditEvent.seq.desc()).limit(limit))
    )
    total = session.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.subject_type == "incident", AuditEvent.subject_id == str(incident_id))
    )
    return RecentTrail(events=events, total=total or 0)


# One-line summaries -----------------------------------------------------------------------------


def _fields(value: Any) -> Mapping[str, Any]:
    # A tampered or future event may hold anything; summaries must still render.
    return value if isinstance(value, Mapping) else {}


def _short(value: Any) -> str | None:
    return value[:SHORT_HASH] if isinstance(value, str) and value else None


def _number(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _quote(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    text = " ".join(value.split())
    if not text:
        return None
    if len(text) > QUOTE_LIMIT:
        text = text[: QUOTE_LIMIT - 1].rstrip() + "…"
    return f"“{text}”"


def _version_phrase(after: Mapping[str, Any], template: str, fallback: str) -> str:
    version = _number(after.get("version"))
    return template.format(version=version) if version is not None else fallback


def _with_hash(text: str, after: Mapping[str, Any], key: str = "sha256", name: str = "") -> str:
    short = _short(after.get(key))
    return f"{text} ({name or key} {short})" if short else text


def _with_reason(text: str, after: Mapping[str, Any], *keys: str) -> str:
    for key in keys:
        quoted = _quote(after.get(key))
        if quoted:
            return f"{text}: {quoted}"
    return text


def _incident_created(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    title = _quote(after.get("title"))
    return f"Incident {title} created" if title else "Incident created"


def _answers_changed(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    questions = sorted(key for key in after if not key.startswith("_"))
    if not questions:
        text = "Checklist answers changed"
    else:
        count = len(questions)
        text = f"{count} answer{'s' if count != 1 else ''} changed: {', '.join(questions)}"
    if "_checklist" in after:
        text += "; the checklist was reopened"
    return text


def _version_saved(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    verb = "drafted from the facts" if after.get("source") == "draft-from-facts" else "saved"
    text = _version_phrase(after, f"Version {{version}} {verb}", f"Notice version {verb}")
    return _with_hash(text, after)


def _submitted(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    text = _version_phrase(
        after, "Version {version} sent for legal review", "Notice sent for legal review"
    )
    required = _number(after.get("required"))
    if required is not None:
        text += f", needing {required} approval{'s' if required != 1 else ''}"
    return _with_hash(text, after, "bundle_sha256", "bundle sha256")


def _approved(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    text = _version_phrase(after, "Approved version {version}", "Approved")
    approvals, required = _number(after.get("approvals")), _number(after.get("required"))
    if approvals is not None and required is not None:
        text += f" ({approvals} of {required} approvals)"
    elif approvals is not None:
        text += f" ({approvals} approval{'s' if approvals != 1 else ''} so far)"
    return _with_hash(text, after, "bundle_sha256", "bundle sha256")


def _policy_changed(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    old, new = _number(before.get("required")), _number(after.get("required"))
    if old is not None and new is not None:
        text = f"Approvals needed changed from {old} to {new}"
    elif new is not None:
        text = f"Approvals needed set to {new}"
    else:
        text = "Approval policy changed"
    return _with_reason(text, after, "reason")


def _exported(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    fmt = after.get("format")
    text = (
        f"Evidence pack exported as {fmt.upper()}"
        if isinstance(fmt, str)
        else "Evidence pack exported"
    )
    events = _number(after.get("events"))
    if events is not None:
        text += f" ({events} event{'s' if events != 1 else ''})"
    return text


Describer = Callable[[Mapping[str, Any], Mapping[str, Any]], str]


def _simple(template: str, fallback: str, *reason_keys: str) -> Describer:
    def summary(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
        return _with_reason(_version_phrase(after, template, fallback), after, *reason_keys)

    return summary


def _counted(template: str, fallback: str, *reason_keys: str) -> Describer:
    """``template`` filled from the event's fields when every field it names is a number (or
    a short text); ``fallback`` otherwise. Counts only: these events hold no personal data."""

    def summary(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
        try:
            values = {
                k: (f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else v)
                for k, v in after.items()
                if isinstance(v, int | str) and not isinstance(v, bool)
            }
            text = template.format(**values)
        except (KeyError, ValueError, IndexError):
            text = fallback
        return _with_reason(text, after, *reason_keys)

    return summary


_DESCRIBERS: Mapping[str, Describer] = {
    "recipients.imported": _counted(
        "Recipient list uploaded: {rows} rows, {imported} imported, {merged} merged, "
        "{rejected} rejected",
        "Recipient list uploaded",
    ),
    "recipients.purged": _counted(
        "Personal data of {recipients} recipients purged", "Recipients' personal data purged"
    ),
    "send.started": _counted(
        "Send {run} started: {by_email} by email, {by_post} by post", "Sending started"
    ),
    "send.scheduled": _counted("Send {run} scheduled for {at} (UTC)", "Sending scheduled"),
    "send.scheduled_start": _counted("Scheduled send {run} started", "Scheduled send started"),
    "send.started_early": _counted(
        "Scheduled send {run} started early", "Scheduled send started early"
    ),
    "letters.prepared": _counted(
        "{letters} postal letters prepared for send {run}", "Postal letters prepared"
    ),
    "letters.rendered": _counted(
        "Letter batch {number}: {letters} letters, {pages} pages", "Postal letters printed to PDF"
    ),
    "letters.refused": _counted(
        "Letter batch {number} refused", "Postal letters refused", "reason"
    ),
    "letters.downloaded": _counted(
        "Letter batch {number} downloaded ({file})", "Postal letters downloaded"
    ),
    "incident.created": _incident_created,
    "incident.answers_changed": _answers_changed,
    "notice.version_created": _version_saved,
    "review.submitted": _submitted,
    "review.viewed": _simple("Opened the review of version {version}", "Opened the review"),
    "review.commented": _simple(
        "Comment on version {version}", "Reviewer commented", "comment", "reason"
    ),
    "review.changes_requested": _simple(
        "Changes requested on version {version}", "Changes requested", "note", "reason"
    ),
    "review.approved": _approved,
    "review.voided": _simple("Review of version {version} voided", "Review voided", "reason"),
    "review.withdrawn": _simple(
        "Review of version {version} withdrawn", "Review withdrawn", "reason"
    ),
    "approval_policy.changed": _policy_changed,
    "evidence.exported": _exported,
}


def describe(event: AuditEvent) -> str:
    """One line in plain words saying what the event did, e.g. "Approved version 3 (1 of 1
    approvals)". Missing or odd fields make the line shorter, never an error."""
    describer = _DESCRIBERS.get(event.action)
    before, after = _fields(event.before), _fields(event.after)
    if describer is not None:
        return describer(before, after)
    return _with_hash(
        _version_phrase(
            after, f"{label_for(event.action)}: version {{version}}", label_for(event.action)
        ),
        after,
    )


# The evidence pack ------------------------------------------------------------------------------


def iso_utc(moment: datetime) -> str:
    """``moment`` in UTC as ISO 8601 with microseconds: the form the event hashes cover."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def event_document(event: AuditEvent) -> dict[str, Any]:
    """Every field of ``event`` its hash covers, plus its label and summary for people."""
    return {
        "seq": event.seq,
        "at": iso_utc(event.at),
        "actor_id": event.actor_id,
        "actor": event.actor,
        "action": event.action,
        "label": label_for(event.action),
        "summary": describe(event),
        "subject_type": event.subject_type,
        "subject_id": event.subject_id,
        "before": event.before,
        "after": event.after,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
        "signature": event.signature,
    }


HASHING = (
    "hash = SHA-256 (hex) of the UTF-8 JSON object {seq, at, actor_id, actor, action, "
    "subject: [subject_type, subject_id], before, after, prev_hash} with keys sorted, "
    'separators "," and ":" and no ASCII escaping; "at" exactly as given here. prev_hash is '
    "the hash of the event before it in the whole log (which may concern another subject); "
    "the first event's prev_hash is 64 zeros."
)

SIGNING = (
    'signature = "v1:<key id>:" + HMAC-SHA256 (hex), with the installation\'s audit signing key '
    '(kept outside the database), of the UTF-8 JSON array ["audit-event","<seq>","<hash>"] '
    "(no spaces, every item a string). "
    "head is the whole log's last event when the pack was made, signed the same way over "
    '["audit-checkpoint","<seq>","<hash>","<at>","<signed_from>"]; checkpoint is the latest '
    "signed checkpoint kept outside the database. Only the key's holder can check signatures: "
    "give them this pack, and they can tell whether the log still reaches this head unchanged."
)


def evidence_json(
    session: Session, incident: Incident, *, generated_at: datetime, generated_by: str
) -> dict[str, Any]:
    """The evidence pack as a JSON-ready dict: the incident, who made the pack and when, the
    whole log's chain check, and every event about the incident (oldest first) with all the
    fields needed to recompute its hash."""
    return _pack(
        session,
        incident,
        incident_trail(session, incident.id),
        generated_at=generated_at,
        generated_by=generated_by,
    )


def _pack(
    session: Session,
    incident: Incident,
    events: list[AuditEvent],
    *,
    generated_at: datetime,
    generated_by: str,
) -> dict[str, Any]:
    report = audit.verify(session)
    checkpoint = report.checkpoint
    return {
        "format": FORMAT,
        "incident": {"id": incident.id, "title": incident.title},
        "generated_at": iso_utc(generated_at),
        "generated_by": generated_by,
        "chain": {"ok": report.ok, "events": report.events, "problems": list(report.problems)},
        "hashing": HASHING,
        "signed": {
            "head": audit.signed_head(session, report).document(),
            "checkpoint": checkpoint.document() if checkpoint is not None else None,
            "notes": list(report.notes),
            "how": SIGNING,
        },
        "events": [event_document(event) for event in events],
    }


def json_text(document: Mapping[str, Any]) -> str:
    """The evidence pack as the text written to a file or download."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def csv_row(event: AuditEvent) -> list[object]:
    """One event as a row under :data:`CSV_HEADER`."""
    after = _fields(event.after)
    bundle = after.get("bundle_sha256")
    details = (
        json.dumps(event.after, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        if event.after is not None
        else ""
    )
    return [
        event.seq,
        iso_utc(event.at),
        event.actor,
        event.action,
        label_for(event.action),
        describe(event),
        _number(after.get("version")),
        bundle if isinstance(bundle, str) else None,
        details,
        event.prev_hash,
        event.hash,
        event.signature,
    ]


def evidence_csv(session: Session, incident: Incident) -> str:
    """The incident's events as formula-safe CSV, one row per event, oldest first.

    Rows only, so a spreadsheet can sort and filter them; who made the export, when, and the
    chain check are in the JSON pack (and the export itself is an audit event).
    """
    return _csv(incident_trail(session, incident.id))


def _csv(events: list[AuditEvent]) -> str:
    return csv_safe.write_csv((csv_row(event) for event in events), CSV_HEADER)


# Exporting --------------------------------------------------------------------------------------

#: The formats an evidence pack can be exported in.
FORMATS = ("csv", "json")


@dataclass(frozen=True)
class Export:
    """An exported evidence pack and how many incident events it holds."""

    text: str
    events: int


def export(
    session: Session,
    incident: Incident,
    fmt: str,
    *,
    generated_at: datetime,
    actor: User | None,
    actor_label: str | None = None,
) -> Export:
    """Build the evidence pack in ``fmt`` and record the export in the audit log.

    The event is recorded after the pack is built, so the pack does not contain it; it is
    added in the caller's transaction, so commit only once the pack has been handed over.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown evidence format {fmt!r}; use one of {', '.join(FORMATS)}")
    events = incident_trail(session, incident.id)
    if fmt == "csv":
        text = _csv(events)
    else:
        generated_by = actor_label or (actor.email if actor else "system")
        text = json_text(
            _pack(session, incident, events, generated_at=generated_at, generated_by=generated_by)
        )
    audit.record(
        session,
        actor=actor,
        actor_label=actor_label,
        action="evidence.exported",
        subject_type="incident",
        subject_id=incident.id,
        after={"format": fmt, "events": len(events)},
    )
    return Export(text=text, events=len(events))


def export_filename(incident_id: int, fmt: str, day: date) -> str:
    """``incident-12-evidence-2026-11-29.csv``: what the downloaded or written file is called."""
    return f"incident-{incident_id}-evidence-{day.isoformat()}.{fmt}"

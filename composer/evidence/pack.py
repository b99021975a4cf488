"""The evidence pack a regulator can recheck: an incident's events with every field their
hashes cover, the whole log's chain check and its head signed, as JSON or CSV, and its export
recorded in the audit log.

No Flask: the web pages and the command line both call these functions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.orm import Session

from composer import audit
from composer.evidence.trail import describe, fields_of, incident_trail, label_for, whole_number
from composer.models import AuditEvent, Incident, User
from composer.support import csv_safe

#: Identifies the evidence pack's layout, so a reader can tell later layouts apart.
FORMAT = "notice-composer.evidence/1"

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
    after = fields_of(event.after)
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
        whole_number(after.get("version")),
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

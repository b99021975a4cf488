"""An incident's audit trail in plain words, and the evidence pack a regulator can recheck.

The trail is every audit event whose subject is the incident. The evidence pack carries each
of those events with every field its hash covers, so anyone can recompute the hashes
(SHA-256 over the canonical JSON described in :mod:`composer.audit`), plus the result of
checking the whole log's chain when the pack was made, each event's signature, and the log's
head signed when the pack was made (anyone holding the signing key can later tell whether the
log still reaches it unchanged).

The audit log holds hashes of notice text, never the text, and nothing here adds any.

The code: ``trail`` (labels, the events about an incident, one-line summaries) and ``pack``
(the evidence pack and its export). Callers use the names re-exported here.
No Flask: the web pages and the command line both call these functions.
"""

from composer.evidence.pack import (
    CSV_HEADER,
    FORMAT,
    FORMATS,
    HASHING,
    SIGNING,
    Export,
    csv_row,
    event_document,
    evidence_csv,
    evidence_json,
    export,
    export_filename,
    iso_utc,
    json_text,
)
from composer.evidence.trail import (
    ACTION_LABELS,
    QUOTE_LIMIT,
    SHORT_HASH,
    RecentTrail,
    describe,
    incident_trail,
    label_for,
    recent_trail,
)

__all__ = [
    "ACTION_LABELS",
    "CSV_HEADER",
    "FORMAT",
    "FORMATS",
    "HASHING",
    "QUOTE_LIMIT",
    "SHORT_HASH",
    "SIGNING",
    "Export",
    "RecentTrail",
    "csv_row",
    "describe",
    "event_document",
    "evidence_csv",
    "evidence_json",
    "export",
    "export_filename",
    "incident_trail",
    "iso_utc",
    "json_text",
    "label_for",
    "recent_trail",
]

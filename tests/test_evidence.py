"""An incident's audit trail in plain words, the evidence pack, and ``flask audit export``."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from composer import audit, evidence, incidents
from composer.extensions import db
from composer.models import AuditEvent, Incident
from composer.notices import versions
from tests.conftest import user_by_email

SHA = "1a2b3c4d5e6f" + "7" * 52
BUNDLE = "b0b0b0b0b0b0" + "9" * 52
SECRET_BODY = "On 3 May a criminal copied the addresses of 20,000 customers.\n"

#: (action, before, after, the one-line summary people read). Every labelled action has one.
EXAMPLES: list[tuple[str, Any, Any, str]] = [
    ("incident.created", None, {"title": "Supplier leak"}, "Incident “Supplier leak” created"),
    ("incident.created", None, None, "Incident created"),
    (
        "incident.answers_changed",
        {"what": None},
        {"what": {"text": "x"}, "when": {}, "_checklist": "reopened"},
        "2 answers changed: what, when; the checklist was reopened",
    ),
    ("incident.checklist_finished", None, None, "Checklist finished"),
    (
        "notice.version_created",
        None,
        {"version": 3, "sha256": SHA},
        "Version 3 saved (sha256 1a2b3c4d5e6f)",
    ),
    (
        "notice.version_created",
        None,
        {"version": 1, "sha256": SHA, "source": "draft-from-facts"},
        "Version 1 drafted from the facts (sha256 1a2b3c4d5e6f)",
    ),
    ("notice.version_created", None, {}, "Notice version saved"),
    (
        "review.submitted",
        None,
        {"review": 4, "version": 3, "bundle_sha256": BUNDLE, "required": 2},
        "Version 3 sent for legal review, needing 2 approvals (bundle sha256 b0b0b0b0b0b0)",
    ),
    ("review.viewed", None, {"review": 4, "version": 3}, "Opened the review of version 3"),
    (
        "review.commented",
        None,
        {"version": 3, "comment": "Say  when\nit happened."},
        "Comment on version 3: “Say when it happened.”",
    ),
    (
        "review.commented",
        None,
        {"comment": "x" * 200},
        "Reviewer commented: “" + "x" * 79 + "…”",
    ),
    (
        "review.changes_requested",
        None,
        {"version": 2, "reason": "Name the supplier."},
        "Changes requested on version 2: “Name the supplier.”",
    ),
    (
        "review.approved",
        None,
        {"version": 3, "approvals": 1, "required": 1},
        "Approved version 3 (1 of 1 approvals)",
    ),
    ("review.approved", None, {"approvals": 1}, "Approved (1 approval so far)"),
    ("review.approved", None, None, "Approved"),
    ("review.approved", None, ["not", "an", "object"], "Approved"),
    ("review.approved", None, {"version": "three", "approvals": None}, "Approved"),
    (
        "review.voided",
        None,
        {"version": 3, "reason": "The text was edited."},
        "Review of version 3 voided: “The text was edited.”",
    ),
    ("review.withdrawn", None, {"version": 3}, "Review of version 3 withdrawn"),
    (
        "approval_policy.changed",
        {"required": 1},
        {"required": 2, "reason": "Regulator asked"},
        "Approvals needed changed from 1 to 2: “Regulator asked”",
    ),
    ("approval_policy.changed", None, {"required": 2}, "Approvals needed set to 2"),
    (
        "evidence.exported",
        None,
        {"format": "csv", "events": 7},
        "Evidence pack exported as CSV (7 events)",
    ),
    (
        "recipients.imported",
        None,
        {"list_id": 1, "rows": 15, "imported": 12, "merged": 1, "rejected": 2},
        "Recipient list uploaded: 15 rows, 12 imported, 1 merged, 2 rejected",
    ),
    ("recipients.imported", None, {"rows": "x"}, "Recipient list uploaded"),
    ("recipients.refused", None, {"reason": "not UTF-8"}, "Recipient file refused"),
    ("recipients.errors_downloaded", None, None, "Recipient error report downloaded"),
    (
        "recipients.purged",
        None,
        {"list_id": 1, "recipients": 1200},
        "Personal data of 1,200 recipients purged",
    ),
    ("send.test", None, {"variant": "GB"}, "Test email sent"),
    (
        "send.started",
        None,
        {"run": 3, "by_email": 1000000, "by_post": 12},
        "Send 3 started: 1,000,000 by email, 12 by post",
    ),
    (
        "send.scheduled",
        None,
        {"run": 3, "at": "2026-12-01T09:30:00+00:00"},
        "Send 3 scheduled for 2026-12-01T09:30:00+00:00 (UTC)",
    ),
    ("send.scheduled_start", None, {"run": 3}, "Scheduled send 3 started"),
    ("send.started_early", None, {"run": 3}, "Scheduled send 3 started early"),
    ("send.paused", None, {"run": 3}, "Sending paused"),
    ("send.resumed", None, {"run": 3}, "Sending resumed"),
    ("send.cancelled", None, {"run": 3}, "Sending cancelled"),
    (
        "letters.prepared",
        None,
        {"run": 3, "letters": 250},
        "250 postal letters prepared for send 3",
    ),
    (
        "letters.rendered",
        None,
        {"number": 2, "letters": 100, "pages": 200},
        "Letter batch 2: 100 letters, 200 pages",
    ),
    (
        "letters.refused",
        None,
        {"number": 2, "reason": "the notice changed"},
        "Letter batch 2 refused: \u201cthe notice changed\u201d",
    ),
    ("letters.retried", None, {"number": 2}, "Postal letters tried again"),
    (
        "letters.downloaded",
        None,
        {"number": 2, "file": "pdf"},
        "Letter batch 2 downloaded (pdf)",
    ),
    (
        "regime_rule.switched_off",
        None,
        {"rule": "massachusetts/notice/forbidden/description", "reason": "counsel reviewed it"},
        "Rule massachusetts/notice/forbidden/description switched off for this incident:"
        " \u201ccounsel reviewed it\u201d",
    ),
    (
        "regime_rule.corrected",
        None,
        {"rule": "gdpr/clocks/regulator", "limit": "96 hours", "reason": "phased report"},
        "Rule gdpr/clocks/regulator corrected for this incident to 96 hours:"
        " \u201cphased report\u201d",
    ),
    (
        "regime_rule.corrected",
        None,
        {"rule": "massachusetts/notice/monitoring", "months": 24, "reason": "board decision"},
        "Rule massachusetts/notice/monitoring corrected for this incident to 24 months:"
        " \u201cboard decision\u201d",
    ),
    ("regime_rule.restored", None, None, "A law's rule restored"),
    ("user.created", None, {"email": "a@example.com"}, "Account created"),
    ("user.roles_changed", None, None, "Roles changed"),
    ("user.activated", None, None, "Account activated"),
    ("user.deactivated", None, None, "Account deactivated"),
    ("user.signed_in", None, None, "Signed in"),
    ("user.signed_out", None, None, "Signed out"),
    ("thing.frobbed", None, None, "thing.frobbed"),
    (
        "thing.frobbed",
        None,
        {"version": 4, "sha256": SHA},
        "thing.frobbed: version 4 (sha256 1a2b3c4d5e6f)",
    ),
]


def event(action: str, before: Any = None, after: Any = None) -> AuditEvent:
    return AuditEvent(
        seq=1,
        at=datetime(2026, 11, 29, 9, 30, tzinfo=UTC),
        actor="ana@example.com",
        action=action,
        subject_type="incident",
        subject_id="1",
        before=before,
        after=after,
        prev_hash=audit.GENESIS,
        hash="0" * 64,
    )


@pytest.mark.parametrize(("action", "before", "after", "summary"), EXAMPLES)
def test_summaries_in_plain_words(action: str, before: Any, after: Any, summary: str) -> None:
    assert evidence.describe(event(action, before, after)) == summary


def test_every_labelled_action_has_a_summary_example() -> None:
    assert set(evidence.ACTION_LABELS) <= {action for action, *_ in EXAMPLES}


def test_labels_fall_back_to_the_action_name() -> None:
    assert evidence.label_for("notice.version_created") == "Notice version saved"
    assert evidence.label_for("review.approved") == "Approved"
    assert evidence.label_for("something.new") == "something.new"


# With a database ---------------------------------------------------------------------------------


@pytest.fixture
def ctx(app: Flask, users: dict[str, int]) -> Iterator[None]:
    with app.app_context():
        yield


def new_incident(app: Flask, title: str = "Supplier leak") -> Incident:
    incident = incidents.create_incident(
        db.session(),
        app.extensions["composer.catalogue"],
        title=title,
        by=user_by_email("ana@example.com"),
    )
    db.session.commit()
    return incident


def save_notice(incident: Incident, body: str = SECRET_BODY) -> None:
    versions.save_version(
        db.session(),
        incident,
        subject="We lost your email address",
        body=body,
        by=user_by_email("ana@example.com"),
    )
    db.session.commit()


def test_trail_holds_only_the_incidents_events_oldest_first(app: Flask, ctx: None) -> None:
    first = new_incident(app, "First")
    other = new_incident(app, "Other")
    save_notice(first)
    save_notice(other)
    save_notice(first, SECRET_BODY + "More.\n")
    trail = evidence.incident_trail(db.session(), first.id)
    assert [e.action for e in trail] == [
        "incident.created",
        "notice.version_created",
        "notice.version_created",
    ]
    assert [e.seq for e in trail] == sorted(e.seq for e in trail)
    assert {e.subject_id for e in trail} == {str(first.id)}
    recent = evidence.recent_trail(db.session(), first.id, limit=2)
    assert recent.total == 3
    assert [e.seq for e in recent.events] == [trail[2].seq, trail[1].seq]


def test_json_pack_lets_anyone_recompute_every_hash(app: Flask, ctx: None) -> None:
    incident = new_incident(app)
    save_notice(incident)
    pack = evidence.evidence_json(
        db.session(),
        incident,
        generated_at=datetime(2026, 11, 29, 10, 0, tzinfo=UTC),
        generated_by="lee@example.com",
    )
    assert pack["incident"] == {"id": incident.id, "title": "Supplier leak"}
    assert pack["generated_at"] == "2026-11-29T10:00:00.000000+00:00"
    assert pack["generated_by"] == "lee@example.com"
    # The chain check covers the whole log: 3 accounts, the incident, the notice version.
    assert pack["chain"] == {"ok": True, "events": 5, "problems": []}
    assert [e["action"] for e in pack["events"]] == ["incident.created", "notice.version_created"]
    assert pack["events"][1]["label"] == "Notice version saved"
    # Through real JSON text, as a regulator would receive it.
    for doc in json.loads(evidence.json_text(pack))["events"]:
        rebuilt = AuditEvent(
            seq=doc["seq"],
            at=datetime.fromisoformat(doc["at"]),
            actor_id=doc["actor_id"],
            actor=doc["actor"],
            action=doc["action"],
            subject_type=doc["subject_type"],
            subject_id=doc["subject_id"],
            before=doc["before"],
            after=doc["after"],
            prev_hash=doc["prev_hash"],
        )
        assert audit.event_hash(rebuilt) == doc["hash"]


def test_notice_text_never_reaches_the_evidence(app: Flask, ctx: None) -> None:
    incident = new_incident(app)
    save_notice(incident)
    pack = evidence.json_text(
        evidence.evidence_json(
            db.session(), incident, generated_at=datetime.now(UTC), generated_by="x"
        )
    )
    sheet = evidence.evidence_csv(db.session(), incident)
    version = versions.latest_version(db.session(), incident)
    assert version is not None
    for text in (pack, sheet):
        assert "criminal copied" not in text
        assert "We lost your email address" not in text
        assert version.sha256 in text


def test_csv_has_one_row_per_event_with_version_and_details(app: Flask, ctx: None) -> None:
    incident = new_incident(app)
    save_notice(incident)
    rows = list(
        csv.DictReader(io.StringIO(evidence.evidence_csv(db.session(), incident), newline=""))
    )
    assert list(rows[0]) == list(evidence.CSV_HEADER)
    assert [r["action"] for r in rows] == ["incident.created", "notice.version_created"]
    saved = rows[1]
    assert saved["version"] == "1"
    assert saved["summary"].startswith("Version 1 saved (sha256 ")
    assert json.loads(saved["details"])["version"] == 1
    assert saved["at"].endswith("+00:00")
    stored = db.session.get(AuditEvent, int(saved["seq"]))
    assert stored is not None
    assert (saved["hash"], saved["prev_hash"]) == (stored.hash, stored.prev_hash)
    assert saved["signature"] == stored.signature
    assert saved["signature"].startswith("v1:")
    assert rows[0]["version"] == ""


def test_export_records_itself_after_building_the_pack(app: Flask, ctx: None) -> None:
    incident = new_incident(app)
    pack = evidence.export(
        db.session(),
        incident,
        "json",
        generated_at=datetime.now(UTC),
        actor=user_by_email("lee@example.com"),
    )
    db.session.commit()
    assert pack.events == 1
    assert json.loads(pack.text)["generated_by"] == "lee@example.com"
    last = evidence.incident_trail(db.session(), incident.id)[-1]
    assert (last.action, last.actor, last.after) == (
        "evidence.exported",
        "lee@example.com",
        {"format": "json", "events": 1},
    )
    with pytest.raises(ValueError, match="unknown evidence format"):
        evidence.export(db.session(), incident, "xlsx", generated_at=datetime.now(UTC), actor=None)
    assert evidence.export_filename(12, "csv", date(2026, 11, 29)) == (
        "incident-12-evidence-2026-11-29.csv"
    )


# The command line --------------------------------------------------------------------------------


def test_cli_export_prints_or_writes_the_pack_and_is_audited(
    app: Flask, runner: Any, ctx: None, tmp_path: Path
) -> None:
    incident = new_incident(app, "=cmd|' /C calc'!A0")
    incident_id = incident.id
    result = runner.invoke(args=["audit", "export", str(incident_id), "--format", "json"])
    assert result.exit_code == 0, result.output
    pack = json.loads(result.stdout)
    assert pack["incident"]["title"] == "=cmd|' /C calc'!A0"
    assert pack["generated_by"] == "cli"
    assert pack["chain"]["ok"] is True

    target = tmp_path / "pack.csv"
    result = runner.invoke(
        args=["audit", "export", str(incident_id), "--format", "csv", "--output", str(target)]
    )
    assert result.exit_code == 0, result.output
    raw = target.read_bytes()
    assert raw.startswith(b'"seq","at","actor"')
    assert b"\r\n" in raw
    assert b"\r\r\n" not in raw
    rows = list(csv.DictReader(io.StringIO(raw.decode(), newline="")))
    # The JSON export made before is in the trail now, recorded as the command line's.
    assert [r["action"] for r in rows] == ["incident.created", "evidence.exported"]
    assert rows[1]["actor"] == "cli"

    db.session.expire_all()
    exports = db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == "evidence.exported")
    ).all()
    assert [(e.actor, e.actor_id, e.after) for e in exports] == [
        ("cli", None, {"format": "json", "events": 1}),
        ("cli", None, {"format": "csv", "events": 2}),
    ]
    assert audit.verify(db.session()).ok


def test_cli_export_refuses_unknown_incident_and_format(runner: Any, ctx: None) -> None:
    missing = runner.invoke(args=["audit", "export", "999", "--format", "csv"])
    assert missing.exit_code == 1
    assert "There is no incident number 999" in missing.output
    bad = runner.invoke(args=["audit", "export", "1", "--format", "xlsx"])
    assert bad.exit_code == 2
    assert "'xlsx' is not one of" in bad.output


def test_json_pack_carries_the_signed_head_that_a_later_truncation_contradicts(
    app: Flask, ctx: None
) -> None:
    incident = new_incident(app)
    save_notice(incident)
    pack = json.loads(
        evidence.json_text(
            evidence.evidence_json(
                db.session(), incident, generated_at=datetime.now(UTC), generated_by="x"
            )
        )
    )
    seal = audit.seal_of(db.session())
    head = audit.Checkpoint.from_document(pack["signed"]["head"])
    last = db.session.scalar(sa.select(sa.func.max(AuditEvent.seq)))
    assert (head.seq, head.problem(seal)) == (last, None)
    assert pack["signed"]["checkpoint"]["seq"] == last
    assert all(
        seal.check(e["signature"], "audit-event", e["seq"], e["hash"]) is None
        for e in pack["events"]
    )
    # A head edited in the pack no longer matches its signature.
    forged = audit.Checkpoint.from_document({**pack["signed"]["head"], "seq": last - 1})
    assert forged.problem(seal) == "its signature does not match"


def test_the_key_holder_can_check_a_signature_as_the_pack_describes_it(
    app: Flask, ctx: None
) -> None:
    import hashlib
    import hmac

    incident = new_incident(app)
    pack = evidence.evidence_json(
        db.session(), incident, generated_at=datetime.now(UTC), generated_by="x"
    )
    assert '["audit-event","<seq>","<hash>"]' in pack["signed"]["how"]
    key = app.config["AUDIT_SIGNING_KEY"].encode()
    for event in pack["events"]:
        message = json.dumps(
            ["audit-event", str(event["seq"]), event["hash"]], separators=(",", ":")
        )
        expected = hmac.new(key, message.encode(), hashlib.sha256).hexdigest()
        assert event["signature"].rsplit(":", 1)[1] == expected

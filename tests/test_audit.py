"""The audit log: append-only in the database, and tampering is detected by the chain, by
each event's signature and by the signed checkpoint kept outside the database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.exc import DBAPIError

from composer import audit
from composer.extensions import db
from composer.models import AuditEvent


@pytest.fixture
def chain(app: Flask) -> Iterator[None]:
    with app.app_context():
        for n in range(5):
            audit.record(
                db.session(),
                actor=None,
                actor_label="test",
                action="review.approved" if n == 2 else "test.event",
                subject_type="thing",
                subject_id=n,
                before={"n": n - 1},
                after={"n": n, "text": "ünïcode ✓"},
            )
        db.session.commit()
        yield


def drop_guards() -> None:
    """What an attacker with database access would do first."""
    if db.engine.dialect.name == "sqlite":
        db.session.execute(sa.text("DROP TRIGGER audit_event_no_update"))
        db.session.execute(sa.text("DROP TRIGGER audit_event_no_delete"))
    else:
        db.session.execute(sa.text("DROP TRIGGER audit_event_append_only ON audit_event"))
    db.session.commit()


def test_intact_chain_verifies(chain: None) -> None:
    report = audit.verify(db.session())
    assert report.ok, report.problems
    assert report.events == 5


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_event SET actor = 'someone else' WHERE seq = 2",
        "DELETE FROM audit_event WHERE seq = 2",
    ],
)
def test_database_refuses_to_change_audit_rows(chain: None, statement: str) -> None:
    with pytest.raises(DBAPIError, match="append-only"):
        db.session.execute(sa.text(statement))
    db.session.rollback()
    assert audit.verify(db.session()).ok


def test_edited_row_is_detected(chain: None) -> None:
    drop_guards()
    db.session.execute(sa.text("UPDATE audit_event SET actor = 'mallory' WHERE seq = 3"))
    db.session.commit()
    report = audit.verify(db.session())
    assert not report.ok
    assert report.problems[0] == "event 3 (review.approved) was changed after it was written"


def test_edited_json_payload_is_detected(chain: None) -> None:
    drop_guards()
    event = db.session.get(AuditEvent, 2)
    assert event is not None
    db.session.execute(
        sa.update(AuditEvent).where(AuditEvent.seq == 2).values(after={"n": 99, "text": "x"})
    )
    db.session.commit()
    assert (
        "event 2 (test.event) was changed after it was written"
        in audit.verify(db.session()).problems
    )


def test_deleted_row_is_detected(chain: None) -> None:
    drop_guards()
    db.session.execute(sa.text("DELETE FROM audit_event WHERE seq = 2"))
    db.session.commit()
    problems = audit.verify(db.session()).problems
    assert any("event 2 is missing" in p for p in problems)
    assert any("event 3 does not follow" in p for p in problems)


def test_deleted_latest_rows_are_detected(chain: None) -> None:
    drop_guards()
    db.session.execute(sa.text("DELETE FROM audit_event WHERE seq >= 4"))
    db.session.commit()
    problems = audit.verify(db.session()).problems
    assert problems[0] == (
        "the log should end at event 5 but ends at 3: "
        "the latest events were deleted or the head was changed"
    )
    assert problems[1].startswith("the log was truncated after event 3")


def test_reordered_rows_are_detected(chain: None) -> None:
    drop_guards()
    # Swap events 2 and 3 by renumbering them.
    db.session.execute(sa.text("UPDATE audit_event SET seq = 100 WHERE seq = 2"))
    db.session.execute(sa.text("UPDATE audit_event SET seq = 2 WHERE seq = 3"))
    db.session.execute(sa.text("UPDATE audit_event SET seq = 3 WHERE seq = 100"))
    db.session.commit()
    problems = audit.verify(db.session()).problems
    assert any("event 2 does not follow" in p for p in problems)
    assert any("was changed after it was written" in p for p in problems)


def test_appends_continue_the_chain_after_verification(chain: None) -> None:
    audit.record(db.session(), actor=None, action="test.more", subject_type="thing", subject_id="x")
    db.session.commit()
    report = audit.verify(db.session())
    assert report.ok
    assert report.events == 6


# What someone with database write access does next (issue 15) ------------------------------------


def rehash_from(seq: int) -> None:
    """Recompute the hash of event ``seq`` and of every later event, and the head, with raw
    SQL, so the chain adds up again after a rewrite."""
    prev = db.session.scalar(sa.select(AuditEvent.hash).where(AuditEvent.seq == seq - 1))
    events = db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.seq >= seq).order_by(AuditEvent.seq)
    ).all()
    for event in events:
        event.prev_hash = prev or audit.GENESIS
        new_hash = audit.event_hash(event)
        db.session.expunge(event)
        db.session.execute(
            sa.text("UPDATE audit_event SET prev_hash = :p, hash = :h WHERE seq = :s"),
            {"p": event.prev_hash, "h": new_hash, "s": event.seq},
        )
        prev = new_hash
    db.session.execute(sa.text("UPDATE audit_head SET last_hash = :h WHERE id = 1"), {"h": prev})
    db.session.commit()


def test_truncating_the_log_and_moving_the_head_back_is_named(chain: None, runner: Any) -> None:
    drop_guards()
    last = db.session.scalar(sa.select(AuditEvent.hash).where(AuditEvent.seq == 3))
    db.session.execute(sa.text("DELETE FROM audit_event WHERE seq > 3"))
    db.session.execute(
        sa.text("UPDATE audit_head SET seq = 3, last_hash = :h WHERE id = 1"), {"h": last}
    )
    db.session.commit()
    report = audit.verify(db.session())
    assert len(report.problems) == 1
    assert report.problems[0].startswith(
        "the log was truncated after event 3: the signed checkpoint kept outside the database "
        "says it reached event 5"
    )
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert "truncated after event 3" in result.output


def test_rewriting_an_approval_event_and_recomputing_the_hashes_is_named(
    chain: None, runner: Any
) -> None:
    drop_guards()
    db.session.execute(sa.text("UPDATE audit_event SET actor = 'mallory' WHERE seq = 3"))
    db.session.commit()
    rehash_from(3)
    report = audit.verify(db.session())
    assert report.problems[:2] == [
        "event 3 (review.approved) was rewritten: its signature does not match, so its content "
        "or its hash was changed after it was signed",
        "events 4 to 5 also fail their signatures: their hashes were recomputed after event 3 "
        "was rewritten",
    ]
    assert any("event 5 is not the event the signed checkpoint" in p for p in report.problems)
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert "event 3 (review.approved) was rewritten" in result.output


def test_removing_signatures_is_named(chain: None) -> None:
    drop_guards()
    db.session.execute(sa.text("UPDATE audit_event SET signature = NULL"))
    db.session.commit()
    problems = audit.verify(db.session()).problems
    assert problems == [
        "events from 1 on were signed, but event 1 has no signature now: signatures were removed"
    ]


def test_a_later_append_does_not_bury_a_truncation(chain: None) -> None:
    """The checkpoint file only moves on while the log still holds the event it records."""
    drop_guards()
    last = db.session.scalar(sa.select(AuditEvent.hash).where(AuditEvent.seq == 3))
    db.session.execute(sa.text("DELETE FROM audit_event WHERE seq > 3"))
    db.session.execute(
        sa.text("UPDATE audit_head SET seq = 3, last_hash = :h WHERE id = 1"), {"h": last}
    )
    db.session.commit()
    for n in range(3):  # events 4, 5 and 6: past the checkpoint's event 5
        audit.record(db.session(), actor=None, action="test.more", subject_type="t", subject_id=n)
        db.session.commit()
    problems = audit.verify(db.session()).problems
    assert len(problems) == 1
    assert problems[0].startswith("event 5 is not the event the signed checkpoint recorded")


def test_an_edited_checkpoint_file_is_named(chain: None, app: Flask) -> None:
    path = Path(app.config["AUDIT_CHECKPOINT_FILE"])
    document = json.loads(path.read_text())
    assert document["seq"] == 5
    path.write_text(json.dumps({**document, "seq": 3}))
    problems = audit.verify(db.session()).problems
    assert len(problems) == 1
    assert "cannot be trusted: its signature does not match" in problems[0]


def test_events_signed_with_another_key_are_named(chain: None, app: Flask) -> None:
    other = audit.Seal(key=b"another-key-of-at-least-32-chars!!", checkpoint_path=None)
    report = audit.verify(db.session(), other)
    assert report.problems[0].startswith("event 1 (test.event) was signed with another key")
    assert "events 2 to 5 also fail their signatures" in report.problems[1]
    assert "no checkpoint file is configured" in report.notes[0]


def test_the_checkpoint_file_never_goes_back(tmp_path: Path) -> None:
    seal = audit.Seal(key=b"k" * 32, checkpoint_path=tmp_path / "cp.json")
    store = audit.CheckpointFile(tmp_path / "cp.json")
    ahead = audit.Checkpoint.make(seal, seq=5, hash="a" * 64, signed_from=1)
    behind = audit.Checkpoint.make(seal, seq=4, hash="b" * 64, signed_from=1)
    assert store.advance(ahead)
    assert not store.advance(behind)
    assert store.read() == ahead
    assert oct((tmp_path / "cp.json").stat().st_mode & 0o777) == "0o600"


def test_the_instance_key_is_made_once_readable_by_its_owner_only(tmp_path: Path) -> None:
    from composer.extensions import _instance_key

    key = _instance_key(tmp_path / "audit_signing_key")
    assert _instance_key(tmp_path / "audit_signing_key") == key
    assert len(key) >= 32
    assert oct((tmp_path / "audit_signing_key").stat().st_mode & 0o777) == "0o600"


def test_a_short_signing_key_stops_start_up(tmp_path: Path) -> None:
    from composer import create_app

    with pytest.raises(ValueError, match="AUDIT_SIGNING_KEY must be at least 32"):
        create_app({"AUDIT_SIGNING_KEY": "short", "SECRET_KEY": "x"})

"""The audit log: append-only in the database, and tampering is detected by the chain."""

from __future__ import annotations

from collections.abc import Iterator

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
                action="test.event",
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
    assert report.problems == ["event 3 (test.event) was changed after it was written"]


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
    assert problems == [
        "the log should end at event 5 but ends at 3: "
        "the latest events were deleted or the head was changed"
    ]


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

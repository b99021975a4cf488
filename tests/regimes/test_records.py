"""Overrides stored per incident: who may write them, what the audit log holds, the migration."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from flask_migrate import downgrade, upgrade

from composer.extensions import db
from composer.models import AuditEvent, Incident, RegimeOverride, Role, User
from composer.regimes import OverrideRefused, change_override, incident_overrides
from tests.conftest import make_user

KEY = "gdpr/clocks/supervisory-authority"
REASON = "The authority gave us more time"


def incident_by(app: Flask, user_id: int) -> int:
    with app.app_context():
        incident = Incident(
            title="Leak", checklist_id="incident", checklist_version=1, created_by_id=user_id
        )
        db.session.add(incident)
        db.session.commit()
        return incident.id


def test_only_legal_and_admins_may_change_a_rule(app: Flask) -> None:
    author = make_user(app, "ana@example.com", Role.AUTHOR)
    lee = make_user(app, "lee@example.com", Role.APPROVER)
    incident_id = incident_by(app, author)
    with app.app_context():
        incident = db.session.get(Incident, incident_id)
        regimes = app.extensions["composer.regimes"]
        assert incident is not None
        ana = db.session.get(User, author)
        assert ana is not None
        with pytest.raises(OverrideRefused, match="Only legal"):
            change_override(
                db.session(), regimes, incident, key=KEY, action="off", reason=REASON, by=ana
            )
        approver = db.session.get(User, lee)
        assert approver is not None
        change_override(
            db.session(), regimes, incident, key=KEY, action="off", reason=REASON, by=approver
        )
        # The audit event is in the caller's transaction: rolled back with the change.
        db.session.rollback()
        assert db.session.scalars(sa.select(RegimeOverride)).all() == []
        assert (
            db.session.scalars(
                sa.select(AuditEvent).where(AuditEvent.action.startswith("regime_rule."))
            ).all()
            == []
        )
        change_override(
            db.session(),
            regimes,
            incident,
            key=KEY,
            action="correct",
            unit="hours",
            amount=96,
            reason=f"  {REASON}\n  in writing ",
            by=approver,
        )
        db.session.commit()
        [override] = incident_overrides(db.session(), incident)
        assert override.key == KEY
        assert override.action == "correct"
        assert override.within is not None
        assert override.within.hours == 96
        row = db.session.scalars(sa.select(RegimeOverride)).one()
        assert row.reason == f"{REASON} in writing"
        assert row.created_by_id == lee


def test_0015_creates_the_table_and_downgrades_cleanly(app: Flask) -> None:
    with app.app_context():
        with db.engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), db.metadata) == []
        downgrade(revision="0014")
        assert "regime_override" not in db.inspect(db.engine).get_table_names()
        upgrade()
        inspector = db.inspect(db.engine)
        assert "regime_override" in inspector.get_table_names()
        assert {c["name"] for c in inspector.get_columns("regime_override")} >= {
            "incident_id",
            "rule_key",
            "action",
            "reason",
            "created_by_id",
            "created_at",
        }
        with db.engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), db.metadata) == []


def test_an_override_cannot_be_changed_or_deleted_in_the_database(app: Flask) -> None:
    """Legal's decisions are evidence: the database itself refuses to rewrite one."""
    lee = make_user(app, "lee@example.com", Role.APPROVER)
    incident_id = incident_by(app, lee)
    with app.app_context():
        incident = db.session.get(Incident, incident_id)
        approver = db.session.get(User, lee)
        assert incident is not None
        assert approver is not None
        change_override(
            db.session(),
            app.extensions["composer.regimes"],
            incident,
            key=KEY,
            action="off",
            reason=REASON,
            by=approver,
        )
        db.session.commit()
        for statement in (
            "UPDATE regime_override SET reason = 'nothing to see'",
            "DELETE FROM regime_override",
        ):
            with pytest.raises(sa.exc.DatabaseError, match="cannot be changed or deleted"):
                db.session.execute(sa.text(statement))
            db.session.rollback()
        assert db.session.scalars(sa.select(RegimeOverride.reason)).all() == [REASON]

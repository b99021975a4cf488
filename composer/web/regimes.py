"""The regimes that apply to an incident, rule by rule, and legal's overrides of them: switch a
rule off or correct it, with a reason (``composer.regimes.change_override``; docs/regimes.md)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from composer import incidents, regimes
from composer.extensions import db
from composer.models import Incident, Role
from composer.regimes import Decision, Regime, RegimeSet, RuleRef
from composer.web.access import can, require_role, signed_in
from composer.web.common import catalogue, today
from composer.web.forms.regimes import OverrideForm

bp = Blueprint("regimes", __name__, url_prefix="/incidents")

#: The units a clock's time limit can be corrected in, as the form offers them.
UNIT_LABELS = {"hours": "hours", "days": "days", "business_days": "business days"}


@dataclass(frozen=True)
class RegimeRules:
    """One regime that applies, with each rule and the override in force on it."""

    regime: Regime
    rules: list[tuple[RuleRef, Decision | None]]


def _incident(incident_id: int) -> Incident:
    incident = db.session.scalar(select(Incident).where(Incident.id == incident_id))
    if incident is None:
        abort(404, description=f"There is no incident number {incident_id}.")
    return incident


def _regimes() -> RegimeSet:
    return current_app.extensions["composer.regimes"]  # type: ignore[no-any-return]


def _render(
    incident: Incident,
    *,
    status: int = 200,
    form: OverrideForm | None = None,
    error: regimes.OverrideRefused | None = None,
) -> tuple[str, int]:
    situation = regimes.situation_from_facts(
        incidents.facts_document(catalogue(), incident, today=today())
    )
    decisions = regimes.decisions_in_force(db.session(), incident)
    applying = regimes.applicable(_regimes(), situation) if situation is not None else []
    listed = [
        RegimeRules(r, [(ref, decisions.get(ref.key)) for ref in regimes.rule_keys(r)])
        for r in applying
    ]
    body = render_template(
        "regimes/incident.html",
        incident=incident,
        situation=situation,
        listed=listed,
        can_change=can(Role.APPROVER) or can(Role.ADMIN),
        describe_override=regimes.describe_override,
        units=UNIT_LABELS,
        form=form,
        error=error,
    )
    return body, status


@bp.get("/<int:incident_id>/regimes")
@signed_in
def incident_regimes(incident_id: int) -> tuple[str, int]:
    return _render(_incident(incident_id))


@bp.post("/<int:incident_id>/regimes")
@require_role(Role.APPROVER, Role.ADMIN)
def change(incident_id: int) -> Response | tuple[str, int]:
    incident = _incident(incident_id)
    form = OverrideForm.posted()
    try:
        regimes.change_override(
            db.session(),
            _regimes(),
            incident,
            key=form.key,
            action=form.action,
            reason=form.reason,
            by=current_user,
            unit=form.unit or None,
            amount=form.amount,
            months=form.months,
        )
    except regimes.OverrideRefused as exc:
        db.session.rollback()
        return _render(incident, status=422, form=form, error=exc)
    db.session.commit()
    flash(f"Saved: {form.key} {_done(form.action)}.", "success")
    return redirect(
        url_for(".incident_regimes", incident_id=incident_id, _anchor=f"rule-{form.key}")
    )


def _done(action: str) -> str:
    return {"off": "is switched off", "correct": "is corrected"}.get(
        action, "applies as the regime says again"
    )

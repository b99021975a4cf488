"""Legal's overrides of the regimes for one incident, stored and audited.

An override is never updated or deleted: putting a rule back is another row (``restore``), so
the table shows what applied at any moment (what a notice was approved under) and agrees with
the audit log, which records every change in the caller's transaction. The caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from composer import audit
from composer.models import Incident, RegimeOverride, Role, User, utcnow
from composer.regimes.catalogue import RegimeSet
from composer.regimes.overrides import (
    ACTIONS,
    UNITS,
    Action,
    Override,
    Unit,
    find_rule,
    latest,
    within_text,
)
from composer.regimes.schema import Within

#: Who may change overrides: legal (approvers) and admins.
ROLES: Final = (Role.APPROVER, Role.ADMIN)
#: A reason says why in a few words; "ok" or "n/a" does not.
MIN_REASON_WORDS: Final = 3
MAX_REASON_CHARS: Final = 2000
#: Bounds on corrections, well beyond any law's, to catch a slipped key.
MAX_AMOUNT: Final = 10_000
MAX_MONTHS: Final = 120
#: The audit log's action for each change (composer.evidence labels them).
AUDIT_ACTIONS: Final = {
    "off": "regime_rule.switched_off",
    "correct": "regime_rule.corrected",
    "restore": "regime_rule.restored",
}


class OverrideRefused(Exception):
    """A change legal asked for that cannot be made; the message is written for them and
    ``field`` names the form field it is about ("reason", "amount", ...), when one is."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class Decision:
    """An override in force, with who made it, when and why (for the page)."""

    override: Override
    reason: str
    by: User
    at: datetime


def incident_overrides(session: Session, incident: Incident) -> list[Override]:
    """Every override of ``incident``, oldest first: pass to ``effective_regimes``."""
    return [_override(row) for row in _rows(session, incident)]


def decisions_in_force(session: Session, incident: Incident) -> dict[str, Decision]:
    """The override in force per rule key, with its reason, author and time."""
    rows = _rows(session, incident)
    in_force = latest(_override(row) for row in rows)
    out: dict[str, Decision] = {}
    for row in rows:
        if row.rule_key in in_force:
            out[row.rule_key] = Decision(
                in_force[row.rule_key], row.reason, row.created_by, row.created_at
            )
    return out


def change_override(
    session: Session,
    regimes: RegimeSet,
    incident: Incident,
    *,
    key: str,
    action: str,
    reason: str,
    by: User,
    unit: str | None = None,
    amount: int | None = None,
    months: int | None = None,
) -> RegimeOverride:
    """Switch the rule ``key`` off, correct it (a clock: ``unit`` and ``amount``; monitoring:
    ``months``) or put it back, for ``incident``, with ``reason``; recorded in the audit log.
    Raises ``OverrideRefused`` for anyone but legal or an admin, an unknown rule, a reason of
    fewer than three words, a correction the rule does not take, or a rule already so."""
    if not any(by.has_role(role) for role in ROLES):
        raise OverrideRefused("Only legal (approvers) and admins can change a regime's rules.")
    rule = find_rule(regimes, key)
    if rule is None:
        raise OverrideRefused(f"No regime has a rule “{key}”.", "key")
    if action not in ACTIONS:
        raise OverrideRefused(
            "Choose to switch the rule off, correct it, or put it back.", "action"
        )
    checked: Action = action  # type: ignore[assignment]
    reason = " ".join(reason.split())
    if len(reason.split()) < MIN_REASON_WORDS:
        raise OverrideRefused(
            f"Say why in at least {MIN_REASON_WORDS} words: the reason goes on the audit record.",
            "reason",
        )
    if len(reason) > MAX_REASON_CHARS:
        raise OverrideRefused(
            f"Keep the reason under {MAX_REASON_CHARS} characters ({len(reason)} now).", "reason"
        )
    within: Within | None = None
    new_months: int | None = None
    if checked == "correct":
        if rule.correctable == "clock-limit":
            within = _within(unit, amount)
        elif rule.correctable == "monitoring-months":
            if months is None or not 1 <= months <= MAX_MONTHS:
                raise OverrideRefused(
                    f"Give the months as a whole number from 1 to {MAX_MONTHS}.", "months"
                )
            new_months = months
        else:
            raise OverrideRefused(
                "Only a clock's time limit and the months of monitoring can be corrected; "
                "this rule can only be switched off.",
                "action",
            )
    current = decisions_in_force(session, incident).get(key)
    if checked == "restore" and current is None:
        raise OverrideRefused("This rule already applies as the regime file says.", "action")
    if checked == "off" and current is not None and current.override.action == "off":
        raise OverrideRefused("This rule is already switched off.", "action")
    row = RegimeOverride(
        incident_id=incident.id,
        rule_key=key,
        action=checked,
        within_unit=_unit_of(within),
        within_amount=_amount_of(within),
        months=new_months,
        reason=reason,
        created_by_id=by.id,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=by,
        action=AUDIT_ACTIONS[checked],
        subject_type="incident",
        subject_id=incident.id,
        before=_digest(current.override) if current else None,
        after={**_digest(_override(row)), "reason": reason, "override_id": row.id},
    )
    return row


def describe_override(override: Override) -> str:
    """What an override does, in words: "switched off", "corrected to 96 hours"."""
    if override.action == "off":
        return "switched off"
    if override.action == "restore":
        return "put back as the regime says"
    if override.within is not None:
        return f"corrected to {within_text(override.within)}"
    return f"corrected to {override.months} months"


def _within(unit: str | None, amount: int | None) -> Within:
    if unit not in UNITS:
        raise OverrideRefused("Choose hours, days or business days for the time limit.", "unit")
    if amount is None or not 1 <= amount <= MAX_AMOUNT:
        raise OverrideRefused(
            f"Give the time limit as a whole number from 1 to {MAX_AMOUNT}.", "amount"
        )
    return Within.model_validate({unit: amount})


def _unit_of(within: Within | None) -> str | None:
    if within is None:
        return None
    return next(u for u in UNITS if getattr(within, u) is not None)


def _amount_of(within: Within | None) -> int | None:
    unit = _unit_of(within)
    return getattr(within, unit) if unit else None


def _rows(session: Session, incident: Incident) -> list[RegimeOverride]:
    return list(
        session.scalars(
            select(RegimeOverride)
            .where(RegimeOverride.incident_id == incident.id)
            .order_by(RegimeOverride.id)
        )
    )


def _override(row: RegimeOverride) -> Override:
    within = None
    if row.within_unit in UNITS and row.within_amount is not None:
        unit: Unit = row.within_unit  # type: ignore[assignment]
        within = Within.model_validate({unit: row.within_amount})
    return Override(row.rule_key, row.action, within, row.months)  # type: ignore[arg-type]


def _digest(override: Override) -> dict[str, Any]:
    out: dict[str, Any] = {"rule": override.key, "action": override.action}
    if override.within is not None:
        out["limit"] = within_text(override.within)
    if override.months is not None:
        out["months"] = override.months
    return out

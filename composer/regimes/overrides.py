"""Legal's per-incident corrections of a regime: switch a rule off, or correct a clock's time
limit or the months of monitoring, and the regimes as they then stand.

Every rule legal can act on has a stable key (``rule_keys``), built from ids in the regime file
rather than positions, so a key written today still names the same rule after the file gains
others:

- ``<regime>``: the whole regime;
- ``<regime>/clocks/<clock id>``;
- ``<regime>/notice/required/<element>`` and ``<regime>/notice/forbidden/<element>``;
- ``<regime>/notice/title`` and ``<regime>/notice/headings``;
- ``<regime>/notice/channels/<channel rule>``;
- ``<regime>/notice/blocks/<block id>``;
- ``<regime>/notice/monitoring`` (every monitoring rule of the regime: the months are one figure).

Pure: no Flask, no database (``records`` stores them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final, Literal

from composer.regimes.catalogue import RegimeSet
from composer.regimes.schema import ELEMENT_LABELS, Basis, Clock, Regime, Within

#: What an override does. ``restore`` puts the rule back as the regime file says (see
#: ``records``: overrides are never deleted, so what applied when stays on record).
Action = Literal["off", "correct", "restore"]
ACTIONS: Final = ("off", "correct", "restore")
#: How a rule can be corrected: a clock's fixed limit, or monitoring months.
Correctable = Literal["clock-limit", "monitoring-months"]
#: The units a clock's limit can be given in (``schema.Within``'s fields).
UNITS: Final = ("hours", "days", "business_days")
Unit = Literal["hours", "days", "business_days"]


@dataclass(frozen=True)
class RuleRef:
    """One rule of a regime that legal can switch off or correct."""

    key: str
    regime: Regime
    #: What kind of rule it is, in words ("Clock", "Required element", ...).
    kind: str
    #: What the rule is, in words (the clock's recipient, the element, the title's text ...).
    label: str
    #: The rule's citation, summary, source and whether it was checked (the regime's own for
    #: the whole regime; the first rule's when a key covers several, as monitoring can).
    basis: Basis
    #: How it can be corrected, when it can.
    correctable: Correctable | None = None
    #: The clock, for a clock.
    clock: Clock | None = None
    #: The months the regime file gives, for monitoring.
    months: int | None = None

    @property
    def source(self) -> str:
        return self.basis.source or self.regime.source


@dataclass(frozen=True)
class Override:
    """What legal decided about one rule for one incident. ``within`` is set for a corrected
    clock, ``months`` for corrected monitoring; both are None otherwise."""

    key: str
    action: Action
    within: Within | None = None
    months: int | None = None


def rule_keys(regime: Regime) -> list[RuleRef]:
    """Every rule of ``regime`` legal can act on, the whole regime first, in file order.
    Keys are unique; a key that several rules share (the same element required under two
    conditions) is listed once and acts on all of them."""
    r = regime.id
    notice = regime.notice
    refs = [RuleRef(r, regime, "Regime", regime.name, _regime_basis(regime))]
    for clock in regime.clocks:
        refs.append(
            RuleRef(
                f"{r}/clocks/{clock.id}",
                regime,
                "Clock",
                f"{clock.who}: {clock_limit_text(clock)}",
                clock,
                correctable="clock-limit",
                clock=clock,
            )
        )
    for kind, label, rules in (
        ("required", "Required element", notice.required),
        ("forbidden", "Forbidden element", notice.forbidden),
    ):
        for rule in rules:
            refs.append(
                RuleRef(
                    f"{r}/notice/{kind}/{rule.element}",
                    regime,
                    label,
                    ELEMENT_LABELS[rule.element],
                    rule,
                )
            )
    if notice.title:
        refs.append(RuleRef(f"{r}/notice/title", regime, "Title", notice.title.text, notice.title))
    if notice.headings:
        refs.append(
            RuleRef(
                f"{r}/notice/headings",
                regime,
                "Headings",
                "; ".join(notice.headings.items),
                notice.headings,
            )
        )
    for channel in notice.channels:
        refs.append(
            RuleRef(f"{r}/notice/channels/{channel.rule}", regime, "Channel", channel.rule, channel)
        )
    for block in notice.blocks:
        refs.append(RuleRef(f"{r}/notice/blocks/{block.id}", regime, "Block", block.id, block))
    if notice.monitoring:
        months = max(m.months for m in notice.monitoring)
        refs.append(
            RuleRef(
                f"{r}/notice/monitoring",
                regime,
                "Monitoring",
                f"at least {months} months",
                notice.monitoring[0],
                correctable="monitoring-months",
                months=months,
            )
        )
    seen: set[str] = set()
    unique = []
    for ref in refs:
        if ref.key not in seen:
            seen.add(ref.key)
            unique.append(ref)
    return unique


def find_rule(regimes: RegimeSet, key: str) -> RuleRef | None:
    """The rule ``key`` names, or None when no regime has it."""
    regime = regimes.get(key.split("/", 1)[0])
    if regime is None:
        return None
    return next((ref for ref in rule_keys(regime) if ref.key == key), None)


def latest(overrides: Iterable[Override]) -> dict[str, Override]:
    """The override in force per key: the last given wins; a ``restore`` leaves none."""
    out: dict[str, Override] = {}
    for override in overrides:
        if override.action == "restore":
            out.pop(override.key, None)
        else:
            out[override.key] = override
    return out


def effective_regimes(regimes: RegimeSet, overrides: Iterable[Override]) -> RegimeSet:
    """``regimes`` with ``overrides`` applied, oldest first (the latest per key wins): a regime
    switched off is left out; a rule switched off is gone; a corrected clock has the new time
    limit (its standard, if any, stays); corrected monitoring has the new months. Keys no regime
    has (a rule since removed from its file) change nothing."""
    by_key = latest(overrides)
    if not by_key:
        return regimes
    out = []
    for regime in regimes:
        if regime.id in by_key:
            continue
        mine = {k: o for k, o in by_key.items() if k.startswith(f"{regime.id}/")}
        out.append(_apply(regime, mine) if mine else regime)
    return RegimeSet(tuple(out))


def _apply(regime: Regime, overrides: Mapping[str, Override]) -> Regime:
    r = regime.id

    def off(key: str) -> bool:
        found = overrides.get(key)
        return found is not None and found.action == "off"

    clocks = []
    for clock in regime.clocks:
        found = overrides.get(f"{r}/clocks/{clock.id}")
        if found is None:
            clocks.append(clock)
        elif found.action == "correct" and found.within is not None:
            clocks.append(clock.model_copy(update={"within": found.within}))
    notice = regime.notice
    monitoring = notice.monitoring
    found = overrides.get(f"{r}/notice/monitoring")
    if found is not None and found.action == "off":
        monitoring = []
    elif found is not None and found.months is not None:
        monitoring = [m.model_copy(update={"months": found.months}) for m in monitoring]
    # model_copy skips validation on purpose: a regime may be left with no clock at all.
    return regime.model_copy(
        update={
            "clocks": clocks,
            "notice": notice.model_copy(
                update={
                    "required": [
                        e for e in notice.required if not off(f"{r}/notice/required/{e.element}")
                    ],
                    "forbidden": [
                        e for e in notice.forbidden if not off(f"{r}/notice/forbidden/{e.element}")
                    ],
                    "title": None if off(f"{r}/notice/title") else notice.title,
                    "headings": None if off(f"{r}/notice/headings") else notice.headings,
                    "channels": [
                        c for c in notice.channels if not off(f"{r}/notice/channels/{c.rule}")
                    ],
                    "blocks": [b for b in notice.blocks if not off(f"{r}/notice/blocks/{b.id}")],
                    "monitoring": monitoring,
                }
            ),
        }
    )


def clock_limit_text(clock: Clock) -> str:
    """A clock's limit in words: "72 hours", "without undue delay", or both."""
    parts = [clock.standard] if clock.standard else []
    if clock.within is not None:
        parts.append(within_text(clock.within))
    return ", at most ".join(parts) if clock.standard else parts[0]


def within_text(within: Within) -> str:
    for unit in UNITS:
        amount = getattr(within, unit)
        if amount is not None:
            noun = unit.replace("_", " ")
            return f"{amount} {noun[:-1] if amount == 1 else noun}"
    return ""


def _regime_basis(regime: Regime) -> Basis:
    return Basis(
        citation=regime.citation,
        summary=regime.summary,
        source=regime.source,
        confirmed=regime.confirmed,
    )

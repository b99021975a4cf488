"""The incident as the regimes see it: where people live, what data, when, and flags."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from composer.facts import Facts

#: What "residents of each state" counts: US states are places "US-XX".
US_STATE_PREFIX = "US-"


@dataclass(frozen=True)
class Situation:
    """What decides which regimes apply and when their clocks run out.

    ``places`` maps a place id ("DE", "US-CA") to how many affected people live there, or None
    when not known (a threshold then counts as met: better a clock shown than one missed).
    ``events`` holds when a clock may start: "discovery", and when known "awareness",
    "determination" and "individuals-notified"; awareness and determination default to the
    discovery day, the earliest they can be, so deadlines err early."""

    places: Mapping[str, int | None]
    categories: frozenset[str]
    discovered: date
    flags: frozenset[str] = frozenset()
    #: Everyone affected, anywhere; None when not known.
    people: int | None = None
    events: Mapping[str, date] = field(default_factory=dict)
    incident: str = "personal-data-breach"

    def start(self, event: str) -> date | None:
        """The day ``event`` happened, when known."""
        if event in self.events:
            return self.events[event]
        if event in ("discovery", "awareness", "determination"):
            return self.discovered
        return None


def situation_from_facts(
    document: Mapping[str, Any],
    *,
    flags: Iterable[str] = (),
    events: Mapping[str, date] | None = None,
) -> Situation | None:
    """A situation from a facts document (``composer-facts/1``) plus flags the facts do not
    hold (such as ``hipaa-covered-entity``). None when the discovery date is not known yet.
    Raises ``FactsError`` when the document is not a facts document."""
    facts = Facts(document)
    discovered = facts.day("what_happened.discovered")
    if discovered is None:
        return None
    places: dict[str, int | None] = {}
    for path, prefix in (("impact.countries", ""), ("impact.us_states", US_STATE_PREFIX)):
        present, value = facts.lookup(path)
        for item in value if present and isinstance(value, list) else ():
            if isinstance(item, Mapping) and isinstance(item.get("code"), str):
                count = item.get("count")
                ok = isinstance(count, int) and not isinstance(count, bool) and count >= 0
                places[prefix + item["code"]] = count if ok else None
    categories = frozenset(c.id for c in facts.categories() or ())
    derived = set(flags)
    if facts.flag("what_happened.law_enforcement.delay_requested"):
        derived.add("law-enforcement-delay")
    encrypted = facts.choice("data.encryption.encrypted", ("all", "some", "none"))
    if encrypted == "all" and facts.flag("data.encryption.key_safe"):
        derived.add("data-unintelligible")
    severity = facts.choice("impact.severity", ("severe", "serious", "moderate", "minor"))
    likelihood = facts.choice(
        "impact.likelihood", ("already-happening", "likely", "possible", "unlikely")
    )
    harms = facts.choices("impact.harms", ("none-expected",))
    if likelihood == "unlikely" or harms == ["none-expected"]:
        derived.add("risk-unlikely")
    # Serious harm is assumed until the facts say otherwise: a clock shown needlessly costs a
    # reader a minute, a clock missed costs a fine.
    elif severity not in ("moderate", "minor") and likelihood != "possible":
        derived.add("likely-serious-harm")
    people_range = facts.count("data.people_affected")
    return Situation(
        places=places,
        categories=categories,
        discovered=discovered,
        flags=frozenset(derived),
        people=people_range[1] if people_range else None,
        events=dict(events or {}),
    )

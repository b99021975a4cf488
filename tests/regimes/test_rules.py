"""Which regimes apply to an incident, and where their clocks stand."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from composer.checklist import load_catalogue
from composer.regimes import (
    Situation,
    applicable,
    deadlines,
    load_regimes,
    notice_rules,
    situation_from_facts,
)
from tests.paths import REPO_ROOT

DATA = REPO_ROOT / "checklists"
CATALOGUE = load_catalogue(DATA)
REGIMES = load_regimes(DATA / "regimes", CATALOGUE)


def category(cid: str) -> dict[str, Any]:
    c = CATALOGUE.categories[cid]
    return {"id": c.id, "title": c.title, "label": c.label, "advice": c.advice, "flags": c.flags}


def facts_document(
    states: dict[str, int | None],
    categories: list[str],
    *,
    discovered: str | None = "2026-11-02",
    **extra: Any,
) -> dict[str, Any]:
    """A facts document as the checklist writes it, for people in US states."""
    known = [n for n in states.values() if n is not None]
    impact = {
        "countries": [{"code": "US", "name": "United States", "count": sum(known)}],
        "us_states": [
            {"code": code, "name": CATALOGUE.place_names["us_states"][code], "count": count}
            for code, count in states.items()
        ],
        "severity": extra.pop("severity", "serious"),
        "likelihood": extra.pop("likelihood", "likely"),
        "harms": extra.pop("harms", ["fraud"]),
    }
    return {
        "schema": "composer-facts/1",
        "status": {"complete": True, "unknown": [], "missing": [], "invalid": []},
        "facts": {
            "what_happened": {
                "discovered": discovered,
                "law_enforcement": {
                    "involved": bool(extra.get("delay")),
                    "delay_requested": bool(extra.pop("delay", False)),
                },
            },
            "data": {
                "categories": [category(c) for c in categories],
                "people_affected": {"min": sum(known), "max": sum(known)},
                "encryption": extra.pop("encryption", {"encrypted": "none"}),
            },
            "impact": impact,
        },
    }


CARD_SKIMMING = facts_document(
    {"CA": 1500, "MA": 900, "NY": 1400, "TX": 410}, ["name", "card-full-number", "card-cvv"]
)


def test_four_state_card_incident_gives_each_law_its_clocks() -> None:
    situation = situation_from_facts(CARD_SKIMMING)
    assert situation is not None
    assert situation.places == {
        "US": 4210,
        "US-CA": 1500,
        "US-MA": 900,
        "US-NY": 1400,
        "US-TX": 410,
    }

    applying = [r.id for r in applicable(REGIMES, situation)]
    assert applying == ["california", "card-brands", "massachusetts", "new-york", "texas"]

    now = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
    found = {
        f"{d.regime.id}.{d.clock.id}": (d.due, d.state) for d in deadlines(REGIMES, situation, now)
    }
    end_of = lambda y, m, d: datetime(y, m, d, 23, 59, 59, tzinfo=UTC)  # noqa: E731
    assert found == {
        "card-brands.acquiring-bank": (end_of(2026, 11, 5), "past"),
        "california.individuals": (end_of(2026, 12, 2), "past"),
        "new-york.individuals": (end_of(2026, 12, 2), "past"),
        "new-york.state-agencies": (end_of(2026, 12, 2), "past"),
        "texas.attorney-general": (end_of(2026, 12, 2), "past"),
        "texas.individuals": (end_of(2027, 1, 1), "ok"),
        # No fixed limit, or waiting for the residents' notices to go out:
        "california.attorney-general": (None, "ok"),
        "card-brands.forensic-investigator": (None, "ok"),
        "massachusetts.individuals": (None, "ok"),
        "massachusetts.attorney-general": (None, "ok"),
        "massachusetts.ocabr": (None, "ok"),
    }
    # Soonest first, open-ended last.
    dues = [d.due for d in deadlines(REGIMES, situation, now)]
    assert dues[0] == end_of(2026, 11, 5)
    assert dues[-1] is None


def test_four_state_card_incident_notices_differ_by_state() -> None:
    situation = situation_from_facts(CARD_SKIMMING)
    assert situation is not None
    by_id = {r.id: notice_rules(r, situation) for r in applicable(REGIMES, situation)}
    massachusetts, california, new_york = (
        by_id["massachusetts"],
        by_id["california"],
        by_id["new-york"],
    )
    assert {"description", "affected_count"} <= massachusetts.forbidden
    assert {"police_report_right", "security_freeze_free"} <= massachusetts.required
    assert [b.id for b in massachusetts.blocks] == ["police-report", "security-freeze"]
    assert "free" in massachusetts.blocks[1].text
    assert california.title == "Notice of Data Breach"
    assert california.headings[0] == "What Happened"
    assert "delay_statement" in california.required
    assert "bureau_contacts" not in california.required  # card data, not SSN or licence
    assert "agency_contacts" in new_york.required
    assert "1-800-771-7755" in new_york.blocks[0].text


def test_ssn_exposure_asks_18_months_in_massachusetts_and_bureaus_in_california() -> None:
    situation = situation_from_facts(
        facts_document({"CA": 20, "MA": 30}, ["name", "ssn"]), flags=["business-was-source"]
    )
    assert situation is not None
    regimes = {r.id: r for r in REGIMES}
    assert notice_rules(regimes["massachusetts"], situation).monitoring_months == 18
    california = notice_rules(regimes["california"], situation)
    assert california.monitoring_months == 12
    assert "bureau_contacts" in california.required
    assert "Equifax" in california.blocks[0].text


def test_clock_is_near_when_a_quarter_of_its_time_is_left() -> None:
    situation = situation_from_facts(facts_document({"NY": 10}, ["ssn"]))
    assert situation is not None
    ny = [REGIMES.get("new-york")]

    def state(now: datetime) -> str:
        return next(d.state for d in deadlines(ny, situation, now) if d.clock.id == "individuals")  # type: ignore[arg-type]

    assert state(datetime(2026, 11, 20, tzinfo=UTC)) == "ok"
    assert state(datetime(2026, 11, 28, tzinfo=UTC)) == "near"
    assert state(datetime(2026, 12, 3, tzinfo=UTC)) == "past"


def test_a_clock_counted_from_notice_gets_its_due_time_once_notices_went_out() -> None:
    situation = situation_from_facts(
        facts_document({"CA": 600}, ["ssn"]), events={"individuals-notified": date(2026, 11, 20)}
    )
    assert situation is not None
    found = {
        d.clock.id: d.due
        for d in deadlines([REGIMES.get("california")], situation, datetime.now(UTC))  # type: ignore[list-item]
    }
    assert found["attorney-general"] == datetime(2026, 12, 5, 23, 59, 59, tzinfo=UTC)


def test_an_unknown_count_meets_a_threshold_and_says_so() -> None:
    situation = situation_from_facts(facts_document({"TX": None}, ["ssn"]))
    assert situation is not None
    assert situation.places["US-TX"] is None
    found = {d.clock.id: d.assumed for d in deadlines(REGIMES, situation, datetime.now(UTC))}
    assert found == {"individuals": False, "attorney-general": True, "credit-bureaus": True}


def test_facts_bring_in_flags() -> None:
    delayed = situation_from_facts(facts_document({"CA": 1}, ["ssn"], delay=True))
    safe = situation_from_facts(
        facts_document(
            {"CA": 1},
            ["ssn"],
            encryption={"encrypted": "all", "key_safe": True},
            likelihood="unlikely",
        )
    )
    minor = situation_from_facts(facts_document({"CA": 1}, ["ssn"], severity="minor"))
    assert delayed is not None
    assert safe is not None
    assert minor is not None
    assert {"law-enforcement-delay", "likely-serious-harm"} <= delayed.flags
    assert safe.flags == {"data-unintelligible", "risk-unlikely"}
    assert minor.flags == frozenset()


def test_no_discovery_date_means_no_situation_yet() -> None:
    assert situation_from_facts(facts_document({"CA": 1}, ["ssn"], discovered=None)) is None


def test_gdpr_encrypted_data_needs_no_notice_to_people_but_a_report() -> None:
    situation = Situation(
        places={"FR": 100},
        categories=frozenset({"email"}),
        discovered=date(2026, 11, 2),
        flags=frozenset({"data-unintelligible", "likely-serious-harm"}),
    )
    found = [d.clock.id for d in deadlines(REGIMES, situation, datetime(2026, 11, 4, tzinfo=UTC))]
    assert found == ["supervisory-authority"]


def test_now_must_carry_a_time_zone() -> None:
    situation = situation_from_facts(CARD_SKIMMING)
    assert situation is not None
    with pytest.raises(ValueError, match="timezone-aware"):
        deadlines(REGIMES, situation, datetime(2026, 12, 3))

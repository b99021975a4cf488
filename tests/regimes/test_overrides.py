"""Legal's per-incident overrides applied to the regimes: what deadlines and notices then need."""

from __future__ import annotations

from datetime import UTC, date, datetime

from composer.checklist import load_catalogue
from composer.regimes import (
    Override,
    Situation,
    applicable,
    deadlines,
    effective_regimes,
    find_rule,
    load_regimes,
    notice_rules,
    rule_keys,
)
from composer.regimes.schema import Within
from tests.paths import REPO_ROOT

DATA = REPO_ROOT / "checklists"
REGIMES = load_regimes(DATA / "regimes", load_catalogue(DATA))
NOW = datetime(2026, 11, 3, 9, tzinfo=UTC)
GERMANY = Situation(
    places={"DE": 300},
    categories=frozenset({"email"}),
    discovered=date(2026, 11, 2),
    flags=frozenset({"likely-serious-harm"}),
)
MASSACHUSETTS = Situation(
    places={"US": 40, "US-MA": 40},
    categories=frozenset({"ssn"}),
    discovered=date(2026, 11, 2),
)


def gdpr_regulator_due(overrides: list[Override]) -> datetime | str | None:
    found = [
        d
        for d in deadlines(effective_regimes(REGIMES, overrides), GERMANY, NOW)
        if d.regime.id == "gdpr" and d.clock.id == "supervisory-authority"
    ]
    return found[0].due if found else "gone"


def test_without_overrides_the_regimes_are_unchanged() -> None:
    assert effective_regimes(REGIMES, []) is REGIMES
    assert gdpr_regulator_due([]) == datetime(2026, 11, 5, tzinfo=UTC)


def test_a_clock_switched_off_is_gone_and_the_others_stay() -> None:
    off = Override("gdpr/clocks/supervisory-authority", "off")
    assert gdpr_regulator_due([off]) == "gone"
    clocks = {
        (d.regime.id, d.clock.id)
        for d in deadlines(effective_regimes(REGIMES, [off]), GERMANY, NOW)
    }
    assert ("gdpr", "data-subjects") in clocks


def test_a_corrected_clock_has_the_new_limit_and_keeps_its_standard() -> None:
    corrected = Override("gdpr/clocks/supervisory-authority", "correct", within=Within(days=5))
    assert gdpr_regulator_due([corrected]) == datetime(2026, 11, 7, 23, 59, 59, tzinfo=UTC)
    regime = effective_regimes(REGIMES, [corrected]).get("gdpr")
    assert regime is not None
    assert regime.clocks[0].standard == "without undue delay"
    # The file's regimes are not touched.
    assert gdpr_regulator_due([]) == datetime(2026, 11, 5, tzinfo=UTC)


def test_the_latest_override_per_rule_wins_and_restore_puts_it_back() -> None:
    key = "gdpr/clocks/supervisory-authority"
    off, hours = Override(key, "off"), Override(key, "correct", within=Within(hours=96))
    assert gdpr_regulator_due([off, hours]) == datetime(2026, 11, 6, tzinfo=UTC)
    assert gdpr_regulator_due([hours, off]) == "gone"
    assert gdpr_regulator_due([off, Override(key, "restore")]) == datetime(2026, 11, 5, tzinfo=UTC)


def test_a_forbidden_element_switched_off_is_allowed_again() -> None:
    regime = REGIMES.get("massachusetts")
    assert regime is not None
    assert notice_rules(regime, MASSACHUSETTS).forbidden == {"description", "affected_count"}
    after = effective_regimes(
        REGIMES, [Override("massachusetts/notice/forbidden/description", "off")]
    ).get("massachusetts")
    assert after is not None
    rules = notice_rules(after, MASSACHUSETTS)
    assert rules.forbidden == {"affected_count"}
    assert "police_report_right" in rules.required


def test_monitoring_months_corrected_and_switched_off() -> None:
    key = "massachusetts/notice/monitoring"

    def months(overrides: list[Override]) -> int | None:
        regime = effective_regimes(REGIMES, overrides).get("massachusetts")
        assert regime is not None
        return notice_rules(regime, MASSACHUSETTS).monitoring_months

    assert months([]) == 18
    assert months([Override(key, "correct", months=24)]) == 24
    assert months([Override(key, "off")]) is None


def test_a_whole_regime_switched_off_no_longer_applies() -> None:
    assert [r.id for r in applicable(REGIMES, GERMANY)] == ["gdpr"]
    assert applicable(effective_regimes(REGIMES, [Override("gdpr", "off")]), GERMANY) == []


def test_an_override_for_a_rule_no_file_has_changes_nothing() -> None:
    stale = Override("gdpr/clocks/no-such-clock", "off")
    assert gdpr_regulator_due([stale]) == datetime(2026, 11, 5, tzinfo=UTC)


def test_every_rule_has_a_unique_findable_key_with_its_citation() -> None:
    for regime in REGIMES:
        refs = rule_keys(regime)
        keys = [ref.key for ref in refs]
        assert len(keys) == len(set(keys)), regime.id
        assert keys[0] == regime.id
        assert f"{regime.id}/clocks/{regime.clocks[0].id}" in keys
        for ref in refs:
            assert ref.basis.citation
            assert ref.basis.summary
            assert ref.source
            assert find_rule(REGIMES, ref.key) == ref
    regime = REGIMES.get("california")
    assert regime is not None
    california = {ref.key for ref in rule_keys(regime)}
    assert {
        "california/notice/title",
        "california/notice/headings",
        "california/notice/blocks/credit-bureaus",
        "california/notice/monitoring",
    } <= california
    assert find_rule(REGIMES, "california/notice/title/extra") is None
    assert find_rule(REGIMES, "atlantis") is None

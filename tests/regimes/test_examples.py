"""Every regime file carries examples, and the rules give what they say (as the lint rules do)."""

from __future__ import annotations

import pytest

from composer.checklist import load_catalogue
from composer.regimes import (
    Regime,
    Situation,
    applicable,
    deadlines,
    load_regimes,
    notice_rules,
)
from composer.regimes.schema import Example
from tests.paths import REPO_ROOT

DATA = REPO_ROOT / "checklists"
REGIMES = load_regimes(DATA / "regimes", load_catalogue(DATA))
EXAMPLES = [(r, e) for r in REGIMES for e in r.examples]

#: What issue 18 asks for at least.
EXPECTED = {
    "gdpr",
    "uk-gdpr",
    "california",
    "massachusetts",
    "new-york",
    "texas",
    "florida",
    "hipaa",
    "australia-ndb",
    "canada-pipeda",
    "card-brands",
}


def situation_of(example: Example) -> Situation:
    given = example.situation
    return Situation(
        places=dict(given.places),
        categories=frozenset(given.categories),
        discovered=given.discovered,
        flags=frozenset(given.flags),
        people=given.people,
    )


def test_every_required_regime_is_encoded() -> None:
    assert {r.id for r in REGIMES} >= EXPECTED


def test_every_regime_has_an_example_where_it_applies_with_its_clocks() -> None:
    for regime in REGIMES:
        assert any(e.applies and e.clocks for e in regime.examples), regime.id


def test_every_rule_names_its_citation_and_a_summary() -> None:
    for regime in REGIMES:
        rules = [
            regime.covers,
            *regime.clocks,
            *regime.notice.required,
            *regime.notice.forbidden,
            *regime.notice.channels,
            *regime.notice.blocks,
            *regime.notice.monitoring,
        ]
        for rule in rules:
            assert rule.citation.strip(), regime.id
            assert rule.summary.strip(), regime.id


@pytest.mark.parametrize(
    ("regime", "example"), EXAMPLES, ids=[f"{r.id}: {e.name}" for r, e in EXAMPLES]
)
def test_example_holds(regime: Regime, example: Example) -> None:
    situation = situation_of(example)
    assert bool(applicable([regime], situation)) == example.applies
    due = {d.clock.id: d.due for d in deadlines([regime], situation, example.now)}
    assert due == (example.clocks if example.applies else {})
    rules = notice_rules(regime, situation)
    assert set(example.required) <= rules.required
    assert set(example.forbidden) <= rules.forbidden
    if example.monitoring_months is not None:
        assert rules.monitoring_months == example.monitoring_months


def test_every_regime_is_listed_in_the_docs() -> None:
    doc = (REPO_ROOT / "docs" / "regimes.md").read_text()
    for regime in REGIMES:
        assert f"| `{regime.id}` |" in doc, regime.id

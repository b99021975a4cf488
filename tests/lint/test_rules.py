"""Every rule in the catalogue carries examples, and behaves on them (proselint style)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from composer.lint.catalogue import RULES_DIR, load_rules
from composer.lint.engine import Linter
from composer.support.datafiles import DataFileError

#: Every rule, also those switched off with ``enabled: false``: their examples must hold too.
RULES = load_rules(include_disabled=True)


@pytest.fixture(scope="module")
def every_rule(linter: Linter) -> Linter:
    """The session's linter (its loaded pipeline) running every rule, switched off or not."""
    return Linter(nlp=linter.nlp, rules=RULES)


def test_every_rule_has_should_flag_and_should_pass_examples() -> None:
    assert len(RULES) >= 20
    for compiled in RULES:
        assert compiled.rule.examples.flag, compiled.rule.id
        assert compiled.rule.examples.accept, compiled.rule.id


def test_every_span_category_has_at_least_one_rule() -> None:
    # Rules may also report a document-level category: placeholder.yaml's missing-element.
    categories = {c.rule.category for c in RULES} - {"missing-element"}
    assert categories == {
        "hedge",
        "vague-agent",
        "vague-scope",
        "jargon",
        "cliche",
        "agentless-passive",
        "unsupported-claim",
        "blame-shift",
        "threat",
    }


@pytest.mark.parametrize(
    ("rule_id", "sentence"),
    [(c.rule.id, s) for c in RULES for s in c.rule.examples.flag],
)
def test_rule_flags_its_examples(every_rule: Linter, rule_id: str, sentence: str) -> None:
    found = [f for f in every_rule.lint(sentence).findings if f.rule == rule_id]
    assert found, f"{rule_id} should flag: {sentence}"
    for f in found:
        assert sentence[f.start : f.end] == f.text


@pytest.mark.parametrize(
    ("rule_id", "sentence"),
    [(c.rule.id, s) for c in RULES for s in c.rule.examples.accept],
)
def test_rule_leaves_its_near_misses_alone(every_rule: Linter, rule_id: str, sentence: str) -> None:
    found = [f.text for f in every_rule.lint(sentence).findings if f.rule == rule_id]
    assert not found, f"{rule_id} should not flag {found} in: {sentence}"


def test_a_rule_without_examples_fails_to_load(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(RULES_DIR, rules)
    path = rules / "threat.yaml"
    text = path.read_text()
    start = text.index("    examples:\n", text.index("id: threat.shouting"))
    path.write_text(text[:start])
    with pytest.raises(
        DataFileError, match=r"threat\.yaml:\d+: rules\[1\]\.examples: Field required"
    ):
        load_rules(rules)


def test_a_broken_pattern_is_named_with_its_line(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(RULES_DIR, rules)
    path = rules / "threat.yaml"
    path.write_text(
        path.read_text().replace('"\\\\bat\\\\s+your\\\\s+own\\\\s+risk\\\\b"', '"(unclosed"')
    )
    with pytest.raises(
        DataFileError, match=r"threat\.yaml:\d+: rules\[0\]\.patterns: .*not a valid regular"
    ):
        load_rules(rules)


def test_duplicate_rule_ids_across_files_are_refused(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(RULES_DIR, rules)
    (rules / "zz-copy.yaml").write_text((rules / "threat.yaml").read_text())
    with pytest.raises(DataFileError, match=r"rule id 'threat\.coercive' is also used in"):
        load_rules(rules)

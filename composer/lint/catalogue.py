"""Load the rule catalogue (``composer/lint/rules/*.yaml``) and compile its patterns."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from composer.lint.schema import Rule, RuleFile
from composer.support.datafiles import YamlSource

RULES_DIR = Path(__file__).resolve().parent / "rules"


@dataclass(frozen=True)
class CompiledRule:
    rule: Rule
    patterns: tuple[re.Pattern[str], ...]
    unless: tuple[re.Pattern[str], ...]
    if_sentence: tuple[re.Pattern[str], ...]
    unless_sentence: tuple[re.Pattern[str], ...]
    unless_document: tuple[re.Pattern[str], ...]
    unless_before: tuple[re.Pattern[str], ...]


def load_rules(
    directory: Path = RULES_DIR, *, include_disabled: bool = False
) -> tuple[CompiledRule, ...]:
    """Every rule in ``directory``, validated; ``DataFileError`` names file, key and line.

    A rule with ``enabled: false`` is checked like the others but left out of what is returned
    (the linter never runs it), unless ``include_disabled``: the tests still run its examples.
    """
    compiled: list[CompiledRule] = []
    seen: dict[str, Path] = {}
    for path in sorted(directory.glob("*.yaml")):
        source = YamlSource.read(path)
        doc = source.validate(RuleFile)
        for index, rule in enumerate(doc.rules):
            if rule.id in seen:
                raise source.error(
                    ["rules", index, "id"], f"rule id '{rule.id}' is also used in {seen[rule.id]}"
                )
            if not rule.patterns and rule.check is None:
                raise source.error(["rules", index], "a rule needs 'patterns' or a 'check'")
            seen[rule.id] = path
            if not rule.enabled and not include_disabled:
                continue
            compiled.append(
                CompiledRule(
                    rule=rule,
                    patterns=_compile(rule.patterns),
                    unless=_compile(rule.unless),
                    if_sentence=_compile(rule.if_sentence),
                    unless_sentence=_compile(rule.unless_sentence),
                    unless_document=_compile(rule.unless_document),
                    unless_before=_compile(rule.unless_before),
                )
            )
    return tuple(compiled)


def _compile(patterns: list[str]) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(p, re.IGNORECASE) for p in patterns)

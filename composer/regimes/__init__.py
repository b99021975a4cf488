"""What each breach-notification law asks, as data (``checklists/regimes/*.yaml``).

- ``load_regimes(directory, catalogue)`` reads and checks the regime files (``DataFileError``
  names file, key and line); the app does it at start-up (``app.extensions["composer.regimes"]``).
- ``situation_from_facts(document)`` gives the ``Situation`` the rules read.
- ``applicable``, ``deadlines`` and ``notice_rules`` are pure functions over both.
- ``effective_regimes(regimes, overrides)`` applies legal's per-incident overrides (rules
  switched off or corrected, keyed by ``rule_keys``); ``incident_overrides(session, incident)``
  reads them and ``change_override`` writes one, audited, in the caller's transaction.

No Flask. Sits below notices, lint and approval, which read it; docs/regimes.md explains the files.
"""

from composer.regimes.catalogue import REGIMES_FOLDER, RegimeSet, load_regimes
from composer.regimes.overrides import (
    Override,
    RuleRef,
    effective_regimes,
    find_rule,
    rule_keys,
)
from composer.regimes.records import (
    Decision,
    OverrideRefused,
    change_override,
    decisions_in_force,
    describe_override,
    incident_overrides,
)
from composer.regimes.rules import Deadline, NoticeRules, applicable, deadlines, notice_rules
from composer.regimes.schema import ELEMENTS, FLAGS, Regime
from composer.regimes.situation import Situation, situation_from_facts

__all__ = [
    "ELEMENTS",
    "FLAGS",
    "REGIMES_FOLDER",
    "Deadline",
    "Decision",
    "NoticeRules",
    "Override",
    "OverrideRefused",
    "Regime",
    "RegimeSet",
    "RuleRef",
    "Situation",
    "applicable",
    "change_override",
    "deadlines",
    "decisions_in_force",
    "describe_override",
    "effective_regimes",
    "find_rule",
    "incident_overrides",
    "load_regimes",
    "notice_rules",
    "rule_keys",
    "situation_from_facts",
]

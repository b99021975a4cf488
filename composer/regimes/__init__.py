"""What each breach-notification law asks, as data (``checklists/regimes/*.yaml``).

- ``load_regimes(directory, catalogue)`` reads and checks the regime files (``DataFileError``
  names file, key and line); the app does it at start-up (``app.extensions["composer.regimes"]``).
- ``situation_from_facts(document)`` gives the ``Situation`` the rules read.
- ``applicable``, ``deadlines`` and ``notice_rules`` are pure functions over both.

No Flask. Sits below notices, lint and approval, which read it; docs/regimes.md explains the files.
"""

from composer.regimes.catalogue import REGIMES_FOLDER, RegimeSet, load_regimes
from composer.regimes.rules import Deadline, NoticeRules, applicable, deadlines, notice_rules
from composer.regimes.schema import ELEMENTS, FLAGS, Regime
from composer.regimes.situation import Situation, situation_from_facts

__all__ = [
    "ELEMENTS",
    "FLAGS",
    "REGIMES_FOLDER",
    "Deadline",
    "NoticeRules",
    "Regime",
    "RegimeSet",
    "Situation",
    "applicable",
    "deadlines",
    "load_regimes",
    "notice_rules",
    "situation_from_facts",
]

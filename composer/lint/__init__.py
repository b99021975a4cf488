"""The notice linter: plain-language rules for breach notices. No Flask.

    from composer.lint import Linter
    result = Linter.load().lint(text, facts=None)
    for finding in result.findings: ...

The contract (categories, finding shape, command line) and configuration are in docs/linter.md;
the rule catalogue is composer/lint/rules/*.yaml.
"""

from composer.lint.engine import LintConfig, Linter
from composer.lint.findings import CATEGORIES, Finding, LintResult

__all__ = ["CATEGORIES", "Finding", "LintConfig", "LintResult", "Linter"]

"""What the linter reports: findings on spans of the text, and document statistics."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

#: Span categories: a finding on the words themselves (LINT.md).
SPAN_CATEGORIES = (
    "hedge",
    "vague-agent",
    "vague-scope",
    "jargon",
    "cliche",
    "agentless-passive",
    "unsupported-claim",
    "blame-shift",
    "threat",
)
#: Document- and sentence-level categories.
DOC_CATEGORIES = ("readability", "structure", "missing-element", "consistency")
CATEGORIES = SPAN_CATEGORIES + DOC_CATEGORIES

Severity = Literal["error", "warning", "suggestion"]
SEVERITY_RANK = {"error": 0, "warning": 1, "suggestion": 2}


@dataclass(frozen=True)
class Finding:
    """One problem. ``start``/``end`` are 0-based, end-exclusive offsets into the linted text."""

    rule: str
    category: str
    severity: Severity
    start: int
    end: int
    text: str
    message: str
    suggestion: str = ""
    explanation: str = ""

    def shifted(self, offset: int) -> Finding:
        return replace(self, start=self.start + offset, end=self.end + offset)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class LintResult:
    findings: list[Finding]
    stats: dict[str, Any] = field(default_factory=dict)
    #: False when checking stopped early (a time budget ran out): the findings then cover
    #: only the first ``checked_chars`` characters, and ``note`` says so in words for the user.
    complete: bool = True
    checked_chars: int | None = None
    note: str = ""

    @property
    def has_errors(self) -> bool:
        return any(f.severity == "error" for f in self.findings)

    def to_json(self) -> dict[str, Any]:
        """The JSON shape of LINT.md; when checking stopped early it also has ``"complete":
        false``, ``checked_chars`` and a ``note``."""
        out: dict[str, Any] = {
            "findings": [f.to_json() for f in self.findings],
            "stats": self.stats,
        }
        if not self.complete:
            out.update(complete=False, checked_chars=self.checked_chars, note=self.note)
        return out

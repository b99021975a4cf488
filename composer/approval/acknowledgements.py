"""The lint warnings an author must give a reason for keeping before a version goes to legal,
and the lint summary a review keeps.

No Flask here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from composer.lint.findings import Finding, LintResult

#: A reason for keeping a lint warning: long enough to say something, short enough to read.
MIN_REASON_CHARS: Final = 3
MAX_REASON_CHARS: Final = 500


@dataclass(frozen=True)
class WarningToAcknowledge:
    """A lint warning the author must give a reason for keeping."""

    key: str
    rule: str
    category: str
    message: str
    excerpt: str
    start: int
    end: int
    part: str


def lint_summary(result: LintResult, subject_findings: Iterable[Finding] = ()) -> dict[str, Any]:
    """Counts (errors, warnings, suggestions) over the body and subject, and the grade."""
    findings = [*result.findings, *subject_findings]
    summary: dict[str, Any] = {
        severity + "s": sum(f.severity == severity for f in findings)
        for severity in ("error", "warning", "suggestion")
    }
    grade = result.stats.get("grade")
    summary["grade"] = grade if isinstance(grade, int | float) else None
    return summary


def warnings_to_acknowledge(
    result: LintResult, subject_findings: Iterable[Finding] = ()
) -> list[WarningToAcknowledge]:
    """Every warning in the body and subject, each with a key that is the same for the same
    finding in the same text (so a form can post reasons back)."""
    items = []
    for part, findings in (("subject", list(subject_findings)), ("body", result.findings)):
        for f in findings:
            if f.severity != "warning":
                continue
            items.append(
                WarningToAcknowledge(
                    key=f"{part}:{f.rule}:{f.start}-{f.end}",
                    rule=f.rule,
                    category=f.category,
                    message=f.message,
                    excerpt=f.text,
                    start=f.start,
                    end=f.end,
                    part=part,
                )
            )
    return items


def checked_reasons(
    warnings: Sequence[WarningToAcknowledge], reasons: Mapping[str, str]
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The acknowledgements a review keeps (each warning with the author's reason, spaces
    tidied) and, by warning key, the problem with each reason too short or too long."""
    acknowledged: list[dict[str, Any]] = []
    problems: dict[str, str] = {}
    for w in warnings:
        reason = " ".join(reasons.get(w.key, "").split())
        if len(reason) < MIN_REASON_CHARS:
            problems[w.key] = "Say in a few words why this warning can stay."
        elif len(reason) > MAX_REASON_CHARS:
            problems[w.key] = (
                f"The reason is {len(reason)} characters long; keep it under {MAX_REASON_CHARS}."
            )
        acknowledged.append(
            {
                "part": w.part,
                "rule": w.rule,
                "category": w.category,
                "message": w.message,
                "excerpt": w.excerpt,
                "start": w.start,
                "end": w.end,
                "reason": reason,
            }
        )
    return acknowledged, problems

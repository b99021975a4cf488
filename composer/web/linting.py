"""Linting notices for the pages: the app's linter run on a notice's text and subject, with a
per-app cache of results and the ``LINT_TIME_BUDGET_SECONDS`` budget, and how findings are
named and grouped on screen. The editor, the review pages and ``POST /api/lint`` all lint here.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from flask import current_app

from composer import incidents
from composer.extensions import current_settings
from composer.models import Incident
from composer.web.common import catalogue, linter, today

if TYPE_CHECKING:
    from composer.lint.findings import Finding, LintResult

#: How each finding category is named on screen (the ids are fixed by LINT.md), in the order the
#: colour key lists them: span categories first, then document-level ones.
CATEGORY_LABELS = {
    "hedge": (
        "Hedging",
        "“may have been”, “potentially”: say what happened or what you don't know",
    ),
    "vague-agent": ("Who is vague", "“a third party”: name who did it or who holds the data"),
    "vague-scope": ("How many or what is vague", "“some customers”: give a number or a list"),
    "jargon": ("Jargon", "“compromised”, “PII”: use the everyday word"),
    "cliche": ("Cliché", "“we take your privacy seriously”: says nothing"),
    "agentless-passive": ("Hidden actor", "“data was accessed”: say who did it"),
    "unsupported-claim": ("Claim you can't back", "“every step”, “will not happen again”"),
    "blame-shift": ("Shifting blame", "“outside of our systems”: own it"),
    "threat": ("Cold or threatening tone", "“failure to … will result in”"),
    "readability": ("Hard to read", "long sentences, high grade level"),
    "structure": ("Structure", "facts first, headings"),
    "missing-element": ("Missing", "something the facts or the law need the notice to say"),
    "consistency": ("Contradicts the facts", "a different number, date or kind of data"),
}
SEVERITIES = (("error", "Errors"), ("warning", "Warnings"), ("suggestion", "Suggestions"))

#: Lint results kept per app (by text, facts and switches), most recently used last.
RESULT_CACHE_SIZE = 256
_RESULTS_LOCK = threading.Lock()


def time_budget() -> float:
    """``LINT_TIME_BUDGET_SECONDS`` as a number of seconds (checked at start-up)."""
    return current_settings().lint_time_budget_seconds


def _results() -> OrderedDict[str, LintResult]:
    found: OrderedDict[str, LintResult] | None = current_app.extensions.get("composer.lint_results")
    if found is None:
        with _RESULTS_LOCK:
            found = current_app.extensions.setdefault("composer.lint_results", OrderedDict())
    return found


def _result_key(text: str, facts: Any, config: Any, budget: float) -> str:
    # Everything the result depends on: the exact text, the facts (which carry the incident's
    # answers and today's date), the team's switches and the budget.
    blob = json.dumps([text, facts, repr(config), budget], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()


def lint_text(text: str, incident: Incident | None) -> LintResult:
    """Lint ``text``; with an incident, also against that incident's facts.

    Stops after ``LINT_TIME_BUDGET_SECONDS`` (the result then says what it covers), and
    remembers results: the same text, facts and switches are never checked twice, so a page
    that shows a saved notice costs its viewers nothing after the first.
    """
    from composer.facts import FactsError

    engine = linter()
    budget = time_budget()
    facts = (
        None if incident is None else incidents.facts_document(catalogue(), incident, today=today())
    )
    key = _result_key(text, facts, engine.config, budget)
    results = _results()
    with _RESULTS_LOCK:
        cached = results.get(key)
        if cached is not None:
            results.move_to_end(key)
            return cached
    try:
        result = engine.lint(text, facts=facts, time_budget=budget)
    except FactsError:
        # Our own facts document should always be valid: a bug, so log it, but the reader
        # still gets every check that does not need the facts.
        assert incident is not None
        current_app.logger.exception("Incident %s: facts document refused by linter", incident.id)
        result = engine.lint(text, time_budget=budget)
    with _RESULTS_LOCK:
        results[key] = result
        while len(results) > RESULT_CACHE_SIZE:
            results.popitem(last=False)
    return result


def lint_subject(subject: str) -> list[Finding]:
    """Findings about the words of a subject line (checked on its own, without the facts:
    document-level checks such as "the notice does not say ..." mean nothing for one line)."""
    if not subject.strip():
        return []
    return [f for f in linter().lint(subject).findings if f.end > f.start]


def grouped(result: LintResult) -> list[tuple[str, str, list[Any]]]:
    """Findings grouped by severity (errors first), each group in text order."""
    return [
        (severity, title, [f for f in result.findings if f.severity == severity])
        for severity, title in SEVERITIES
    ]

"""``Linter.lint(text, time_budget=...)``: checking stops between pieces of work once the budget
has gone, and the result says what it covers."""

from __future__ import annotations

import uuid

from composer.lint.engine import BATCH_CHARS, Linter
from tests.lint.test_factcheck import facts_doc


def fresh(linter: Linter) -> Linter:
    """The same pipeline and rules with empty caches, so the work is really done."""
    return Linter(nlp=linter.nlp, rules=linter.rules)


def notice(paragraphs: int) -> str:
    mark = uuid.uuid4().hex[:8]
    return "\n".join(
        f"Paragraph {i} ({mark}): we told some customers on 3 May." for i in range(paragraphs)
    )


def test_without_a_budget_everything_is_checked(linter: Linter) -> None:
    text = notice(3 * BATCH_CHARS // 50)
    result = fresh(linter).lint(text)
    assert result.complete
    assert result.checked_chars is None
    assert result.note == ""
    assert "complete" not in result.to_json()
    assert sum(f.text == "some customers" for f in result.findings) == text.count("\n") + 1


def test_a_spent_budget_stops_after_the_first_batch_and_says_so(linter: Linter) -> None:
    text = notice(3 * BATCH_CHARS // 50)
    result = fresh(linter).lint(text, time_budget=0)
    assert not result.complete
    assert result.checked_chars is not None
    assert BATCH_CHARS // 2 < result.checked_chars < len(text)
    assert f"the first {result.checked_chars:,} of {len(text):,} characters" in result.note
    assert all(f.end <= result.checked_chars for f in result.findings)
    found = sum(f.text == "some customers" for f in result.findings)
    assert found == text[: result.checked_chars].count("\n") + 1
    assert result.to_json()["complete"] is False


def test_a_generous_budget_changes_nothing(linter: Linter) -> None:
    text = notice(10)
    assert fresh(linter).lint(text, time_budget=60) == fresh(linter).lint(text)


def test_the_facts_check_is_skipped_when_no_time_is_left(linter: Linter) -> None:
    text = notice(2)  # one batch: always checked
    result = fresh(linter).lint(text, facts_doc(), time_budget=0)
    assert not result.complete
    assert result.checked_chars == len(text)
    assert "before the text was checked against the incident's facts" in result.note
    assert not any(f.rule.startswith("facts.") for f in result.findings)
    assert any(f.rule.startswith("facts.") for f in fresh(linter).lint(text, facts_doc()).findings)

"""The facts document's documentation cannot drift from the checklist."""

from __future__ import annotations

from composer import PROJECT_ROOT
from composer.checklist import load_catalogue


def test_every_fact_path_and_option_is_documented() -> None:
    doc = (PROJECT_ROOT / "docs" / "facts.md").read_text()
    cat = load_catalogue(PROJECT_ROOT / "checklists")
    for question in cat.questions.values():
        assert f"| `{question.fact}` | {question.label} | {question.type} |" in doc, question.id
        for option in question.options or []:
            assert f"`{option.id}`" in doc, (question.id, option.id)

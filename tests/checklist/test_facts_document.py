"""What the checklist writes is the facts document the linter and the drafting read.

The checklist's evaluation gives the facts and their status; ``composer.incidents`` adds the schema
id. Whatever the answers (complete, unknown, missing, wrong), ``composer.facts`` accepts it.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from composer.checklist import Evaluation, load_catalogue, raw_from_form
from composer.facts import FACTS_SCHEMA, Facts, parse_facts
from tests.paths import REPO_ROOT
from tests.sample_answers import STEP_FORMS

CAT = load_catalogue(REPO_ROOT / "checklists")
TODAY = date(2026, 11, 23)


def complete_answers() -> dict[str, Any]:
    raw: dict[str, Any] = {}
    for ref in CAT.steps:
        form = STEP_FORMS.get(ref.step.id, {})
        fields = {k: v if isinstance(v, list) else [v] for k, v in form.items()}
        for question in ref.step.questions:
            raw[question.id] = raw_from_form(question, fields)
    return raw


def document(raw: dict[str, Any]) -> dict[str, Any]:
    return {"schema": FACTS_SCHEMA, **Evaluation(CAT, raw, today=TODAY).facts()}


def test_a_complete_checklist_gives_a_facts_document() -> None:
    doc = document(complete_answers())
    assert doc["status"]["complete"], doc["status"]
    parsed = parse_facts(doc)
    assert parsed.facts.what_happened.discovered == date(2026, 11, 5)
    categories = parsed.facts.data.categories or ()
    assert {c.id for c in categories} == {"name", "email", "password-hashed"}
    people = parsed.facts.data.people_affected
    assert people is not None
    assert (people.min, people.max) == (90_000, 100_000)
    assert Facts(doc).text("what_happened.supplier_name") == "Acme Mail Ltd"


@pytest.mark.parametrize(
    "changes",
    [
        {},  # nothing answered: every required fact missing
        {"occurred": {"unknown": True}, "people_affected": {"unknown": True}},
        {"people_affected": {"value": "-1"}, "discovered": {"value": "2020-01-01"}},
    ],
)
def test_unknown_missing_and_wrong_answers_still_give_a_facts_document(
    changes: dict[str, Any],
) -> None:
    raw = complete_answers() if changes else {}
    raw.update(changes)
    doc = document(raw)
    parsed = parse_facts(doc)
    for path in (*parsed.status.unknown, *parsed.status.missing, *parsed.status.invalid):
        assert not Facts(doc).present(path) or Facts(doc).lookup(path)[1] is None, path

"""The facts document (composer/facts/): its check, its typed shape and the lenient reader.

The linter's refusals of bad documents are in tests/lint/test_factcheck.py; the drafting's use of
the reader in tests/rendering/test_draft.py. These need no app and no linter.
"""

from __future__ import annotations

import ast
import copy
import json
from datetime import date
from typing import Any

import pytest

from composer.facts import (
    FACTS_SCHEMA,
    Category,
    Facts,
    FactsError,
    iso_date,
    iso_date_or_none,
    parse_facts,
    seriousness,
)
from tests.paths import REPO_ROOT

FACTS_DIR = REPO_ROOT / "tests" / "rendering" / "facts"


def supplier() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FACTS_DIR / "supplier.json").read_text("utf-8"))
    return data


def test_a_fact_set_parses_to_typed_values() -> None:
    doc = parse_facts(supplier())
    assert doc.schema_id == FACTS_SCHEMA == "composer-facts/1"
    occurred = doc.facts.what_happened.occurred
    assert occurred is not None
    assert (occurred.start, occurred.end) == (date(2026, 11, 1), date(2026, 11, 3))
    assert doc.facts.what_happened.discovered == date(2026, 11, 5)
    categories = doc.facts.data.categories or ()
    assert [c.id for c in categories] == ["name", "email"]
    assert categories[1].short_label == "your email address"
    assert doc.known("data.categories", categories)


def test_a_fact_the_status_explains_is_not_known() -> None:
    document = supplier()
    document["status"]["unknown"] = ["what_happened.discovered"]
    doc = parse_facts(document)
    assert not doc.known("what_happened.discovered", doc.facts.what_happened.discovered)


@pytest.mark.parametrize(
    ("document", "says"),
    [
        ([], "expected a JSON object, got a list"),
        ({"schema": "composer-facts/2", "facts": {}}, 'its "schema" is "composer-facts/2"'),
        (
            {"schema": FACTS_SCHEMA, "facts": {"data": {"people_affected": {"min": 5, "max": 3}}}},
            "facts.data.people_affected: expected 0 <= min <= max, got min 5 and max 3",
        ),
    ],
)
def test_what_is_not_a_facts_document_is_refused_in_json_words(document: Any, says: str) -> None:
    with pytest.raises(FactsError, match=says.replace("(", r"\(")):
        parse_facts(document)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("2026-11-05", date(2026, 11, 5)), ("2026-02-30", None), ("5 Nov 2026", None), (5, None)],
)
def test_dates_are_calendar_dates(value: object, expected: date | None) -> None:
    assert iso_date_or_none(value) == expected
    if expected is None:
        with pytest.raises(ValueError, match=r"YYYY-MM-DD|not a real date"):
            iso_date(value)


def test_the_reader_gives_none_for_unknown_missing_and_wrong_shaped_values() -> None:
    document = supplier()
    document["status"]["unknown"] = ["what_happened.contained"]
    document["status"]["missing"] = ["what_happened.supplier_name"]
    document["facts"]["next_steps"]["offer"] = {"credit_monitoring": True, "months": "six"}
    facts = Facts(document)
    assert facts.day("what_happened.discovered") == date(2026, 11, 5)
    assert facts.day("what_happened.contained") is None
    assert facts.not_known("what_happened.contained")
    assert facts.text("what_happened.supplier_name") is None
    assert not facts.not_known("what_happened.supplier_name")  # a gap for the author
    assert facts.integer("next_steps.offer.months") is None
    assert facts.present("next_steps.offer.months")
    assert facts.flag("next_steps.offer.credit_monitoring") is True
    assert not facts.present("impact.nothing_here")


def test_the_reader_refuses_what_is_not_a_facts_document() -> None:
    with pytest.raises(FactsError):
        Facts({"schema": FACTS_SCHEMA})


def test_categories_come_most_serious_first() -> None:
    document = supplier()
    card = {"id": "card-full-number", "title": "Card number", "label": "your  card number"}
    unknown = {"id": "new-kind", "title": "New", "label": "your new kind", "flags": ["health"]}
    document["facts"]["data"]["categories"] += [copy.deepcopy(unknown), card, card]
    categories = Facts(document).categories() or []
    assert [c.id for c in categories] == ["card-full-number", "name", "email", "new-kind"]
    assert categories[0].label == "your card number"
    assert seriousness(Category(id="x", title="", label="x", flags=("payment-card",))) == (1, 0)


def test_the_facts_package_stands_on_support_alone() -> None:
    # The layering contract for composer.facts is in pyproject.toml once the lead adds it; until
    # then this keeps it below the linter, notices and rendering that read it.
    for path in (REPO_ROOT / "composer" / "facts").glob("*.py"):
        tree = ast.parse(path.read_text("utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                if name.startswith("composer"):
                    assert name.startswith(("composer.facts", "composer.support")), (path, name)
                assert not name.startswith(("flask", "werkzeug")), (path, name)

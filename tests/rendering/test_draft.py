"""The draft generator (composer/notices/drafting.py) over hand-built fact sets.

Every fact set under facts/ must give a draft with the five headings in order, a subject that
says the reader's data was involved, no [SLOT] where the facts give the value, and no linter
error or warning when linted with its facts. Variants of one fact set then walk every actor,
data category, password storage, encryption answer and likelihood through the same lint.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from composer.checklist.catalogue import load_catalogue
from composer.facts import Facts, parse_facts
from composer.lint.engine import Linter
from composer.lint.findings import SPAN_CATEGORIES, Finding
from composer.notices.drafting import (
    HEADINGS,
    Draft,
    DraftError,
    draft_notice,
    parse_markdown,
    plain_advice,
    to_markdown,
)
from tests.paths import REPO_ROOT
from tests.rendering.conftest import FACT_SETS, load_facts

ROOT = REPO_ROOT
CATALOGUE = load_catalogue(ROOT / "checklists")
COMPANY = "Northwind Ltd"

#: A visible slot for the author: "[DATE]", "[SUPPLIER NAME]", "[SAY IF THE KEY IS SAFE.]".
SLOT = re.compile(r"\[[A-Z][A-Z ,.:'-]*\]")
#: Which facts a slot stands for: the slot may appear only when one of them has no value.
#: An empty tuple: no fact gives this (how to sign up for monitoring), so it is always a slot.
SLOT_FACTS: dict[str, tuple[str, ...]] = {
    "[DATE]": (
        "next_steps.next_update",
        "what_happened.occurred",
        "what_happened.discovered",
        "what_happened.contained",
    ),
    "[SUPPLIER NAME]": ("what_happened.supplier_name",),
    "[WHO DID IT]": ("what_happened.actor",),
    "[WHAT HAPPENED, IN PLAIN WORDS]": ("what_happened.description",),
    "[SAY IF THE POLICE ARE INVOLVED.]": ("what_happened.law_enforcement.involved",),
    "[SAY IF THE POLICE ASKED YOU TO WAIT BEFORE TELLING CUSTOMERS.]": (
        "what_happened.law_enforcement.delay_requested",
    ),
    "[WHAT INFORMATION]": ("data.categories",),
    "[SAY HOW HARD IT IS TO UNDO.]": ("data.password_storage",),
    "[SAY IF THE INFORMATION WAS ENCRYPTED.]": ("data.encryption.encrypted",),
    "[SAY IF THE KEY IS SAFE.]": ("data.encryption.key_safe",),
    "[NUMBER]": ("data.people_affected", "next_steps.offer.months"),
    "[WHAT WE HAVE DONE SO FAR]": ("next_steps.actions_taken",),
    "[WHAT CUSTOMERS SHOULD DO]": ("next_steps.customer_actions",),
    "[HOW TO CONTACT US: PHONE, EMAIL, WEB PAGE OR POSTAL ADDRESS]": (
        "next_steps.contact.phone",
        "next_steps.contact.email",
        "next_steps.contact.web",
        "next_steps.contact.postal",
    ),
    "[REFERENCE]": ("next_steps.reference",),
    "[HOW TO SIGN UP, AND BY WHEN]": (),
}
#: Hedges about what happened (lower case: "15 May 2026" is a date).
HEDGES = re.compile(
    r"\b(?:[Mm]ay|[Mm]ight|[Cc]ould|[Pp]ossibly|[Pp]otentially|[Pp]erhaps)\b(?<!May)"
)
MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


def fact(facts: dict[str, Any], path: str) -> Any:
    node: Any = facts["facts"]
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def long_date(iso: str) -> str:
    year, month, day = (int(x) for x in iso.split("-"))
    return f"{day} {MONTHS[month - 1]} {year}"


def report(findings: list[Finding]) -> str:
    return "\n".join(
        f"  {f.severity} {f.rule} [{f.start}:{f.end}] {f.text!r}: {f.message}" for f in findings
    )


def assert_lints_clean(linter: Linter, facts: dict[str, Any], draft: Draft) -> None:
    text = to_markdown(draft)
    result = linter.lint(text, facts=facts)
    # A slot is an error by design; test_no_slot_where_the_facts_give_the_value checks each
    # one stands for a fact the set leaves open.
    bad = [
        f
        for f in result.findings
        if f.severity in ("error", "warning") and not f.rule.startswith("placeholder.")
    ]
    assert not bad, f"linter findings:\n{report(bad)}\n\n{text}"
    assert result.stats["grade"] <= 8, result.stats


def headings(body: str) -> list[str]:
    return [line for line in body.splitlines() if line.startswith("#")]


# =================================================================================================
# The fact sets
# =================================================================================================


def test_there_are_fact_sets_for_each_kind_of_incident() -> None:
    wanted = {"supplier", "insider", "passwords", "card", "unknown", "police_delay", "minimal"}
    assert wanted <= set(FACT_SETS)


@pytest.mark.parametrize("name", FACT_SETS)
def test_fact_set_is_a_facts_document_with_the_taxonomy_categories(name: str) -> None:
    facts = load_facts(name)
    parse_facts(facts)
    for category in fact(facts, "data.categories") or []:
        known = CATALOGUE.categories[category["id"]]
        assert category["label"] == " ".join(known.label.split())
        assert category["advice"] == " ".join(known.advice.split())
        assert category["title"] == known.title
        assert category["flags"] == list(known.flags)


@pytest.mark.parametrize("name", FACT_SETS)
def test_draft_has_the_five_headings_in_order(name: str) -> None:
    body = draft_notice(load_facts(name), company=COMPANY).body
    assert headings(body) == [f"## {h}" for h in HEADINGS]
    assert body.startswith("Dear {{ first_name }},\n\n")
    lead = body.split("\n\n")[1]
    assert not lead.startswith("#")
    assert 1 <= len(re.findall(r"[.!?](?:\s|$)", lead)) <= 2, lead


@pytest.mark.parametrize("name", FACT_SETS)
def test_subject_says_the_readers_data_was_involved(name: str) -> None:
    facts = load_facts(name)
    subject = draft_notice(facts, company=COMPANY).subject
    categories = Facts(facts).categories()
    assert categories
    assert subject.startswith("We lost control of your ") or subject.startswith(
        "We lost control of details about your "
    )
    assert categories[0].short_label in subject  # the most serious one
    assert "\n" not in subject
    assert len(subject) <= 78
    assert "important information" not in subject.lower()


@pytest.mark.parametrize("name", FACT_SETS)
def test_no_slot_where_the_facts_give_the_value(name: str) -> None:
    facts = load_facts(name)
    draft = draft_notice(facts, company=COMPANY)
    for slot in SLOT.findall(draft.subject + "\n" + draft.body):
        assert slot in SLOT_FACTS, f"unexpected slot {slot}"
        paths = SLOT_FACTS[slot]
        assert not paths or any(fact(facts, p) is None for p in paths), (
            f"{slot} in the draft, but the facts give {[fact(facts, p) for p in paths]}"
        )


@pytest.mark.parametrize("name", FACT_SETS)
def test_draft_lints_clean_with_its_facts(linter: Linter, name: str) -> None:
    facts = load_facts(name)
    assert_lints_clean(linter, facts, draft_notice(facts, company=COMPANY))


@pytest.mark.parametrize("name", FACT_SETS)
def test_draft_states_the_facts_it_is_given(name: str) -> None:
    facts = load_facts(name)
    body = draft_notice(facts, company=COMPANY).body
    flat = " ".join(body.split())
    for category in fact(facts, "data.categories"):
        assert category["label"][:1].upper() + category["label"][1:] in body or (
            category["label"] in body
        )
    for path in ("what_happened.description", "next_steps.customer_actions"):
        if fact(facts, path):
            assert " ".join(fact(facts, path).split()) in flat
    for path in ("what_happened.discovered", "what_happened.contained", "next_steps.next_update"):
        if fact(facts, path):
            assert long_date(fact(facts, path)) in body
    occurred = fact(facts, "what_happened.occurred")
    if occurred:
        assert long_date(occurred["end"]) in body
        assert str(int(occurred["start"][-2:])) in body
    people = fact(facts, "data.people_affected")
    if people:
        assert f"{people['min']:,}" in body
        assert f"{people['max']:,}" in body
    for route in ("phone", "email", "web"):
        if fact(facts, f"next_steps.contact.{route}"):
            assert fact(facts, f"next_steps.contact.{route}") in body
    if fact(facts, "next_steps.reference"):
        assert f"quote this reference: {fact(facts, 'next_steps.reference')}." in body
    assert body.rstrip().endswith(COMPANY)


@pytest.mark.parametrize("name", FACT_SETS)
def test_draft_does_not_hedge_or_use_other_merge_fields(name: str) -> None:
    body = draft_notice(load_facts(name), company=COMPANY).body
    assert not HEDGES.search(body), HEDGES.search(body)
    assert re.findall(r"\{\{\s*(\w+)\s*\}\}", body) == ["first_name"]
    assert "{%" not in body
    assert "{#" not in body


# =================================================================================================
# What each fact set shows
# =================================================================================================


def test_supplier_is_named_in_the_lead_and_in_what_happened() -> None:
    draft = draft_notice(load_facts("supplier"), company=COMPANY)
    lead = draft.body.split("\n\n")[1]
    assert lead == (
        "We lost control of your name and your email address between 1 and 3 November 2026. "
        "It happened at our supplier Acme Mail Ltd."
    )
    assert "between 1 and 3 November 2026, at Acme Mail Ltd, a supplier we use." in draft.body
    assert "We stopped Acme Mail Ltd from getting to the information." in draft.body
    assert "In total, between 90,000 and 100,000 people are affected." in draft.body
    assert draft.subject == (
        "We lost control of your name and your email address between 1 and 3 November"
    )


def test_insider_says_someone_who_works_for_us() -> None:
    body = draft_notice(load_facts("insider"), company=COMPANY).body
    assert "Someone who works for us did this." in body
    assert "- Details about your health and care\n" in body
    assert "does not have the key" in body
    assert "You are the only person affected." not in body
    assert "1,250 people" in body


def test_hashed_passwords_are_explained_in_plain_words() -> None:
    body = draft_notice(load_facts("passwords"), company=COMPANY).body
    assert "We stored your password in a scrambled form" in body
    assert "hard to undo, but you should still change it" in body
    assert "bcrypt" not in body.lower()
    assert "hash" not in body.lower()


@pytest.mark.parametrize(
    ("storage", "words"),
    [
        ("argon2", "hard to undo"),
        ("pbkdf2", "hard to undo"),
        ("salted-fast-hash", "quick to undo"),
        ("unsalted-fast-hash", "very quick to undo"),
        ("other", "You should still change it."),
    ],
)
def test_password_storage_wording(storage: str, words: str) -> None:
    facts = load_facts("passwords")
    facts["facts"]["data"]["password_storage"] = storage
    assert words in draft_notice(facts).body


def test_card_data_offers_monitoring_and_leads_with_the_card() -> None:
    draft = draft_notice(load_facts("card"), company=COMPANY)
    assert draft.subject == "We lost control of your card number and 5 other kinds of information"
    assert "free credit monitoring for 24 months" in draft.body
    assert "[HOW TO SIGN UP, AND BY WHEN]" in draft.body
    assert "the key was not safe" in draft.body
    assert "We asked the banks to cancel the cards involved." in draft.body
    # Repeated advice is given once: the expiry date's advice repeats the card number's.
    assert draft.body.count("tell your bank about any payment you did not make") == 1
    assert "**Your card's expiry date.**" not in draft.body


def test_unknown_facts_become_honest_sentences_with_the_next_update() -> None:
    body = draft_notice(load_facts("unknown"), company=COMPANY).body
    for sentence in (
        "We do not yet know who did it or when it happened. We will tell you by 2 December 2026.",
        "We do not yet know if it has stopped. We will tell you by 2 December 2026.",
        "We do not yet know the number of people affected. We will tell you by 2 December 2026.",
        "We do not yet know if this information was locked (encrypted) with a secret key.",
    ):
        assert sentence in body
    assert "[DATE]" not in body
    lead = body.split("\n\n")[1]
    assert "We do not yet know who did this." in lead


def test_law_enforcement_delay_is_stated() -> None:
    body = draft_notice(load_facts("police_delay"), company=COMPANY).body
    assert "They asked us to wait before we told you, so we did." in body
    assert "asked us to wait" not in draft_notice(load_facts("card"), company=COMPANY).body


def test_minimal_facts_leave_visible_slots() -> None:
    body = draft_notice(load_facts("minimal")).body
    assert "We found out on [DATE]." in body
    assert "We will send you an update by [DATE]." in body
    assert "quote this reference: [REFERENCE]." in body
    assert "[WHAT CUSTOMERS SHOULD DO]" in body
    assert "[WHAT WE HAVE DONE SO FAR]" in body
    assert body.rstrip().endswith("[COMPANY]")
    assert "We made a mistake." in body


def test_unknown_next_update_gives_a_date_slot() -> None:
    facts = load_facts("unknown")
    facts["facts"]["next_steps"]["next_update"] = None
    facts["status"]["unknown"].append("next_steps.next_update")
    body = draft_notice(facts).body
    assert "We will tell you by [DATE]." in body
    assert "2 December" not in body


def test_missing_supplier_name_is_a_slot_not_an_unknown() -> None:
    facts = load_facts("supplier")
    facts["facts"]["what_happened"]["supplier_name"] = None
    facts["status"]["missing"].append("what_happened.supplier_name")
    body = draft_notice(facts).body
    assert "It happened at our supplier [SUPPLIER NAME]." in body
    assert "between 1 and 3 November 2026, at [SUPPLIER NAME]." in body
    assert "a supplier we use" not in body


def test_missing_date_is_a_slot_but_an_unknown_one_is_a_sentence() -> None:
    facts = load_facts("supplier")
    facts["facts"]["what_happened"]["occurred"] = None
    facts["status"]["missing"].append("what_happened.occurred")
    assert "It happened on [DATE], at Acme Mail Ltd" in draft_notice(facts).body
    facts["status"]["missing"].remove("what_happened.occurred")
    facts["status"]["unknown"].append("what_happened.occurred")
    body = draft_notice(facts).body
    assert "We do not yet know when it happened. We will tell you by 20 November 2026." in body


# =================================================================================================
# Variants: every actor, category, storage, encryption answer ... lints clean
# =================================================================================================


def _with(name: str, **changes: Any) -> dict[str, Any]:
    facts = copy.deepcopy(load_facts(name))
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        node = facts["facts"]
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return facts


def _category(category_id: str) -> dict[str, Any]:
    c = CATALOGUE.categories[category_id]
    return {
        "id": c.id,
        "title": c.title,
        "label": " ".join(c.label.split()),
        "advice": " ".join(c.advice.split()),
        "flags": list(c.flags),
    }


@pytest.mark.parametrize("category_id", sorted(CATALOGUE.categories))
def test_each_category_alone_lints_clean(linter: Linter, category_id: str) -> None:
    facts = _with("supplier", data__categories=[_category(category_id)])
    draft = draft_notice(facts, company=COMPANY)
    assert_lints_clean(linter, facts, draft)
    assert CATALOGUE.categories[category_id].label.split(",")[0] in draft.body


def test_every_category_at_once_lints_clean(linter: Linter) -> None:
    facts = _with(
        "passwords", data__categories=[_category(c) for c in sorted(CATALOGUE.categories)]
    )
    assert_lints_clean(linter, facts, draft_notice(facts, company=COMPANY))


@pytest.mark.parametrize(
    "actor", ["criminal-outsider", "insider", "supplier", "mistake", "unknown"]
)
def test_each_actor_lints_clean(linter: Linter, actor: str) -> None:
    facts = _with("passwords", what_happened__actor=actor)
    if actor == "supplier":
        facts["facts"]["what_happened"]["supplier_name"] = "Mailbird Systems"
    assert_lints_clean(linter, facts, draft_notice(facts, company=COMPANY))


@pytest.mark.parametrize(
    "storage",
    [
        "argon2",
        "bcrypt",
        "scrypt",
        "pbkdf2",
        "salted-fast-hash",
        "unsalted-fast-hash",
        "other",
        None,
    ],
)
def test_each_password_storage_lints_clean(linter: Linter, storage: str | None) -> None:
    facts = _with("passwords", data__password_storage=storage)
    if storage is None:
        facts["status"]["unknown"].append("data.password_storage")
    assert_lints_clean(linter, facts, draft_notice(facts, company=COMPANY))


@pytest.mark.parametrize(
    ("encrypted", "key_safe"),
    [
        ("all", True),
        ("all", False),
        ("all", None),
        ("some", True),
        ("some", False),
        ("some", None),
        ("none", None),
        (None, None),
    ],
)
def test_each_encryption_answer_lints_clean(
    linter: Linter, encrypted: str | None, key_safe: bool | None
) -> None:
    encryption: dict[str, Any] = {"encrypted": encrypted}
    facts = _with("passwords", data__encryption=encryption)
    if encrypted in ("all", "some"):
        encryption["key_safe"] = key_safe
        if key_safe is None:
            facts["status"]["unknown"].append("data.encryption.key_safe")
    if encrypted is None:
        facts["status"]["unknown"].append("data.encryption.encrypted")
    assert_lints_clean(linter, facts, draft_notice(facts, company=COMPANY))


@pytest.mark.parametrize(
    "likelihood", ["already-happening", "likely", "possible", "unlikely", None]
)
@pytest.mark.parametrize(
    "harms", [["none-expected"], ["distress", "physical-safety", "discrimination", "fraud"]]
)
def test_harms_and_likelihood_lint_clean(
    linter: Linter, harms: list[str], likelihood: str | None
) -> None:
    facts = _with("passwords", impact__harms=harms, impact__likelihood=likelihood)
    assert_lints_clean(linter, facts, draft_notice(facts, company=COMPANY))


@pytest.mark.parametrize(
    "actions",
    [
        ["none-yet"],
        [
            "contained",
            "passwords-reset",
            "cards-cancelled",
            "supplier-stopped",
            "regulator-told",
            "police-told",
            "experts-hired",
        ],
    ],
)
def test_actions_lint_clean(linter: Linter, actions: list[str]) -> None:
    facts = _with("supplier", next_steps__actions_taken=actions)
    assert_lints_clean(linter, facts, draft_notice(facts, company=COMPANY))


@pytest.mark.parametrize(
    ("start", "end", "said"),
    [
        ("2026-11-03", "2026-11-03", "on 3 November 2026"),
        ("2026-10-30", "2026-11-02", "between 30 October and 2 November 2026"),
        ("2025-12-30", "2026-01-02", "between 30 December 2025 and 2 January 2026"),
    ],
)
def test_date_shapes_lint_clean(linter: Linter, start: str, end: str, said: str) -> None:
    facts = _with("supplier", what_happened__occurred={"start": start, "end": end})
    facts["facts"]["what_happened"]["discovered"] = "2026-11-05"
    draft = draft_notice(facts, company=COMPANY)
    assert said in draft.body
    assert_lints_clean(linter, facts, draft)


@pytest.mark.parametrize(
    ("low", "high", "said"),
    [
        (1, 1, "You are the only person affected."),
        (2, 2, "In total, 2 people are affected."),
        (1_000_000, 2_500_000, "In total, between 1,000,000 and 2,500,000 people are affected."),
    ],
)
def test_people_counts_lint_clean(linter: Linter, low: int, high: int, said: str) -> None:
    facts = _with("supplier", data__people_affected={"min": low, "max": high})
    draft = draft_notice(facts, company=COMPANY)
    assert said in draft.body
    assert_lints_clean(linter, facts, draft)


def test_taxonomy_advice_as_the_draft_gives_it_has_no_span_warnings(linter: Linter) -> None:
    """The advice rewrites keep the taxonomy's advice free of hedges and absolute claims; a new
    or changed advice text that the linter flags fails here, naming the category."""
    problems = []
    for category in CATALOGUE.categories.values():
        advice = plain_advice(" ".join(category.advice.split()))
        found = [
            f
            for f in linter.lint(advice).findings
            if f.category in SPAN_CATEGORIES and f.severity != "suggestion"
        ]
        problems += [f"{category.id}: {f.rule} {f.text!r}" for f in found]
    assert not problems, "\n".join(problems)


def test_advice_rewrites_say_the_same_thing_directly() -> None:
    assert plain_advice("Someone could use your name to make a fake email.") == (
        "Someone can use your name to make a fake email."
    )
    assert plain_advice("The last few digits alone cannot be used to pay.") == (
        "Nobody can use the last few digits alone to pay."
    )
    assert plain_advice(
        "If your child has a credit report you did not know about, someone could be using their "
        "details."
    ) == (
        "If your child has a credit report you did not know about, it can mean someone is using "
        "their details."
    )


# =================================================================================================
# Author text, the file format, errors
# =================================================================================================


def test_author_text_cannot_add_headings_or_template_code() -> None:
    facts = load_facts("supplier")
    facts["facts"]["what_happened"]["description"] = (
        "# Not a heading\n## Nor this\nHi {{ first_name }} {% if x %}{# note #}\r\n\r\n\r\nEnd."
    )
    body = draft_notice(facts).body
    assert headings(body) == [f"## {h}" for h in HEADINGS]
    assert re.findall(r"\{\{\s*(\w+)\s*\}\}", body) == ["first_name"]
    assert "{%" not in body
    assert "{#" not in body
    assert "\r" not in body
    assert "\n\n\n" not in body


def test_markdown_round_trip() -> None:
    draft = draft_notice(load_facts("supplier"), company=COMPANY)
    text = to_markdown(draft)
    assert text.startswith(f"Subject: {draft.subject}\n\nDear {{{{ first_name }}}},\n")
    assert parse_markdown(text) == draft


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Subject: Hello\n\nBody\n", Draft("Hello", "Body\n")),
        ("subject:Hello  \r\n\r\n\r\nBody\r\nmore", Draft("Hello", "Body\nmore")),
        ("Dear you,\n\nBody", Draft("", "Dear you,\n\nBody")),
        ("\ufeffSubject: A\n\nB", Draft("A", "B")),
        ("Subject: only", Draft("only", "")),
        ("", Draft("", "")),
    ],
)
def test_parse_markdown(text: str, expected: Draft) -> None:
    assert parse_markdown(text) == expected


@pytest.mark.parametrize(
    ("document", "says"),
    [
        ([], "expected a JSON object"),
        ({}, 'no "schema"'),
        ({"schema": "composer-facts/2", "facts": {}}, "composer-facts/2"),
        ({"schema": "composer-facts/1"}, 'no "facts"'),
        ({"schema": "composer-facts/1", "facts": []}, "must be an object"),
        (
            {"schema": "composer-facts/1", "facts": {"data": {"categories": "email"}}},
            "data.categories",
        ),
    ],
)
def test_not_a_facts_document_is_a_draft_error(document: Any, says: str) -> None:
    with pytest.raises(DraftError, match=re.escape(says)):
        draft_notice(document)


def test_wrong_shaped_values_become_slots_not_crashes() -> None:
    facts = load_facts("supplier")
    facts["facts"]["what_happened"]["actor"] = 7
    facts["facts"]["next_steps"]["reference"] = ["x"]
    facts["facts"]["next_steps"]["offer"] = {"credit_monitoring": True, "months": "two"}
    body = draft_notice(facts).body
    assert "[WHO DID IT]" in body
    assert "[REFERENCE]" in body
    assert "for [NUMBER] months" in body

"""Slots left in a notice ("[DATE]", "[WHO DID IT]") are errors naming the slot, and an error
blocks submission for review (issue 18: version 3 went to legal with its slots in)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask import Flask

from composer import approval
from composer.approval import BundleSettings, SubmitRefused
from composer.extensions import db
from composer.incidents import create_incident
from composer.lint.catalogue import load_rules
from composer.lint.engine import Linter
from composer.lint.findings import Finding
from composer.models import Incident, Role, User
from composer.notices import versions
from composer.notices.draft import to_markdown
from composer.notices.drafting import draft_notice
from tests.conftest import make_user

#: Every slot the drafting writes when the facts say nothing.
EMPTY_FACTS = {"schema": "composer-facts/1", "facts": {}}
CLEAN_BODY = (
    "Dear {{ first_name }},\n\n"
    "On 3 May a criminal copied the email addresses of 20,000 customers from our supplier "
    "Acme Mail Ltd. Read more on [our help page](https://example.com/help).\n"
)


@pytest.fixture(scope="module")
def placeholders(linter: Linter) -> Linter:
    """The session's linter with every rule, the placeholder rules included while they ship
    switched off (placeholder.yaml says why)."""
    return Linter(nlp=linter.nlp, rules=load_rules(include_disabled=True))


def slots(findings: list[Finding]) -> list[str]:
    return [f.text for f in findings if f.rule.startswith("placeholder.")]


def test_every_slot_in_an_empty_draft_is_an_error_naming_it(placeholders: Linter) -> None:
    text = to_markdown(draft_notice(EMPTY_FACTS, company="[COMPANY]"))
    written = re.findall(r"\[[^\[\]\n]+\]", text)
    assert "[WHO DID IT]" in written
    assert "[HOW TO CONTACT US: PHONE, EMAIL, WEB PAGE OR POSTAL ADDRESS]" in written
    found = [f for f in placeholders.lint(text).findings if f.rule == "placeholder.slot"]
    assert [f.text for f in found] == written
    for f in found:
        assert f.severity == "error"
        assert f.category == "missing-element"
        assert f.message.startswith(f"{f.text} is a slot still to fill in")
        assert text[f.start : f.end] == f.text


def test_a_slot_in_capitals_is_not_also_called_shouting(placeholders: Linter) -> None:
    result = placeholders.lint("To sign up, [HOW TO SIGN UP, AND BY WHEN].")
    assert [f.rule for f in result.findings] == ["placeholder.slot"]


@pytest.mark.parametrize(
    "suggestion",
    sorted(
        {
            choice
            for compiled in load_rules(include_disabled=True)
            for choice in compiled.rule.suggestion.split(" / ")
            if "[" in choice
        }
    ),
)
def test_an_applied_suggestion_with_a_slot_is_an_error(
    placeholders: Linter, suggestion: str
) -> None:
    # "Apply suggestion" inserts a choice as it is written.
    assert slots(placeholders.lint(suggestion).findings), suggestion


def test_a_finished_notice_with_footnotes_and_links_has_no_slot(placeholders: Linter) -> None:
    text = CLEAN_BODY + "Fraud losses fell by a third [1]. Call us (9am to 5pm) on 0800 123 4567.\n"
    assert slots(placeholders.lint(text).findings) == []


def test_a_slot_makes_the_result_one_with_errors(placeholders: Linter) -> None:
    result = placeholders.lint("We found out on [DATE].")
    assert result.has_errors
    assert result.stats["errors"] == 1


# Submitting for review -------------------------------------------------------------------------

SETTINGS = BundleSettings(company="Example Ltd", sender="Example Ltd <security@example.com>")


@pytest.fixture
def author(app: Flask) -> Iterator[User]:
    with app.app_context():
        user = db.session.get(User, make_user(app, "ana@example.com", Role.AUTHOR))
        assert user is not None
        yield user


def submit(app: Flask, author: User, linter: Linter, body: str) -> Incident:
    """Save ``body`` as the latest version of a new incident and submit it with its own lint
    results, as the review page does; the incident is returned, also when submitting fails."""
    session = db.session()
    incident = create_incident(
        session, app.extensions["composer.catalogue"], title="Supplier leak", by=author
    )
    session.commit()
    saved = versions.save_version(
        session, incident, subject="We lost control of your email address", body=body, by=author
    )
    session.commit()
    version = saved.version
    assert version is not None
    result = linter.lint(body)
    warnings = approval.warnings_to_acknowledge(result)
    try:
        approval.submit(
            session,
            incident,
            version,
            by=author,
            summary=approval.lint_summary(result),
            warnings=warnings,
            reasons={w.key: "Checked with legal." for w in warnings},
            bundle=approval.build_bundle(version, version.number, version.sha256, SETTINGS),
        )
    except SubmitRefused as refused:
        refused.add_note(str(incident.id))
        raise
    session.commit()
    return incident


def test_a_notice_with_a_slot_left_in_cannot_be_submitted(
    app: Flask, author: User, placeholders: Linter
) -> None:
    body = CLEAN_BODY + "We will write to you again by [DATE].\n"
    with pytest.raises(SubmitRefused, match="found 1 error in this version") as refused:
        submit(app, author, placeholders, body)
    incident = db.session.get(Incident, int(refused.value.__notes__[0]))
    assert incident is not None
    assert approval.open_review(db.session(), incident) is None


def test_the_same_notice_with_the_slot_filled_in_can_be_submitted(
    app: Flask, author: User, placeholders: Linter
) -> None:
    incident = submit(
        app, author, placeholders, CLEAN_BODY + "We will write to you again by 1 June.\n"
    )
    assert approval.open_review(db.session(), incident) is not None

"""Check a notice's text against the incident's facts (the ``composer-facts/1`` document).

What a plain-language editor with the checklist open next to the draft would say:

- ``facts.category-not-named``: a kind of data the facts list is not named in plain words.
- ``facts.date-not-given``: when it happened, or when the company found out, is not in the text.
- ``facts.contact-missing``: no way to contact the company (the facts' phone, email, web page or
  address; or, when the facts give none, any phone number, email address or web address).
- ``facts.steps-missing``: nothing tells the reader what they can do.
- ``facts.facts-not-first``: the first paragraph does not say what happened and to which data.
- ``facts.only-contradicts``: "only names and email addresses" when the facts list more.
- ``facts.nothing-else-contradicts``: "no other information was involved" when the facts list
  data the text has not named.
- ``facts.denial-contradicts``: "no passwords", "card details were not affected" ... when the facts
  list that data.
- ``facts.count-contradicts``: a number of people or records outside the facts' range.
- ``facts.discovered-date-contradicts``: "we found out on <date>" with a date other than the facts'.

A fact that is not known (``null``: unknown, missing or invalid, see ``status``) is never demanded,
and the text may state a value for it. Word lists are in ``factcheck_words.yaml``.
Plain text only: no parse, no Flask.

The package, one file per job: ``words`` (the word lists), ``phrases``, ``dates``, ``sentences``
and ``contacts`` (finding things in text), ``context`` (what every check reads), ``wording``
(how messages name things), then the checks: ``missing``, ``denials``, ``counts``, ``discovery``.
The facts document itself is ``composer.facts``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from composer.facts import Category, parse_facts
from composer.lint.factcheck.context import Context
from composer.lint.factcheck.counts import check_counts
from composer.lint.factcheck.dates import find_dates
from composer.lint.factcheck.denials import check_denials, check_nothing_else, check_only
from composer.lint.factcheck.discovery import check_discovered
from composer.lint.factcheck.missing import (
    check_categories,
    check_contact,
    check_dates,
    check_facts_first,
    check_steps,
)
from composer.lint.factcheck.words import WORDS_PATH, load_words
from composer.lint.findings import Finding

__all__ = [
    "WORDS_PATH",
    "check_against_facts",
    "find_dates",
    "load_words",
]


def check_against_facts(
    text: str, facts: Mapping[str, Any], *, today: date | None = None
) -> list[Finding]:
    """Findings for ``text`` against the facts document ``facts`` (docs/facts.md).

    ``today`` is the date the notice is written (default: today); a day and month without a year
    ("on 5 November") counts as a fact's date in that year. Raises FactsError when ``facts`` is
    not a facts document.
    """
    doc = parse_facts(facts)
    categories: tuple[Category, ...] = ()
    if doc.known("data.categories", doc.facts.data.categories):
        categories = doc.facts.data.categories or ()
    ctx = Context(text, doc, load_words(), today or date.today(), categories)
    check_categories(ctx)
    check_dates(ctx)
    check_contact(ctx)
    check_steps(ctx)
    check_facts_first(ctx)
    denials = check_denials(ctx)
    check_only(ctx)
    check_nothing_else(ctx, denials)
    check_counts(ctx)
    check_discovered(ctx)
    return sorted(ctx.findings, key=lambda f: (f.start, f.end, f.rule))

"""What the checklist knows about an incident: the facts document (``composer-facts/1``).

The checklist writes it (``composer.incidents.facts_document``); the linter, the drafting and the
SMS summary read it. docs/facts.md is its contract.

- ``parse_facts(document)`` checks its shape and gives the typed ``FactsDocument``, or raises
  ``FactsError`` saying what is wrong in JSON words.
- ``Facts(document)`` reads its values leniently by fact path, for writers of notices.

No Flask; nothing here knows about the linter, notices or rendering.
"""

from composer.facts.document import (
    FACTS_SCHEMA,
    Category,
    Contact,
    ContactPoint,
    Count,
    CountryPhone,
    DateRange,
    FactsDocument,
    FactsError,
    iso_date,
    iso_date_or_none,
    parse_facts,
)
from composer.facts.reader import SERIOUSNESS, Facts, seriousness

__all__ = [
    "FACTS_SCHEMA",
    "SERIOUSNESS",
    "Category",
    "Contact",
    "ContactPoint",
    "Count",
    "CountryPhone",
    "DateRange",
    "Facts",
    "FactsDocument",
    "FactsError",
    "iso_date",
    "iso_date_or_none",
    "parse_facts",
    "seriousness",
]

"""What every facts check reads: the text, the facts, the data and dates the text mentions; and
where the findings go."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from composer.facts import Category, FactsDocument
from composer.lint.factcheck.dates import DateMention, find_dates
from composer.lint.factcheck.phrases import (
    Matcher,
    Mention,
    category_matcher,
    class_matchers,
    find_mentions,
    lexicon_matchers,
)
from composer.lint.factcheck.words import TermClass, Words
from composer.lint.findings import Finding, Severity

#: Words that may stand between a list's items and the data they name ("your", "customer").
_SKIP = (
    r"(?:your|the|their|our|any|all|of|some|a|an|customer|customers['\u2019]?|"
    r"customer['\u2019]s|member|members['\u2019]?|member['\u2019]s|user|users['\u2019]?|"
    r"account|personal|sensitive|full|complete|actual|basic|contact|stored|saved|registered)"
)
_SKIP_WORD = re.compile(rf"{_SKIP}\s+", re.IGNORECASE)
CONNECTOR_SKIP = re.compile(
    rf"\s*(?:,\s*(?:and|or|nor)?|and|or|nor|&|as\s+well\s+as|plus)\s+(?:{_SKIP}\s+){{0,3}}",
    re.IGNORECASE,
)
_CONNECTOR = re.compile(
    r"\s*(?:,\s*(?:and|or|nor)?|and|or|nor|&|as\s+well\s+as|plus)\s+", re.IGNORECASE
)


def in_spans(pos: int, spans: Iterable[tuple[int, int]]) -> bool:
    """Whether ``pos`` is inside one of ``spans`` (start inclusive, end exclusive)."""
    return any(s <= pos < e for s, e in spans)


@dataclass
class Context:
    """One text checked against one facts document: what the checks share, and their findings."""

    text: str
    doc: FactsDocument
    words: Words
    today: date
    categories: tuple[Category, ...]
    findings: list[Finding] = field(default_factory=list)
    category_matchers: dict[str, Matcher] = field(init=False)
    classes: dict[str, TermClass] = field(init=False)
    mentions: list[Mention] = field(init=False)
    fact_ids: set[str] = field(init=False)
    dates: list[DateMention] = field(init=False)
    years_in_text: set[int] = field(init=False)

    def __post_init__(self) -> None:
        self.category_matchers = {c.id: category_matcher(c, self.words) for c in self.categories}
        self.classes = {f"class:{c.id}": c for c in self.words.classes}
        known = {m.key: m for m in lexicon_matchers(self.words)}
        known.update(self.category_matchers)
        self.mentions = find_mentions(self.text, [*known.values(), *class_matchers(self.words)])
        self.fact_ids = {c.id for c in self.categories}
        self.dates = find_dates(self.text)
        self.years_in_text = {int(y) for y in re.findall(r"(?<!\d)(?:19|20)\d{2}(?!\d)", self.text)}

    def add(
        self,
        rule: str,
        category: str,
        severity: Severity,
        span: tuple[int, int] | None,
        message: str,
        suggestion: str = "",
        explanation: str = "",
    ) -> None:
        start, end = span or (0, 0)
        self.findings.append(
            Finding(
                rule=rule,
                category=category,
                severity=severity,
                start=start,
                end=end,
                text=self.text[start:end],
                message=message,
                suggestion=suggestion,
                explanation=explanation,
            )
        )

    def covered(self, keys: Iterable[str], *, broad: bool = False) -> set[str]:
        """Fact category ids that these mentioned keys name (classes cover by flags)."""
        out: set[str] = set()
        for key in keys:
            term_class = self.classes.get(key)
            if term_class is None:
                out.add(key)
            elif broad or not term_class.broad:
                out |= {c.id for c in self.categories if term_class.covers(c)}
        return out & self.fact_ids

    def mentions_at(self, pos: int) -> list[Mention]:
        return [m for m in self.mentions if m.start == pos]

    def mentions_after_skip(self, pos: int) -> tuple[list[Mention], int]:
        """Mentions starting at ``pos`` or after up to three words such as "your", "customer"
        ("your personal information": "personal" is skipped only if nothing starts there)."""
        for _ in range(4):
            here = self.mentions_at(pos)
            if here:
                return here, pos
            skip = _SKIP_WORD.match(self.text, pos)
            if skip is None:
                break
            pos = skip.end()
        return [], pos

    def list_at(self, pos: int) -> tuple[list[Mention], int]:
        """The data named in a list starting at ``pos`` ("your names, email addresses and ...")."""
        items: list[Mention] = []
        end = pos
        at = pos
        while True:
            here, at = self.mentions_after_skip(at)
            if not here:
                break
            end = max(m.end for m in here)
            items += here
            for m in self.mentions:  # overlapping words: "payment card details"
                if at < m.start < end:
                    items.append(m)
                    end = max(end, m.end)
            nxt = _CONNECTOR.match(self.text, end)
            if nxt is None:
                break
            at = nxt.end()
        return items, end

    def yearless_ok(self, year: int) -> bool:
        return year == self.today.year or year in self.years_in_text

    def category_named(self, category: Category) -> bool:
        return any(m.key == category.id for m in self.mentions)

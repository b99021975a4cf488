"""The check for a discovery date the facts contradict (``consistency``): "we found out on
<date>" with another date than the facts'."""

from __future__ import annotations

import re
from datetime import date

from composer.lint.factcheck.context import Context
from composer.lint.factcheck.dates import WEEKDAY, DateMention, Day
from composer.lint.factcheck.sentences import sentence_start
from composer.support.formatting import format_date

_DISCOVERY_VERB = (
    r"(?:discovered|found\s+out|learned|learnt|became\s+aware|were\s+made\s+aware|"
    r"was\s+made\s+aware|were\s+alerted|were\s+notified|were\s+told|noticed|detected|identified|"
    r"first\s+saw|reali[sz]ed)"
)
_DISCOVERY_BEFORE_DATE = re.compile(
    rf"(?:\b(?:we|i)|\bour(?:\s+[\w'\u2019]+){{1,2}}|\b(?:breach|incident|attack|intrusion|"
    rf"leak|issue|problem|it|this)\s+(?:was|were))\s+(?:(?:first|only|then|later)\s+)?"
    rf"{_DISCOVERY_VERB}(?P<mid>(?:\s+[\w'\u2019]+){{0,4}}?)\s+(?:on|in)\s+"
    rf"(?:{WEEKDAY})?(?:the\s+)?$",
    re.IGNORECASE,
)
_DISCOVERY_AFTER_DATE = re.compile(
    r"^,?\s+(?:we|i|our\s+(?:[\w'\u2019]+\s+){0,2}?[\w'\u2019]+)\s+(?:first\s+)?"
    r"(?:discovered|found\s+out|learned|learnt|became\s+aware|were\s+made\s+aware|noticed|"
    r"realised|realized|were\s+alerted|were\s+told)\b",
    re.IGNORECASE,
)
_ON_BEFORE_DATE = re.compile(rf"\b(?:on|in)\s+(?:{WEEKDAY})?(?:the\s+)?$", re.IGNORECASE)
_BLOCKED_MID = re.compile(
    r"\b(?:that|which|what|who|when|how|someone|had|has|have|was|were|been|occurred|happened|"
    r"began|started|between|from|since|until)\b",
    re.IGNORECASE,
)


def _is_discovery_date(ctx: Context, mention: DateMention) -> bool:
    text = ctx.text
    sentence = sentence_start(text, mention.start)
    before = text[max(sentence, mention.start - 120) : mention.start]
    hit = _DISCOVERY_BEFORE_DATE.search(before)
    if hit and not _BLOCKED_MID.search(hit.group("mid")):
        return True
    after = text[mention.end : mention.end + 80]
    return bool(_ON_BEFORE_DATE.search(before) and _DISCOVERY_AFTER_DATE.match(after))


def _agrees(mention: DateMention, fact: date) -> bool:
    def matches(day: Day) -> bool:
        if day.month != fact.month or (day.year is not None and day.year != fact.year):
            return False
        return day.day is None or day.day == fact.day

    if mention.kind == "range":
        first, last = mention.days
        year = first.year or fact.year
        try:
            return (
                date(year, first.month, first.day or 1)
                <= fact
                <= date(last.year or year, last.month, last.day or 28)
            )
        except ValueError:
            return False
    return any(matches(d) for d in mention.days)


def check_discovered(ctx: Context) -> None:
    found = ctx.doc.facts.what_happened.discovered
    if found is None or not ctx.doc.known("what_happened.discovered", found):
        return
    for mention in ctx.dates:
        if not _is_discovery_date(ctx, mention) or _agrees(mention, found):
            continue
        ctx.add(
            "facts.discovered-date-contradicts",
            "consistency",
            "error",
            (mention.start, mention.end),
            f"The checklist says you found out on {format_date(found)}.",
            f"[{format_date(found)}]",
            "A date that differs from the incident record will be questioned by readers and "
            "regulators, who compare it with when you told them.",
        )

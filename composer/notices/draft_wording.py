"""The drafting's words: dates, counts and lists as phrases, author text kept as written, and
the category advice made direct (what the linter would flag in it said plainly)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from typing import Final

from composer.support.formatting import format_date, format_number

#: A sentence longer than this (in words) is shortened: the linter flags sentences over 25 words.
MAX_SENTENCE_WORDS: Final = 24


def when_phrase(start: date, end: date) -> str:
    """``on 3 November 2026``, ``between 1 and 3 November 2026``,
    ``between 30 October and 2 November 2026``."""
    if start == end:
        return f"on {format_date(start)}"
    if start.year != end.year:
        return f"between {format_date(start)} and {format_date(end)}"
    if start.month != end.month:
        day_and_month = format_date(start).rsplit(" ", 1)[0]
        return f"between {day_and_month} and {format_date(end)}"
    return f"between {start.day} and {format_date(end)}"


def format_count(low: int, high: int, noun: str = "people") -> str:
    """``1,250 people``, ``between 90,000 and 100,000 people``."""
    if low == high:
        return f"{format_number(low)} {'person' if low == 1 and noun == 'people' else noun}"
    return f"between {format_number(low)} and {format_number(high)} {noun}"


def join(items: Sequence[str], word: str = "and") -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {word} {items[-1]}"


def capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def word_count(text: str) -> int:
    return len(text.split())


def as_written(text: str) -> str:
    """Author text as Markdown that means what they wrote: line breaks normalised, no more than
    one blank line in a row, a "#" that starts a line kept from becoming a heading, and Jinja
    openers ("{{", "{%", "{#") split so the notice template never runs them."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    text = re.sub(r"\n[ \t]*\n\s*", "\n\n", text)
    text = re.sub(r"(?m)^([ \t]*)#", r"\1\\#", text)
    return re.sub(r"\{(?=[{%#])", "{ ", text)


def one_line(text: str) -> str:
    """A fact used inside a sentence: one line, Jinja openers split."""
    return re.sub(r"\{(?=[{%#])", "{ ", " ".join(text.split()))


#: Category advice comes from data_categories.yaml. A few of its phrasings read as hedges or
#: absolute claims to the linter ("Someone could use your name ..."); these say the same thing
#: directly. A rewrite that no longer matches (the taxonomy changed) does nothing.
ADVICE_REWRITES: Final[tuple[tuple[re.Pattern[str], str], ...]] = (
    (re.compile(r"\b([Ss]omeone|[Aa]nyone) could use\b"), r"\1 can use"),
    (re.compile(r",\s+someone could be using\b"), ", it can mean someone is using"),
    (
        re.compile(r"\b[Tt]he ((?:[\w']+ ){1,4}?)alone cannot be used to (\w+)"),
        r"Nobody can use the \1alone to \2",
    ),
)


def plain_advice(advice: str) -> str:
    for pattern, replacement in ADVICE_REWRITES:
        advice = pattern.sub(replacement, advice)
    return advice


#: A sentence ends at ".", "!" or "?" followed by a space and a capital ("annualcreditreport.com"
#: and "e.g. this" do not end one).
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])")


def sentences(text: str) -> list[str]:
    return [s for s in (part.strip() for part in _SENTENCE_BREAK.split(text)) if s]


def sentence_key(sentence: str) -> str:
    return " ".join(re.findall(r"[a-z0-9']+", sentence.lower()))


#: A sentence whose words are nearly all in one the reader has already been given is a repeat
#: ("Check your card statements and tell your bank ..." after "Until then, check your statements
#: and tell your bank ...").
_REPEAT_SHARE = 0.85


def repeats(words: frozenset[str], earlier: frozenset[str]) -> bool:
    return len(words & earlier) >= _REPEAT_SHARE * len(words)

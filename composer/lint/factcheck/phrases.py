"""Finding the words for kinds of data in text: search patterns built from the word lists, and
the mentions they find ("payment card details" holds "payment card" and "card details")."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from composer.facts import Category
from composer.lint.factcheck.words import CategoryWords, Words

HYPHENS = "-\u2010\u2011\u2013"
_SEP = rf"[{HYPHENS}\s]+"


def _word_pattern(word: str, *, plural: bool) -> str:
    out = []
    for ch in word:
        if ch in "-\u2010":
            out.append(f"[{HYPHENS}]?")
        elif ch in "'\u2019":
            out.append("['\u2019]?")
        else:
            out.append(re.escape(ch))
    if plural and word[-1:].isalnum():
        out.append("(?:s|es)?")
    return "".join(out)


def _phrase_pattern(term: str, *, plural: bool = True) -> str:
    words = term.split()
    parts = [_word_pattern(w, plural=plural and i == len(words) - 1) for i, w in enumerate(words)]
    return _SEP.join(parts)


def alternation(terms: Iterable[str], *, plural: bool = True) -> str:
    unique = sorted(set(terms), key=lambda t: (-len(t), t))
    return "|".join(_phrase_pattern(t, plural=plural) for t in unique)


def _bounded(body: str) -> str:
    return rf"(?<![\w@])(?:{body})(?![\w@])"


_DETERMINERS = r"(?:your|the|a|an|our|their|my|his|her|its|this|that)"


@dataclass(frozen=True)
class Matcher:
    """Finds one category's or class's words."""

    key: str
    strong: re.Pattern[str] | None
    weak: re.Pattern[str] | None = None
    not_after: re.Pattern[str] | None = None
    not_before: re.Pattern[str] | None = None

    def spans(self, text: str) -> list[tuple[int, int]]:
        found: list[tuple[int, int]] = []
        if self.strong is not None:
            found += [m.span() for m in _overlapping(self.strong, text)]
        if self.weak is not None:
            for m in _overlapping(self.weak, text):
                before = text[max(0, m.start() - 60) : m.start()]
                if self.not_after is not None and self.not_after.search(before):
                    continue
                after = text[m.end() : m.end() + 60]
                if self.not_before is not None and self.not_before.match(after):
                    continue
                found.append(m.span())
        return sorted(set(found))


def _overlapping(pattern: re.Pattern[str], text: str) -> list[re.Match[str]]:
    """Every match, including those that start inside an earlier one ("payment card details"
    holds "payment card" and "card details")."""
    out = []
    pos = 0
    while (m := pattern.search(text, pos)) is not None:
        out.append(m)
        pos = m.start() + 1
    return out


def _compile(body: str) -> re.Pattern[str] | None:
    return re.compile(_bounded(body), re.IGNORECASE) if body else None


@cache
def _matcher(key: str, terms: tuple[str, ...], entry: CategoryWords | None) -> Matcher:
    weak = entry.weak if entry else ()
    strong = tuple(t for t in terms if t not in weak)
    if entry is None or not entry.weak:
        return Matcher(key, _compile(alternation(strong)))
    not_after = not_before = None
    if entry.not_after:
        not_after = re.compile(
            rf"(?<![\w@])(?:{alternation(entry.not_after, plural=False)})"
            rf"(?:\s+{_DETERMINERS})?\s+$",
            re.IGNORECASE,
        )
    if entry.not_before:
        not_before = re.compile(
            rf"{_SEP}(?:{alternation(entry.not_before, plural=False)})(?![\w@])", re.IGNORECASE
        )
    return Matcher(
        key,
        _compile(alternation(strong)),
        _compile(alternation(weak)),
        not_after,
        not_before,
    )


def _own_terms(title: str, label: str) -> tuple[str, ...]:
    """The category's title and label as search phrases ("Social Security number (US)" ->
    "social security number"; "your password, stored in a scrambled form" -> "password")."""
    out = []
    for phrase in (title, label.split(",")[0]):
        phrase = re.sub(r"\([^)]*\)", " ", phrase.lower())
        phrase = re.sub(r"^\s*(?:your|the|a|an)\s+", "", phrase)
        phrase = " ".join(phrase.split())
        if len(phrase) >= 3:
            out.append(phrase)
    return tuple(out)


def category_matcher(category: Category, words: Words) -> Matcher:
    entry = words.categories.get(category.id)
    terms = _own_terms(category.title, category.label)
    if entry is not None:
        terms = tuple(t for t in terms if t not in entry.weak) + entry.terms + entry.weak
    return _matcher(category.id, terms, entry)


def lexicon_matchers(words: Words) -> tuple[Matcher, ...]:
    return tuple(
        _matcher(cid, entry.terms + entry.weak, entry) for cid, entry in words.categories.items()
    )


def class_matchers(words: Words) -> tuple[Matcher, ...]:
    return tuple(_matcher(f"class:{c.id}", c.terms, None) for c in words.classes)


@dataclass(frozen=True)
class Mention:
    key: str  # a category id, or "class:<id>"
    start: int
    end: int


def find_mentions(text: str, matchers: Iterable[Matcher]) -> list[Mention]:
    out = {Mention(m.key, s, e) for m in matchers for s, e in m.spans(text)}
    return sorted(out, key=lambda m: (m.start, -m.end, m.key))


@cache
def phrase_regex(terms: tuple[str, ...], *, plural: bool = False) -> re.Pattern[str]:
    return re.compile(_bounded(alternation(terms, plural=plural)), re.IGNORECASE)

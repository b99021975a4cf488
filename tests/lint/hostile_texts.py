"""Texts built to make a linter slow: runs of one character, words with no spaces, brackets,
one endless sentence, repeated hits. Shared by the linear-time tests and
benchmarks/lint_hostile_bench.py. Each generator takes a length and returns exactly that many
characters.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable

Generator = Callable[[int], str]


def repeat(unit: str) -> Generator:
    """``unit`` over and over, cut to the length asked for."""

    def make(n: int) -> str:
        return (unit * (n // len(unit) + 1))[:n]

    return make


def _nested(n: int) -> str:
    return "(" * (n // 2) + ")" * (n - n // 2)


def _mixed(n: int) -> str:
    rng = random.Random(15)  # fixed: the same text on every run
    alphabet = string.ascii_letters + string.punctuation + string.digits + "   \n"
    return "".join(rng.choice(alphabet) for _ in range(n))


def _word_then_spaces(n: int) -> str:
    return "some" + " " * (n - 4)


#: One text of each ASCII punctuation mark, a run of it with nothing else.
PUNCTUATION_RUNS: dict[str, Generator] = {
    f"run of {mark}": repeat(mark) for mark in string.punctuation
}

#: Other shapes: long words, no spaces, brackets, one sentence, repeated hits, odd whitespace.
SHAPES: dict[str, Generator] = {
    "one long word": repeat("a"),
    "1,000-letter words": repeat("x" * 999 + " "),
    "capital letters": repeat("A"),
    "digits": repeat("7"),
    "no spaces": repeat("the.data,was;taken-by(a)third/party"),
    "one-letter words": repeat("a "),
    "one-letter lines": repeat("a\n"),
    "spaces": repeat(" "),
    "blank lines": repeat("\n"),
    "crlf lines": repeat("\r\n"),
    "tabs and spaces": repeat("\t "),
    "a word then spaces": _word_then_spaces,
    "nested brackets": _nested,
    "nested brackets, spaced": repeat("( [ { < "),
    "mixed brackets": repeat("([{<>}])"),
    "one huge sentence": repeat(
        "the data was taken and some customers may have been affected, and "
    ),
    "repeated hits": repeat("Your data may have been compromised by a third party. "),
    "repeated facts": repeat("No names, email addresses or passwords were accessed; "),
    "inline ignores": repeat("{# lint-ignore #} some customers "),
    "open ignore markers": repeat("{# lint-ignore: hedge "),
    "email-like": repeat("a@b."),
    "dotted words": repeat("a.b"),
    "web addresses": repeat("www.a"),
    "dates": repeat("1 November 2026 - "),
    "phone-like": repeat("1-2 "),
    "curly quotes": repeat("\u201c\u2019"),
    "mixed": _mixed,
}

HOSTILE: dict[str, Generator] = {**PUNCTUATION_RUNS, **SHAPES}

"""The linter takes time in proportion to the text's length, whatever the text holds.

Quadratic work shows as a 16-fold time for a 4-fold text. Each check times the work at n and
at 4n characters on the hostile texts of ``hostile_texts.py`` and fails when the ratio is over
8 (linear work gives about 4). Times under a floor are not compared: below it noise dominates,
and work that small at 4n stays harmless at the 50,000-character limit even if quadratic. A
suspicious ratio is measured again (best of several runs) before it fails, so a busy machine
does not make these flaky. Absolute times are for benchmarks/lint_hostile_bench.py.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from datetime import date

import pytest

from composer.lint import engine, nlp, readability
from composer.lint.catalogue import load_rules
from composer.lint.engine import Linter
from composer.lint.factcheck import check_against_facts
from composer.lint.nlp import MAX_PARSED_RUN, PARSE_PIECE_CHARS, parse_pieces, parse_view
from tests.lint.hostile_texts import HOSTILE, PUNCTUATION_RUNS
from tests.lint.test_factcheck import facts_doc

#: Largest allowed time(4n) / time(n); linear work gives about 4, quadratic about 16.
MAX_RATIO = 8.0


def _seconds(work: Callable[[], object], runs: int = 1) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best


def _grows_too_fast(
    work: Callable[[str], object], make: Callable[[int], str], n: int, floor: float
) -> str | None:
    """A description of the growth when ``work`` on 4n characters takes over MAX_RATIO times as
    long as on n (and more than ``floor`` seconds), else None."""
    small, large = make(n), make(4 * n)
    for runs in (1, 3):
        t_small = _seconds(lambda: work(small), runs)
        t_large = _seconds(lambda: work(large), runs)
        if t_large < floor or t_large < MAX_RATIO * t_small:
            return None
    return f"{t_small * 1000:.2f} ms at {n:,} chars, {t_large * 1000:.2f} ms at {4 * n:,}"


def _scanning_patterns() -> Iterator[tuple[str, re.Pattern[str]]]:
    """Every pattern the linter runs over whole paragraphs, sentences or texts."""
    for compiled in load_rules():
        for kind in ("patterns", "unless", "if_sentence", "unless_sentence", "unless_document",
                     "unless_before"):  # fmt: skip
            for i, pattern in enumerate(getattr(compiled, kind)):
                yield f"{compiled.rule.id} {kind}[{i}]", pattern
    for module in (engine, nlp, readability):
        for name, value in vars(module).items():
            if isinstance(value, re.Pattern):
                yield f"{module.__name__}.{name}", value


PATTERNS = dict(_scanning_patterns())


def _scan(pattern: re.Pattern[str]) -> Callable[[str], object]:
    return lambda text: list(pattern.finditer(text))


def test_every_rule_pattern_is_linear_on_hostile_text() -> None:
    slow = []
    for name, pattern in PATTERNS.items():
        scan = _scan(pattern)
        for text_name, make in HOSTILE.items():
            growth = _grows_too_fast(scan, make, 1000, floor=0.002)
            if growth:
                slow.append(f"{name} on {text_name}: {growth}")
    assert not slow, "quadratic patterns:\n" + "\n".join(slow)


def test_the_pattern_check_catches_a_quadratic_pattern() -> None:
    # The check above must be able to fail: the email pattern this module used to have.
    quadratic = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
    growth = _grows_too_fast(
        lambda text: list(quadratic.finditer(text)), HOSTILE["one long word"], 1000, floor=0.002
    )
    assert growth is not None


NO_CONTACT: dict[str, str | None] = {"phone": None, "email": None, "web": None, "postal": None}


def test_checking_against_the_facts_is_linear_on_hostile_text() -> None:
    facts = facts_doc(contact=NO_CONTACT)  # so the text is searched for any contact route
    slow = []
    for text_name, make in HOSTILE.items():
        growth = _grows_too_fast(
            lambda text: check_against_facts(text, facts, today=date(2026, 11, 20)),
            make,
            600,
            floor=0.01,
        )
        if growth:
            slow.append(f"{text_name}: {growth}")
    assert not slow, "the facts check is quadratic on:\n" + "\n".join(slow)


LINT_TEXTS = [
    *(f"run of {mark}" for mark in "*,."),
    "one-letter words",
    "one-letter lines",
    "one huge sentence",
    "repeated hits",
    "inline ignores",
    "mixed",
]


@pytest.mark.parametrize("text_name", LINT_TEXTS)
def test_linting_is_linear_on_hostile_text(text_name: str) -> None:
    loaded = Linter.load()
    make = HOSTILE[text_name]

    def lint(text: str) -> object:
        # A fresh linter each time: the caches would otherwise hide the work.
        return Linter(nlp=loaded.nlp, rules=loaded.rules).lint(text)

    growth = _grows_too_fast(lint, make, 1500, floor=0.05)
    assert growth is None, f"{text_name}: {growth}"


@pytest.mark.parametrize("text_name", sorted(HOSTILE))
def test_spacy_is_never_given_a_long_run_without_spaces(text_name: str) -> None:
    # spaCy's tokenizer takes time growing with the square of such a run's length.
    text = HOSTILE[text_name](20_000)
    view = parse_view(text)
    assert len(view) == len(text)
    assert max(map(len, view.split()), default=0) <= MAX_PARSED_RUN
    for offset, piece in parse_pieces(view):
        assert len(piece) <= PARSE_PIECE_CHARS
        assert view[offset : offset + len(piece)] == piece


def test_prose_is_parsed_as_it_is() -> None:
    prose = (
        "On 3 May a criminal copied the names of 1,200 customers from https://example.com/help "
        "-- see our page -- and we're sorry (really)... Call 0800 123 4567."
    )
    assert parse_view(prose) == prose
    assert parse_pieces(prose) == [(0, prose)]


@pytest.mark.parametrize("mark", sorted(PUNCTUATION_RUNS))
def test_a_run_of_punctuation_is_checked_without_error(linter: Linter, mark: str) -> None:
    text = "Some customers were affected. " + PUNCTUATION_RUNS[mark](3000) + " Some customers."
    result = linter.lint(text)
    assert [f.text for f in result.findings if f.category == "vague-scope"] == [
        "Some customers",
        "Some customers",
    ]

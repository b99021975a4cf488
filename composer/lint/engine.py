"""The linter: rules and parse checks per paragraph (cached), then document-level checks.

Offsets in every finding index the exact text given to ``Linter.lint``.
"""

from __future__ import annotations

import re
import threading
import time
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from spacy.language import Language
from spacy.tokens import Doc

from composer.lint.catalogue import CompiledRule, load_rules
from composer.lint.findings import SPAN_CATEGORIES, Finding, LintResult
from composer.lint.nlp import ParagraphCache, load_pipeline, parse_pieces, split_paragraphs
from composer.lint.readability import readability_findings
from composer.lint.syntax import CHECKS, proper_names

#: When findings overlap, the category an editor would fix first wins (GUIDELINES.md rule 1).
PRIORITY = (
    "threat",
    "blame-shift",
    "cliche",
    "unsupported-claim",
    "hedge",
    "vague-agent",
    "vague-scope",
    "agentless-passive",
    "jargon",
)
#: Inline ignore, a Jinja comment so the renderer drops it: {# lint-ignore #} or
#: {# lint-ignore: hedge, jargon.compromised #}. It covers the paragraph it is in.
IGNORE_MARKER = re.compile(r"\{#\s*lint-ignore(?:\s*:\s*(?P<what>[^#]*?))?\s*#\}")
#: Straight and curly quotes are the same to the rules; replacing keeps every offset.
_SAME_LENGTH = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"'})
#: A line ending in one of these ends its sentence, so the next line is a new paragraph.
_SENTENCE_END_CHARS = frozenset(".!?:;\"')]")
#: Paragraphs parsed by one call into spaCy, at most: the time budget is checked between calls.
BATCH_CHARS = 4000


@dataclass(frozen=True)
class LintConfig:
    """What a team has switched off. Ids are rule ids or whole categories."""

    disabled: frozenset[str] = frozenset()
    #: Phrases never flagged, case-insensitive (a product name that looks like jargon).
    exceptions: tuple[str, ...] = ()
    target_grade: float = 8.0


@dataclass
class _ParagraphResult:
    findings: list[Finding]
    sentences: list[tuple[int, int]]
    #: Proper names in the paragraph (for readability: a name the reader knows is not hard).
    names: frozenset[str]


@dataclass
class Linter:
    """Loaded once per process and shared: holds the pipeline, the rules and the caches."""

    nlp: Language
    rules: tuple[CompiledRule, ...]
    config: LintConfig = field(default_factory=LintConfig)
    cache_size: int = 2048

    def __post_init__(self) -> None:
        self.parses = ParagraphCache(self.nlp, maxsize=self.cache_size)
        self._results: OrderedDict[str, _ParagraphResult] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def load(cls, model: str | None = None, config: LintConfig | None = None) -> Linter:
        return cls(nlp=load_pipeline(model), rules=load_rules(), config=config or LintConfig())

    def with_config(self, config: LintConfig) -> Linter:
        """The same loaded linter (pipeline, rules, caches) with other switches."""
        clone = Linter.__new__(Linter)
        clone.__dict__.update(self.__dict__)
        clone.config = config
        return clone

    # -----------------------------------------------------------------------------------

    def lint(
        self,
        text: str,
        facts: Mapping[str, Any] | None = None,
        *,
        time_budget: float | None = None,
    ) -> LintResult:
        """Findings for ``text`` (and, with ``facts``, its agreement with the incident's facts).

        Takes time in proportion to the length of ``text``, whatever it holds. With
        ``time_budget`` (seconds), checking stops once that much time has gone, between
        paragraphs (or pieces of a long one): the result then has ``complete`` False, findings
        for the text up to ``checked_chars`` only, no check against the facts, and a ``note``
        saying so. At least one paragraph is always checked.
        """
        deadline = None if time_budget is None else time.monotonic() + time_budget
        ignores = _ignores(text)
        clean = IGNORE_MARKER.sub(lambda m: " " * len(m.group()), text)
        blocks = paragraphs(clean)
        # Long paragraphs are checked in pieces, so that no one step of the work is long.
        units = [
            (offset + piece_offset, piece)
            for offset, paragraph in blocks
            for piece_offset, piece in parse_pieces(paragraph)
        ]
        results = self._paragraph_results([p for _, p in units], deadline)
        complete = len(results) == len(units)
        findings: list[Finding] = []
        sentences: list[tuple[int, int]] = []
        names: set[str] = set()
        for (offset, _), result in zip(units, results, strict=False):
            findings.extend(f.shifted(offset) for f in result.findings)
            sentences.extend((offset + s, offset + e) for s, e in result.sentences)
            names |= result.names
        checked = clean
        if not complete:
            last_offset, last_unit = units[len(results) - 1] if results else (0, "")
            checked = clean[: last_offset + len(last_unit)]
        doc_findings, stats = readability_findings(
            checked, sentences, target_grade=self.config.target_grade, names=frozenset(names)
        )
        findings.extend(doc_findings)
        # The facts check reads the whole text: it runs only when there is time left for it.
        facts_checked = facts is not None and complete
        if facts_checked and deadline is not None and time.monotonic() > deadline:
            complete = facts_checked = False
        if facts is not None and facts_checked:
            from composer.lint.factcheck import check_against_facts

            findings.extend(check_against_facts(clean, facts))
        findings = _document_context(findings, clean, self.rules)
        findings = self._switches(findings, clean, ignores, blocks)
        findings = merge_overlaps(findings)
        stats["errors"] = sum(f.severity == "error" for f in findings)
        stats["warnings"] = sum(f.severity == "warning" for f in findings)
        stats["suggestions"] = sum(f.severity == "suggestion" for f in findings)
        if complete:
            return LintResult(findings=findings, stats=stats)
        return LintResult(
            findings=findings,
            stats=stats,
            complete=False,
            checked_chars=len(checked),
            note=_stopped_note(len(checked), len(text), time_budget, facts is not None),
        )

    def _paragraph_results(
        self, texts: list[str], deadline: float | None = None
    ) -> list[_ParagraphResult]:
        """Results for ``texts`` in order; past ``deadline`` (``time.monotonic()``), only for
        the first ones, those done by then (at least one batch is always done)."""
        with self._lock:
            cached = {t: self._results[t] for t in texts if t in self._results}
            for t in cached:
                self._results.move_to_end(t)
        todo = [t for t in dict.fromkeys(texts) if t not in cached]
        batches: list[list[str]] = []
        size = BATCH_CHARS
        for t in todo:
            if size + len(t) > BATCH_CHARS:
                batches.append([])
                size = 0
            batches[-1].append(t)
            size += len(t)
        for number, batch in enumerate(batches):
            if deadline is not None and number and time.monotonic() > deadline:
                break
            docs = self.parses.parse_many(batch)
            fresh = {t: self._analyse(t, d) for t, d in zip(batch, docs, strict=True)}
            with self._lock:
                self._results.update(fresh)
                while len(self._results) > self.cache_size:
                    self._results.popitem(last=False)
            cached.update(fresh)
        out = []
        for t in texts:
            if t not in cached:
                break
            out.append(cached[t])
        return out

    def _analyse(self, text: str, doc: Doc) -> _ParagraphResult:
        """All span findings for one paragraph, with offsets relative to it."""
        matchable = text.translate(_SAME_LENGTH)
        sentences = [(s.start_char, s.end_char) for s in doc.sents]
        context = _SentenceContext(matchable, sentences)
        found: list[Finding] = []
        for compiled in self.rules:
            rule = compiled.rule
            spans: list[tuple[int, int]] = []
            for pattern in compiled.patterns:
                for match in pattern.finditer(matchable):
                    start, end = (
                        match.span("span") if "span" in pattern.groupindex else match.span()
                    )
                    spans.append(_trim(matchable, start, end))
            if rule.check is not None:
                spans.extend(CHECKS[rule.check](doc))
            for start, end in spans:
                if end <= start or context.excepted(compiled, start, end):
                    continue
                found.append(
                    Finding(
                        rule=rule.id,
                        category=rule.category,
                        severity=rule.severity,
                        start=start,
                        end=end,
                        text=text[start:end],
                        message=rule.message.replace("{text}", text[start:end]),
                        suggestion=rule.suggestion,
                        explanation=rule.explanation,
                    )
                )
        return _ParagraphResult(findings=found, sentences=sentences, names=proper_names(doc))

    def _switches(
        self,
        findings: list[Finding],
        text: str,
        ignores: list[tuple[int, frozenset[str]]],
        blocks: list[tuple[int, str]],
    ) -> list[Finding]:
        disabled = self.config.disabled
        lowered = text.lower()
        excepted: list[tuple[int, int]] = []
        for phrase in self.config.exceptions:
            needle = phrase.lower().strip()
            start = lowered.find(needle) if needle else -1
            while start >= 0:
                excepted.append((start, start + len(needle)))
                start = lowered.find(needle, start + 1)
        # Sorted by start, with the furthest end so far: one bisection answers "is this
        # finding inside an exception?".
        excepted.sort()
        excepted_starts = [s for s, _ in excepted]
        furthest: list[int] = []
        for _, e in excepted:
            furthest.append(max(e, furthest[-1]) if furthest else e)
        # What each ignore marker silences, by the paragraph it is in; None: everything.
        offsets = [offset for offset, _ in blocks]
        ignored: dict[int, set[str] | None] = {}
        for position, what in ignores:
            i = bisect_right(offsets, position) - 1
            for j in (i - 1, i):
                if j < 0:
                    continue
                offset, paragraph = blocks[j]
                if offset <= position <= offset + len(paragraph) + 1:
                    names = ignored.get(j, set())
                    ignored[j] = None if names is None or not what else names | what
        kept = []
        for f in findings:
            if f.rule in disabled or f.category in disabled:
                continue
            if f.end > f.start:
                k = bisect_right(excepted_starts, f.start) - 1
                if k >= 0 and furthest[k] >= f.end:
                    continue
            if ignored:
                j = bisect_right(offsets, f.start) - 1
                if j >= 0 and j in ignored and f.start < offsets[j] + len(blocks[j][1]):
                    names = ignored[j]
                    if names is None or f.rule in names or f.category in names:
                        continue
            kept.append(f)
        return kept


def paragraphs(text: str) -> list[tuple[int, str]]:
    """Lines of ``text``, re-joined where a sentence was hard-wrapped across lines."""
    spans: list[list[int]] = []
    for offset, line in split_paragraphs(text):
        # Lines are stripped, so the previous one's last character says if it ended a sentence.
        if spans and text[spans[-1][1] - 1] not in _SENTENCE_END_CHARS and line[:1].islower():
            spans[-1][1] = offset + len(line)
            continue
        spans.append([offset, offset + len(line)])
    return [(start, text[start:end]) for start, end in spans]


def _stopped_note(checked: int, total: int, budget: float | None, with_facts: bool) -> str:
    if checked >= total:
        return (
            f"Checking stopped after {budget:g} seconds, before the text was checked against "
            "the incident's facts: the findings below are for the words only. Check again, or "
            "shorten the notice."
        )
    facts = " and against the incident's facts" if with_facts else ""
    return (
        f"Checking stopped after {budget:g} seconds: the findings cover the first "
        f"{checked:,} of {total:,} characters. The rest of the text{facts} was not checked. "
        "Long runs of symbols or of one-letter words are slow to check: remove them, or "
        "check the notice in parts."
    )


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start] in " \t\n,;:":
        start += 1
    while end > start and text[end - 1] in " \t\n,;:":
        end -= 1
    return start, end


class _SentenceContext:
    """A rule's own context conditions for a paragraph's hits, each searched for at most once
    per sentence (a paragraph of one long sentence full of hits would otherwise be searched
    once per hit)."""

    def __init__(self, text: str, sentences: list[tuple[int, int]]) -> None:
        self.text = text
        self.sentences = sentences
        self.starts = [s for s, _ in sentences]
        self._spans: dict[tuple[int, int, int], tuple[list[int], list[int]]] = {}
        self._found: dict[tuple[int, int, int], bool] = {}

    def excepted(self, compiled: CompiledRule, start: int, end: int) -> bool:
        """Whether the rule's own context conditions drop a hit (paragraph-level ones)."""
        s_start, s_end = 0, len(self.text)
        i = bisect_right(self.starts, start) - 1
        if i >= 0 and start < self.sentences[i][1]:
            s_start, s_end = self.sentences[i]
        s_end = max(s_end, end)
        for pattern in compiled.unless:
            starts, ends = self._matches(pattern, s_start, s_end)
            # Matches do not overlap, so the last one starting before the hit ends the latest.
            k = bisect_right(starts, end - 1) - 1
            if k >= 0 and start < ends[k]:
                return True
        if compiled.if_sentence and not any(
            self._search(p, s_start, s_end) for p in compiled.if_sentence
        ):
            return True
        return any(self._search(p, s_start, s_end) for p in compiled.unless_sentence)

    def _matches(
        self, pattern: re.Pattern[str], start: int, end: int
    ) -> tuple[list[int], list[int]]:
        key = (id(pattern), start, end)
        found = self._spans.get(key)
        if found is None:
            matches = list(pattern.finditer(self.text, start, end))
            found = ([m.start() for m in matches], [m.end() for m in matches])
            self._spans[key] = found
        return found

    def _search(self, pattern: re.Pattern[str], start: int, end: int) -> bool:
        key = (id(pattern), start, end)
        found = self._found.get(key)
        if found is None:
            found = self._found[key] = pattern.search(self.text, start, end) is not None
        return found


def _document_context(
    findings: list[Finding], text: str, rules: tuple[CompiledRule, ...]
) -> list[Finding]:
    """Drop hits whose rule says the rest of the document makes them fine."""
    by_id = {c.rule.id: c for c in rules if c.unless_document or c.unless_before}
    if not by_id:
        return findings
    matchable = text.translate(_SAME_LENGTH)
    # Each pattern is searched a bounded number of times, not once per finding.
    anywhere: dict[str, bool] = {}
    starts = sorted({f.start for f in findings if f.rule in by_id})
    earliest: dict[re.Pattern[str], int | None] = {}
    kept = []
    for f in findings:
        compiled = by_id.get(f.rule)
        if compiled is not None:
            if f.rule not in anywhere:
                anywhere[f.rule] = any(p.search(matchable) for p in compiled.unless_document)
            if anywhere[f.rule]:
                continue
            before = False
            for p in compiled.unless_before:
                if p not in earliest:
                    earliest[p] = _first_start_after_match(p, matchable, starts)
                first = earliest[p]
                if first is not None and first <= f.start:
                    before = True
                    break
            if before:
                continue
        kept.append(f)
    return kept


def _first_start_after_match(pattern: re.Pattern[str], text: str, starts: list[int]) -> int | None:
    """The least of ``starts`` (sorted) such that ``pattern`` matches in ``text[:start]``, found
    by bisection: a text that matches goes on matching when it is longer."""
    low, high = 0, len(starts)
    while low < high:
        middle = (low + high) // 2
        if pattern.search(text, 0, starts[middle]):
            high = middle
        else:
            low = middle + 1
    return starts[low] if low < len(starts) else None


def _ignores(text: str) -> list[tuple[int, frozenset[str]]]:
    out = []
    for match in IGNORE_MARKER.finditer(text):
        what = match.group("what") or ""
        out.append((match.start(), frozenset(w.strip() for w in what.split(",") if w.strip())))
    return out


def merge_overlaps(findings: Iterable[Finding]) -> list[Finding]:
    """One finding per stretch of words: nested or mostly-overlapping span findings merge,
    keeping the most useful category; document-level findings are kept as they are."""
    spans = sorted(
        (f for f in findings if f.category in SPAN_CATEGORIES),
        key=lambda f: (f.start, -(f.end - f.start)),
    )
    others = [f for f in findings if f.category not in SPAN_CATEGORIES]
    merged: list[Finding] = []
    # Findings come in order of start, so one that ends before this one starts can never
    # overlap a later one either: only the rest are compared (in the order they were kept).
    active: list[int] = []
    for finding in spans:
        active = [i for i in active if merged[i].end > finding.start]
        for i in active:
            if _same_words(merged[i], finding):
                merged[i] = _better(merged[i], finding)
                break
        else:
            merged.append(finding)
            active.append(len(merged) - 1)
    return sorted([*merged, *others], key=lambda f: (f.start, f.end, f.rule))


#: A jargon word inside a hedge or a passive is a second problem (the word, not the
#: construction), so those pairs are not merged.
_DISTINCT = frozenset({frozenset({"jargon", "hedge"}), frozenset({"jargon", "agentless-passive"})})


def _same_words(a: Finding, b: Finding) -> bool:
    if frozenset({a.category, b.category}) in _DISTINCT:
        return False
    overlap = min(a.end, b.end) - max(a.start, b.start)
    if overlap <= 0:
        return False
    shorter = min(a.end - a.start, b.end - b.start)
    return overlap >= shorter * 0.5


def _better(a: Finding, b: Finding) -> Finding:
    rank = PRIORITY.index
    best = a if rank(a.category) <= rank(b.category) else b
    if a.category == b.category:
        # Same problem found twice: report the longer stretch once.
        best = a if (a.end - a.start) >= (b.end - b.start) else b
    return best

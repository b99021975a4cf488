"""The linter: rules and parse checks per paragraph (cached), then document-level checks.

Offsets in every finding index the exact text given to ``Linter.lint``.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from spacy.language import Language
from spacy.tokens import Doc

from composer.lint.catalogue import CompiledRule, load_rules
from composer.lint.findings import SPAN_CATEGORIES, Finding, LintResult
from composer.lint.nlp import ParagraphCache, load_pipeline, split_paragraphs
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
_SENTENCE_END = re.compile(r"[.!?:;\"')\]]\s*$")


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

    def lint(self, text: str, facts: Mapping[str, Any] | None = None) -> LintResult:
        """Findings for ``text`` (and, with ``facts``, its agreement with the incident's facts)."""
        ignores = _ignores(text)
        clean = IGNORE_MARKER.sub(lambda m: " " * len(m.group()), text)
        blocks = paragraphs(clean)
        results = self._paragraph_results([p for _, p in blocks])
        findings: list[Finding] = []
        sentences: list[tuple[int, int]] = []
        names: set[str] = set()
        for (offset, _), result in zip(blocks, results, strict=True):
            findings.extend(f.shifted(offset) for f in result.findings)
            sentences.extend((offset + s, offset + e) for s, e in result.sentences)
            names |= result.names
        doc_findings, stats = readability_findings(
            clean, sentences, target_grade=self.config.target_grade, names=frozenset(names)
        )
        findings.extend(doc_findings)
        if facts is not None:
            from composer.lint.factcheck import check_against_facts

            findings.extend(check_against_facts(clean, facts))
        findings = _document_context(findings, clean, self.rules)
        findings = self._switches(findings, clean, ignores, blocks)
        findings = merge_overlaps(findings)
        stats["errors"] = sum(f.severity == "error" for f in findings)
        stats["warnings"] = sum(f.severity == "warning" for f in findings)
        stats["suggestions"] = sum(f.severity == "suggestion" for f in findings)
        return LintResult(findings=findings, stats=stats)

    def _paragraph_results(self, texts: list[str]) -> list[_ParagraphResult]:
        with self._lock:
            cached = {t: self._results[t] for t in texts if t in self._results}
            for t in cached:
                self._results.move_to_end(t)
        todo = [t for t in dict.fromkeys(texts) if t not in cached]
        if todo:
            docs = self.parses.parse_many(todo)
            fresh = {t: self._analyse(t, d) for t, d in zip(todo, docs, strict=True)}
            with self._lock:
                self._results.update(fresh)
                while len(self._results) > self.cache_size:
                    self._results.popitem(last=False)
            cached.update(fresh)
        return [cached[t] for t in texts]

    def _analyse(self, text: str, doc: Doc) -> _ParagraphResult:
        """All span findings for one paragraph, with offsets relative to it."""
        matchable = text.translate(_SAME_LENGTH)
        sentences = [(s.start_char, s.end_char) for s in doc.sents]
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
                if end <= start or _excepted(compiled, matchable, start, end, sentences):
                    continue
                found.append(
                    Finding(
                        rule=rule.id,
                        category=rule.category,
                        severity=rule.severity,
                        start=start,
                        end=end,
                        text=text[start:end],
                        message=rule.message,
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
        ignored_ranges: list[tuple[int, int, frozenset[str]]] = []
        for position, what in ignores:
            for offset, paragraph in blocks:
                if offset <= position <= offset + len(paragraph) + 1:
                    ignored_ranges.append((offset, offset + len(paragraph), what))
        kept = []
        for f in findings:
            if f.rule in disabled or f.category in disabled:
                continue
            if f.end > f.start and any(s <= f.start and f.end <= e for s, e in excepted):
                continue
            if any(
                s <= f.start < e and (not what or f.rule in what or f.category in what)
                for s, e, what in ignored_ranges
            ):
                continue
            kept.append(f)
        return kept


def paragraphs(text: str) -> list[tuple[int, str]]:
    """Lines of ``text``, re-joined where a sentence was hard-wrapped across lines."""
    blocks: list[tuple[int, str]] = []
    for offset, line in split_paragraphs(text):
        if blocks:
            prev_offset, prev = blocks[-1]
            if not _SENTENCE_END.search(prev) and line[:1].islower():
                blocks[-1] = (prev_offset, text[prev_offset : offset + len(line)])
                continue
        blocks.append((offset, line))
    return blocks


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start] in " \t\n,;:":
        start += 1
    while end > start and text[end - 1] in " \t\n,;:":
        end -= 1
    return start, end


def _excepted(
    compiled: CompiledRule, text: str, start: int, end: int, sentences: list[tuple[int, int]]
) -> bool:
    """Whether the rule's own context conditions drop a hit (paragraph-level ones)."""
    s_start, s_end = next(((s, e) for s, e in sentences if s <= start < e), (0, len(text)))
    s_end = max(s_end, end)
    for pattern in compiled.unless:
        for match in pattern.finditer(text, s_start, s_end):
            if match.start() < end and start < match.end():
                return True
    if compiled.if_sentence and not any(
        p.search(text, s_start, s_end) for p in compiled.if_sentence
    ):
        return True
    return any(p.search(text, s_start, s_end) for p in compiled.unless_sentence)


def _document_context(
    findings: list[Finding], text: str, rules: tuple[CompiledRule, ...]
) -> list[Finding]:
    """Drop hits whose rule says the rest of the document makes them fine."""
    by_id = {c.rule.id: c for c in rules if c.unless_document or c.unless_before}
    if not by_id:
        return findings
    matchable = text.translate(_SAME_LENGTH)
    kept = []
    for f in findings:
        compiled = by_id.get(f.rule)
        if compiled is not None and (
            any(p.search(matchable) for p in compiled.unless_document)
            or any(p.search(matchable, 0, f.start) for p in compiled.unless_before)
        ):
            continue
        kept.append(f)
    return kept


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
    for finding in spans:
        for i, kept in enumerate(merged):
            if _same_words(kept, finding):
                merged[i] = _better(kept, finding)
                break
        else:
            merged.append(finding)
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

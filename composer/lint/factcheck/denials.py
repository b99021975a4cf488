"""Checks for text that contradicts the data involved (``consistency``): "only names and email
addresses", "no other information was involved", "no passwords" ... when the facts list more."""

from __future__ import annotations

import re

from composer.lint.factcheck.context import CONNECTOR_SKIP, Context, in_spans
from composer.lint.factcheck.sentences import sentence_start
from composer.lint.factcheck.wording import join, labels_of, were

_INVOLVED = (
    r"(?:involved|affected|accessed|exposed|taken|stolen|copied|viewed|included|impacted|"
    r"compromised|disclosed|obtained|shared|leaked|downloaded|breached|seen|at\s+risk|part\s+of)"
)
_SAFE = r"(?:safe|secure|protected|unaffected|untouched|intact)"
_ONLY = re.compile(
    r"\b(?:only|just|solely|exclusively|limited\s+to|restricted\s+to|nothing\s+but|"
    r"nothing\s+(?:more|else)\s+than)\s+",
    re.IGNORECASE,
)
_CONDITIONAL = re.compile(r"(?:if|unless|in\s+case|where|when|for\s+(?:those|anyone))\b", re.I)

_IN_SENTENCE = r"(?:[^.;:!?\n]|\n(?!\s*\n))"
_NOT_ONLY = re.compile(r"\b(?:not|if)\s+$", re.IGNORECASE)
_THE_ONLY = re.compile(
    r"\bthe\s+only\s+(?:[\w'\u2019]+\s+){0,2}?(?:information|data|details|things?)\b"
    rf"{_IN_SENTENCE}{{0,80}}?\b(?:was|were|is|are)\s+",
    re.IGNORECASE,
)
_OTHER_NOUN = (
    r"(?:[\w'\u2019]+\s+){0,3}?(?:information|data|details)\b(?:\s*\([^)]{0,160}\))?"
    rf"{_IN_SENTENCE}{{0,40}}?"
)
_NOTHING_ELSE = re.compile(
    "|".join(
        [
            rf"\bnothing\s+else\s+(?:was|has\s+been|is|were)\s+(?:\w+\s+)?{_INVOLVED}\b",
            rf"\b(?:no|not\s+any|none\s+of\s+(?:the|your))\s+(?:other|further|additional)\s+"
            rf"{_OTHER_NOUN}\b(?:has|have|had|was|were|is|are)\s+(?:been\s+)?(?:\w+\s+)?"
            rf"{_INVOLVED}\b",
            rf"\b(?:all|any)?\s*other\s+{_OTHER_NOUN}\b(?:is|are|was|were|has\s+been|have\s+been|"
            rf"remains?|remained|stays?)\s+(?:(?:not|never)\s+(?:been\s+)?{_INVOLVED}|"
            rf"(?:[\w'\u2019]+\s+){{0,5}}?{_SAFE})\b",
        ]
    ),
    re.IGNORECASE,
)
_DENY_BEFORE = re.compile(
    r"\b(?:no|none\s+of|not\s+any|neither)\s+(?=\w)",
    re.IGNORECASE,
)
_DENY_VERB = re.compile(
    "|".join(
        [
            r"\b(?P<aux>did|does|do|will|would|could)\s*(?:not|n['\u2019]t)\s+(?:include|contain|"
            r"involve|affect|expose|collect|store|hold|keep|have|reveal|put\s+at\s+risk)\b",
            r"\bnever\s+(?:collect(?:ed)?|store[sd]?|h[oe]ld|keep|kept|had|have)\b",
            r"\b(?P<evidence>no\s+(?:evidence|indication|sign|suggestion|"
            r"reason\s+to\s+(?:believe|think)))\b(?:\s+(?:that|of))?",
        ]
    ),
    re.IGNORECASE,
)
_EVIDENCE_OF_ACCESS = re.compile(rf"\b(?:{_INVOLVED}|access|left|involved|involve)\b", re.I)
_WINDOW_END = re.compile(
    r"[.;:!?]|\n\s*\n|\b(?:but|only|except|however|although|though|while|whereas|because|"
    r"instead)\b",
    re.IGNORECASE,
)
_NEG_STATE = re.compile(
    "|".join(
        [
            r"\b(?:(?:was|were|is|are|has\s+been|have\s+been|had\s+been|has|have|had)\s+"
            r"(?:not|never)(?:\s+been)?|wasn['\u2019]t|weren['\u2019]t|isn['\u2019]t|"
            r"aren['\u2019]t|hasn['\u2019]t(?:\s+been)?|haven['\u2019]t(?:\s+been)?)\s+"
            rf"(?:[\w]+\s+)?{_INVOLVED}\b",
            rf"\b(?:remain|remains|remained|stay|stays|stayed|are|is|were|was|have\s+been|"
            rf"has\s+been)\s+(?:(?:still|now|completely|fully|totally|entirely|perfectly|always|"
            rf"very|kept|being\s+kept)\s+)*{_SAFE}\b",
        ]
    ),
    re.IGNORECASE,
)
_SUBJECT_GAP = re.compile(r"(?:[\s,]+[\w'\u2019]+){0,4}?\s+", re.IGNORECASE)
_GAP_BREAK = re.compile(
    r"\b(?:so|because|but|that|which|who|if|when|after|before|while|until|since|to|then)\b|,",
    re.IGNORECASE,
)
_ADVICE_CONTEXT = re.compile(
    r"\b(?:make\s+sure|ensure|check|keep|if|whether|unless|so\s+that|help|please|should|can)\b",
    re.IGNORECASE,
)


def check_only(ctx: Context) -> None:
    if not ctx.categories:
        return
    seen: set[int] = set()
    for regex in (_THE_ONLY, _ONLY):
        for m in regex.finditer(ctx.text):
            items, end = ctx.list_at(m.end())
            if not items or m.start() in seen or _NOT_ONLY.search(ctx.text, 0, m.start()):
                continue
            keys = {i.key for i in items}
            if any(k in ctx.classes and ctx.classes[k].any for k in keys):
                continue
            seen |= set(range(m.start(), end))
            named = ctx.covered(keys)
            missing = [c for c in ctx.categories if c.id not in named]
            if not missing:
                continue
            labels = labels_of(missing)
            ctx.add(
                "facts.only-contradicts",
                "consistency",
                "error",
                (m.start(), end),
                f"This leaves out {labels}, which the checklist says {were(labels)} involved.",
                f"The information involved was [{join([c.label for c in ctx.categories])}].",
                "A notice that understates what was involved can stop readers taking the "
                "steps they need, and regulators treat it as misleading.",
            )


def _denial_spans(ctx: Context) -> list[tuple[int, int, set[str]]]:
    """Spans of text that deny data was involved, with the mentioned keys denied."""
    out: list[tuple[int, int, set[str]]] = []
    text = ctx.text
    for m in _DENY_BEFORE.finditer(text):
        items, end = ctx.list_at(m.end())
        if items:
            out.append((m.start(), end, {i.key for i in items}))
    for m in _DENY_VERB.finditer(text):
        if m.group("aux"):
            prefix = text[sentence_start(text, m.start()) : m.start()].strip().lower()
            if not prefix or re.search(r"\b(?:please|you|i)$", prefix):
                continue  # advice ("Do not include your password") or about the reader
        stop = _WINDOW_END.search(text, m.end())
        limit = stop.start() if stop else len(text)
        words = list(re.finditer(r"\S+", text[m.end() : limit]))
        if len(words) > 10:
            limit = m.end() + words[9].end()
        items = [i for i in ctx.mentions if m.end() <= i.start and i.end <= limit]
        if m.group("evidence") and not _EVIDENCE_OF_ACCESS.search(text, m.end(), limit):
            continue  # "no evidence that your card details have been misused" is about misuse
        if items:
            out.append((m.start(), max(i.end for i in items), {i.key for i in items}))
    for m in _NEG_STATE.finditer(text):
        sentence = sentence_start(text, m.start())
        before = [i for i in ctx.mentions if sentence <= i.start and i.end <= m.start()]
        if not before:
            continue
        last_end = max(i.end for i in before)
        gap = text[last_end : m.start()]
        if not _SUBJECT_GAP.fullmatch(gap) or _GAP_BREAK.search(gap):
            continue
        subject = [i for i in before if i.end == last_end]
        first = min(i.start for i in subject)
        while True:  # walk back over "names, email addresses and passwords"
            prev = [
                i
                for i in before
                if i.end <= first and CONNECTOR_SKIP.fullmatch(text[i.end : first])
            ]
            if not prev:
                break
            subject += prev
            first = min(i.start for i in prev)
        if _ADVICE_CONTEXT.search(text[sentence:first]):
            continue
        out.append((first, m.end(), {i.key for i in subject}))
    return out


def check_denials(ctx: Context) -> list[tuple[int, int]]:
    """Flag denials of data the facts list; return every denial span (for the other checks)."""
    spans = sorted(_denial_spans(ctx))
    merged: list[tuple[int, int, set[str]]] = []
    for start, end, keys in spans:
        if merged and start < merged[-1][1]:
            s, e, k = merged[-1]
            merged[-1] = (s, max(e, end), k | keys)
        else:
            merged.append((start, end, set(keys)))
    for start, end, keys in merged:
        sentence = ctx.text[sentence_start(ctx.text, start) : start]
        if _CONDITIONAL.match(sentence.strip()):
            continue  # "If you only shopped as a guest, we do not hold a password for you."
        denied = ctx.covered(keys, broad=True)
        conflicting = [c for c in ctx.categories if c.id in denied]
        if not conflicting:
            continue
        labels = labels_of(conflicting)
        ctx.add(
            "facts.denial-contradicts",
            "consistency",
            "error",
            (start, end),
            f"The checklist says {labels} {were(labels)} involved; this says otherwise.",
            f"The information involved was [{join([c.label for c in conflicting])}].",
            "A notice must not deny what the incident record says. If the facts are wrong, "
            "correct the checklist first.",
        )
    return [(s, e) for s, e, _ in merged]


def check_nothing_else(ctx: Context, denials: list[tuple[int, int]]) -> None:
    if not ctx.categories:
        return
    for m in _NOTHING_ELSE.finditer(ctx.text):
        start = m.start() + len(m.group()) - len(m.group().lstrip())
        before = [i.key for i in ctx.mentions if i.end <= start and not in_spans(i.start, denials)]
        named = ctx.covered(before)
        missing = [c for c in ctx.categories if c.id not in named]
        if not missing:
            continue
        labels = labels_of(missing)
        ctx.add(
            "facts.nothing-else-contradicts",
            "consistency",
            "error",
            (start, m.end()),
            f"The checklist says {labels} {were(labels)} involved too, and the notice has not "
            "said so.",
            f"The information involved was [{join([c.label for c in ctx.categories])}].",
            "Saying nothing else was involved, when more was, leaves readers unprotected.",
        )

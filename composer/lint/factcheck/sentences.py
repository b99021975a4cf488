"""Paragraphs and sentences of plain text: the first paragraph after greetings and headings, and
where a sentence starts (a hard-wrapped paragraph's lines run on)."""

from __future__ import annotations

import re

_GREETING = re.compile(
    r"^(?:dear|hello|hi|hey|greetings|good\s+(?:morning|afternoon|evening)|"
    r"to\s+(?:our|all|the|whom|every)|attention|attn)\b",
    re.IGNORECASE,
)
_HEADER_LINE = re.compile(r"^(?:subject|re|from|to|date|sent|fwd?|cc)\s*:", re.IGNORECASE)


def _lines(text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in re.finditer(r"[^\r\n]*", text) if m.group().strip()]


def _blocks(text: str) -> list[list[tuple[int, int]]]:
    """Runs of lines with no blank line between them."""
    blocks: list[list[tuple[int, int]]] = []
    previous_end = None
    for start, end in _lines(text):
        if previous_end is not None and text[previous_end:start].count("\n") <= 1:
            blocks[-1].append((start, end))
        else:
            blocks.append([(start, end)])
        previous_end = end
    return blocks


def _is_preamble(line: str) -> bool:
    """A greeting, a subject or e-mail header line, or a heading."""
    words = line.split()
    if _HEADER_LINE.match(line):
        return True
    if _GREETING.match(line) and len(words) <= 10 and line.rstrip()[-1:] in ",:!":
        return True
    if line.rstrip()[-1:] in ",:" and len(words) <= 6:
        return True
    if line.rstrip()[-1:] == "?" and len(words) <= 6:
        return True
    return len(words) <= 10 and line.rstrip()[-1:] not in ".!?\"'\u201d)"


def _hard_wrapped(text: str, lines: list[tuple[int, int]]) -> bool:
    if len(lines) < 2 or max(e - s for s, e in lines) > 100:
        return False
    inner = [text[s:e].rstrip() for s, e in lines[:-1]]
    open_ended = sum(1 for line in inner if line[-1:] not in ".!?:")
    return open_ended * 2 > len(inner)


def first_paragraph(text: str) -> tuple[int, int] | None:
    """The span of the first paragraph after greetings, header lines and headings."""
    for block in _blocks(text):
        lines = list(block)
        while lines and _is_preamble(text[lines[0][0] : lines[0][1]].strip()):
            lines.pop(0)
        if not lines:
            continue
        start = lines[0][0]
        end = lines[-1][1] if _hard_wrapped(text, lines) else lines[0][1]
        start += len(text[start:end]) - len(text[start:end].lstrip())
        end -= len(text[start:end]) - len(text[start:end].rstrip())
        return start, end
    return None


def sentence_start(text: str, pos: int) -> int:
    """Where the sentence holding ``pos`` starts. A line break ends a sentence only after a
    blank line or a heading: lines of a hard-wrapped paragraph run on."""
    cut = max(text.rfind(ch, 0, pos) for ch in ".!?")
    newline = text.rfind("\n", 0, pos)
    while newline > cut:
        line_start = text.rfind("\n", 0, newline) + 1
        line = text[line_start:newline].strip()
        if not line or _is_preamble(line):
            return newline + 1
        newline = line_start - 1
    return cut + 1

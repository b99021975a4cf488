"""What changed between two notice texts, line by line with the changed words marked.

``diff_notices(old_subject, old_body, new_subject, new_body)`` compares the lines with difflib;
a changed line that still resembles the old one is shown once, with the removed and added words
inside it, instead of as a removed line and an added line. Long runs of unchanged lines are
grouped so a reader can fold them away. The result is plain data: the page escapes every piece
of text when it shows it. No Flask.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Final, Literal

#: Two versions of a line at least this similar are shown as one line with word changes.
SIMILAR: Final = 0.5
#: Unchanged lines kept next to a change; longer unchanged runs fold into a group.
CONTEXT: Final = 2

_TOKEN = re.compile(r"\s+|\w+|[^\w\s]")

PieceKind = Literal["same", "del", "ins"]
LineKind = Literal["same", "del", "ins", "changed"]


@dataclass(frozen=True)
class Piece:
    """A run of text that is unchanged, removed or added."""

    kind: PieceKind
    text: str


@dataclass(frozen=True)
class Line:
    """One line of the comparison. A "changed" line mixes same, del and ins pieces; the others
    are one piece of their own kind. Line numbers count from 1 in each text."""

    kind: LineKind
    pieces: tuple[Piece, ...]
    old_number: int | None
    new_number: int | None

    @property
    def text(self) -> str:
        return "".join(p.text for p in self.pieces)


@dataclass(frozen=True)
class Block:
    """Consecutive lines; ``folded`` blocks are unchanged lines away from any change."""

    lines: tuple[Line, ...]
    folded: bool = False


@dataclass(frozen=True)
class NoticeDiff:
    subject: Line
    blocks: tuple[Block, ...]
    added: int
    removed: int
    changed: int

    @property
    def identical(self) -> bool:
        return self.subject.kind == "same" and not (self.added or self.removed or self.changed)


def word_pieces(old: str, new: str) -> tuple[Piece, ...]:
    """``old`` turned into ``new`` as pieces, compared word by word (spaces and punctuation are
    words of their own, so "may have been" -> "was" is one removal and one addition)."""
    a = _TOKEN.findall(old)
    b = _TOKEN.findall(new)
    # Runs: ("same", text, "") or ("change", removed, added).
    runs: list[tuple[str, str, str]] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            runs.append(("same", "".join(a[i1:i2]), ""))
        else:
            runs.append(("change", "".join(a[i1:i2]), "".join(b[j1:j2])))
    # A lone space kept between two changes reads as noise ("~~may~~ of ~~have~~ 20,000"):
    # fold it into the changes on both sides, so whole phrases are removed and added.
    merged: list[tuple[str, str, str]] = []
    for n, run in enumerate(runs):
        kind, text, _ = run
        between_changes = (
            kind == "same"
            and not text.strip()
            and merged
            and merged[-1][0] == "change"
            and n + 1 < len(runs)
            and runs[n + 1][0] == "change"
        )
        if between_changes:
            _, removed, added = merged[-1]
            merged[-1] = ("change", removed + text, added + text)
        elif kind == "change" and merged and merged[-1][0] == "change":
            _, removed, added = merged[-1]
            merged[-1] = ("change", removed + run[1], added + run[2])
        else:
            merged.append(run)
    pieces: list[Piece] = []
    for kind, first, second in merged:
        if kind == "same":
            _append(pieces, "same", first)
        else:
            _append(pieces, "del", first)
            _append(pieces, "ins", second)
    return tuple(pieces)


def _append(pieces: list[Piece], kind: PieceKind, text: str) -> None:
    if not text:
        return
    if pieces and pieces[-1].kind == kind:
        pieces[-1] = Piece(kind, pieces[-1].text + text)
    else:
        pieces.append(Piece(kind, text))


def _similar(old: str, new: str) -> bool:
    if not old.strip() or not new.strip():
        return False
    return difflib.SequenceMatcher(None, old, new, autojunk=False).ratio() >= SIMILAR


def diff_lines(old: str, new: str) -> list[Line]:
    """Every line of ``old`` and ``new`` in reading order, each marked same, del, ins or changed."""
    a = old.split("\n")
    b = new.split("\n")
    lines: list[Line] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            for k in range(i2 - i1):
                piece = (Piece("same", a[i1 + k]),)
                lines.append(Line("same", piece, i1 + k + 1, j1 + k + 1))
            continue
        olds = list(range(i1, i2))
        news = list(range(j1, j2))
        removed: list[Line] = []
        added: list[Line] = []
        # Pair the lines of a replaced stretch in order; a pair that still resembles each
        # other is one changed line, anything else is removed and added.
        while olds and news:
            i, j = olds.pop(0), news.pop(0)
            if _similar(a[i], b[j]):
                lines.extend(removed + added)
                removed, added = [], []
                lines.append(Line("changed", word_pieces(a[i], b[j]), i + 1, j + 1))
            else:
                removed.append(Line("del", (Piece("del", a[i]),), i + 1, None))
                added.append(Line("ins", (Piece("ins", b[j]),), None, j + 1))
        removed += [Line("del", (Piece("del", a[i]),), i + 1, None) for i in olds]
        added += [Line("ins", (Piece("ins", b[j]),), None, j + 1) for j in news]
        lines.extend(removed + added)
    return lines


def fold(lines: list[Line], context: int = CONTEXT) -> tuple[Block, ...]:
    """``lines`` in blocks, with unchanged runs more than ``context`` lines from a change folded
    (a run of fewer than three lines to fold is left open: folding it would save nothing)."""
    changed = [n for n, line in enumerate(lines) if line.kind != "same"]
    keep = [False] * len(lines)
    for n in changed:
        for k in range(max(0, n - context), min(len(lines), n + context + 1)):
            keep[k] = True
    blocks: list[Block] = []
    run: list[Line] = []
    run_folded = False
    for line, kept in zip(lines, keep, strict=True):
        folded = not kept
        if run and folded != run_folded:
            blocks.append(Block(tuple(run), folded=run_folded and len(run) >= 3))
            run = []
        run.append(line)
        run_folded = folded
    if run:
        blocks.append(Block(tuple(run), folded=run_folded and len(run) >= 3))
    # Merge neighbouring open blocks (a short run that was not worth folding).
    merged: list[Block] = []
    for block in blocks:
        if merged and not block.folded and not merged[-1].folded:
            merged[-1] = Block(merged[-1].lines + block.lines)
        else:
            merged.append(block)
    return tuple(merged)


def diff_notices(old_subject: str, old_body: str, new_subject: str, new_body: str) -> NoticeDiff:
    """How the notice changed from the old subject and body to the new ones."""
    if old_subject == new_subject:
        subject = Line("same", (Piece("same", new_subject),), 1, 1)
    else:
        subject = Line("changed", word_pieces(old_subject, new_subject), 1, 1)
    lines = diff_lines(old_body, new_body)
    return NoticeDiff(
        subject=subject,
        blocks=fold(lines),
        added=sum(line.kind == "ins" for line in lines),
        removed=sum(line.kind == "del" for line in lines),
        changed=sum(line.kind == "changed" for line in lines),
    )

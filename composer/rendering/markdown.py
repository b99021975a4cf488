"""A draft's Markdown as HTML and as plain text.

CommonMark (plus tables and ~~strikethrough~~) with raw HTML off, so ``<img src=...>`` typed in
a draft is shown as text, and no typographic replacements, so the approved wording is the
wording sent. Links must be ``http(s):``, ``mailto:`` or ``tel:``; anything else stays text.
A line break inside a paragraph is kept: people type letters, with sign-offs, not CommonMark.
Pictures are not shown (a notice is text, and a remote image in an email tells the sender who
opened it): ``![alt](url)`` renders as its alt text.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from markdown_it import MarkdownIt
from markdown_it.token import Token

ALLOWED_LINK_SCHEMES = ("http:", "https:", "mailto:", "tel:")


class _NoticeMarkdown(MarkdownIt):
    def validateLink(self, url: str) -> bool:
        return url.strip().lower().startswith(ALLOWED_LINK_SCHEMES)


@functools.cache
def _parser() -> MarkdownIt:
    md = _NoticeMarkdown(
        "commonmark", {"html": False, "typographer": False, "linkify": False, "breaks": True}
    )
    return md.enable(["table", "strikethrough"])


def _parse(text: str) -> list[Token]:
    tokens = _parser().parse(text)
    for token in tokens:
        if token.type == "inline" and token.children:
            token.children = _without_images(token.children)
    return tokens


def _without_images(children: list[Token]) -> list[Token]:
    out: list[Token] = []
    for child in children:
        if child.type == "image":
            alt = "".join(c.content for c in child.children or [])
            out.append(Token("text", "", 0, content=alt))
        else:
            out.append(child)
    return out


def markdown_to_html(text: str) -> str:
    """``text`` as an HTML fragment (no raw HTML, no pictures, only safe link schemes)."""
    md = _parser()
    return str(md.renderer.render(_parse(text), md.options, {}))


def markdown_to_text(text: str) -> str:
    """``text`` as plain text that reads well in a mail client: headings on lines of their own
    (underlined), paragraphs separated by a blank line, line breaks kept, nothing re-wrapped,
    list items as ``- `` or ``1. ``, links as ``text (address)``, rows as ``cell | cell``."""
    return _PlainText().render(_parse(text))


def inline_text(children: Sequence[Token]) -> str:
    """The text of an inline token's children, links spelled out."""
    out: list[str] = []
    links: list[tuple[str, int]] = []
    for child in children:
        kind = child.type
        if kind in ("text", "code_inline"):
            out.append(child.content)
        elif kind in ("softbreak", "hardbreak"):
            out.append("\n")
        elif kind == "link_open":
            links.append((str(child.attrs.get("href", "")), len(out)))
        elif kind == "link_close" and links:
            href, start = links.pop()
            label = "".join(out[start:])
            shown = href.removeprefix("mailto:").removeprefix("tel:")
            if shown and shown != label:
                out.append(f" ({shown})")
    return "".join(out)


class _PlainText:
    def __init__(self) -> None:
        self.lines: list[str] = []
        #: Per open container: the prefix for its continuation lines.
        self.prefixes: list[str] = []
        #: Per open list: [ordered, next number].
        self.lists: list[list[int]] = []
        #: The marker ("- ", "3. ") waiting for the first line of the current list item.
        self.marker: str | None = None
        #: Tight lists have no blank lines between their items.
        self.tight: list[bool] = []

    def emit(self, text: str) -> None:
        for i, line in enumerate(text.split("\n")):
            if i == 0 and self.marker is not None:
                lead = "".join(self.prefixes[:-1]) + self.marker
                self.marker = None
            else:
                lead = "".join(self.prefixes)
            self.lines.append((lead + line).rstrip())

    def blank(self) -> None:
        if self.tight and self.tight[-1]:
            return
        self.lines.append("".join(self.prefixes).rstrip())

    def render(self, tokens: list[Token]) -> str:
        i = 0
        while i < len(tokens):
            i = self.block(tokens, i)
        out: list[str] = []
        for line in self.lines:
            if _is_blank(line) and (not out or _is_blank(out[-1])):
                if out:  # two blank lines in a row: keep the one that closes the most quotes
                    out[-1] = line
                continue
            out.append(line)
        while out and _is_blank(out[-1]):
            out.pop()
        return "\n".join(out) + "\n"

    def block(self, tokens: list[Token], i: int) -> int:
        token = tokens[i]
        kind = token.type
        if kind == "heading_open":
            text = inline_text(tokens[i + 1].children or [])
            self.emit(text)
            if token.tag in ("h1", "h2"):
                self.emit(("=" if token.tag == "h1" else "-") * max(len(text), 3))
            self.blank()
            return i + 3
        if kind == "paragraph_open":
            self.emit(inline_text(tokens[i + 1].children or []))
            if not token.hidden:
                self.blank()
            return i + 3
        if kind in ("bullet_list_open", "ordered_list_open"):
            start = int(token.attrs.get("start", 1) or 1)
            self.lists.append([kind == "ordered_list_open", start])
            self.tight.append(_is_tight(tokens, i))
            return i + 1
        if kind in ("bullet_list_close", "ordered_list_close"):
            self.lists.pop()
            self.tight.pop()
            self.blank()
            return i + 1
        if kind == "list_item_open":
            ordered, number = self.lists[-1]
            self.marker = f"{number}. " if ordered else "- "
            self.lists[-1][1] = number + 1
            self.prefixes.append(" " * len(self.marker))
            return i + 1
        if kind == "list_item_close":
            self.prefixes.pop()
            self.marker = None
            return i + 1
        if kind == "blockquote_open":
            self.prefixes.append("> ")
            self.tight.append(False)
            return i + 1
        if kind == "blockquote_close":
            self.prefixes.pop()
            self.tight.pop()
            self.blank()
            return i + 1
        if kind in ("code_block", "fence"):
            self.emit("\n".join("    " + line for line in token.content.rstrip("\n").split("\n")))
            self.blank()
            return i + 1
        if kind == "hr":
            self.emit("----")
            self.blank()
            return i + 1
        if kind == "table_open":
            return self.table(tokens, i)
        return i + 1

    def table(self, tokens: list[Token], i: int) -> int:
        row: list[str] = []
        while tokens[i].type != "table_close":
            token = tokens[i]
            if token.type == "inline":
                row.append(inline_text(token.children or []))
            elif token.type == "tr_close":
                self.emit(" | ".join(row))
                row = []
            i += 1
        self.blank()
        return i + 1


def _is_blank(line: str) -> bool:
    return not line.replace(">", "").strip()


def _is_tight(tokens: list[Token], start: int) -> bool:
    """Whether the list opening at ``start`` is tight (its paragraphs are hidden)."""
    depth = 0
    for token in tokens[start:]:
        depth += token.nesting if token.type.endswith(("_list_open", "_list_close")) else 0
        if depth == 1 and token.type == "paragraph_open" and token.level == tokens[start].level + 2:
            return token.hidden
        if depth == 0:
            break
    return True

"""A notice draft (a subject line and a Markdown body) and its file format: a ``Subject:`` line,
a blank line, then the body (what ``python -m composer draft`` prints and ``render`` reads)."""

from __future__ import annotations

import re
from dataclasses import dataclass


class DraftError(ValueError):
    """The document is not a facts document; the message says why."""


@dataclass(frozen=True)
class Draft:
    """A notice draft: a subject line and a Markdown body."""

    subject: str
    body: str


_SUBJECT_LINE = re.compile(r"subject:[ \t]*(?P<subject>[^\n]*)", re.IGNORECASE)


def to_markdown(draft: Draft) -> str:
    """The draft as the CLI prints it and ``render`` reads it: a Subject line, a blank line,
    then the body."""
    return f"Subject: {draft.subject}\n\n{draft.body}"


def parse_markdown(text: str) -> Draft:
    """Read the ``to_markdown`` format. The Subject line is optional (subject ``""`` without it);
    line breaks are normalised to ``\\n`` and the blank lines after the subject are dropped."""
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    first, newline, rest = text.partition("\n")
    match = _SUBJECT_LINE.fullmatch(first.rstrip())
    if match is None:
        return Draft(subject="", body=text)
    return Draft(subject=match.group("subject").strip(), body=rest.lstrip("\n") if newline else "")

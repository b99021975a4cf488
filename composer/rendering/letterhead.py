"""A letter's fixed parts: the company, the date, the letterhead's contact lines and the return
address, taken from the incident's facts (previews, the approval bundle and the command line
all use this)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any


@dataclass(frozen=True)
class LetterOptions:
    """Everything about the letter that is not the notice text (part of the cache key)."""

    company: str
    letter_date: date
    contact_lines: tuple[str, ...] = ()
    return_address: str = ""
    logo: str | None = "notices/logo.svg"
    paper: str = "A4"


def letter_options(
    facts: Mapping[str, Any],
    *,
    company: str,
    letter_date: date,
    logo: str | None = "notices/logo.svg",
    paper: str = "A4",
) -> LetterOptions:
    """The letter's options from the incident's facts: its contact phone, email and web page in
    the letterhead and its postal contact address as the return address (as
    ``python -m composer render --facts`` does)."""
    node: Any = facts.get("facts", {})
    for key in ("next_steps", "contact"):
        node = node.get(key) if isinstance(node, dict) else None
    contact = node if isinstance(node, dict) else {}
    known = {k: v.strip() for k, v in contact.items() if isinstance(v, str) and v.strip()}
    postal = " ".join(known.get("postal", "").split())
    return LetterOptions(
        company=company,
        letter_date=letter_date,
        contact_lines=tuple(known[k] for k in ("phone", "email", "web") if k in known),
        return_address=f"{company}, {postal}" if postal else "",
        logo=logo or None,
        paper=paper,
    )

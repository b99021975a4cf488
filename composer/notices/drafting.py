"""The first draft of a notice to individuals, written from the incident's facts.

``draft_notice(facts)`` reads a facts document (``composer-facts/1``, docs/facts.md) and writes a
subject line and a Markdown body: facts first, in plain words, in the five sections California
requires and other laws expect (REGIMES.md, "What a notice to individuals must say"; the
headings are in ``checklists/notice_sections.yaml``):

    Dear {{ first_name }},

    <what happened and which information, in one or two sentences>

    ## What happened
    ## What information was involved
    ## What we are doing
    ## What you can do
    ## For more information

How it treats what the checklist does not know:

- A fact the author marked "Not yet known" (``status.unknown``), or a null the status does not
  explain, becomes an honest sentence: "We do not yet know X. We will tell you by <next update>."
  The date is ``next_steps.next_update`` when known, else a visible ``[DATE]`` slot.
- A fact that is ``missing`` or ``invalid`` (the author has not answered it, or the answer fails a
  check) becomes a visible ``[SLOT]`` for the author to fill in: a draft must not tell customers
  "we do not know" when the answer simply has not been typed yet.
- Text the author wrote for customers (the description, what else we did, what customers should
  do) is used as written.

The incident's reference number (``next_steps.reference``) is the one readers quote: the checklist
asks for it for that purpose. The only merge field the draft uses is ``{{ first_name }}``.

The draft passes the linter (``composer.lint``) with no errors or warnings for complete fact sets;
``tests/rendering`` checks that over several incidents. No Flask.

This module puts the draft together under the headings of ``checklists/notice_sections.yaml``;
``draft_sections`` writes what each part says, in the phrases of ``draft_wording``; ``draft`` is
the draft and its file format. The facts are read through ``composer.facts``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

from composer.facts import Facts, FactsError
from composer.notices.draft import Draft, DraftError, parse_markdown, to_markdown
from composer.notices.draft_sections import SectionWriter
from composer.notices.draft_wording import join, plain_advice
from composer.support.datafiles import YamlSource
from composer.support.resources import CHECKLISTS_DIR

__all__ = [
    "GREETING",
    "HEADINGS",
    "USED_MERGE_FIELDS",
    "Draft",
    "DraftError",
    "draft_notice",
    "join",
    "parse_markdown",
    "plain_advice",
    "read_facts",
    "to_markdown",
]

SECTIONS_PATH: Final = CHECKLISTS_DIR / "notice_sections.yaml"

SectionId = Literal["what_happened", "information", "doing", "can_do", "more_information"]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: SectionId
    heading: str = Field(min_length=1)


class NoticeSections(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    law: str = ""
    sections: tuple[Section, ...]

    @field_validator("sections")
    @classmethod
    def _each_once(cls, sections: tuple[Section, ...]) -> tuple[Section, ...]:
        ids = [s.id for s in sections]
        if sorted(ids) != sorted(get_args(SectionId)):
            raise ValueError(f"each section once, in order: got {', '.join(ids) or 'none'}")
        return sections


def load_sections(path: Path = SECTIONS_PATH) -> NoticeSections:
    """The validated sections (DataFileError names file, key and line when they are wrong)."""
    return YamlSource.read(path).validate(NoticeSections)


_SECTIONS: Final = load_sections().sections
#: The section headings, in order (California Civ. Code 1798.82(d)).
HEADINGS: Final = tuple(s.heading for s in _SECTIONS)
#: The recipient merge fields the draft uses (from the allow-list of recipient fields).
USED_MERGE_FIELDS: Final = ("first_name",)
GREETING: Final = "Dear {{ first_name }},"


def read_facts(document: Mapping[str, Any]) -> Facts:
    """The facts reader for ``document``; DraftError when it is not a facts document."""
    try:
        return Facts(document)
    except FactsError as error:
        raise DraftError(f"not a facts document: {error}") from None


def _body(writer: SectionWriter) -> str:
    write: dict[SectionId, Callable[[], list[str]]] = {
        "what_happened": writer.what_happened,
        "information": writer.information,
        "doing": writer.doing,
        "can_do": writer.can_do,
        "more_information": writer.more_information,
    }
    parts = [GREETING, writer.lead()]
    for section in _SECTIONS:
        parts.append(f"## {section.heading}")
        parts.extend(b for b in write[section.id]() if b)
    return "\n\n".join(parts) + "\n"


def draft_notice(facts: Mapping[str, Any], *, company: str = "[COMPANY]") -> Draft:
    """The first draft of the notice to individuals for this facts document (docs/facts.md).

    Raises DraftError when ``facts`` is not a facts document."""
    writer = SectionWriter(read_facts(facts), company)
    return Draft(subject=writer.subject(), body=_body(writer))

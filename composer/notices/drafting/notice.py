"""The first draft put together: the greeting, the lead paragraph, then each section under its
heading. The headings and their order are data (``checklists/notice_sections.yaml``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

from composer.facts import Facts, FactsError
from composer.notices.drafting.draft import Draft, DraftError
from composer.notices.drafting.sections import SectionWriter
from composer.support.datafiles import YamlSource
from composer.support.resources import CHECKLISTS_DIR

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

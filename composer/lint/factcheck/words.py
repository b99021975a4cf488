"""The word lists the facts check reads (``factcheck_words.yaml``), validated."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from composer.facts import Category
from composer.support.datafiles import YamlSource

#: Beside the linter's other data files (packaged as ``lint/*.yaml``).
WORDS_PATH = Path(__file__).parent.parent / "factcheck_words.yaml"


class _Words(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="after")
    @classmethod
    def _clean_terms(cls, value: Any) -> Any:
        if isinstance(value, tuple):
            for term in value:
                if isinstance(term, str) and (not term.strip() or term != term.strip().lower()):
                    raise ValueError(f"{term!r}: terms are non-empty, trimmed and lower case")
        return value


class CategoryWords(_Words):
    terms: tuple[str, ...] = ()
    weak: tuple[str, ...] = ()
    not_after: tuple[str, ...] = ()
    not_before: tuple[str, ...] = ()


class TermClass(_Words):
    id: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")
    terms: tuple[str, ...] = Field(min_length=1)
    flags: tuple[str, ...] = ()
    ids: tuple[str, ...] = ()
    any: bool = False
    broad: bool = False

    def covers(self, category: Category) -> bool:
        return self.any or category.id in self.ids or bool(set(self.flags) & set(category.flags))


class Words(_Words):
    categories: dict[str, CategoryWords]
    classes: tuple[TermClass, ...]
    people_nouns: tuple[str, ...] = Field(min_length=1)
    record_nouns: tuple[str, ...] = Field(min_length=1)
    either_nouns: tuple[str, ...] = ()
    incident_words: tuple[str, ...] = Field(min_length=1)
    step_headings: tuple[str, ...] = Field(min_length=1)
    step_actions: tuple[str, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_classes(self) -> Words:
        ids = [c.id for c in self.classes]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"class ids must be unique: {', '.join(duplicates)}")
        for category_id, entry in self.categories.items():
            if not entry.terms and not entry.weak:
                raise ValueError(f"category {category_id} has no terms")
            if (entry.not_after or entry.not_before) and not entry.weak:
                raise ValueError(f"category {category_id}: not_after/not_before need weak terms")
        return self


@cache
def load_words(path: Path = WORDS_PATH) -> Words:
    """The validated word lists (DataFileError names file, key and line when they are wrong)."""
    return YamlSource.read(path).validate(Words)

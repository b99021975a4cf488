"""Load and cross-check the checklist, the data-category taxonomy and the list of places."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from composer.checklist.schema import (
    CHOICE_TYPES,
    DATE_TYPES,
    ChecklistDoc,
    DataCategory,
    Place,
    PlacesDoc,
    Question,
    Section,
    Step,
    TaxonomyDoc,
)
from composer.support.datafiles import YamlSource

CHECKLIST_FILE = "incident.yaml"
TAXONOMY_FILE = "data_categories.yaml"
PLACES_FILE = "places.yaml"


@dataclass(frozen=True)
class StepRef:
    """A step with its position, for navigation and progress."""

    section: Section
    step: Step
    index: int  # 0-based over all steps


@dataclass(frozen=True)
class Catalogue:
    """Everything the checklist needs, validated and indexed. Immutable; share freely."""

    checklist: ChecklistDoc
    taxonomy: TaxonomyDoc
    places: PlacesDoc
    steps: tuple[StepRef, ...] = field(init=False)
    questions: dict[str, Question] = field(init=False)
    step_of: dict[str, StepRef] = field(init=False)
    categories: dict[str, DataCategory] = field(init=False)
    place_names: dict[str, dict[str, str]] = field(init=False)

    def __post_init__(self) -> None:
        steps = tuple(
            StepRef(section, step, i)
            for i, (section, step) in enumerate(
                (s, st) for s in self.checklist.sections for st in s.steps
            )
        )
        object.__setattr__(self, "steps", steps)
        object.__setattr__(
            self, "questions", {q.id: q for ref in steps for q in ref.step.questions}
        )
        object.__setattr__(
            self, "step_of", {q.id: ref for ref in steps for q in ref.step.questions}
        )
        object.__setattr__(self, "categories", {c.id: c for c in self.taxonomy.categories})
        object.__setattr__(
            self,
            "place_names",
            {
                "countries": {p.code: p.name for p in self.places.countries},
                "us_states": {p.code: p.name for p in self.places.us_states},
            },
        )

    def step(self, step_id: str) -> StepRef | None:
        return next((ref for ref in self.steps if ref.step.id == step_id), None)

    def place_list(self, which: str) -> list[Place]:
        return self.places.countries if which == "countries" else self.places.us_states


def load_catalogue(directory: Path) -> Catalogue:
    """Read and validate ``directory``'s data files.

    Raises ``DataFileError`` naming the file, key and line of the first problem.
    """
    checklist_src = YamlSource.read(directory / CHECKLIST_FILE)
    taxonomy_src = YamlSource.read(directory / TAXONOMY_FILE)
    places_src = YamlSource.read(directory / PLACES_FILE)
    taxonomy = taxonomy_src.validate(TaxonomyDoc)
    _check_taxonomy(taxonomy_src, taxonomy)
    places = places_src.validate(PlacesDoc)
    _check_places(places_src, places)
    checklist = checklist_src.validate(ChecklistDoc)
    _check_checklist(checklist_src, checklist, taxonomy, places)
    return Catalogue(checklist=checklist, taxonomy=taxonomy, places=places)


def _duplicates(src: YamlSource, items: Iterator[tuple[list[str | int], str]], what: str) -> None:
    seen: set[str] = set()
    for loc, value in items:
        if value in seen:
            raise src.error(loc, f"{what} '{value}' is used more than once")
        seen.add(value)


def _check_taxonomy(src: YamlSource, doc: TaxonomyDoc) -> None:
    _duplicates(src, ((["groups", i, "id"], g.id) for i, g in enumerate(doc.groups)), "group id")
    _duplicates(
        src, ((["categories", i, "id"], c.id) for i, c in enumerate(doc.categories)), "category id"
    )
    groups = {g.id for g in doc.groups}
    for i, cat in enumerate(doc.categories):
        if cat.group not in groups:
            raise src.error(["categories", i, "group"], f"no group with id '{cat.group}'")


def _check_places(src: YamlSource, doc: PlacesDoc) -> None:
    for key in ("countries", "us_states"):
        items = getattr(doc, key)
        _duplicates(src, (([key, i, "code"], p.code) for i, p in enumerate(items)), "code")


def _check_checklist(
    src: YamlSource, doc: ChecklistDoc, taxonomy: TaxonomyDoc, places: PlacesDoc
) -> None:
    seen_questions: dict[str, Question] = {}
    seen_steps: set[str] = set()
    seen_facts: set[str] = set()
    _duplicates(src, ((["sections", i, "id"], s.id) for i, s in enumerate(doc.sections)), "id")
    for si, section in enumerate(doc.sections):
        for ti, step in enumerate(section.steps):
            step_loc: list[str | int] = ["sections", si, "steps", ti]
            if step.id in seen_steps:
                raise src.error([*step_loc, "id"], f"step id '{step.id}' is used more than once")
            seen_steps.add(step.id)
            for qi, q in enumerate(step.questions):
                loc: list[str | int] = [*step_loc, "questions", qi]
                if q.id in seen_questions:
                    raise src.error([*loc, "id"], f"question id '{q.id}' is used more than once")
                if q.fact in seen_facts:
                    raise src.error([*loc, "fact"], f"fact '{q.fact}' is used more than once")
                if q.show_if is not None:
                    _check_condition(src, loc, q, seen_questions, taxonomy, places)
                if q.not_before is not None:
                    other = seen_questions.get(q.not_before)
                    if other is None or other.type not in DATE_TYPES:
                        raise src.error(
                            [*loc, "not_before"],
                            f"'{q.not_before}' is not an earlier date question",
                        )
                seen_questions[q.id] = q
                seen_facts.add(q.fact)
            step_ids = {q.id for q in step.questions}
            for ri, rule in enumerate(step.require_one_of):
                for qid in rule.questions:
                    if qid not in step_ids:
                        raise src.error(
                            [*step_loc, "require_one_of", ri, "questions"],
                            f"'{qid}' is not a question on this step",
                        )


def _check_condition(
    src: YamlSource,
    loc: list[str | int],
    question: Question,
    earlier: dict[str, Question],
    taxonomy: TaxonomyDoc,
    places: PlacesDoc,
) -> None:
    cond = question.show_if
    assert cond is not None
    where = [*loc, "show_if"]
    target = earlier.get(cond.question)
    if target is None:
        raise src.error(
            [*where, "question"], f"'{cond.question}' is not a question that comes earlier"
        )
    option_ids = {o.id for o in target.options or []}
    if cond.equals is not None:
        if target.type == "yes_no":
            if not isinstance(cond.equals, bool):
                raise src.error([*where, "equals"], "a yes/no question is tested with true/false")
        elif target.type != "choice" or cond.equals not in option_ids:
            raise src.error(
                [*where, "equals"], f"'{cond.equals}' is not an option of '{target.id}'"
            )
    if cond.one_of is not None and (target.type != "choice" or not set(cond.one_of) <= option_ids):
        raise src.error([*where, "one_of"], f"not all are options of '{target.id}'")
    if cond.includes is not None:
        if target.type == "multichoice":
            allowed = option_ids
        elif target.type == "data_categories":
            allowed = {c.id for c in taxonomy.categories}
        elif target.type == "places":
            allowed = {p.code for p in getattr(places, target.places or "countries")}
        else:
            raise src.error(
                [*where, "includes"], f"'includes' does not apply to a '{target.type}' question"
            )
        if cond.includes not in allowed:
            raise src.error(
                [*where, "includes"], f"'{cond.includes}' is not a choice of '{target.id}'"
            )
    if target.type in CHOICE_TYPES | {"yes_no", "data_categories", "places"}:
        return
    raise src.error([*where, "question"], f"cannot test a '{target.type}' question")

"""Schemas of the checklist data files (``checklists/*.yaml``).

Unknown keys are errors, so a typo in a data file fails at start-up instead of being ignored.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

Id = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]*$", max_length=64)]
Text = Annotated[str, StringConstraints(min_length=1, strip_whitespace=True)]

QuestionType = Literal[
    "text",
    "textarea",
    "date",
    "date_range",
    "choice",
    "multichoice",
    "yes_no",
    "integer",
    "count",
    "email",
    "phone",
    "url",
    "places",
    "data_categories",
    #: A phone number per country: "GB +44 800 123 4567; US +1 800 555 0100".
    "country_phones",
]
CHOICE_TYPES = frozenset({"choice", "multichoice"})
DATE_TYPES = frozenset({"date", "date_range"})

Flag = Literal[
    "contact",
    "identity",
    "government-id",
    "ssn",
    "driving-licence",
    "financial",
    "payment-card",
    "credential",
    "health",
    "biometric",
    "children",
    "special-category",
    "location",
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Option(Strict):
    id: Id
    label: Text
    hint: Text | None = None


class Condition(Strict):
    """Show a question only when an earlier answer matches.

    Exactly one of ``equals`` (choice or yes/no), ``includes`` (a ticked option, category or
    place code) or ``one_of`` (any of several choice values).
    """

    question: Id
    equals: str | bool | None = None
    includes: str | None = None
    one_of: list[str] | None = None

    @model_validator(mode="after")
    def _exactly_one_test(self) -> Condition:
        given = [x for x in (self.equals, self.includes, self.one_of) if x is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of 'equals', 'includes' or 'one_of'")
        return self


class Question(Strict):
    id: Id
    type: QuestionType
    label: Text
    help: Text | None = None
    placeholder: Text | None = None
    required: bool = False
    #: Offer a "Not yet known" tick box; a known-unknown counts as answered.
    allow_unknown: bool = False
    unknown_label: Text = "Not yet known"
    #: Where the typed value goes in the facts document, dotted ("what_happened.discovered").
    fact: Annotated[str, StringConstraints(pattern=r"^[a-z_]+(\.[a-z_]+)+$")]
    #: Short name used on the fact sheet.
    summary_label: Text
    options: list[Option] | None = None
    show_if: Condition | None = None
    #: For dates: the id of an earlier date question this one cannot precede.
    not_before: Id | None = None
    #: For dates: whether a date after today is acceptable (a planned update) or not (an event).
    allow_future: bool = False
    min: int | None = None
    max: int | None = None
    #: For ``places``: which list of places to choose from.
    places: Literal["countries", "us_states"] | None = None

    @model_validator(mode="after")
    def _type_specific(self) -> Question:
        if self.type in CHOICE_TYPES and not self.options:
            raise ValueError(f"a '{self.type}' question needs 'options'")
        if self.type not in CHOICE_TYPES and self.options is not None:
            raise ValueError(f"'options' only applies to choice questions, not '{self.type}'")
        if self.type == "places" and self.places is None:
            raise ValueError("a 'places' question needs 'places: countries' or 'places: us_states'")
        if self.type != "places" and self.places is not None:
            raise ValueError("'places' only applies to 'places' questions")
        if self.not_before is not None and self.type not in DATE_TYPES:
            raise ValueError("'not_before' only applies to date questions")
        if self.allow_future and self.type not in DATE_TYPES:
            raise ValueError("'allow_future' only applies to date questions")
        if (self.min is not None or self.max is not None) and self.type != "integer":
            raise ValueError("'min' and 'max' only apply to 'integer' questions")
        return self


class RequireOneOf(Strict):
    """At least one of these questions must be answered before finishing."""

    questions: list[Id] = Field(min_length=2)
    message: Text


class Step(Strict):
    id: Id
    title: Text
    intro: Text | None = None
    questions: list[Question] = Field(min_length=1)
    require_one_of: list[RequireOneOf] = []


class Section(Strict):
    id: Id
    title: Text
    steps: list[Step] = Field(min_length=1)


class ChecklistDoc(Strict):
    id: Id
    version: int = Field(ge=1)
    title: Text
    sections: list[Section] = Field(min_length=1)


class CategoryGroup(Strict):
    id: Id
    title: Text


class DataCategory(Strict):
    id: Id
    group: Id
    title: Text
    hint: Text | None = None
    label: Text
    advice: Text
    flags: list[Flag] = []


class TaxonomyDoc(Strict):
    groups: list[CategoryGroup] = Field(min_length=1)
    categories: list[DataCategory] = Field(min_length=1)


class Place(Strict):
    code: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
    name: Text


class PlacesDoc(Strict):
    countries: list[Place] = Field(min_length=1)
    us_states: list[Place] = Field(min_length=1)

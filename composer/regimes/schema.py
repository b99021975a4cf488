"""Schema of a regime file (``checklists/regimes/*.yaml``): what one law asks after a breach.

Every rule carries its ``citation``, a plain-words ``summary`` a lawyer can check, the
``source`` it was read from (the regime's own ``source`` when left out) and ``confirmed``
(false when it was not checked against the statute text). Unknown keys are errors; ids that
point elsewhere (places, data categories, clocks) are checked by ``catalogue.load_regimes``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

Id = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")]
Text = Annotated[str, StringConstraints(min_length=1)]
#: A place: an ISO 3166-1 country code ("DE") or a US state as "US-" + its USPS code ("US-CA"),
#: as in checklists/places.yaml.
PlaceId = Annotated[str, StringConstraints(pattern=r"^([A-Z]{2}|US-[A-Z]{2})$")]
#: A place, or "any" for anywhere.
CoveredPlace = Annotated[str, StringConstraints(pattern=r"^(any|[A-Z]{2}|US-[A-Z]{2})$")]

#: What the situation may say about the incident or the organisation beyond places and data.
#: Some come from the facts (``situation.situation_from_facts``), others from the caller.
FLAGS: Final = (
    "hipaa-covered-entity",  # the organisation is a HIPAA covered entity or business associate
    "business-was-source",  # the breach happened at the business itself (California's offer)
    "law-enforcement-delay",  # law enforcement asked for notice to be delayed (from the facts)
    "data-unintelligible",  # all data encrypted and the key safe (from the facts)
    "likely-serious-harm",  # harm is likely and serious, or not known to be otherwise
    "risk-unlikely",  # the facts say harm is unlikely (GDPR Art 33(1)'s exception)
    "login-email-breached",  # the breached data lets someone into the person's email account
)
Flag = Literal[FLAGS]  # type: ignore[valid-type]

#: What a notice to individuals can contain, as a closed vocabulary the linter and drafting
#: share (docs/regimes.md says what each means).
ELEMENTS: Final = (
    "description",
    "data_categories",
    "dates",
    "notice_date",
    "contact",
    "notifier_identity",
    "steps_to_take",
    "what_we_are_doing",
    "delay_statement",
    "police_report_right",
    "security_freeze_free",
    "bureau_contacts",
    "agency_contacts",
    "dpo_contact",
    "likely_consequences",
    "affected_count",
    "monitoring_offer",
    "cause",
)
Element = Literal[ELEMENTS]  # type: ignore[valid-type]

#: What each element is, in the words the rule pages show ("notifier_identity" is a key).
ELEMENT_LABELS: Final[dict[str, str]] = {
    "description": "A description of what happened",
    "data_categories": "The kinds of information involved",
    "dates": "When it happened",
    "notice_date": "The date of the notice",
    "contact": "How to reach the company",
    "notifier_identity": "Who is giving notice",
    "steps_to_take": "What the reader can do",
    "what_we_are_doing": "What the company is doing",
    "delay_statement": "Whether law enforcement delayed the notice",
    "police_report_right": "The right to a police report",
    "security_freeze_free": "How to get a free security freeze",
    "bureau_contacts": "The credit bureaus' contacts",
    "agency_contacts": "Government agencies' contacts",
    "dpo_contact": "The data protection officer's contact",
    "likely_consequences": "What could happen to the reader",
    "affected_count": "How many people were affected",
    "monitoring_offer": "An offer of free credit monitoring",
    "cause": "The cause, if known",
}

#: Who a clock is for.
RECIPIENTS: Final = (
    "individuals",
    "regulator",
    "attorney-general",
    "credit-bureaus",
    "media",
    "acquiring-bank",
    "other-organisations",
    "public",
    "organisation",  # a step the organisation owes itself, such as an assessment
)
#: What a clock runs from. ``individuals-notified`` is the day the individuals were told,
#: which the situation only knows once notices went out.
STARTS: Final = ("discovery", "awareness", "determination", "individuals-notified")
#: A standard without a fixed limit, as the law words it.
STANDARDS: Final = (
    "without undue delay",
    "without unreasonable delay",
    "as soon as practicable",
    "as soon as feasible",
    "promptly",
)
#: How a delivery channel is restricted.
CHANNEL_RULES: Final = (
    "post-unless-agreed-to-email",
    "not-to-breached-email",
)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Basis(Strict):
    """Where a rule comes from, so a lawyer can check it."""

    citation: Text
    summary: Text
    source: Text | None = None
    confirmed: bool = True


class Threshold(Strict):
    """How many people bring a rule in. Exactly one of ``more_than`` and ``at_least``, in the
    law's own words ("more than 500", "250 or more")."""

    more_than: int | None = Field(default=None, ge=0)
    at_least: int | None = Field(default=None, ge=1)
    #: Who is counted: residents of the regime's places together, residents of each US state
    #: on its own (the largest counts), or every person affected anywhere.
    counted: Literal["residents", "residents-of-each-state", "everyone"] = "residents"

    @model_validator(mode="after")
    def _one_bound(self) -> Threshold:
        if (self.more_than is None) == (self.at_least is None):
            raise ValueError("give exactly one of 'more_than' and 'at_least'")
        return self

    @property
    def minimum(self) -> int:
        return self.at_least if self.at_least is not None else (self.more_than or 0) + 1


class When(Strict):
    """A condition. Every part given must hold; an empty condition always holds."""

    #: At least one of these data categories is involved.
    categories: list[Id] = []
    #: All of these flags are set.
    flags: list[Flag] = []
    #: None of these flags is set.
    unless_flags: list[Flag] = []
    people: Threshold | None = None


class Coverage(Basis):
    """Which incidents the regime covers."""

    incident: Literal["personal-data-breach"] = "personal-data-breach"
    #: Where affected people live for the law to apply; "any" for anywhere.
    places: list[CoveredPlace] = Field(min_length=1)
    #: Data categories that bring it in (any one is enough); ["any"] for all.
    categories: list[Id] = Field(min_length=1)
    flags: list[Flag] = []
    unless_flags: list[Flag] = []
    people: Threshold | None = None


class Within(Strict):
    """A fixed limit; exactly one unit."""

    hours: int | None = Field(default=None, ge=1)
    days: int | None = Field(default=None, ge=1)
    business_days: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _one_unit(self) -> Within:
        if sum(v is not None for v in (self.hours, self.days, self.business_days)) != 1:
            raise ValueError("give exactly one of 'hours', 'days' and 'business_days'")
        return self


class Clock(Basis):
    """Someone must be told by a time."""

    id: Id
    to: Literal[RECIPIENTS]  # type: ignore[valid-type]
    #: Who exactly, in words ("the Information Commissioner's Office").
    who: Text
    start: Literal[STARTS] = "discovery"  # type: ignore[valid-type]
    #: The standard in the law's words, when it has one.
    standard: Literal[STANDARDS] | None = None  # type: ignore[valid-type]
    within: Within | None = None
    when: When = Field(default_factory=When)
    #: What the notice to this recipient must contain, in plain words.
    requires: Text

    @model_validator(mode="after")
    def _has_limit(self) -> Clock:
        if self.standard is None and self.within is None:
            raise ValueError("a clock needs a 'standard', a 'within' limit, or both")
        return self


class ElementRule(Basis):
    element: Literal[ELEMENTS]  # type: ignore[valid-type]
    when: When = Field(default_factory=When)


class Title(Basis):
    text: Text


class Headings(Basis):
    #: In the order the notice must use them.
    items: list[Text] = Field(min_length=1)


class ChannelRule(Basis):
    rule: Literal[CHANNEL_RULES]  # type: ignore[valid-type]
    when: When = Field(default_factory=When)


class Block(Basis):
    """Text the notice must carry as given (the law names it), such as bureau contacts."""

    id: Id
    element: Literal[ELEMENTS]  # type: ignore[valid-type]
    text: Text
    when: When = Field(default_factory=When)


class Monitoring(Basis):
    """At least ``months`` of free credit monitoring or identity protection when ``when``
    holds."""

    months: int = Field(ge=1)
    when: When


class Notice(Strict):
    """What the notice to individuals must and must not say, and how it may be sent."""

    required: list[ElementRule] = []
    forbidden: list[ElementRule] = []
    title: Title | None = None
    headings: Headings | None = None
    channels: list[ChannelRule] = []
    blocks: list[Block] = []
    monitoring: list[Monitoring] = []


class ExampleSituation(Strict):
    """A small incident: where people live (place id: count, or null when not known), the
    data involved, when it was discovered, and flags."""

    places: dict[PlaceId, int | None] = Field(min_length=1)
    categories: list[Id] = Field(min_length=1)
    discovered: date
    flags: list[Flag] = []
    people: int | None = None


class Example(Strict):
    """What must follow from a situation: whether the regime applies and, for each clock that
    applies, its due time (null when it has no fixed limit or waits on another event)."""

    name: Text
    situation: ExampleSituation
    now: datetime
    applies: bool
    clocks: dict[Id, datetime | None] = {}
    #: Elements the notice must have here (a subset check) and must not have.
    required: list[Element] = []
    forbidden: list[Element] = []
    monitoring_months: int | None = None


class Regime(Strict):
    id: Id
    name: Text
    #: The law as a whole, e.g. "Cal. Civ. Code 1798.82".
    citation: Text
    summary: Text
    #: Where the rules were read; a rule's own ``source`` overrides it.
    source: Text
    confirmed: bool = True
    covers: Coverage
    clocks: list[Clock] = Field(min_length=1)
    notice: Notice = Field(default_factory=Notice)
    examples: list[Example] = Field(min_length=1)

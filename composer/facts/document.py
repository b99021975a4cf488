"""The facts document (``composer-facts/1``, docs/facts.md): its typed shape and its check.

``parse_facts(document)`` checks the parts that the linter and the drafting read and gives a
``FactsDocument``; anything else raises ``FactsError`` with a message in JSON words. No Flask.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Annotated, Final

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)

from composer.support.datafiles import format_loc

#: The schema id every facts document carries; it changes when a path is removed or changes shape.
FACTS_SCHEMA: Final = "composer-facts/1"


class FactsError(ValueError):
    """The document is not a facts document. The message says why, e.g.
    ``its "schema" is "composer-facts/2", expected "composer-facts/1"`` or
    ``facts.data.people_affected.min: Input should be a valid integer``; the caller adds the file
    name ("incident.json: not a facts document: ...")."""


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def iso_date(value: object) -> date:
    """A fact's calendar date (``YYYY-MM-DD``); ValueError says what is wrong with it."""
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise ValueError(f"expected a date as YYYY-MM-DD, got {json.dumps(value, default=str)}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value} is not a real date") from None


def iso_date_or_none(value: object) -> date | None:
    """A fact's calendar date, or None when ``value`` is not one."""
    try:
        return iso_date(value)
    except ValueError:
        return None


IsoDate = Annotated[date, BeforeValidator(iso_date)]


class _Fact(BaseModel):
    # Extra keys are allowed: adding a path does not change the schema id (docs/facts.md).
    model_config = ConfigDict(extra="allow", frozen=True)


class Count(_Fact):
    min: StrictInt
    max: StrictInt

    @model_validator(mode="after")
    def _ordered(self) -> Count:
        if not 0 <= self.min <= self.max:
            raise ValueError(f"expected 0 <= min <= max, got min {self.min} and max {self.max}")
        return self


class DateRange(_Fact):
    start: IsoDate
    end: IsoDate

    @model_validator(mode="after")
    def _ordered(self) -> DateRange:
        if self.end < self.start:
            raise ValueError("the end is before the start")
        return self


class Category(_Fact):
    """One kind of information involved (from data_categories.yaml)."""

    id: StrictStr
    title: StrictStr
    label: StrictStr
    advice: StrictStr = ""
    flags: tuple[StrictStr, ...] = ()

    @property
    def short_label(self) -> str:
        """The label without its explanation ("your password, stored in a scrambled form")."""
        return self.label.split(",")[0].strip()


class LawEnforcement(_Fact):
    involved: StrictBool | None = None
    delay_requested: StrictBool | None = None
    #: Whether this notice went out later because law enforcement asked (California's
    #: statement); absent when no delay was requested.
    notice_delayed: StrictBool | None = None


class WhatHappened(_Fact):
    occurred: DateRange | None = None
    discovered: IsoDate | None = None
    law_enforcement: LawEnforcement | None = None


class Data(_Fact):
    categories: tuple[Category, ...] | None = None
    people_affected: Count | None = None
    records_affected: Count | None = None
    #: An email account's sign-in details (address or username with password or security
    #: questions) were involved.
    email_login_credentials: StrictBool | None = None


class CountryPhone(_Fact):
    """The phone number readers in one country call (``impact.countries``' codes)."""

    code: StrictStr
    name: StrictStr
    phone: StrictStr

    @field_validator("code")
    @classmethod
    def _country_code(cls, code: str) -> str:
        if not re.fullmatch(r"[A-Z]{2}", code):
            raise ValueError(f"expected a country code such as GB, got {json.dumps(code)}")
        return code


class Contact(_Fact):
    phone: StrictStr | None = None
    phones_by_country: tuple[CountryPhone, ...] | None = None
    email: StrictStr | None = None
    web: StrictStr | None = None
    postal: StrictStr | None = None


class ContactPoint(_Fact):
    """The data protection officer or other contact point about the data (GDPR Art 34)."""

    name: StrictStr | None = None
    email: StrictStr | None = None
    phone: StrictStr | None = None


class NextSteps(_Fact):
    contact: Contact | None = None
    dpo: ContactPoint | None = None
    customer_actions: StrictStr | None = None


class Organisation(_Fact):
    #: A US health care provider, health plan or clearinghouse (HIPAA's own notice rules).
    hipaa_covered_entity: StrictBool | None = None


class FactsBody(_Fact):
    what_happened: WhatHappened = Field(default_factory=WhatHappened)
    data: Data = Field(default_factory=Data)
    next_steps: NextSteps = Field(default_factory=NextSteps)
    organisation: Organisation = Field(default_factory=Organisation)


class Status(_Fact):
    complete: StrictBool = False
    unknown: tuple[StrictStr, ...] = ()
    missing: tuple[StrictStr, ...] = ()
    invalid: tuple[StrictStr, ...] = ()


class FactsDocument(_Fact):
    schema_id: StrictStr = Field(alias="schema")
    status: Status = Field(default_factory=Status)
    facts: FactsBody

    def known(self, path: str, value: object) -> bool:
        """True when the fact at ``path`` has a value (not unknown, missing or invalid)."""
        status = self.status
        return value is not None and path not in (
            *status.unknown,
            *status.missing,
            *status.invalid,
        )


def _json_kind(value: object) -> str:
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    if value is None:
        return "null"
    if isinstance(value, Sequence):
        return "a list"
    return type(value).__name__


_SHOULD_BE = {
    "list_type": "a list",
    "tuple_type": "a list",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "string_type": "a string",
    "bool_type": "true or false",
}


def _problem(kind: str, value: object, message: str) -> str:
    """A validation error in JSON words ("should be a list, not a string")."""
    if kind == "missing":
        return "is missing"
    if kind in _SHOULD_BE:
        return f"should be {_SHOULD_BE[kind]}, not {_json_kind(value)}"
    return message.removeprefix("Value error, ")


def parse_facts(document: object) -> FactsDocument:
    """Check the shape of a facts document (the parts the linter reads); raise FactsError."""
    if not isinstance(document, Mapping):
        raise FactsError(f"expected a JSON object, got {_json_kind(document)}")
    if "schema" not in document:
        raise FactsError(f'it has no "schema" (expected "{FACTS_SCHEMA}")')
    schema = document["schema"]
    if schema != FACTS_SCHEMA:
        shown = json.dumps(schema, default=str)
        raise FactsError(f'its "schema" is {shown}, expected "{FACTS_SCHEMA}"')
    if "facts" not in document:
        raise FactsError('it has no "facts"')
    if not isinstance(document["facts"], Mapping):
        raise FactsError(f'"facts" must be an object, not {_json_kind(document["facts"])}')
    try:
        return FactsDocument.model_validate(dict(document))
    except ValidationError as exc:
        problems = []
        for error in exc.errors()[:3]:
            loc = [part for part in error["loc"] if isinstance(part, str | int)]
            message = _problem(error["type"], error["input"], str(error["msg"]))
            problems.append(f"{format_loc(loc)}: {message}" if loc else message)
        more = len(exc.errors()) - len(problems)
        if more > 0:
            problems.append(f"and {more} more")
        raise FactsError("; ".join(problems)) from None

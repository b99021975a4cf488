"""The checklist's step machine: what is shown, what is wrong, how far along, and the facts.

Pure functions over a ``Catalogue`` and raw answers; no Flask, no database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from composer.checklist.answers import EMPTY, Parsed, parse
from composer.checklist.catalogue import Catalogue, StepRef
from composer.checklist.schema import Condition, Question
from composer.support.formatting import format_date, format_number

RawAnswers = Mapping[str, Mapping[str, Any]]
StepStatus = Literal["not-started", "in-progress", "complete", "has-errors"]


@dataclass(frozen=True)
class QuestionState:
    question: Question
    visible: bool
    parsed: Parsed
    #: The problem to show next to the field, if any (format or cross-question rule).
    error: str | None

    @property
    def answered(self) -> bool:
        return self.parsed.answered


@dataclass(frozen=True)
class Problem:
    step_id: str
    question_id: str | None
    message: str


class Evaluation:
    """Every question's state for one set of raw answers."""

    def __init__(self, catalogue: Catalogue, raw: RawAnswers, *, today: date) -> None:
        self.catalogue = catalogue
        self.raw = raw
        self.states: dict[str, QuestionState] = {}
        for ref in catalogue.steps:
            for q in ref.step.questions:
                self.states[q.id] = self._evaluate(q, today)

    def _evaluate(self, question: Question, today: date) -> QuestionState:
        visible = question.show_if is None or self._condition_holds(question.show_if)
        if not visible:
            return QuestionState(question, False, EMPTY, None)
        parsed = parse(question, self.raw.get(question.id), self.catalogue, today=today)
        error = parsed.error
        if parsed.state == "value" and question.not_before:
            error = self._not_before_error(question, parsed)
        return QuestionState(question, True, parsed, error)

    def _condition_holds(self, cond: Condition) -> bool:
        target = self.states.get(cond.question)
        if target is None or not target.visible or target.parsed.state != "value":
            return False
        value = target.parsed.value
        if cond.equals is not None:
            return bool(value == cond.equals)
        if cond.one_of is not None:
            return value in cond.one_of
        if target.question.type == "places":
            return any(code == cond.includes for code, _ in value)
        return cond.includes in value

    def _not_before_error(self, question: Question, parsed: Parsed) -> str | None:
        assert question.not_before is not None
        other = self.states[question.not_before]
        if other.parsed.state != "value" or other.error:
            return None
        earliest = _start(other.parsed.value)
        if _start(parsed.value) < earliest:
            return (
                f"This is before “{other.question.summary_label}” ({format_date(earliest)}). "
                "Check both dates."
            )
        return None

    # Steps -------------------------------------------------------------------------------

    def visible(self, ref: StepRef) -> list[QuestionState]:
        return [self.states[q.id] for q in ref.step.questions if self.states[q.id].visible]

    def step_problems(self, ref: StepRef, *, finishing: bool) -> list[Problem]:
        """Wrong answers on a step; with ``finishing``, also required answers still missing."""
        problems = [
            Problem(ref.step.id, s.question.id, s.error) for s in self.visible(ref) if s.error
        ]
        if not finishing:
            return problems
        for s in self.visible(ref):
            if s.question.required and not s.answered and not s.error:
                hint = " or tick “Not yet known”" if s.question.allow_unknown else ""
                problems.append(Problem(ref.step.id, s.question.id, f"Answer this question{hint}."))
        for rule in ref.step.require_one_of:
            if not any(self.states[qid].answered for qid in rule.questions):
                problems.append(Problem(ref.step.id, None, rule.message))
        return problems

    def step_status(self, ref: StepRef) -> StepStatus:
        states = self.visible(ref)
        if any(s.error for s in states):
            return "has-errors"
        if not self.step_problems(ref, finishing=True):
            return "complete"
        if any(s.answered for s in states):
            return "in-progress"
        return "not-started"

    def problems(self) -> list[Problem]:
        """Everything that stops the checklist being finished, in step order."""
        return [p for ref in self.catalogue.steps for p in self.step_problems(ref, finishing=True)]

    def first_unfinished(self) -> StepRef:
        for ref in self.catalogue.steps:
            if self.step_status(ref) != "complete":
                return ref
        return self.catalogue.steps[-1]

    # Facts ------------------------------------------------------------------------------

    def facts(self) -> dict[str, Any]:
        """The facts document body and its status (see docs/facts.md; ``composer.incidents`` adds
        the schema id and the incident)."""
        body: dict[str, Any] = {}
        unknown: list[str] = []
        missing: list[str] = []
        invalid: list[str] = []
        for state in self.states.values():
            q = state.question
            if not state.visible:
                continue
            value: Any = None
            if state.error:
                invalid.append(q.fact)
            elif state.parsed.state == "value":
                value = fact_value(q, state.parsed.value, self.catalogue)
            elif state.parsed.state == "unknown":
                unknown.append(q.fact)
            elif q.required:
                missing.append(q.fact)
            _put(body, q.fact, value)
        problems = self.problems()
        return {
            "facts": body,
            "status": {
                "complete": not problems,
                "unknown": unknown,
                "missing": missing,
                "invalid": invalid,
            },
        }


def _start(value: Any) -> date:
    return value[0] if isinstance(value, tuple) else value  # type: ignore[no-any-return]


def _put(body: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    node = body
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value


def fact_value(question: Question, value: Any, catalogue: Catalogue) -> Any:
    """A checked value in its documented JSON form."""
    kind = question.type
    if kind == "date":
        return value.isoformat()
    if kind == "date_range":
        return {"start": value[0].isoformat(), "end": value[1].isoformat()}
    if kind == "count":
        return {"min": value[0], "max": value[1]}
    if kind == "data_categories":
        return [
            {
                "id": c.id,
                "title": c.title,
                "label": c.label,
                "advice": c.advice,
                "flags": list(c.flags),
            }
            for c in (catalogue.categories[i] for i in value)
        ]
    if kind == "places":
        names = catalogue.place_names[question.places or "countries"]
        return [{"code": code, "name": names[code], "count": count} for code, count in value]
    if kind == "country_phones":
        names = catalogue.place_names["countries"]
        return [{"code": code, "name": names[code], "phone": phone} for code, phone in value]
    return value


def describe(state: QuestionState, catalogue: Catalogue) -> str:
    """The answer as a customer-facing phrase for the fact sheet ('' when not answered)."""
    q, parsed = state.question, state.parsed
    if parsed.state != "value":
        return ""
    value = parsed.value
    kind = q.type
    if kind == "date":
        return format_date(value)
    if kind == "date_range":
        start, end = value
        if start == end:
            return format_date(start)
        return f"{format_date(start)} to {format_date(end)}"
    if kind == "yes_no":
        return "Yes" if value else "No"
    if kind == "choice":
        return next(o.label for o in q.options or [] if o.id == value)
    if kind == "multichoice":
        return "; ".join(o.label for o in q.options or [] if o.id in value)
    if kind == "data_categories":
        return "; ".join(catalogue.categories[i].title for i in value)
    if kind == "count":
        low, high = value
        if low == high:
            return format_number(low)
        return f"{format_number(low)} to {format_number(high)}"
    if kind == "integer":
        return format_number(value)
    if kind == "places":
        names = catalogue.place_names[q.places or "countries"]
        return "; ".join(
            names[code] + ("" if count is None else f" ({format_number(count)})")
            for code, count in value
        )
    if kind == "country_phones":
        names = catalogue.place_names["countries"]
        return "; ".join(f"{names[code]}: {phone}" for code, phone in value)
    return str(value)

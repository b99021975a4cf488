"""Incidents and their checklist answers: create, save a step, finish, and the facts document.

Plain functions over a SQLAlchemy session; the caller commits. Every change is audited.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from composer import audit
from composer.checklist import Catalogue, Evaluation, Problem, StepRef
from composer.facts import FACTS_SCHEMA
from composer.models import Answer, Incident, User, utcnow

TITLE_LIMIT = 200


class IncidentError(ValueError):
    """A problem with what the user asked for, written for them."""


def create_incident(session: Session, catalogue: Catalogue, *, title: str, by: User) -> Incident:
    title = " ".join(title.split())
    if not title:
        raise IncidentError("Give the incident a short name, for example “Supplier email leak”.")
    if len(title) > TITLE_LIMIT:
        raise IncidentError(f"Keep the name under {TITLE_LIMIT} characters.")
    incident = Incident(
        title=title,
        checklist_id=catalogue.checklist.id,
        checklist_version=catalogue.checklist.version,
        created_by_id=by.id,
    )
    session.add(incident)
    session.flush()
    audit.record(
        session,
        actor=by,
        action="incident.created",
        subject_type="incident",
        subject_id=incident.id,
        after={
            "title": title,
            "checklist": f"{incident.checklist_id}/v{incident.checklist_version}",
        },
    )
    return incident


def evaluate(catalogue: Catalogue, incident: Incident, *, today: date) -> Evaluation:
    return Evaluation(catalogue, incident.raw_answers(), today=today)


def save_answers(
    session: Session,
    catalogue: Catalogue,
    incident: Incident,
    ref: StepRef,
    raw_by_question: Mapping[str, dict[str, Any]],
    *,
    by: User,
    today: date,
) -> Evaluation:
    """Store a step's raw answers as typed, valid or not, so nothing is lost.

    Returns the evaluation after the save; the caller decides whether to move on.
    """
    existing = {a.question_id: a for a in incident.answers}
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for question in ref.step.questions:
        new = raw_by_question.get(question.id)
        if new is None:
            continue
        row = existing.get(question.id)
        old = row.value if row else None
        if old == new or (old is None and _is_empty(new)):
            continue
        before[question.id] = old
        after[question.id] = new
        if row is None:
            incident.answers.append(Answer(question_id=question.id, value=new, updated_by_id=by.id))
        else:
            row.value = new
            row.updated_by_id = by.id
    incident.last_step_id = ref.step.id
    evaluation = Evaluation(catalogue, incident.raw_answers(), today=today)
    if after:
        incident.updated_at = utcnow()
        if incident.completed_at is not None and evaluation.problems():
            incident.completed_at = None
            after["_checklist"] = "reopened: an answer is now missing or wrong"
        audit.record(
            session,
            actor=by,
            action="incident.answers_changed",
            subject_type="incident",
            subject_id=incident.id,
            before=before,
            after=after,
        )
    return evaluation


def _is_empty(raw: Mapping[str, Any]) -> bool:
    return not any(v for v in raw.values())


def finish(
    session: Session, catalogue: Catalogue, incident: Incident, *, by: User, today: date
) -> list[Problem]:
    """Mark the checklist finished, or return what stops it (nothing is changed then)."""
    problems = evaluate(catalogue, incident, today=today).problems()
    if problems or incident.completed_at is not None:
        return problems
    incident.completed_at = utcnow()
    audit.record(
        session,
        actor=by,
        action="incident.checklist_finished",
        subject_type="incident",
        subject_id=incident.id,
    )
    return []


def facts_document(catalogue: Catalogue, incident: Incident, *, today: date) -> dict[str, Any]:
    """The incident's facts in the documented schema (docs/facts.md)."""
    evaluated = evaluate(catalogue, incident, today=today).facts()
    return {
        "schema": FACTS_SCHEMA,
        "incident": {
            "id": incident.id,
            "title": incident.title,
            "created_at": incident.created_at.isoformat(),
            "updated_at": incident.updated_at.isoformat(),
            "checklist_finished_at": (
                incident.completed_at.isoformat() if incident.completed_at else None
            ),
        },
        "checklist": {"id": incident.checklist_id, "version": incident.checklist_version},
        "status": evaluated["status"],
        "facts": evaluated["facts"],
    }

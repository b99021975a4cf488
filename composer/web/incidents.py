"""Incidents: the list, the checklist wizard, the fact sheet and the facts JSON."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from composer import approval, evidence, incidents
from composer.checklist import Evaluation, StepRef, describe, raw_from_form
from composer.extensions import db
from composer.models import Incident, Role
from composer.notices import versions
from composer.web import kept_forms
from composer.web.access import can, require_role, signed_in
from composer.web.common import catalogue, today
from composer.web.deadlines import deadlines_panel
from composer.web.forms.incidents import NewIncidentForm, StepForm

bp = Blueprint("incidents", __name__, url_prefix="/incidents")


def _incident(incident_id: int, *, for_update: bool = False) -> Incident:
    query = select(Incident).where(Incident.id == incident_id)
    if for_update:
        query = query.with_for_update(of=Incident)
    incident = db.session.scalar(query)
    if incident is None:
        abort(404, description=f"There is no incident number {incident_id}.")
    return incident


def _step(step_id: str) -> StepRef:
    ref = catalogue().step(step_id)
    if ref is None:
        abort(404, description=f"The checklist has no step called “{step_id}”.")
    return ref


@bp.get("/")
@signed_in
def index() -> str:
    rows = db.session.scalars(select(Incident).order_by(Incident.updated_at.desc())).all()
    cat = catalogue()
    progress = {}
    for incident in rows:
        evaluation = incidents.evaluate(cat, incident, today=today())
        done = sum(evaluation.step_status(ref) == "complete" for ref in cat.steps)
        progress[incident.id] = (done, len(cat.steps))
    drafted = versions.version_counts(db.session())
    kept = kept_forms.take("incidents.create")
    return render_template(
        "incidents/index.html",
        incidents=rows,
        progress=progress,
        drafted=drafted,
        can_create=can(Role.AUTHOR),
        title=kept.get("title") if kept else "",
    )


@bp.post("/")
@require_role(Role.AUTHOR)
def create() -> Response | tuple[str, int]:
    form = NewIncidentForm.posted()
    try:
        incident = incidents.create_incident(
            db.session(), catalogue(), title=form.title, by=current_user
        )
    except incidents.IncidentError as exc:
        db.session.rollback()
        rows = db.session.scalars(select(Incident).order_by(Incident.updated_at.desc())).all()
        body = render_template(
            "incidents/index.html",
            incidents=rows,
            progress={},
            drafted=versions.version_counts(db.session()),
            can_create=True,
            create_error=str(exc),
            title=form.title,
        )
        return body, 422
    db.session.commit()
    return redirect(url_for(".step", incident_id=incident.id, step_id=catalogue().steps[0].step.id))


@bp.get("/<int:incident_id>")
@signed_in
def resume(incident_id: int) -> Response:
    """Pick up where the checklist was left: the last step saved, or the fact sheet."""
    incident = _incident(incident_id)
    if incident.completed_at is not None:
        return redirect(url_for(".summary", incident_id=incident_id))
    ref = catalogue().step(incident.last_step_id or "") or catalogue().steps[0]
    return redirect(url_for(".step", incident_id=incident_id, step_id=ref.step.id))


def render_step(
    incident: Incident,
    ref: StepRef,
    evaluation: Evaluation,
    *,
    show_errors: bool,
    notice: str | None = None,
    status: int = 200,
) -> tuple[str, int]:
    cat = catalogue()
    errors = {p.question_id: p.message for p in evaluation.step_problems(ref, finishing=False)}
    body = render_template(
        "incidents/step.html",
        incident=incident,
        ref=ref,
        steps=cat.steps,
        statuses={r.step.id: evaluation.step_status(r) for r in cat.steps},
        evaluation=evaluation,
        raw=evaluation.raw,
        errors=errors if show_errors else {},
        catalogue=cat,
        can_edit=can(Role.AUTHOR),
        notice=notice,
    )
    return body, status


@bp.get("/<int:incident_id>/steps/<step_id>")
@signed_in
def step(incident_id: int, step_id: str) -> tuple[str, int]:
    incident = _incident(incident_id)
    ref = _step(step_id)
    kept = kept_forms.take("incidents.save_step", incident_id=incident_id, step_id=step_id)
    if kept is not None:
        # Typed before the session ended: shown in place of the saved answers, not saved.
        typed = {q.id: raw_from_form(q, kept.fields) for q in ref.step.questions}
        evaluation = Evaluation(catalogue(), {**incident.raw_answers(), **typed}, today=today())
        return render_step(incident, ref, evaluation, show_errors=True)
    evaluation = incidents.evaluate(catalogue(), incident, today=today())
    # Show problems with answers already saved, so a resumed step explains itself.
    return render_step(incident, ref, evaluation, show_errors=True)


def posted_raw(ref: StepRef) -> dict[str, dict[str, Any]]:
    form = request.form.to_dict(flat=False)
    return {q.id: raw_from_form(q, form) for q in ref.step.questions}


@bp.post("/<int:incident_id>/steps/<step_id>")
@require_role(Role.AUTHOR)
def save_step(incident_id: int, step_id: str) -> Response | tuple[str, int]:
    cat = catalogue()
    incident = _incident(incident_id, for_update=True)
    ref = _step(step_id)
    action = StepForm.posted().action
    evaluation = incidents.save_answers(
        db.session(), cat, incident, ref, posted_raw(ref), by=current_user, today=today()
    )
    db.session.commit()
    if action == "back":
        target = cat.steps[max(ref.index - 1, 0)]
        return redirect(url_for(".step", incident_id=incident_id, step_id=target.step.id))
    if action == "exit":
        flash("Saved. You can pick up where you left off at any time.", "success")
        return redirect(url_for(".index"))
    if action == "summary":
        return redirect(url_for(".summary", incident_id=incident_id))
    if action.startswith("goto:"):
        target = _step(action.removeprefix("goto:"))
        return redirect(url_for(".step", incident_id=incident_id, step_id=target.step.id))
    if evaluation.step_problems(ref, finishing=False):
        return render_step(
            incident,
            ref,
            evaluation,
            show_errors=True,
            notice="Your answers are saved, but some need fixing before you go on.",
            status=422,
        )
    if ref.index + 1 < len(cat.steps):
        target = cat.steps[ref.index + 1]
        return redirect(url_for(".step", incident_id=incident_id, step_id=target.step.id))
    return redirect(url_for(".summary", incident_id=incident_id))


@bp.get("/<int:incident_id>/summary")
@signed_in
def summary(incident_id: int) -> tuple[str, int]:
    return _render_summary(_incident(incident_id))


def _render_summary(
    incident: Incident, *, finish_problems: bool = False, status: int = 200
) -> tuple[str, int]:
    cat = catalogue()
    evaluation = incidents.evaluate(cat, incident, today=today())
    problems = evaluation.problems()
    body = render_template(
        "incidents/summary.html",
        incident=incident,
        catalogue=cat,
        evaluation=evaluation,
        describe=describe,
        problems=problems,
        show_problems=finish_problems,
        statuses={r.step.id: evaluation.step_status(r) for r in cat.steps},
        steps=cat.steps,
        can_edit=can(Role.AUTHOR),
        latest_version=versions.latest_version(db.session(), incident),
        review=approval.current_review(db.session(), incident),
        audit_trail=evidence.recent_trail(db.session(), incident.id),
        deadlines_panel=deadlines_panel(incident),
    )
    return body, status


@bp.post("/<int:incident_id>/finish")
@require_role(Role.AUTHOR)
def finish(incident_id: int) -> Response | tuple[str, int]:
    incident = _incident(incident_id, for_update=True)
    problems = incidents.finish(db.session(), catalogue(), incident, by=current_user, today=today())
    if problems:
        db.session.rollback()
        return _render_summary(incident, finish_problems=True, status=422)
    db.session.commit()
    flash("The checklist is finished. The facts are ready for drafting.", "success")
    return redirect(url_for(".summary", incident_id=incident_id))


@bp.get("/<int:incident_id>/facts.json")
@signed_in
def facts_json(incident_id: int) -> Response:
    incident = _incident(incident_id)
    return jsonify(incidents.facts_document(catalogue(), incident, today=today()))

"""The notice editor, its versions and their differences.

The editor page works without JavaScript (the findings are computed by
:mod:`composer.web.linting`, or taken from its cache of results when the same text was checked
with the same facts and switches); with it, static/js/lint-panel.js checks the text as it is
typed through ``POST /api/lint``. A check in a request stops after ``LINT_TIME_BUDGET_SECONDS``
and says how much it checked. Every save of changed text makes a new, numbered version
(composer/notices/versions.py); "Draft notice" writes one from the incident's facts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import (
    Blueprint,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response

from composer import approval, incidents
from composer.extensions import current_settings, db
from composer.models import Incident, NoticeVersion, Role, VersionSource
from composer.notices import versions as notices
from composer.notices.diff import diff_notices
from composer.web import kept_forms
from composer.web.access import can, require_role, signed_in
from composer.web.common import catalogue, company_name, linter, today
from composer.web.forms.notices import NoticeForm
from composer.web.incidents import _incident
from composer.web.linting import CATEGORY_LABELS, grouped, lint_subject, lint_text

if TYPE_CHECKING:
    pass

bp = Blueprint("notices", __name__, url_prefix="/incidents")

SOURCE_LABELS = {
    VersionSource.DRAFT_FROM_FACTS.value: "Drafted from the facts",
    VersionSource.EDIT.value: "Edited",
}


def body_limit() -> int:
    return current_settings().lint_max_chars


def _version_or_404(incident: Incident, number: int) -> NoticeVersion:
    version = notices.get_version(db.session(), incident, number)
    if version is None:
        abort(404, description=f"The notice for this incident has no version {number}.")
    return version


def render_editor(
    incident: Incident,
    version: NoticeVersion | None,
    *,
    subject: str | None = None,
    body: str | None = None,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    conflict: notices.VersionConflict | None = None,
    seen_latest: int | None = None,
    status: int = 200,
) -> tuple[str, int]:
    """The editor on ``version`` (None: nothing saved yet). ``subject`` and ``body`` are text that
    was posted but not saved: shown, and linted, in place of the version's. ``seen_latest``: the
    newest version the writer had seen, when not the newest now."""
    latest = notices.latest_version(db.session(), incident)
    saved_subject = version.subject if version else ""
    saved_body = version.body if version else ""
    shown_subject = saved_subject if subject is None else notices.normalise_newlines(subject)
    shown_body = saved_body if body is None else notices.normalise_newlines(body)
    limit = body_limit()
    # An empty editor gets no findings: "the notice does not say ..." helps nobody yet.
    result = (
        lint_text(shown_body, incident) if shown_body.strip() and len(shown_body) <= limit else None
    )
    from composer.rendering.merge_fields import MERGE_FIELDS
    from composer.rendering.validation import MAX_SUBJECT_CHARS

    page = render_template(
        "incidents/notice.html",
        incident=incident,
        version=version,
        latest=latest,
        subject=shown_subject,
        body=shown_body,
        unsaved=(shown_subject, shown_body) != (saved_subject, saved_body),
        result=result,
        initial=result.to_json() if result else None,
        subject_findings=(
            lint_subject(shown_subject) if len(shown_subject) <= MAX_SUBJECT_CHARS else []
        ),
        target_grade=f"{linter().config.target_grade:g}",
        groups=grouped(result) if result else [],
        labels=CATEGORY_LABELS,
        source_labels=SOURCE_LABELS,
        merge_fields=MERGE_FIELDS,
        max_chars=limit,
        max_subject_chars=MAX_SUBJECT_CHARS,
        can_edit=can(Role.AUTHOR),
        errors=errors or {},
        notice=notice,
        conflict=conflict,
        # A second press after a conflict saves: the writer has now seen the newer version.
        seen_latest=seen_latest if seen_latest is not None else (latest.number if latest else 0),
        review=approval.current_review(db.session(), incident),
    )
    return page, status


@bp.get("/<int:incident_id>/notice")
@signed_in
def editor(incident_id: int) -> tuple[str, int]:
    incident = _incident(incident_id)
    kept = kept_forms.take("notices.save", incident_id=incident_id)
    if kept is not None:
        # Typed before the session ended: shown against the version it was typed on, so saving
        # it over a newer version still asks first.
        parent = kept.get("parent")
        shown = (
            notices.get_version(db.session(), incident, int(parent)) if parent.isdigit() else None
        )
        seen = kept.get("seen_latest")
        return render_editor(
            incident,
            shown,
            subject=kept.get("subject"),
            body=kept.get("body"),
            seen_latest=int(seen) if seen.isdigit() else 0,
        )
    return render_editor(incident, notices.latest_version(db.session(), incident))


@bp.get("/<int:incident_id>/notice/versions/<int:number>")
@signed_in
def editor_version(incident_id: int, number: int) -> tuple[str, int]:
    incident = _incident(incident_id)
    return render_editor(incident, _version_or_404(incident, number))


@bp.post("/<int:incident_id>/notice")
@require_role(Role.AUTHOR)
def save(incident_id: int) -> Response | tuple[str, int]:
    incident = _incident(incident_id, for_update=True)
    form = NoticeForm.posted()
    parent = notices.get_version(db.session(), incident, form.parent) if form.parent else None
    try:
        result = notices.save_version(
            db.session(),
            incident,
            subject=form.subject,
            body=form.body,
            by=current_user,
            parent=parent,
            seen_latest=form.seen_latest,
            max_body_chars=body_limit(),
        )
        db.session.commit()
    except (notices.NoticeInvalid, notices.VersionConflict, IntegrityError) as exc:
        # IntegrityError: two saves at the same moment on a database without row locks
        # (SQLite), and the other one took the number. The same as a conflict for the writer.
        db.session.rollback()
        incident = _incident(incident_id)
        shown = None
        if form.parent:
            shown = notices.get_version(db.session(), incident, form.parent)
        if isinstance(exc, notices.NoticeInvalid):
            return render_editor(
                incident, shown, subject=form.subject, body=form.body, errors=exc.errors, status=422
            )
        latest = notices.latest_version(db.session(), incident)
        if latest is None:  # pragma: no cover - an IntegrityError with nothing saved
            raise
        seen = exc.seen if isinstance(exc, notices.VersionConflict) else (form.seen_latest or 0)
        conflict = notices.VersionConflict(latest, seen)
        return render_editor(
            incident, shown, subject=form.subject, body=form.body, conflict=conflict, status=409
        )
    version = result.version
    assert version is not None
    if result.created:
        flash(f"Saved as version {version.number}.", "success")
    else:
        flash(f"No changes to save: the text is the same as version {version.number}.", "info")
    return redirect(url_for(".editor", incident_id=incident_id))


@bp.post("/<int:incident_id>/notice/draft")
@require_role(Role.AUTHOR)
def draft(incident_id: int) -> Response:
    """Write a draft from the incident's facts, save it as a version and open it."""
    incident = _incident(incident_id, for_update=True)
    facts = incidents.facts_document(catalogue(), incident, today=today())
    try:
        drafted = notices.draft_from_facts(
            db.session(),
            incident,
            facts,
            company=company_name(),
            by=current_user,
            max_body_chars=body_limit(),
        )
    except notices.NoticeError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for(".editor", incident_id=incident_id))
    db.session.commit()
    version = drafted.result.version
    assert version is not None
    if drafted.result.created:
        flash(f"Drafted from the facts and saved as version {version.number}.", "success")
    else:
        flash(
            f"The draft from the facts is the same as version {version.number}, "
            "so nothing new was saved.",
            "info",
        )
    if drafted.open_answers:
        answers = "answer is" if drafted.open_answers == 1 else "answers are"
        flash(
            f"The checklist is not finished: {drafted.open_answers} {answers} still missing "
            "or need fixing, so the draft has [WORDS IN SQUARE BRACKETS] where those facts go. "
            "Fill them in here, or finish the checklist and draft again.",
            "warning",
        )
    if drafted.unknown_facts:
        facts_word = "fact is" if drafted.unknown_facts == 1 else "facts are"
        flash(
            f"{drafted.unknown_facts} {facts_word} marked “Not yet known”: the draft says so "
            "plainly, and says when customers will hear more.",
            "info",
        )
    return redirect(url_for(".editor", incident_id=incident_id))


@bp.get("/<int:incident_id>/notice/versions")
@signed_in
def history(incident_id: int) -> str:
    incident = _incident(incident_id)
    versions = notices.list_versions(db.session(), incident)
    return render_template(
        "incidents/notice_versions.html",
        incident=incident,
        versions=list(reversed(versions)),
        source_labels=SOURCE_LABELS,
        can_edit=can(Role.AUTHOR),
    )


def _query_number(name: str) -> int | None:
    value = request.args.get(name)
    if value is None or value == "":
        return None
    if not value.isdigit():
        abort(400, description=f"“{name}” must be a version number, like 1 or 2.")
    return int(value)


@bp.get("/<int:incident_id>/notice/diff")
@signed_in
def diff(incident_id: int) -> tuple[str, int]:
    """The differences from version ``a`` to version ``b`` (default: the two newest)."""
    incident = _incident(incident_id)
    versions = notices.list_versions(db.session(), incident)
    if not versions:
        abort(404, description="The notice for this incident has no versions to compare yet.")
    a_number = _query_number("a")
    b_number = _query_number("b")
    if b_number is None:
        b_number = versions[-1].number
    if a_number is None:
        a_number = max(b_number - 1, 1)
    old = _version_or_404(incident, a_number)
    new = _version_or_404(incident, b_number)
    result = diff_notices(old.subject, old.body, new.subject, new.body)
    page = render_template(
        "incidents/notice_diff.html",
        incident=incident,
        old=old,
        new=new,
        diff=result,
        versions=versions,
        source_labels=SOURCE_LABELS,
    )
    return page, 200

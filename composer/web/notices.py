"""The notice editor: write or paste the incident's notice, save it, see the linter's findings.

The page works without JavaScript (the findings are computed here, on every load); with it,
static/js/lint-panel.js checks the text as it is typed through ``POST /api/lint``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from composer import incidents, notices
from composer.extensions import db
from composer.models import Incident, NoticeDraft, Role
from composer.web import catalogue, linter, today
from composer.web.access import can, require_role, signed_in
from composer.web.incidents import _incident

if TYPE_CHECKING:
    from composer.lint.findings import LintResult

bp = Blueprint("notices", __name__, url_prefix="/incidents")

#: How each finding category is named on screen (the ids are fixed by LINT.md), in the order the
#: colour key lists them: span categories first, then document-level ones.
CATEGORY_LABELS = {
    "hedge": (
        "Hedging",
        "“may have been”, “potentially”: say what happened or what you don't know",
    ),
    "vague-agent": ("Who is vague", "“a third party”: name who did it or who holds the data"),
    "vague-scope": ("How many or what is vague", "“some customers”: give a number or a list"),
    "jargon": ("Jargon", "“compromised”, “PII”: use the everyday word"),
    "cliche": ("Cliché", "“we take your privacy seriously”: says nothing"),
    "agentless-passive": ("Hidden actor", "“data was accessed”: say who did it"),
    "unsupported-claim": ("Claim you can't back", "“every step”, “will not happen again”"),
    "blame-shift": ("Shifting blame", "“outside of our systems”: own it"),
    "threat": ("Cold or threatening tone", "“failure to … will result in”"),
    "readability": ("Hard to read", "long sentences, high grade level"),
    "structure": ("Structure", "facts first, headings"),
    "missing-element": ("Missing", "something the facts or the law need the notice to say"),
    "consistency": ("Contradicts the facts", "a different number, date or kind of data"),
}
SEVERITIES = (("error", "Errors"), ("warning", "Warnings"), ("suggestion", "Suggestions"))


def lint_text(text: str, incident: Incident | None) -> LintResult:
    """Lint ``text``; with an incident, also against that incident's facts."""
    from composer.lint.factcheck import FactsError

    engine = linter()
    if incident is None:
        return engine.lint(text)
    facts = incidents.facts_document(catalogue(), incident, today=today())
    try:
        return engine.lint(text, facts=facts)
    except FactsError:
        # Our own facts document should always be valid: a bug, so log it, but the reader
        # still gets every check that does not need the facts.
        current_app.logger.exception("Incident %s: facts document refused by linter", incident.id)
        return engine.lint(text)


def grouped(result: LintResult) -> list[tuple[str, str, list[Any]]]:
    """Findings grouped by severity (errors first), each group in text order."""
    return [
        (severity, title, [f for f in result.findings if f.severity == severity])
        for severity, title in SEVERITIES
    ]


def render_editor(
    incident: Incident,
    draft: NoticeDraft | None,
    *,
    body: str | None = None,
    error: str | None = None,
    notice: str | None = None,
    status: int = 200,
) -> tuple[str, int]:
    """The editor page. ``body`` is text that was posted but not saved (shown, and linted)."""
    saved = draft.body if draft else ""
    shown = saved if body is None else notices.normalise_body(body)
    limit = int(current_app.config["LINT_MAX_CHARS"])
    # An empty editor gets no findings: "the notice does not say ..." helps nobody yet.
    result = lint_text(shown, incident) if shown.strip() and len(shown) <= limit else None
    target_grade = linter().config.target_grade
    page = render_template(
        "incidents/notice.html",
        incident=incident,
        draft=draft,
        body=shown,
        unsaved=shown != saved,
        result=result,
        initial=result.to_json() if result else None,
        target_grade=f"{target_grade:g}",
        groups=grouped(result) if result else [],
        labels=CATEGORY_LABELS,
        max_chars=limit,
        can_edit=can(Role.AUTHOR),
        error=error,
        notice=notice,
    )
    return page, status


@bp.get("/<int:incident_id>/notice")
@signed_in
def editor(incident_id: int) -> tuple[str, int]:
    incident = _incident(incident_id)
    return render_editor(incident, notices.draft_for(db.session(), incident))


@bp.post("/<int:incident_id>/notice")
@require_role(Role.AUTHOR)
def save(incident_id: int) -> Response | tuple[str, int]:
    incident = _incident(incident_id, for_update=True)
    body = request.form.get("body", "")
    before = notices.draft_for(db.session(), incident)
    old_body = before.body if before else ""
    try:
        draft = notices.save_draft(
            db.session(),
            incident,
            body,
            by=current_user,
            max_chars=int(current_app.config["LINT_MAX_CHARS"]),
        )
    except notices.NoticeError as exc:
        db.session.rollback()
        incident = _incident(incident_id)
        return render_editor(
            incident,
            notices.draft_for(db.session(), incident),
            body=body,
            error=str(exc),
            status=422,
        )
    changed = draft.body != old_body
    db.session.commit()
    flash("Saved." if changed else "No changes to save.", "success" if changed else "info")
    return redirect(url_for(".editor", incident_id=incident_id))

"""Submitting a notice version for legal review."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import flash, redirect, render_template, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from composer import approval
from composer.extensions import db
from composer.models import Incident, NoticeVersion, Role
from composer.notices import versions
from composer.rendering.errors import RenderError
from composer.web import kept_forms
from composer.web.access import require_role
from composer.web.forms.reviews import SubmitForm
from composer.web.incidents import _incident
from composer.web.linting import CATEGORY_LABELS, lint_subject, lint_text
from composer.web.reviews.context import bundle_for, default_required
from composer.web.reviews.notify import deliver_mail, notify_approvers


@dataclass(frozen=True)
class SubmitCheck:
    version: NoticeVersion
    summary: dict[str, Any]
    errors: list[Any]
    warnings: list[approval.WarningToAcknowledge]


def _check_for_submit(incident: Incident, version: NoticeVersion) -> SubmitCheck:
    result = lint_text(version.body, incident)
    subject_findings = lint_subject(version.subject)
    errors = [f for f in [*subject_findings, *result.findings] if f.severity == "error"]
    return SubmitCheck(
        version=version,
        summary=approval.lint_summary(result, subject_findings),
        errors=errors,
        warnings=approval.warnings_to_acknowledge(result, subject_findings),
    )


def _render_submit(
    incident: Incident,
    check: SubmitCheck,
    *,
    reasons: dict[str, str] | None = None,
    problems: dict[str, str] | None = None,
    message: str | None = None,
    status: int = 200,
) -> tuple[str, int]:
    session = db.session()
    page = render_template(
        "reviews/submit.html",
        incident=incident,
        version=check.version,
        summary=check.summary,
        errors=check.errors,
        warnings=check.warnings,
        reasons=reasons or {},
        problems=problems or {},
        message=message,
        labels=CATEGORY_LABELS,
        open_review=approval.open_review(session, incident),
        required=approval.required_approvals(incident, default_required()),
        max_reason=approval.review.MAX_REASON_CHARS,
    )
    return page, status


def _latest_or_redirect(incident: Incident) -> NoticeVersion | Response:
    latest = versions.latest_version(db.session(), incident)
    if latest is None:
        flash("There is no notice to submit yet: write or draft one first.", "error")
        return redirect(url_for("notices.editor", incident_id=incident.id))
    return latest


@require_role(Role.AUTHOR)
def submit_form(incident_id: int) -> Response | tuple[str, int]:
    incident = _incident(incident_id)
    latest = _latest_or_redirect(incident)
    if isinstance(latest, Response):
        return latest
    kept = kept_forms.take("reviews.submit", incident_id=incident_id)
    reasons = None
    if kept is not None:
        reasons = {
            name.removeprefix("reason-"): values[0] if values else ""
            for name, values in kept.fields.items()
            if name.startswith("reason-")
        }
    return _render_submit(incident, _check_for_submit(incident, latest), reasons=reasons)


@require_role(Role.AUTHOR)
def submit(incident_id: int) -> Response | tuple[str, int]:
    incident = _incident(incident_id, for_update=True)
    latest = _latest_or_redirect(incident)
    if isinstance(latest, Response):
        return latest
    check = _check_for_submit(incident, latest)
    form = SubmitForm.posted()
    reasons = {w.key: form.reasons.get(w.key, "") for w in check.warnings}
    if form.sha256 != latest.sha256:
        return _render_submit(
            incident,
            check,
            reasons=reasons,
            message=(
                f"Version {latest.number} was saved while you were on this page, so nothing was "
                f"submitted. Check version {latest.number} below and submit it."
            ),
            status=409,
        )
    try:
        bundle = bundle_for(incident, latest)
        review = approval.submit(
            db.session(),
            incident,
            latest,
            by=current_user,
            summary=check.summary,
            warnings=check.warnings,
            reasons=reasons,
            bundle=bundle,
            default_required=default_required(),
        )
    except approval.SubmitRefused as exc:
        db.session.rollback()
        return _render_submit(
            _incident(incident_id),
            check,
            reasons=reasons,
            problems=exc.problems,
            message=str(exc),
            status=422,
        )
    except RenderError as exc:
        db.session.rollback()
        return _render_submit(
            _incident(incident_id),
            check,
            reasons=reasons,
            message=f"This version cannot be rendered, so it cannot go to review: {exc}",
            status=422,
        )
    notified = notify_approvers(incident, review)
    db.session.commit()
    deliver_mail()
    who = f"{notified} approver{'s' if notified != 1 else ''}" if notified else "no approver"
    flash(
        f"Version {latest.number} is with legal for review. We told {who} by email and in the "
        "review queue.",
        "success",
    )
    if not notified:
        flash(
            "Nobody can approve it yet: there is no active approver who did not write it. "
            "Ask an admin to add one.",
            "warning",
        )
    return redirect(url_for(".review", incident_id=incident_id, review_id=review.id))

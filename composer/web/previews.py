"""Previews of a notice version: the email, the PDF letter (an image of page 1 and a download),
the web-page version and the SMS summary, all for a made-up sample recipient.

Draft text is never shown as HTML in the app's own pages. The email and the web page are shown
in ``<iframe sandbox>`` elements whose documents come from routes that send a
``Content-Security-Policy: sandbox; default-src 'none'; ...`` header, so even if the renderer let
something through, it could run no script and load nothing, in a unique origin.
"""

from __future__ import annotations

import io
from typing import Final

from flask import Blueprint, abort, render_template, send_file
from werkzeug.wrappers import Response

from composer import incidents
from composer.extensions import current_settings, db
from composer.models import Incident, NoticeVersion
from composer.notices import previews, versions
from composer.rendering.errors import RenderBusy, RenderError
from composer.web.access import signed_in
from composer.web.common import catalogue, company_name, today
from composer.web.incidents import _incident
from composer.web.notices import SOURCE_LABELS

bp = Blueprint("previews", __name__, url_prefix="/incidents")

#: For the documents shown inside the preview frames: no script, no plugins, no requests of any
#: kind (the email's and page's styles are inline), a unique origin, framed only by our pages.
SANDBOX_CSP: Final = (
    "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
)


def _version(incident_id: int, number: int) -> tuple[Incident, NoticeVersion]:
    incident = _incident(incident_id)
    version = versions.get_version(db.session(), incident, number)
    if version is None:
        abort(404, description=f"The notice for this incident has no version {number}.")
    return incident, version


def _letter_options(incident: Incident) -> previews.LetterOptions:
    facts = incidents.facts_document(catalogue(), incident, today=today())
    return previews.letter_options(
        facts,
        company=company_name(),
        letter_date=today(),
        logo=current_settings().letter_logo or None,
    )


def _timeout() -> float:
    return current_settings().render_timeout_seconds


def _wait() -> float:
    return current_settings().render_wait_seconds


def _checked(version: NoticeVersion) -> str | None:
    """Why the version cannot be rendered at all (a bad subject or merge field), or None."""
    from composer.rendering.validation import validate_draft

    try:
        validate_draft(version)
    except RenderError as exc:
        return str(exc)
    return None


def _framed(html: str) -> Response:
    response = Response(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = SANDBOX_CSP
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


def _render_error(message: str) -> tuple[str, int]:
    page = render_template(
        "error.html",
        code=422,
        title="This version could not be rendered",
        message=message,
    )
    return page, 422


@bp.get("/<int:incident_id>/notice/versions/<int:number>/previews")
@signed_in
def page(incident_id: int, number: int) -> str:
    incident, version = _version(incident_id, number)
    latest = versions.latest_version(db.session(), incident)
    problem = _checked(version)
    email: previews.EmailPreview | None = None
    email_error = letter_error = page_error = None
    if problem is None:
        try:
            email = previews.email_preview(version, company=company_name())
        except RenderError as exc:
            email_error = str(exc)
        try:
            # Rendered here, not only when the image is asked for, so a refusal or a time-out
            # is explained on this page; the image and the PDF then come from the cache.
            previews.letter_png(
                version, _letter_options(incident), timeout=_timeout(), wait=_wait()
            )
        except RenderError as exc:  # RenderBusy too: the rest of the page is still useful
            letter_error = str(exc)
        try:
            previews.page_preview(version, company=company_name(), published=today())
        except RenderError as exc:
            page_error = str(exc)
    facts = incidents.facts_document(catalogue(), incident, today=today())
    sms = previews.sms_preview(facts, company=company_name())
    return render_template(
        "incidents/notice_previews.html",
        incident=incident,
        version=version,
        latest=latest,
        problem=problem,
        email=email,
        email_error=email_error,
        letter_error=letter_error,
        page_error=page_error,
        sms=sms,
        sample=previews.SAMPLE_RECIPIENT,
        source_labels=SOURCE_LABELS,
    )


@bp.get("/<int:incident_id>/notice/versions/<int:number>/email.html")
@signed_in
def email_html(incident_id: int, number: int) -> Response | tuple[str, int]:
    """The email's HTML part, for the preview frame only (sandboxed by its CSP)."""
    _incident_row, version = _version(incident_id, number)
    try:
        email = previews.email_preview(version, company=company_name())
    except RenderError as exc:
        return _render_error(str(exc))
    return _framed(email.html)


@bp.get("/<int:incident_id>/notice/versions/<int:number>/page.html")
@signed_in
def page_html(incident_id: int, number: int) -> Response | tuple[str, int]:
    """The web-page version, for the preview frame only (sandboxed by its CSP)."""
    _incident_row, version = _version(incident_id, number)
    try:
        html = previews.page_preview(version, company=company_name(), published=today())
    except RenderError as exc:
        return _render_error(str(exc))
    return _framed(html)


@bp.get("/<int:incident_id>/notice/versions/<int:number>/letter.pdf")
@signed_in
def letter_pdf(incident_id: int, number: int) -> Response | tuple[str, int]:
    incident, version = _version(incident_id, number)
    try:
        pdf = previews.letter_pdf(
            version, _letter_options(incident), timeout=_timeout(), wait=_wait()
        )
    except RenderBusy:
        raise  # a 503 page with Retry-After (composer.web.errors)
    except RenderError as exc:
        return _render_error(str(exc))
    return send_file(
        io.BytesIO(pdf),
        mimetype="application/pdf",
        as_attachment=True,
        download_name=f"incident-{incident.id}-notice-v{version.number}-sample.pdf",
        max_age=0,
    )


@bp.get("/<int:incident_id>/notice/versions/<int:number>/letter-page-1.png")
@signed_in
def letter_png(incident_id: int, number: int) -> Response | tuple[str, int]:
    incident, version = _version(incident_id, number)
    try:
        png = previews.letter_png(
            version, _letter_options(incident), timeout=_timeout(), wait=_wait()
        )
    except RenderBusy:
        raise  # a 503 page with Retry-After (composer.web.errors)
    except RenderError as exc:
        return _render_error(str(exc))
    return send_file(io.BytesIO(png), mimetype="image/png", max_age=0)

"""Recipient lists: upload a CSV file, see what became of every row, download the errors.

The upload is the one request allowed a body larger than ``MAX_CONTENT_LENGTH``: the view
raises the limit for itself (``RECIPIENTS_MAX_BYTES``) before the form is read, so it checks the
CSRF token itself too (the app-wide check would read the form first, under the small limit).
People's details are masked on every page (``composer.recipients.lists.mask_email``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

from flask import (
    Blueprint,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_login import current_user
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response

from composer import audit
from composer.extensions import csrf, current_settings, db
from composer.models import Incident, Recipient, RecipientList, Role
from composer.recipients import lists as recipients
from composer.recipients.lists import ImportRefused, UploadTooLarge, format_megabytes
from composer.recipients.row_process import RowProcessFailed
from composer.web.access import can, require_role, signed_in
from composer.web.common import catalogue
from composer.web.forms.recipients import UploadForm
from composer.web.incidents import _incident

bp = Blueprint("recipients", __name__, url_prefix="/incidents")

#: Room for the form around the file (part headers, boundaries, the CSRF token).
FORM_OVERHEAD_BYTES: Final = 64 * 1024
#: Recipients shown (masked) under a list.
PREVIEW_ROWS: Final = 50


def _max_bytes() -> int:
    return current_settings().recipients_max_bytes


def _list_or_404(incident: Incident, list_id: int) -> RecipientList:
    found = db.session.get(RecipientList, list_id)
    if found is None or found.incident_id != incident.id:
        abort(404, description=f"This incident has no recipient list number {list_id}.")
    return found


def masked(recipient: Recipient) -> dict[str, Any]:
    """What a page may show of ``recipient``: identifying details masked."""
    return {
        "rows": recipient.source_rows,
        "email": recipients.mask_email(recipient.email) if recipient.email else "",
        "name": recipients.mask_name(f"{recipient.first_name} {recipient.last_name}"),
        "reference": recipients.mask_name(recipient.reference),
        "address_lines": len(recipient.address),
        "country": recipient.country,
        "us_state": recipient.us_state,
        "language": recipient.language,
        "data_categories": recipient.data_categories,
    }


def _preview(recipient_list: RecipientList | None) -> list[dict[str, Any]]:
    if recipient_list is None or recipient_list.purged_at is not None:
        return []
    found = recipients.first_recipients(db.session(), recipient_list, PREVIEW_ROWS)
    return [masked(r) for r in found]


def render_index(incident: Incident, *, error: str | None = None, status: int = 200) -> Any:
    lists = recipients.lists_for(db.session(), incident)
    latest = lists[0] if lists else None
    return (
        render_template(
            "recipients/index.html",
            incident=incident,
            lists=lists,
            latest=latest,
            preview=_preview(latest),
            error=error,
            limit=format_megabytes(_max_bytes()),
            columns=recipients.COLUMNS,
            categories=catalogue().categories.values(),
            can_upload=can(Role.AUTHOR) or can(Role.ADMIN),
        ),
        status,
    )


@bp.get("/<int:incident_id>/recipients")
@signed_in
def index(incident_id: int) -> Any:
    return render_index(_incident(incident_id))


@bp.post("/<int:incident_id>/recipients")
@require_role(Role.AUTHOR, Role.ADMIN)
def upload(incident_id: int) -> Any:
    incident = _incident(incident_id)
    limit = _max_bytes()
    # For this request only: everything else keeps MAX_CONTENT_LENGTH.
    request.max_content_length = limit + FORM_OVERHEAD_BYTES
    try:
        file = UploadForm.posted().file
    except RequestEntityTooLarge:
        return render_index(incident, error=str(UploadTooLarge(limit)), status=413)
    csrf.protect()
    if file is None or not file.filename:
        return render_index(incident, error="Choose a CSV file to upload.", status=400)

    session = db.session()
    try:
        report = recipients.import_csv(
            session,
            file.stream,
            incident=incident,
            by=current_user,
            categories=catalogue().categories,
            places=catalogue().place_names,
            filename=file.filename,
            max_bytes=limit,
            second_process_from_bytes=current_settings().recipients_second_process_bytes,
        )
    except ImportRefused as exc:
        # import_csv rolled back; the refusal is recorded on its own.
        audit.record(
            session,
            actor=current_user,
            action="recipients.refused",
            subject_type="incident",
            subject_id=incident.id,
            after={"reason": str(exc)},
        )
        session.commit()
        status = 413 if isinstance(exc, UploadTooLarge) else 400
        return render_index(incident, error=str(exc), status=status)
    except RowProcessFailed:
        # import_csv rolled back. The message holds no row values, only where it failed.
        current_app.logger.exception("recipient import failed in its second process")
        return render_index(
            incident,
            error=(
                "The upload stopped part-way because of a problem on the server. Nothing was "
                "imported: upload the file again. If it happens again, ask an admin to look "
                "at the server log."
            ),
            status=500,
        )
    recipient_list = report.recipient_list
    # Counts and the digest only: never a name or an address.
    audit.record(
        session,
        actor=current_user,
        action="recipients.imported",
        subject_type="incident",
        subject_id=incident.id,
        after={
            "list_id": recipient_list.id,
            "size_bytes": recipient_list.size_bytes,
            "rows": report.rows,
            "imported": report.imported,
            "merged": report.merged,
            "rejected": report.rejected,
            "digest": report.digest,
        },
    )
    session.commit()
    return redirect(url_for(".show", incident_id=incident.id, list_id=recipient_list.id), code=303)


# The app-wide CSRF check reads the form before the view runs, under MAX_CONTENT_LENGTH; the
# view checks the token itself once it has raised the limit.
csrf.exempt(upload)


@bp.get("/<int:incident_id>/recipients/<int:list_id>")
@signed_in
def show(incident_id: int, list_id: int) -> Any:
    incident = _incident(incident_id)
    recipient_list = _list_or_404(incident, list_id)
    return render_template(
        "recipients/show.html",
        incident=incident,
        recipient_list=recipient_list,
        preview=_preview(recipient_list),
        preview_rows=PREVIEW_ROWS,
    )


@bp.get("/<int:incident_id>/recipients/<int:list_id>/errors.csv")
@require_role(Role.AUTHOR, Role.APPROVER, Role.ADMIN)
def errors_csv(incident_id: int, list_id: int) -> Response:
    incident = _incident(incident_id)
    recipient_list = _list_or_404(incident, list_id)
    if recipient_list.purged_at is not None:
        abort(
            404,
            description=f"The error report of list {list_id} was removed with the recipients' "
            "personal data at the end of the retention period.",
        )
    session = db.session()
    # The report holds the rejected values, personal data: who took a copy is recorded.
    audit.record(
        session,
        actor=current_user,
        action="recipients.errors_downloaded",
        subject_type="incident",
        subject_id=incident.id,
        after={"list_id": recipient_list.id, "rejected": recipient_list.rejected},
    )
    session.commit()

    def report() -> Iterator[str]:
        # Runs after the view has returned and its session was closed: a new one, here.
        session = db.session()
        found = session.get(RecipientList, list_id)
        assert found is not None
        yield from recipients.error_report_csv(session, found)

    return Response(
        stream_with_context(report()),
        mimetype="text/csv",
        headers={
            "Content-Disposition": (
                f'attachment; filename="incident-{incident.id}-recipients-{list_id}-errors.csv"'
            )
        },
    )

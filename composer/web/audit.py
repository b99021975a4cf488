"""An incident's audit trail on screen, and the evidence pack downloads (CSV and JSON)."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user
from werkzeug.wrappers import Response

from composer import audit, evidence
from composer.extensions import db
from composer.models import Role, utcnow
from composer.web.access import can, require_role, signed_in
from composer.web.common import today
from composer.web.incidents import _incident

bp = Blueprint("audit", __name__, url_prefix="/incidents")

MIMETYPES = {"csv": "text/csv", "json": "application/json"}


@bp.app_template_filter("audit_label")
def audit_label(action: str) -> str:
    return evidence.label_for(action)


bp.add_app_template_filter(evidence.describe, "audit_summary")


@bp.get("/<int:incident_id>/audit")
@signed_in
def trail(incident_id: int) -> str:
    incident = _incident(incident_id)
    events = evidence.incident_trail(db.session(), incident_id)
    events.reverse()
    return render_template(
        "incidents/audit.html",
        incident=incident,
        events=events,
        chain=audit.verify(db.session()),
        can_export=can(Role.APPROVER) or can(Role.ADMIN),
    )


def _download(incident_id: int, fmt: str) -> Response:
    incident = _incident(incident_id)
    pack = evidence.export(db.session(), incident, fmt, generated_at=utcnow(), actor=current_user)
    # The export is audited: nothing is sent unless its event is stored.
    db.session.commit()
    response = Response(pack.text, content_type=f"{MIMETYPES[fmt]}; charset=utf-8")
    filename = evidence.export_filename(incident.id, fmt, today())
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@bp.get("/<int:incident_id>/audit.csv")
@require_role(Role.APPROVER, Role.ADMIN)
def export_csv(incident_id: int) -> Response:
    return _download(incident_id, "csv")


@bp.get("/<int:incident_id>/audit.json")
@require_role(Role.APPROVER, Role.ADMIN)
def export_json(incident_id: int) -> Response:
    return _download(incident_id, "json")

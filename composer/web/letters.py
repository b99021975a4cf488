"""Postal letters over HTTP: a send run's letters page, preparing batches, and downloading each
batch's PDF and manifest.

Everyone signed in sees the page (counts only); preparing, retrying and downloading need the
admin role, like sending: the PDF and the manifest hold names and addresses, and every
download is recorded in the audit trail. The domain work is in ``composer.delivery.letters``.
:func:`render_pending_letters` is what a background worker calls to render waiting batches.
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    abort,
    flash,
    redirect,
    render_template,
    url_for,
)
from flask_login import current_user
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response

from composer.delivery import letters as postal
from composer.extensions import current_settings, db
from composer.models import Incident, LetterBatch, RecipientList, Role, SendRun, utcnow
from composer.web.access import require_role, signed_in
from composer.web.incidents import _incident
from composer.workers.runtime import render_processes

bp = Blueprint("letters", __name__, url_prefix="/incidents")

#: Seconds between reloads of the letters page while batches are waiting to be rendered.
REFRESH_SECONDS = 5


def batch_size() -> int:
    return max(1, current_settings().letter_batch_size)


def _run_or_404(incident: Incident, run_id: int) -> SendRun:
    run = db.session.get(SendRun, run_id)
    if run is None or run.incident_id != incident.id:
        abort(404, description=f"This incident has no send {run_id}.")
    return run


def _batch_or_404(incident: Incident, batch_id: int) -> tuple[SendRun, LetterBatch]:
    batch = db.session.get(LetterBatch, batch_id)
    run = db.session.get(SendRun, batch.run_id) if batch is not None else None
    if batch is None or run is None or run.incident_id != incident.id:
        abort(404, description=f"This incident has no letter batch {batch_id}.")
    return run, batch


@bp.get("/<int:incident_id>/send/runs/<int:run_id>/letters")
@signed_in
def letters(incident_id: int, run_id: int) -> str:
    incident = _incident(incident_id)
    run = _run_or_404(incident, run_id)
    session = db.session()
    found = postal.batches(session, run)
    now = utcnow()
    recipient_list = session.get(RecipientList, run.list_id)
    return render_template(
        "letters/letters.html",
        incident=incident,
        run=run,
        needs=postal.needs(session, run),
        progress=postal.progress(session, run, now),
        batches=found,
        rendering={b.id for b in found if postal.is_rendering(b, now)},
        reasons=postal.REASON_WORDS,
        purged_at=recipient_list.purged_at if recipient_list is not None else None,
        refresh=REFRESH_SECONDS if any(b.state == "waiting" for b in found) else None,
        batch_size=batch_size(),
        render_processes=render_processes(current_settings()),
    )


@bp.post("/<int:incident_id>/send/runs/<int:run_id>/letters")
@require_role(Role.ADMIN)
def prepare(incident_id: int, run_id: int) -> Response:
    incident = _incident(incident_id, for_update=True)
    run = _run_or_404(incident, run_id)
    back = redirect(url_for(".letters", incident_id=incident.id, run_id=run.id))
    session = db.session()
    try:
        prepared = postal.prepare(
            session, run, batch_size=batch_size(), by=current_user, now=utcnow()
        )
        session.commit()
    except postal.LettersRefused as exc:
        session.rollback()
        flash(f"No letters were prepared. {exc}", "error")
        return back
    except IntegrityError:
        # Someone else prepared the same people a moment ago; the database refused doubles.
        session.rollback()
        flash("No letters were prepared: someone else just prepared them. Look again.", "error")
        return back
    if not prepared.letters:
        flash("Nobody is waiting for a letter: every letter is already in a batch.", "info")
        return back
    count = len(prepared.batch_ids)
    flash(
        f"Prepared {prepared.letters:,} letter{'s' if prepared.letters != 1 else ''} in "
        f"{count} batch{'es' if count != 1 else ''}; they are rendered in the background.",
        "success",
    )
    _wake_worker()
    return back


def _wake_worker() -> None:
    """Have the workers render the waiting letter batches now; says so when they cannot be
    told (the batches wait, and are rendered when a worker starts)."""
    from composer.workers.inprocess import wake_letters

    problem = wake_letters()
    if problem:
        flash(problem, "error")


@bp.post("/<int:incident_id>/letters/<int:batch_id>/retry")
@require_role(Role.ADMIN)
def retry(incident_id: int, batch_id: int) -> Response:
    incident = _incident(incident_id)
    run, batch = _batch_or_404(incident, batch_id)
    session = db.session()
    try:
        postal.retry(session, batch, by=current_user)
        session.commit()
    except postal.LettersRefused as exc:
        session.rollback()
        flash(str(exc), "error")
    else:
        flash(f"Letter batch {batch.number} will be rendered again.", "success")
        _wake_worker()
    return redirect(url_for(".letters", incident_id=incident.id, run_id=run.id))


def _download(incident_id: int, batch_id: int, what: str, mimetype: str) -> Any:
    incident = _incident(incident_id)
    run, batch = _batch_or_404(incident, batch_id)
    session = db.session()
    try:
        data = postal.file_content(session, batch, what)
    except postal.LettersRefused as exc:
        abort(404, description=str(exc))
    # The files hold names and addresses: who took a copy is recorded.
    postal.record_download(session, batch, what, by=current_user)
    session.commit()
    name = postal.file_name(run, batch, what)
    return Response(
        data,
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.get("/<int:incident_id>/letters/<int:batch_id>/letters.pdf")
@require_role(Role.ADMIN)
def download_pdf(incident_id: int, batch_id: int) -> Any:
    return _download(incident_id, batch_id, "pdf", "application/pdf")


@bp.get("/<int:incident_id>/letters/<int:batch_id>/manifest.csv")
@require_role(Role.ADMIN)
def download_manifest(incident_id: int, batch_id: int) -> Any:
    return _download(incident_id, batch_id, "manifest", "text/csv")

"""``approval check``: would sending an incident's notice now match what legal approved?"""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

from composer import approval
from composer.cli.app_state import catalogue, get_or_fail, today
from composer.extensions import current_settings, db
from composer.models import Incident
from composer.notices import versions

approval_cli = AppGroup("approval", help="Legal sign-off of notices.")


@approval_cli.command("check")
@click.argument("incident_id", type=int)
def approval_check_command(incident_id: int) -> None:
    """Rebuild the incident's bundle as it would be sent now and compare it with what legal
    approved (what sending does first); exit 1 and say what changed when it differs."""
    incident = get_or_fail(Incident, incident_id, "incident")
    latest = versions.latest_version(db.session(), incident)
    if latest is None:
        raise click.ClickException("This incident's notice has no versions yet.")
    bundle = approval.incident_bundle(
        db.session(),
        incident,
        latest,
        settings=current_settings(),
        catalogue=catalogue(),
        today=today(),
    )
    try:
        release = approval.release_check(db.session(), incident, bundle)
    except approval.ApprovalError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    names = ", ".join(d.user.email for d in release.review.approvals)
    click.echo(
        f"Ready to send: version {latest.number} matches the approved bundle "
        f"{bundle.sha256} (approved by {names})."
    )

"""``facts INCIDENT_ID``: an incident's facts as JSON (docs/facts.md)."""

from __future__ import annotations

import json

import click
from flask.cli import with_appcontext

from composer import incidents
from composer.cli.app_state import catalogue, get_or_fail, today
from composer.models import Incident


@click.command("facts")
@with_appcontext
@click.argument("incident_id", type=int)
def facts_command(incident_id: int) -> None:
    """Print an incident's facts as JSON (schema: docs/facts.md)."""
    incident = get_or_fail(Incident, incident_id, "incident")
    document = incidents.facts_document(catalogue(), incident, today=today())
    click.echo(json.dumps(document, indent=2, ensure_ascii=False))

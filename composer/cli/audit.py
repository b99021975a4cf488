"""``audit verify`` and ``audit export``: the audit log's chain and an incident's evidence pack."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

from composer import audit, evidence
from composer.cli.app_state import get_or_fail
from composer.extensions import db
from composer.models import Incident, utcnow

audit_cli = AppGroup("audit", help="Inspect the audit log.")


@audit_cli.command("verify")
def audit_verify_command() -> None:
    """Check the audit log's hash chain, each event's signature and the signed checkpoint kept
    outside the database; exit 1 and name each break (truncated after event N, event N
    rewritten, signatures removed, another key) if it was tampered with."""
    report = audit.verify(db.session())
    for note in report.notes:
        click.echo(f"Note: {note}.", err=True)
    if report.ok:
        click.echo(f"Audit chain intact: {report.events} events.")
        checkpoint = report.checkpoint
        if checkpoint is not None:
            click.echo(
                f"Signatures valid; the log reaches the signed checkpoint kept outside the "
                f"database (event {checkpoint.seq}, {checkpoint.at})."
            )
        return
    click.echo(f"Audit chain BROKEN ({report.events} events checked):", err=True)
    for problem in report.problems:
        click.echo(f"  - {problem}", err=True)
    sys.exit(1)


@audit_cli.command("export")
@click.argument("incident_id", type=int)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(evidence.FORMATS),
    required=True,
    help="csv: one formula-safe row per event; json: every field, with the chain check.",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Write to this file instead of standard output.",
)
def audit_export_command(incident_id: int, fmt: str, output: str | None) -> None:
    """Export an incident's evidence pack (its audit events); the export is itself audited."""
    incident = get_or_fail(Incident, incident_id, "incident")
    pack = evidence.export(
        db.session(), incident, fmt, generated_at=utcnow(), actor=None, actor_label="cli"
    )
    if output is None:
        click.echo(pack.text, nl=False)
    else:
        # newline="" keeps the CSV's CRLF row endings exactly as written.
        with open(output, "w", encoding="utf-8", newline="") as stream:
            stream.write(pack.text)
    # Committed only once the pack is out, so a failed write leaves no export on record.
    db.session.commit()
    if output is not None:
        click.echo(f"Wrote {pack.events} events to {output}.", err=True)

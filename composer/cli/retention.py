"""``purge``: recipient lists' personal data removed once the retention period is over
(docs/retention.md)."""

from __future__ import annotations

from datetime import timedelta

import click
from flask.cli import with_appcontext

from composer import retention
from composer.extensions import current_settings, db
from composer.models import utcnow


@click.command("purge")
@with_appcontext
@click.option("--dry-run", is_flag=True, help="Say what would be purged; change nothing.")
@click.option(
    "--days",
    type=click.IntRange(min=0),
    default=None,
    help="Purge lists uploaded more than this many days ago (default: RECIPIENT_RETENTION_DAYS).",
)
def purge_command(dry_run: bool, days: int | None) -> None:
    """Purge the personal data of recipient lists older than the retention period, keeping
    the counts, digests, deliveries and audit trail (docs/retention.md). Prints counts only."""
    keep_days = current_settings().recipient_retention_days if days is None else days
    report = retention.purge(
        db.session(),
        older_than=timedelta(days=keep_days),
        now=utcnow(),
        dry_run=dry_run,
        actor_label="cli",
    )
    verb = "Would purge" if dry_run else "Purged"
    for done in report.purged:
        click.echo(
            f"{verb} list {done.list_id} (incident {done.incident_id}): {done.recipients} "
            f"recipients, {done.row_errors} rejected-row problems, {done.letter_files} letter "
            f"batches' files, {done.outbox_messages} dev outbox copies."
        )
    for kept in report.kept:
        click.echo(f"Kept list {kept.list_id} (incident {kept.incident_id}): {kept.reason}")
    click.echo(
        f"{verb} {len(report.purged)} list(s) uploaded more than {keep_days} days ago "
        f"({report.recipients} recipients); kept {len(report.kept)}."
    )
    if report.expired_kept_forms:
        deleted = "Would delete" if dry_run else "Deleted"
        click.echo(
            f"{deleted} {report.expired_kept_forms} expired kept form(s) (text typed after a "
            "session ended, never taken back)."
        )

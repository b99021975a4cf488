"""``flask --app composer ...`` commands: accounts, facts, the audit chain, sending, postal
letters and the retention purge."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import click
from argon2 import PasswordHasher
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from composer import accounts, audit, evidence, incidents
from composer.extensions import db
from composer.models import Incident, Role, User, utcnow

if TYPE_CHECKING:
    from composer.workers.inprocess import InProcessWorker

DEMO_ACCOUNTS = [
    ("author@example.com", "Demo Author", [Role.AUTHOR]),
    ("approver@example.com", "Demo Approver", [Role.APPROVER]),
    ("admin@example.com", "Demo Admin", [Role.ADMIN]),
]

audit_cli = AppGroup("audit", help="Inspect the audit log.")


def _hasher() -> PasswordHasher:
    return current_app.extensions["composer.password_hasher"]  # type: ignore[no-any-return]


@click.command("create-user")
@with_appcontext
@click.argument("email")
@click.option("--name", "display_name", default="", help="Name shown in the app.")
@click.option(
    "--role",
    "roles",
    multiple=True,
    required=True,
    type=click.Choice([r.value for r in Role]),
    help="Repeat for several roles.",
)
@click.option(
    "--generate-password",
    is_flag=True,
    help="Make a strong password and print it once, instead of asking for one.",
)
def create_user_command(
    email: str, display_name: str, roles: tuple[str, ...], generate_password: bool
) -> None:
    """Create a staff account with the given roles."""
    if generate_password:
        password = accounts.generate_password(email)
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = accounts.create_user(
            db.session(),
            _hasher(),
            email=email,
            display_name=display_name,
            password=password,
            roles=[Role(r) for r in roles],
            created_by=None,
            actor_label="cli",
        )
    except accounts.AccountError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"Created {user.email} with roles: {', '.join(sorted(roles))}.")
    if generate_password:
        click.echo(f"Password (shown once): {password}")


@click.command("demo-accounts")
@with_appcontext
def demo_accounts_command() -> None:
    """Create one demo account per role on an empty database and print their passwords once."""
    if db.session.scalar(db.select(User.id).limit(1)) is not None:
        click.echo(
            "Accounts already exist, so no demo accounts were made (their passwords were "
            "printed when they were created). Add one with: flask --app composer create-user"
        )
        return
    rows = []
    for email, name, roles in DEMO_ACCOUNTS:
        password = accounts.generate_password(email)
        accounts.create_user(
            db.session(),
            _hasher(),
            email=email,
            display_name=name,
            password=password,
            roles=roles,
            created_by=None,
            actor_label="cli",
        )
        rows.append((email, password, ", ".join(r.value for r in roles)))
    db.session.commit()
    click.echo("Demo accounts (these passwords are shown only this once):")
    for email, password, roles_text in rows:
        click.echo(f"  {email:<24} {password:<24} {roles_text}")


@click.command("facts")
@with_appcontext
@click.argument("incident_id", type=int)
def facts_command(incident_id: int) -> None:
    """Print an incident's facts as JSON (schema: docs/facts.md)."""
    incident = db.session.get(Incident, incident_id)
    if incident is None:
        raise click.ClickException(f"There is no incident number {incident_id}.")
    today = datetime.now(ZoneInfo(current_app.config["DEFAULT_TIMEZONE"])).date()
    document = incidents.facts_document(
        current_app.extensions["composer.catalogue"], incident, today=today
    )
    click.echo(json.dumps(document, indent=2, ensure_ascii=False))


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
    incident = db.session.get(Incident, incident_id)
    if incident is None:
        raise click.ClickException(f"There is no incident number {incident_id}.")
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


mail_cli = AppGroup("mail", help="Email to staff.")


@mail_cli.command("deliver")
@click.option("--limit", default=100, show_default=True, help="Most messages to send now.")
def mail_deliver_command(limit: int) -> None:
    """Send pending staff emails through the configured gateway (the retry path).

    Exits 1 if any message failed; failed messages stay pending for the next run.
    """
    from sqlalchemy.orm import sessionmaker

    from composer.delivery import staff_mail
    from composer.delivery.gateways import GatewayError, gateway_from_config

    try:
        gateway = gateway_from_config(current_app.config, sessionmaker(db.engine))
        report = staff_mail.deliver_pending(
            db.session(), gateway, base_url=str(current_app.config["APP_BASE_URL"]), limit=limit
        )
    except (GatewayError, staff_mail.StaffMailError) as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    unsent = staff_mail.count_unsent(db.session())
    click.echo(
        f"Sent {report.sent}, failed {report.failed} (gateway: {gateway.name}); "
        f"{unsent} still unsent."
    )
    if report.failed:
        sys.exit(1)


send_cli = AppGroup("send", help="Bulk sending of approved notices.")


@send_cli.command("work")
@click.option("--until-done", is_flag=True, help="Exit when no send is running or scheduled.")
@click.option("--idle", default=1.0, show_default=True, help="Seconds to wait when idle.")
def send_work_command(until_done: bool, idle: float) -> None:
    """Run a sending worker in this process: the same dispatcher as the in-process sender, with
    SEND_THREADS batches in flight; it renders waiting postal letter batches when no email is
    waiting. Safe to run several at once and to kill at any moment (the outbox recovers)."""
    from composer.workers.inprocess import worker_for

    sender = worker_for(current_app._get_current_object(), idle_seconds=idle)  # type: ignore[attr-defined]
    # SEND_THREADS - 1 more threads send alongside this loop; they stop with the process.
    sender.start_helpers()
    try:
        _send_work_loop(sender, until_done=until_done, idle=idle)
    finally:
        sender.stop()


def _send_work_loop(sender: InProcessWorker, *, until_done: bool, idle: float) -> None:
    import time

    from sqlalchemy import func, select

    from composer.models import RunState, SendRun

    while True:
        try:
            sender.keep_house()  # the retention purge, now and then
            busy = sender.work_once() or sender.render_letters()
        except Exception:  # a lock timeout or a bug: log it (no personal data) and go on
            current_app.logger.exception("send worker: a dispatch failed; retrying")
            db.session.remove()
            time.sleep(idle)
            continue
        if busy:
            continue
        running = db.session.scalar(
            select(func.count())
            .select_from(SendRun)
            .where(
                SendRun.state.in_(
                    [RunState.PREPARING.value, RunState.RUNNING.value, RunState.SCHEDULED.value]
                )
            )
        )
        db.session.remove()
        if until_done and not running:
            return
        time.sleep(idle)


approval_cli = AppGroup("approval", help="Legal sign-off of notices.")


@approval_cli.command("check")
@click.argument("incident_id", type=int)
def approval_check_command(incident_id: int) -> None:
    """Rebuild the incident's bundle as it would be sent now and compare it with what legal
    approved (what sending does first); exit 1 and say what changed when it differs."""
    from composer import approval
    from composer.notices import versions

    incident = db.session.get(Incident, incident_id)
    if incident is None:
        raise click.ClickException(f"There is no incident number {incident_id}.")
    latest = versions.latest_version(db.session(), incident)
    if latest is None:
        raise click.ClickException("This incident's notice has no versions yet.")
    bundle = approval.incident_bundle(
        db.session(),
        incident,
        latest,
        config=current_app.config,
        catalogue=current_app.extensions["composer.catalogue"],
        today=datetime.now(ZoneInfo(current_app.config["DEFAULT_TIMEZONE"])).date(),
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


# Postal letters and the retention purge ----------------------------------------------------------

letters_cli = AppGroup("letters", help="Postal letters for a send's recipients email cannot reach.")


def _catalogue() -> Any:
    return current_app.extensions["composer.catalogue"]


@letters_cli.command("prepare")
@click.argument("run_id", type=int)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=None,
    help="Letters per PDF (default: LETTER_BATCH_SIZE).",
)
def letters_prepare_command(run_id: int, batch_size: int | None) -> None:
    """Put everyone in send RUN_ID who needs a letter (no email address, bounced, dropped,
    address refused) and is in no letter batch yet into new batches."""
    from sqlalchemy.exc import IntegrityError

    from composer.delivery import letters
    from composer.models import SendRun

    run = db.session.get(SendRun, run_id)
    if run is None:
        raise click.ClickException(f"There is no send number {run_id}.")
    size = batch_size or int(current_app.config["LETTER_BATCH_SIZE"])
    try:
        prepared = letters.prepare(
            db.session(), run, batch_size=size, by=None, now=utcnow(), actor_label="cli"
        )
        db.session.commit()
    except letters.LettersRefused as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    except IntegrityError:
        db.session.rollback()
        raise click.ClickException(
            "Someone else prepared letters for this send at the same time; run it again."
        ) from None
    reasons = ", ".join(
        f"{count} {letters.REASON_WORDS[reason]}"
        for reason, count in sorted(prepared.by_reason.items())
    )
    click.echo(
        f"Prepared {prepared.letters} letters in {len(prepared.batch_ids)} batches"
        + (f" ({reasons})." if reasons else ".")
    )


@letters_cli.command("render")
@click.option("--all", "render_all", is_flag=True, help="Render every waiting batch, not just one.")
def letters_render_command(render_all: bool) -> None:
    """Render the oldest waiting letter batch (or all of them) into a PDF and a manifest,
    saying how long each took. Exits 1 if any batch was refused."""
    import time

    from composer.delivery import letters
    from composer.models import LetterBatchState

    refused = 0
    done = 0
    while True:
        started = time.perf_counter()
        batch = letters.render_next_batch(
            db.session(),
            config=current_app.config,
            catalogue=_catalogue(),
            now=utcnow(),
            actor_label="cli",
        )
        if batch is None:
            break
        done += 1
        seconds = time.perf_counter() - started
        if batch.state == LetterBatchState.READY.value:
            click.echo(
                f"Letter batch {batch.id} (send {batch.run_id}, batch {batch.number}): "
                f"{batch.size} letters, {batch.pages} pages in {seconds:.1f} s "
                f"({batch.size / seconds:.1f} letters a second)."
            )
        elif batch.state == LetterBatchState.FAILED.value:
            refused += 1
            click.echo(f"Letter batch {batch.id} refused: {batch.error}", err=True)
        if not render_all:
            break
    db.session.remove()
    if not done:
        click.echo("No letter batch is waiting.")
    if refused:
        sys.exit(1)


@letters_cli.command("export")
@click.argument("batch_id", type=int)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, writable=True),
    required=True,
    help="Directory to write the PDF and the manifest CSV to (made if missing).",
)
def letters_export_command(batch_id: int, out_dir: str) -> None:
    """Write letter batch BATCH_ID's PDF and manifest CSV to a directory (recorded in the audit
    trail: they hold names and addresses)."""
    import os
    from pathlib import Path

    from composer.delivery import letters
    from composer.models import LetterBatch, SendRun

    batch = db.session.get(LetterBatch, batch_id)
    if batch is None:
        raise click.ClickException(f"There is no letter batch number {batch_id}.")
    run = db.session.get(SendRun, batch.run_id)
    assert run is not None
    target = Path(out_dir)
    target.mkdir(parents=True, exist_ok=True)
    written = []
    try:
        for what in letters.FILES:
            data = letters.file_content(db.session(), batch, what)
            path = target / letters.file_name(run, batch, what)
            # Readable by the owner only: names and addresses.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as stream:
                stream.write(data)
            letters.record_download(db.session(), batch, what, by=None, actor_label="cli")
            written.append(str(path))
    except letters.LettersRefused as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    for name in written:
        click.echo(f"Wrote {name}")


@click.command("purge")
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
    from datetime import timedelta

    from composer import retention

    keep_days = int(current_app.config["RECIPIENT_RETENTION_DAYS"]) if days is None else days
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


def register(app: Flask) -> None:
    app.cli.add_command(create_user_command)
    app.cli.add_command(demo_accounts_command)
    app.cli.add_command(facts_command)
    app.cli.add_command(audit_cli)
    app.cli.add_command(mail_cli)
    app.cli.add_command(approval_cli)
    app.cli.add_command(send_cli)
    app.cli.add_command(letters_cli)
    app.cli.add_command(purge_command)

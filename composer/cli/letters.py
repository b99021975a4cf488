"""``letters prepare``, ``render`` and ``export``: postal letters for the people email cannot
reach (docs/postal.md)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import click
from flask.cli import AppGroup
from sqlalchemy.exc import IntegrityError

from composer.cli.app_state import catalogue, get_or_fail
from composer.delivery import letters
from composer.extensions import current_settings, db
from composer.models import LetterBatch, LetterBatchState, SendRun, utcnow

letters_cli = AppGroup("letters", help="Postal letters for a send's recipients email cannot reach.")


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
    run = get_or_fail(SendRun, run_id, "send")
    size = batch_size or current_settings().letter_batch_size
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
    refused = 0
    done = 0
    while True:
        started = time.perf_counter()
        batch = letters.render_next_batch(
            db.session(),
            settings=current_settings(),
            catalogue=catalogue(),
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
    batch = get_or_fail(LetterBatch, batch_id, "letter batch")
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

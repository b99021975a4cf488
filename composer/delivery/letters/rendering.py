"""Rendering letter batches: ONE PDF per batch with a letter per recipient, each starting on
a new page, and its manifest; both stored in the database with their SHA-256, so a download is a
read.

Letters are printed from exactly what legal approved. Before a batch is rendered the run's
bundle is rebuilt and checked against the approval (``approval.release_check``, as for email),
and for each cohort the approved letter is reproduced: the letter rendered with the bundle's
stand-in recipient and date must be byte for byte the approved letter HTML. Only then is each
recipient's letter made from the same version, settings and template, with their name,
address, reference and the print date in place of the stand-ins. Any difference refuses the
batch and says what changed.

:func:`render_next` renders the oldest waiting batch (a background worker calls it until it
returns False); :func:`render_batch` renders one. Recipient data is text in the letter, never a
URL: every value is HTML-escaped by the notice environment, and WeasyPrint fetches resources
only through ``StaticOnlyFetcher`` (files under static/, nothing else).

No Flask. The audit trail gets counts and hashes, never a name or an address.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from composer import approval, audit
from composer.approval.bundle import LETTER_STAND_IN, LETTER_STAND_IN_DATE
from composer.checklist import Catalogue
from composer.delivery.letters.batches import LettersRefused, refusal
from composer.delivery.letters.files import LetterRow, manifest_csv
from composer.models import (
    Delivery,
    Letter,
    LetterBatch,
    LetterBatchState,
    Recipient,
    RecipientList,
    SendRun,
)
from composer.rendering.address import recipient_lines
from composer.rendering.errors import RenderBusy, RenderError
from composer.rendering.merge_fields import Recipient as MergeRecipient
from composer.settings import Defaults, Settings, settings_of

#: Seconds of rendering allowed per letter on top of the base time limit. Measured at about
#: 0.1 s a letter (docs/postal.md); the rest is room for a busy machine.
SECONDS_PER_LETTER: Final = 2.0
#: Render attempts before a batch is given up as failed (a worker that keeps dying on it).
MAX_ATTEMPTS: Final = 3
#: Seconds a batch waits for a free renderer (RENDER_MAX_CONCURRENT) before it is put back to
#: wait for a later turn; less than the 60 seconds of its lease beyond the render time limit.
RENDER_WAIT_SECONDS: Final = 50.0


# The approved letters ----------------------------------------------------------------------------


#: Fills the approved letter of a cohort in for one recipient: (cohort key, recipient, date).
LetterFor = Callable[[str, MergeRecipient, date], str]


def letters_for_run(
    session: Session,
    run: SendRun,
    *,
    settings: Settings | None = None,
    config: Mapping[str, Any] | None = None,
    catalogue: Catalogue,
    today: date,
) -> LetterFor:
    """Rebuild the run's bundle, check it against the approval, and reproduce each cohort's
    approved letter; returns a function making one recipient's letter (HTML for WeasyPrint).
    Raises ``approval.ApprovalError`` (not approved, or changed since) otherwise: the same
    check as email (``composer.delivery.release.content_for_run``), plus the letter's own.
    ``settings``: the site's (or, from a caller holding it, the app's ``config`` mapping)."""
    from composer.delivery.release import run_release
    from composer.rendering.pdf import Paper, letter_html

    site = _site_settings(settings, config)
    version, release = run_release(session, run, settings=site, catalogue=catalogue, today=today)
    bundled = release.bundle.settings
    letter = bundled.letter
    home_country = site.letter_home_country

    def render(spec: approval.VariantSpec, recipient: MergeRecipient, day: date) -> str:
        return letter_html(
            version,
            recipient,
            company=bundled.company,
            paper=Paper(letter.paper),
            logo=letter.logo,
            return_address=letter.return_address,
            contact_lines=letter.contact_lines,
            letter_date=day,
            lang=spec.lang,
            home_country=home_country,
        )

    variants = {v.spec.key: v for v in release.bundle.variants}
    for variant in variants.values():
        if render(variant.spec, LETTER_STAND_IN, LETTER_STAND_IN_DATE) != variant.letter_html:
            raise approval.BundleMismatch(
                release.review,
                [f"the letter for {variant.spec.label} is not the one legal approved"],
            )
    fallback = release.bundle.variants[0] if len(variants) == 1 else None

    def letter_for(key: str, recipient: MergeRecipient, day: date) -> str:
        variant = variants.get(key, fallback)
        if variant is None:
            raise approval.BundleMismatch(
                release.review, [f"a recipient cohort ({key}) that legal has not seen"]
            )
        return render(variant.spec, recipient, day)

    return letter_for


def _letter_rows(session: Session, batch: LetterBatch, *, home_country: str) -> list[LetterRow]:
    """The batch's letters in sequence, each with the address lines its envelope window and
    the manifest show (``home_country``: ``LETTER_HOME_COUNTRY``)."""
    found = session.execute(
        select(
            Letter.id,
            Letter.sequence,
            Letter.reason,
            Delivery.id,
            Delivery.cohort_key,
            Recipient.first_name,
            Recipient.last_name,
            Recipient.email,
            Recipient.reference,
            Recipient.address,
            Recipient.country,
            Recipient.us_state,
        )
        .join(Delivery, Delivery.id == Letter.delivery_id)
        .join(Recipient, Recipient.id == Delivery.recipient_id)
        .where(Letter.batch_id == batch.id)
        .order_by(Letter.sequence)
    ).all()
    rows = []
    for (
        letter_id,
        sequence,
        reason,
        delivery_id,
        key,
        first,
        last,
        email,
        ref,
        lines,
        country,
        us_state,
    ) in found:
        try:
            recipient = MergeRecipient(
                first_name=first or "",
                last_name=last or "",
                email=email or "",
                reference=ref or "",
                postal_address=tuple(lines or ()),
                country=country or "",
                # The import keeps a state only for US addresses; the cohorts ignore it
                # elsewhere, and so does the envelope.
                us_state=(us_state or "") if country == "US" else "",
            )
            address = recipient_lines(recipient, home_country=home_country)
        except RenderError as exc:
            # The import applies the same rules, so this is data changed since: say which
            # letter, never the value.
            raise LettersRefused(
                f"Letter {sequence} (delivery {delivery_id}) cannot be printed: {exc}"
            ) from None
        if not recipient.postal_address:
            raise LettersRefused(
                f"Letter {sequence} (delivery {delivery_id}) has no postal address any more."
            )
        rows.append(
            LetterRow(
                letter_id, sequence, reason, delivery_id, key, recipient, country or "", address
            )
        )
    return rows


def _site_settings(settings: Settings | None, config: Mapping[str, Any] | None) -> Settings:
    """The site's settings: as given, or read from a caller's config mapping."""
    if settings is not None:
        return settings
    if config is None:
        raise TypeError("letters need the site's settings (or the app's config)")
    return settings_of(config)


def print_date(now: datetime, settings: Settings) -> date:
    """The date on letters rendered at ``now``: that day where the site is."""
    return now.astimezone(ZoneInfo(settings.default_timezone or "UTC")).date()


def render_timeout(size: int, settings: Settings) -> float:
    """Seconds one batch of ``size`` letters may take to render before it is stopped."""
    base = settings.render_timeout_seconds or Defaults.RENDER_TIMEOUT_SECONDS
    return float(base) + SECONDS_PER_LETTER * size


def render_batch(
    session: Session,
    batch: LetterBatch,
    *,
    settings: Settings | None = None,
    config: Mapping[str, Any] | None = None,
    catalogue: Catalogue,
    now: datetime,
    actor_label: str | None = None,
) -> None:
    """Render ``batch``: its letters into one PDF (one letter per recipient, in sequence,
    each from the approved letter of their cohort, dated the print date) and its manifest;
    stores both with their SHA-256 and the page numbers, marks it ready and records
    ``letters.rendered``. Raises :class:`LettersRefused`, ``approval.ApprovalError`` or a
    ``RenderError`` (with a message for an admin) and changes nothing then. The caller commits.
    ``settings``: the site's (or, from a caller holding it, the app's ``config`` mapping).
    """
    from composer.rendering.pdf import letters_to_pdf

    site = _site_settings(settings, config)
    if batch.state != LetterBatchState.WAITING.value:
        raise LettersRefused(f"Letter batch {batch.id} is {batch.state}, not waiting.")
    run = session.get(SendRun, batch.run_id)
    assert run is not None
    problem = refusal(session, run)
    if problem:
        raise LettersRefused(problem)
    day = print_date(now, site)
    letter_for = letters_for_run(session, run, settings=site, catalogue=catalogue, today=day)
    rows = _letter_rows(session, batch, home_country=site.letter_home_country)
    if not rows:
        raise LettersRefused(f"Letter batch {batch.id} has no letters.")
    htmls = [letter_for(row.cohort_key, row.recipient, day) for row in rows]
    company = site.company_name
    title = f"{company} letters: send {run.id}, batch {batch.number} ({len(rows)} letters)"
    # A batch waits its turn behind previews and other batches (RENDER_MAX_CONCURRENT) for
    # part of its lease; if no renderer came free, RenderBusy puts it back for later.
    pdf, pages = letters_to_pdf(
        htmls,
        title=title.strip(),
        timeout=render_timeout(len(rows), site),
        wait=RENDER_WAIT_SECONDS,
    )
    manifest = manifest_csv(batch, rows, pages).encode("utf-8")
    # The purge and this store take the list's row lock in turn, so a purge that ran while the
    # letters rendered is seen here and nothing personal is stored after it.
    locked = session.execute(
        select(RecipientList.id, RecipientList.purged_at)
        .where(RecipientList.id == run.list_id)
        .with_for_update()
    ).first()
    if locked is None or locked.purged_at is not None:
        raise LettersRefused(refusal(session, run) or "The recipient list is gone.")
    first = 1
    for row, count in zip(rows, pages, strict=True):
        session.execute(
            update(Letter).where(Letter.id == row.letter_id).values(first_page=first, pages=count)
        )
        first += count
    batch.state = LetterBatchState.READY.value
    batch.pdf = pdf
    batch.pdf_sha256 = hashlib.sha256(pdf).hexdigest()
    batch.manifest = manifest
    batch.manifest_sha256 = hashlib.sha256(manifest).hexdigest()
    batch.pages = sum(pages)
    batch.print_date = day
    batch.rendered_at = now
    batch.bundle_sha256 = run.bundle_sha256
    batch.lease_until = None
    batch.error = None
    audit.record(
        session,
        actor=None,
        actor_label=actor_label,
        action="letters.rendered",
        subject_type="incident",
        subject_id=run.incident_id,
        after={
            "run": run.id,
            "batch": batch.id,
            "number": batch.number,
            "letters": len(rows),
            "pages": batch.pages,
            "print_date": day.isoformat(),
            "pdf_sha256": batch.pdf_sha256,
            "manifest_sha256": batch.manifest_sha256,
            "bundle_sha256": run.bundle_sha256,
        },
    )


def _claim(session: Session, settings: Settings, now: datetime) -> LetterBatch | None:
    """Take the oldest waiting batch no other worker holds, for as long as it may take."""
    while True:
        found = session.execute(
            select(LetterBatch.id, LetterBatch.size)
            .where(
                LetterBatch.state == LetterBatchState.WAITING.value,
                or_(LetterBatch.lease_until.is_(None), LetterBatch.lease_until < now),
            )
            .order_by(LetterBatch.id)
            .limit(1)
        ).first()
        if found is None:
            session.rollback()
            return None
        batch_id, size = found
        lease = timedelta(seconds=render_timeout(size, settings) + 60)
        claimed = session.execute(
            update(LetterBatch)
            .where(
                LetterBatch.id == batch_id,
                LetterBatch.state == LetterBatchState.WAITING.value,
                or_(LetterBatch.lease_until.is_(None), LetterBatch.lease_until < now),
            )
            .values(lease_until=now + lease, attempts=LetterBatch.attempts + 1)
        )
        session.commit()
        if claimed.rowcount == 1:  # type: ignore[attr-defined]
            return session.get(LetterBatch, batch_id)
        # Another worker took it between the two statements: look again.


def _release(session: Session, batch_id: int) -> None:
    """Give back a batch that could not start rendering (every renderer stayed busy): it is
    waiting again, for any worker, and the attempt does not count."""
    session.execute(
        update(LetterBatch)
        .where(LetterBatch.id == batch_id)
        .values(lease_until=None, attempts=LetterBatch.attempts - 1)
    )


def _fail(session: Session, batch_id: int, message: str, *, actor_label: str | None = None) -> None:
    batch = session.get(LetterBatch, batch_id)
    assert batch is not None
    batch.state = LetterBatchState.FAILED.value
    batch.error = message
    batch.lease_until = None
    run = session.get(SendRun, batch.run_id)
    assert run is not None
    audit.record(
        session,
        actor=None,
        actor_label=actor_label,
        action="letters.refused",
        subject_type="incident",
        subject_id=run.incident_id,
        after={"run": run.id, "batch": batch.id, "number": batch.number, "reason": message},
    )


def refusal_message(exc: Exception) -> str:
    """An exception from :func:`render_batch` as what an admin reads on the letters page."""
    text = str(exc)
    if isinstance(exc, approval.ApprovalError):
        text = text.removeprefix("Not sent: ")
        return f"Letters not printed: {text}"
    if isinstance(exc, RenderError):
        return f"Letters not printed: {text}"
    return text


def render_next_batch(
    session: Session,
    *,
    settings: Settings | None = None,
    config: Mapping[str, Any] | None = None,
    catalogue: Catalogue,
    now: datetime,
    actor_label: str | None = None,
) -> LetterBatch | None:
    """:func:`render_next`, returning the batch it rendered or refused (None when no batch
    was waiting)."""
    site = _site_settings(settings, config)
    batch = _claim(session, site, now)
    if batch is None:
        return None
    batch_id = batch.id
    if batch.attempts > MAX_ATTEMPTS:
        _fail(
            session,
            batch_id,
            f"Letters not printed: rendering stopped {MAX_ATTEMPTS} times without finishing "
            "(see the server log). Try again with a smaller LETTER_BATCH_SIZE.",
            actor_label=actor_label,
        )
    else:
        try:
            render_batch(
                session,
                batch,
                settings=site,
                catalogue=catalogue,
                now=now,
                actor_label=actor_label,
            )
        except RenderBusy:
            session.rollback()
            _release(session, batch_id)
        except (LettersRefused, approval.ApprovalError, RenderError) as exc:
            session.rollback()
            _fail(session, batch_id, refusal_message(exc), actor_label=actor_label)
    session.commit()
    return session.get(LetterBatch, batch_id)


def render_next(
    session: Session,
    *,
    settings: Settings | None = None,
    config: Mapping[str, Any] | None = None,
    catalogue: Catalogue,
    now: datetime,
    actor_label: str | None = None,
) -> bool:
    """Render the oldest waiting letter batch; False when there was none (a worker calls this
    until it returns False). A refusal marks the batch failed with the reason (and records
    ``letters.refused``) and still counts as work done. Commits. Safe to run in several
    workers at once: each batch is claimed (a lease in the database) before it is rendered,
    and a batch whose worker died is taken again once its lease runs out; after
    :data:`MAX_ATTEMPTS` such starts it fails."""
    found = render_next_batch(
        session,
        settings=settings,
        config=config,
        catalogue=catalogue,
        now=now,
        actor_label=actor_label,
    )
    return found is not None

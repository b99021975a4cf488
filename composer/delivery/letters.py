"""Postal letters: the notice on paper for the recipients of a send run email cannot reach.

Who gets a letter: every delivery of the run in state ``post`` (no email address), ``bounced``
or ``dropped`` (the Event Webhook said the email did not arrive) or ``invalid`` (the address was
refused, so no email was sent) whose recipient has a postal address, and that is not in a
letter batch yet. Accepted and delivered deliveries get none.

1. :func:`prepare` puts them, in delivery order, into :class:`LetterBatch` es of up to
   ``batch_size`` letters. A delivery is put in at most one batch, ever: the unique index on
   ``letter.delivery_id`` refuses a second one in the database, so two admins preparing at the
   same moment, or a retry, can never give anyone two letters. A bounce that arrives after a
   prepare goes into a new batch at the next prepare.
2. :func:`render_next` renders the oldest waiting batch (a background worker calls it until it
   returns False); :func:`render_batch` renders one: ONE PDF with a letter per recipient, each
   starting on a new page, and a manifest CSV saying which pages are whose. Both are stored in
   the database with their SHA-256, so a download is a read.

Letters are printed from exactly what legal approved. Before a batch is rendered the run's
bundle is rebuilt and checked against the approval (``approval.release_check``, as for email),
and for each cohort the approved letter is reproduced: the letter rendered with the bundle's
stand-in recipient and date must be byte for byte the approved letter HTML. Only then is each
recipient's letter made from the same version, settings and template, with their name,
address, reference and the print date in place of the stand-ins. Any difference refuses the
batch and says what changed.

Recipient data is text in the letter, never a URL: every value is HTML-escaped by the notice
environment, and WeasyPrint fetches resources only through ``StaticOnlyFetcher`` (files under
static/, nothing else). The manifest is written with ``csv_safe`` (no formulas).

No Flask. The audit trail gets counts and hashes, never a name or an address.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy import String, cast, exists, func, insert, or_, select, update
from sqlalchemy.orm import Session

from composer import approval, audit
from composer.approval.bundle import LETTER_STAND_IN, LETTER_STAND_IN_DATE
from composer.checklist import Catalogue
from composer.models import (
    Delivery,
    Letter,
    LetterBatch,
    LetterBatchState,
    LetterReason,
    Recipient,
    RecipientList,
    RunState,
    SendRun,
    User,
)
from composer.rendering.address import recipient_lines
from composer.rendering.errors import RenderBusy, RenderError
from composer.rendering.merge_fields import Recipient as MergeRecipient
from composer.settings import letter_home_country
from composer.support import csv_safe

#: Delivery states that need a letter, and why, in the manifest's words.
REASON_WORDS: Final[Mapping[str, str]] = {
    LetterReason.POST.value: "no email address",
    LetterReason.BOUNCED.value: "email bounced",
    LetterReason.DROPPED.value: "email dropped",
    LetterReason.INVALID.value: "email refused",
}
NEEDS_LETTER: Final = tuple(REASON_WORDS)
#: Letters per batch (one PDF) unless the caller says otherwise: see docs/postal.md.
DEFAULT_BATCH_SIZE: Final = 100
#: Seconds of rendering allowed per letter on top of the base time limit. Measured at about
#: 0.1 s a letter (docs/postal.md); the rest is room for a busy machine.
SECONDS_PER_LETTER: Final = 2.0
#: Render attempts before a batch is given up as failed (a worker that keeps dying on it).
MAX_ATTEMPTS: Final = 3
#: Seconds a batch waits for a free renderer (RENDER_MAX_CONCURRENT) before it is put back to
#: wait for a later turn; less than the 60 seconds of its lease beyond the render time limit.
RENDER_WAIT_SECONDS: Final = 50.0
#: The most address lines a letter has under the name: five lines and, for a letter abroad,
#: the country's (``composer.rendering.address``).
MAX_ADDRESS_LINES: Final = 6

MANIFEST_HEADER: Final = (
    "batch",
    "sequence",
    "first_page",
    "pages",
    "delivery_id",
    "why_by_post",
    "name",
    *(f"address_line_{n}" for n in range(1, MAX_ADDRESS_LINES + 1)),
    "country",
)

# An address is stored as a JSON list; "[]" is the one way an empty one is written.
_HAS_ADDRESS = cast(Recipient.address, String) != "[]"
_INSERT_CHUNK: Final = 5_000


class LettersRefused(ValueError):
    """Letters cannot be prepared or printed now; the message says why, for an admin."""


# Who needs a letter ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LetterNeeds:
    """How many of a run's recipients need a letter, and where they are."""

    #: Deliveries in each state that needs a letter ("post", "bounced", "dropped", "invalid").
    by_reason: Mapping[str, int]
    #: Of those, already in a letter batch.
    prepared: int
    #: Not in a batch yet and with a postal address, by reason: the next prepare takes them.
    to_prepare: Mapping[str, int]
    #: Bounced, dropped or refused with no postal address: they cannot be sent a letter.
    no_address: int

    @property
    def total(self) -> int:
        return sum(self.by_reason.values())

    @property
    def waiting(self) -> int:
        return sum(self.to_prepare.values())


def _not_in_a_batch() -> Any:
    return ~exists().where(Letter.delivery_id == Delivery.id)


def needs(session: Session, run: SendRun) -> LetterNeeds:
    """Who in ``run`` needs a letter: a few counting queries, whatever the run's size."""
    rows = session.execute(
        select(Delivery.state, _not_in_a_batch(), _HAS_ADDRESS, func.count())
        .join(Recipient, Recipient.id == Delivery.recipient_id)
        .where(Delivery.run_id == run.id, Delivery.state.in_(NEEDS_LETTER))
        .group_by(Delivery.state, _not_in_a_batch(), _HAS_ADDRESS)
    ).all()
    by_reason: Counter[str] = Counter({reason: 0 for reason in NEEDS_LETTER})
    to_prepare: Counter[str] = Counter({reason: 0 for reason in NEEDS_LETTER})
    prepared = no_address = 0
    for state, unbatched, has_address, count in rows:
        by_reason[state] += count
        if not unbatched:
            prepared += count
        elif has_address:
            to_prepare[state] += count
        else:
            no_address += count
    return LetterNeeds(
        by_reason=dict(by_reason),
        prepared=prepared,
        to_prepare=dict(to_prepare),
        no_address=no_address,
    )


def _unbatched(session: Session, run: SendRun) -> list[tuple[int, str]]:
    """(delivery id, state) of each delivery that needs a letter and is in no batch, in order.
    Read in full before any batch is written: inserting while a cursor is open is not
    portable, and two integers a letter are small."""
    rows = session.execute(
        select(Delivery.id, Delivery.state)
        .join(Recipient, Recipient.id == Delivery.recipient_id)
        .where(
            Delivery.run_id == run.id,
            Delivery.state.in_(NEEDS_LETTER),
            _not_in_a_batch(),
            _HAS_ADDRESS,
        )
        .order_by(Delivery.id)
    )
    return [(delivery_id, state) for delivery_id, state in rows]


# Preparing batches -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    """What :func:`prepare` made."""

    batch_ids: tuple[int, ...]
    letters: int
    by_reason: Mapping[str, int] = field(default_factory=dict)


def _refusal(session: Session, run: SendRun) -> str | None:
    if run.state == RunState.CANCELLED.value:
        return "This send was cancelled, so no letters are printed for it."
    recipient_list = session.get(RecipientList, run.list_id)
    if recipient_list is None or recipient_list.purged_at is not None:
        return (
            "The recipients' personal data was purged (retention period), so letters can no "
            "longer be printed for this send."
        )
    return None


def prepare(
    session: Session,
    run: SendRun,
    *,
    batch_size: int,
    by: User | None,
    now: datetime,
    actor_label: str | None = None,
) -> Prepared:
    """Put every delivery of ``run`` that needs a letter and is in no batch yet into new
    batches of up to ``batch_size``, in delivery order; records ``letters.prepared`` (counts
    only). Raises :class:`LettersRefused` for a cancelled run or a purged list, and lets the
    database's ``IntegrityError`` through if another prepare put one of them in a batch first
    (roll back and try again). The caller commits."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    # One prepare per run at a time (PostgreSQL; SQLite has one writer anyway). The unique
    # index on letter.delivery_id holds even without it.
    session.execute(select(SendRun.id).where(SendRun.id == run.id).with_for_update())
    problem = _refusal(session, run)
    if problem:
        raise LettersRefused(problem)
    if run.state == "scheduled":  # where sends can be scheduled: nothing has gone out yet
        raise LettersRefused(
            "This send is scheduled for later: prepare letters once it has started, so they do "
            "not arrive before the emails."
        )
    number = int(
        session.scalar(select(func.max(LetterBatch.number)).where(LetterBatch.run_id == run.id))
        or 0
    )
    batch_ids: list[int] = []
    reasons: Counter[str] = Counter()
    chunk: list[tuple[int, str]] = []

    def flush(members: list[tuple[int, str]]) -> None:
        nonlocal number
        number += 1
        batch = LetterBatch(
            run_id=run.id,
            number=number,
            size=len(members),
            created_at=now,
            created_by_id=by.id if by is not None else None,
            state=LetterBatchState.WAITING.value,
        )
        session.add(batch)
        session.flush()
        session.execute(
            insert(Letter),
            [
                {"batch_id": batch.id, "delivery_id": delivery_id, "sequence": i, "reason": state}
                for i, (delivery_id, state) in enumerate(members, start=1)
            ],
        )
        batch_ids.append(batch.id)

    pending = _unbatched(session, run)
    for delivery_id, state in pending:
        chunk.append((delivery_id, state))
        reasons[state] += 1
        if len(chunk) == batch_size:
            flush(chunk)
            chunk = []
    if chunk:
        flush(chunk)
    if batch_ids:
        audit.record(
            session,
            actor=by,
            actor_label=actor_label,
            action="letters.prepared",
            subject_type="incident",
            subject_id=run.incident_id,
            after={
                "run": run.id,
                "batches": batch_ids,
                "letters": len(pending),
                "by_reason": dict(sorted(reasons.items())),
                "batch_size": batch_size,
            },
        )
    return Prepared(batch_ids=tuple(batch_ids), letters=len(pending), by_reason=dict(reasons))


# The approved letters ----------------------------------------------------------------------------


#: Fills the approved letter of a cohort in for one recipient: (cohort key, recipient, date).
LetterFor = Callable[[str, MergeRecipient, date], str]


def letters_for_run(
    session: Session,
    run: SendRun,
    *,
    config: Mapping[str, Any],
    catalogue: Catalogue,
    today: date,
) -> LetterFor:
    """Rebuild the run's bundle, check it against the approval, and reproduce each cohort's
    approved letter; returns a function making one recipient's letter (HTML for WeasyPrint).
    Raises ``approval.ApprovalError`` (not approved, or changed since) otherwise: the same
    check as email (``composer.delivery.release.content_for_run``), plus the letter's own."""
    from composer.delivery.release import run_release
    from composer.rendering.pdf import Paper, letter_html

    version, release = run_release(session, run, config=config, catalogue=catalogue, today=today)
    settings = release.bundle.settings
    letter = settings.letter
    home_country = letter_home_country(config)

    def render(spec: approval.VariantSpec, recipient: MergeRecipient, day: date) -> str:
        return letter_html(
            version,
            recipient,
            company=settings.company,
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


# Rendering ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Row:
    letter_id: int
    sequence: int
    reason: str
    delivery_id: int
    cohort_key: str
    recipient: MergeRecipient
    country: str
    #: The lines under the name, as the letter prints them (country line included).
    address: tuple[str, ...]


def _rows(session: Session, batch: LetterBatch, *, home_country: str) -> list[_Row]:
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
            _Row(letter_id, sequence, reason, delivery_id, key, recipient, country or "", address)
        )
    return rows


def print_date(now: datetime, config: Mapping[str, Any]) -> date:
    """The date on letters rendered at ``now``: that day where the site is."""
    return now.astimezone(ZoneInfo(str(config.get("DEFAULT_TIMEZONE") or "UTC"))).date()


def render_timeout(size: int, config: Mapping[str, Any]) -> float:
    """Seconds one batch of ``size`` letters may take to render before it is stopped."""
    return float(config.get("RENDER_TIMEOUT_SECONDS") or 20.0) + SECONDS_PER_LETTER * size


def manifest_csv(batch: LetterBatch, rows: Sequence[_Row], pages: Sequence[int]) -> str:
    """The batch's manifest: one formula-safe row per letter, in PDF order, with the address
    lines exactly as the letter's window shows them (a letter abroad: the country's name last)
    and the country's ISO code."""
    lines = []
    first = 1
    for row, count in zip(rows, pages, strict=True):
        address = list(row.address)[:MAX_ADDRESS_LINES]
        address += [""] * (MAX_ADDRESS_LINES - len(address))
        lines.append(
            [
                batch.id,
                row.sequence,
                first,
                count,
                row.delivery_id,
                REASON_WORDS.get(row.reason, row.reason),
                row.recipient.full_name or "The occupier",
                *address,
                row.country,
            ]
        )
        first += count
    return csv_safe.write_csv(lines, MANIFEST_HEADER)


def render_batch(
    session: Session,
    batch: LetterBatch,
    *,
    config: Mapping[str, Any],
    catalogue: Catalogue,
    now: datetime,
    actor_label: str | None = None,
) -> None:
    """Render ``batch``: its letters into one PDF (one letter per recipient, in sequence,
    each from the approved letter of their cohort, dated the print date) and its manifest;
    stores both with their SHA-256 and the page numbers, marks it ready and records
    ``letters.rendered``. Raises :class:`LettersRefused`, ``approval.ApprovalError`` or a
    ``RenderError`` (with a message for an admin) and changes nothing then. The caller commits.
    """
    from composer.rendering.pdf import letters_to_pdf

    if batch.state != LetterBatchState.WAITING.value:
        raise LettersRefused(f"Letter batch {batch.id} is {batch.state}, not waiting.")
    run = session.get(SendRun, batch.run_id)
    assert run is not None
    problem = _refusal(session, run)
    if problem:
        raise LettersRefused(problem)
    day = print_date(now, config)
    letter_for = letters_for_run(session, run, config=config, catalogue=catalogue, today=day)
    rows = _rows(session, batch, home_country=letter_home_country(config))
    if not rows:
        raise LettersRefused(f"Letter batch {batch.id} has no letters.")
    htmls = [letter_for(row.cohort_key, row.recipient, day) for row in rows]
    company = str(config.get("COMPANY_NAME") or "")
    title = f"{company} letters: send {run.id}, batch {batch.number} ({len(rows)} letters)"
    # A batch waits its turn behind previews and other batches (RENDER_MAX_CONCURRENT) for
    # part of its lease; if no renderer came free, RenderBusy puts it back for later.
    pdf, pages = letters_to_pdf(
        htmls,
        title=title.strip(),
        timeout=render_timeout(len(rows), config),
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
        raise LettersRefused(_refusal(session, run) or "The recipient list is gone.")
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


def _claim(session: Session, config: Mapping[str, Any], now: datetime) -> LetterBatch | None:
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
        lease = timedelta(seconds=render_timeout(size, config) + 60)
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
    config: Mapping[str, Any],
    catalogue: Catalogue,
    now: datetime,
    actor_label: str | None = None,
) -> LetterBatch | None:
    """:func:`render_next`, returning the batch it rendered or refused (None when no batch
    was waiting)."""
    batch = _claim(session, config, now)
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
                config=config,
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
    config: Mapping[str, Any],
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
        session, config=config, catalogue=catalogue, now=now, actor_label=actor_label
    )
    return found is not None


def retry(
    session: Session, batch: LetterBatch, *, by: User | None, actor_label: str | None = None
) -> None:
    """Put a failed batch back to waiting, for the next :func:`render_next`. The caller
    commits."""
    if batch.state != LetterBatchState.FAILED.value:
        raise LettersRefused(f"Letter batch {batch.number} has not failed.")
    run = session.get(SendRun, batch.run_id)
    assert run is not None
    problem = _refusal(session, run)
    if problem:
        raise LettersRefused(problem)
    batch.state = LetterBatchState.WAITING.value
    batch.error = None
    batch.attempts = 0
    batch.lease_until = None
    audit.record(
        session,
        actor=by,
        actor_label=actor_label,
        action="letters.retried",
        subject_type="incident",
        subject_id=run.incident_id,
        after={"run": run.id, "batch": batch.id, "number": batch.number},
    )


# Reading -----------------------------------------------------------------------------------------


def batches(session: Session, run: SendRun) -> list[LetterBatch]:
    """The run's letter batches, in the order they were prepared."""
    return list(
        session.scalars(
            select(LetterBatch).where(LetterBatch.run_id == run.id).order_by(LetterBatch.number)
        )
    )


def is_rendering(batch: LetterBatch, now: datetime) -> bool:
    """A worker holds the batch right now."""
    return (
        batch.state == LetterBatchState.WAITING.value
        and batch.lease_until is not None
        and batch.lease_until > now
    )


#: The two files of a batch.
FILES: Final = ("pdf", "manifest")


def file_name(run: SendRun, batch: LetterBatch, what: str) -> str:
    """The download's file name: ``incident-3-send-5-letters-2.pdf`` / ``...-manifest.csv``."""
    stem = f"incident-{run.incident_id}-send-{run.id}-letters-{batch.number}"
    return f"{stem}.pdf" if what == "pdf" else f"{stem}-manifest.csv"


def file_content(session: Session, batch: LetterBatch, what: str) -> bytes:
    """The stored PDF or manifest; :class:`LettersRefused` when there is none (not rendered
    yet, or purged)."""
    if what not in FILES:
        raise ValueError(f"no such file: {what}")
    if batch.purged_at is not None:
        raise LettersRefused(
            f"The letters of batch {batch.number} were removed with the recipients' personal "
            "data (retention period)."
        )
    data = batch.pdf if what == "pdf" else batch.manifest
    if batch.state != LetterBatchState.READY.value or data is None:
        raise LettersRefused(f"Letter batch {batch.number} is not rendered yet.")
    return data


def record_download(
    session: Session,
    batch: LetterBatch,
    what: str,
    *,
    by: User | None,
    actor_label: str | None = None,
) -> None:
    """Record that someone took a copy of the batch's PDF or manifest (personal data). The
    caller commits."""
    run = session.get(SendRun, batch.run_id)
    assert run is not None
    audit.record(
        session,
        actor=by,
        actor_label=actor_label,
        action="letters.downloaded",
        subject_type="incident",
        subject_id=run.incident_id,
        after={
            "run": run.id,
            "batch": batch.id,
            "number": batch.number,
            "file": what,
            "sha256": batch.pdf_sha256 if what == "pdf" else batch.manifest_sha256,
        },
    )


def state_counts(session: Session, run: SendRun) -> dict[str, int]:
    """Letters in waiting, ready and failed batches."""
    found = dict(
        session.execute(
            select(LetterBatch.state, func.sum(LetterBatch.size))
            .where(LetterBatch.run_id == run.id)
            .group_by(LetterBatch.state)
        ).all()
    )
    return {state.value: int(found.get(state.value) or 0) for state in LetterBatchState}


@dataclass(frozen=True)
class LetterProgress:
    """How far the rendering of a run's letter batches has got: what the letters page shows
    while a big preparation is printed."""

    batches: int
    letters: int
    #: Batches (and their letters) rendered and ready to download.
    ready_batches: int
    ready_letters: int
    #: Refused or given up: they wait for an admin's "Try again".
    failed_batches: int
    failed_letters: int
    #: Waiting batches that a renderer holds right now.
    rendering_batches: int

    @property
    def waiting_batches(self) -> int:
        return self.batches - self.ready_batches - self.failed_batches

    @property
    def done(self) -> bool:
        return self.waiting_batches == 0

    @property
    def percent(self) -> int:
        """Letters rendered, in whole per cent (100 only when every one is)."""
        if not self.letters:
            return 100
        if self.ready_letters == self.letters:
            return 100
        return self.ready_letters * 100 // self.letters


def progress(session: Session, run: SendRun, now: datetime) -> LetterProgress:
    """The run's letter batches counted by state: one grouped query, whatever their number."""
    rendering = (
        (LetterBatch.state == LetterBatchState.WAITING.value)
        & LetterBatch.lease_until.is_not(None)
        & (LetterBatch.lease_until > now)
    )
    rows = session.execute(
        select(LetterBatch.state, rendering, func.count(), func.sum(LetterBatch.size))
        .where(LetterBatch.run_id == run.id)
        .group_by(LetterBatch.state, rendering)
    ).all()
    batches: Counter[str] = Counter()
    letters: Counter[str] = Counter()
    held = 0
    for state, is_rendering, count, size in rows:
        batches[state] += count
        letters[state] += int(size or 0)
        if is_rendering:
            held += count
    return LetterProgress(
        batches=sum(batches.values()),
        letters=sum(letters.values()),
        ready_batches=batches[LetterBatchState.READY.value],
        ready_letters=letters[LetterBatchState.READY.value],
        failed_batches=batches[LetterBatchState.FAILED.value],
        failed_letters=letters[LetterBatchState.FAILED.value],
        rendering_batches=held,
    )

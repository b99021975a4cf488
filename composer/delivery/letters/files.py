"""A rendered letter batch's files: the manifest that says which pages are whose, and the
PDF and manifest as an admin downloads them (each download recorded).

The manifest is written with ``csv_safe`` (no formulas). No Flask. The audit trail gets the
files' hashes, never a name or an address.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from sqlalchemy.orm import Session

from composer import audit
from composer.delivery.letters.batches import REASON_WORDS, LettersRefused
from composer.models import LetterBatch, LetterBatchState, SendRun, User
from composer.rendering.merge_fields import Recipient as MergeRecipient
from composer.support import csv_safe

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


@dataclass(frozen=True)
class LetterRow:
    """One letter of a batch, as it is printed and listed in the manifest."""

    letter_id: int
    sequence: int
    reason: str
    delivery_id: int
    cohort_key: str
    recipient: MergeRecipient
    country: str
    #: The lines under the name, as the letter prints them (country line included).
    address: tuple[str, ...]


def manifest_csv(batch: LetterBatch, rows: Sequence[LetterRow], pages: Sequence[int]) -> str:
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

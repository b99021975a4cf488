"""Postal letters: who gets one, nobody twice, one PDF per batch with every letter on its own
pages (checked with pdftotext), a formula-safe manifest, recipient data that stays text, and
letters refused when what legal approved has changed."""

from __future__ import annotations

import csv
import hashlib
import io
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.exc import IntegrityError

from composer import approval
from composer.approval import release
from composer.delivery import control, letters
from composer.delivery.letters import rendering as letter_rendering
from composer.extensions import db
from composer.models import (
    AuditEvent,
    Delivery,
    Incident,
    Letter,
    LetterBatch,
    Recipient,
    User,
    utcnow,
)
from composer.notices import versions
from composer.rendering import child_process
from composer.rendering import pdf as pdf_module
from composer.rendering.merge_fields import Recipient as MergeRecipient
from tests.sending.letters_scenario import (
    Sent,
    catalogue_of,
    delivery_of,
    run_of,
    send_notice,
    webhook,
)

pytestmark = pytest.mark.skipif(
    shutil.which("pdftotext") is None, reason="needs pdftotext (poppler-utils)"
)

#: Long enough that every letter takes two pages.
LONG_BODY = (
    "Dear {{ first_name }},\n\n"
    + "\n\n".join(
        f"Paragraph {n}: a criminal copied your email address from our supplier on 3 May, and "
        "we have told the police, changed every password and checked every system we run."
        for n in range(1, 19)
    )
    + "\n"
)

#: Last names of the people who get a letter, in delivery (and so letter) order.
LETTER_PEOPLE = [
    "Quiller",
    "Framewright",
    "Roebuck",
    "Postlethwaite",
    "<script>alert(1)</script>",
    "Bostwick",
]


@pytest.fixture
def sent(app: Flask, users: dict[str, int]) -> Iterator[Sent]:
    done = send_notice(app, users)
    with app.app_context():
        yield done


def prepare(sent: Sent, batch_size: int = 100) -> letters.Prepared:
    result = letters.prepare(
        db.session(), run_of(sent), batch_size=batch_size, by=None, now=utcnow()
    )
    db.session.commit()
    return result


def render_all(app: Flask) -> list[LetterBatch]:
    done = []
    while True:
        batch = letters.render_next_batch(
            db.session(), config=app.config, catalogue=catalogue_of(app), now=utcnow()
        )
        if batch is None:
            return done
        done.append(batch)


def letters_in(batch_id: int) -> list[tuple[str, str]]:
    """(last name, reason) of each letter in the batch, in order."""
    return [
        (last, reason)
        for last, reason in db.session.execute(
            sa.select(Recipient.last_name, Letter.reason)
            .join(Delivery, Delivery.id == Letter.delivery_id)
            .join(Recipient, Recipient.id == Delivery.recipient_id)
            .where(Letter.batch_id == batch_id)
            .order_by(Letter.sequence)
        )
    ]


def pages_text(pdf: bytes, first: int, last: int) -> str:
    result = subprocess.run(
        ["pdftotext", "-layout", "-f", str(first), "-l", str(last), "-", "-"],
        input=pdf,
        capture_output=True,
        check=True,
    )
    return result.stdout.decode()


def manifest_rows(batch: LetterBatch) -> list[dict[str, str]]:
    assert batch.manifest is not None
    return list(csv.DictReader(io.StringIO(batch.manifest.decode("utf-8"))))


# Who gets a letter -----------------------------------------------------------------------------


def test_post_bounced_dropped_and_refused_get_a_letter_and_nobody_else(sent: Sent) -> None:
    needs = letters.needs(db.session(), run_of(sent))
    assert needs.by_reason == {"post": 3, "bounced": 2, "dropped": 1, "invalid": 1}
    assert needs.to_prepare == {"post": 3, "bounced": 1, "dropped": 1, "invalid": 1}
    assert needs.no_address == 1  # Hepzibah bounced, and has no postal address
    assert needs.prepared == 0

    prepared = prepare(sent)
    assert prepared.letters == 6
    assert prepared.by_reason == {"post": 3, "bounced": 1, "dropped": 1, "invalid": 1}
    (batch_id,) = prepared.batch_ids
    assert letters_in(batch_id) == [
        ("Quiller", "bounced"),
        ("Framewright", "dropped"),
        # The gateway refused Ignatius's address, so no email left: the letter is the notice.
        ("Roebuck", "invalid"),
        ("Postlethwaite", "post"),
        ("<script>alert(1)</script>", "post"),
        ("Bostwick", "post"),
    ]
    # Delivered, accepted and address-less recipients have no letter.
    lettered = set(db.session.scalars(sa.select(Letter.delivery_id)))
    for who in ("Plumtree", "Vanebridge", "Noxworth"):
        assert delivery_of(who).id not in lettered, who
    after = letters.needs(db.session(), run_of(sent))
    assert after.prepared == 6
    assert after.waiting == 0


def test_nobody_is_put_in_two_batches(sent: Sent) -> None:
    first = prepare(sent, batch_size=2)
    assert [b.size for b in letters.batches(db.session(), run_of(sent))] == [2, 2, 2]
    assert [b.number for b in letters.batches(db.session(), run_of(sent))] == [1, 2, 3]
    events = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))

    again = prepare(sent, batch_size=2)
    assert again.letters == 0
    assert again.batch_ids == ()
    assert len(letters.batches(db.session(), run_of(sent))) == 3
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == events

    # The database itself refuses a second letter for a delivery, whatever the code does.
    taken = db.session.scalar(sa.select(Letter).where(Letter.batch_id == first.batch_ids[0]))
    assert taken is not None
    db.session.add(
        Letter(
            batch_id=first.batch_ids[1], delivery_id=taken.delivery_id, sequence=9, reason="post"
        )
    )
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_a_bounce_after_prepare_goes_into_a_new_batch(sent: Sent) -> None:
    prepare(sent)
    webhook("bounce", "cressida.vane@example.org")
    # A later event for someone already lettered changes nothing.
    webhook("dropped", "zeb.quiller@example.org")
    later = prepare(sent)
    assert later.letters == 1
    (batch_id,) = later.batch_ids
    assert letters_in(batch_id) == [("Vanebridge", "bounced")]
    assert [b.number for b in letters.batches(db.session(), run_of(sent))] == [1, 2]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Letter)) == 7


def test_a_cancelled_send_gets_no_letters(sent: Sent) -> None:
    run = run_of(sent)
    control.cancel(db.session(), run, now=utcnow())
    run.state = "cancelled"
    db.session.commit()
    with pytest.raises(letters.LettersRefused, match="cancelled"):
        prepare(sent)


# The PDF and the manifest ----------------------------------------------------------------------


def test_one_pdf_with_each_letter_on_its_own_pages_and_a_matching_manifest(
    app: Flask, users: dict[str, int]
) -> None:
    sent = send_notice(app, users, body=LONG_BODY)
    with app.app_context():
        prepare(sent)
        (batch,) = render_all(app)
        assert batch.state == "ready", batch.error
        assert batch.pdf is not None
        assert batch.pdf.startswith(b"%PDF-")
        assert batch.pdf_sha256 == hashlib.sha256(batch.pdf).hexdigest()
        assert batch.manifest_sha256 == hashlib.sha256(batch.manifest or b"").hexdigest()
        assert batch.print_date is not None
        rows = manifest_rows(batch)
        assert [r["sequence"] for r in rows] == ["1", "2", "3", "4", "5", "6"]
        assert [r["why_by_post"] for r in rows] == [
            "email bounced",
            "email dropped",
            "email refused",
            "no email address",
            "no email address",
            "no email address",
        ]
        # Every letter has two pages here, and starts where the one before ended.
        assert [(r["first_page"], r["pages"]) for r in rows] == [
            ("1", "2"),
            ("3", "2"),
            ("5", "2"),
            ("7", "2"),
            ("9", "2"),
            ("11", "2"),
        ]
        assert batch.pages == 12
        info = subprocess.run(
            ["pdfinfo", "-"], input=batch.pdf, capture_output=True, check=True
        ).stdout.decode()
        assert "Pages:           12" in info
        assert "Tagged:          yes" in info
        date_text = f"{batch.print_date.day} {batch.print_date:%B %Y}"
        stored = {
            (r.sequence, r.first_page, r.pages) for r in db.session.scalars(sa.select(Letter))
        }
        assert stored == {(int(r["sequence"]), int(r["first_page"]), 2) for r in rows}
        for row, last_name in zip(rows, LETTER_PEOPLE, strict=True):
            first, last = int(row["first_page"]), int(row["first_page"]) + 1
            text = " ".join(pages_text(batch.pdf, first, last).split())
            assert last_name in text
            for line in ("address_line_1", "address_line_2", "address_line_3"):
                assert row[line].lstrip("'") in text, (last_name, row[line])
            assert date_text in text
            assert "Page 1 of 2" in text
            assert "Page 2 of 2" in text
            for other in LETTER_PEOPLE:
                if other != last_name:
                    assert other not in text, (last_name, other)
        # The audit trail has hashes and counts, never a name.
        event = db.session.scalar(
            sa.select(AuditEvent).where(AuditEvent.action == "letters.rendered")
        )
        assert event is not None
        assert event.after is not None
        assert event.after["pdf_sha256"] == batch.pdf_sha256
        assert event.after["letters"] == 6
        for name in LETTER_PEOPLE:
            assert name not in str(event.after)


@pytest.mark.parametrize("home", ["GB", "US"])
def test_the_manifest_and_the_letter_have_the_same_lines_and_a_country_line_abroad(
    app: Flask, sent: Sent, home: str
) -> None:
    app.config["LETTER_HOME_COUNTRY"] = home
    prepare(sent)
    (batch,) = render_all(app)
    assert batch.pdf is not None
    rows = {row["name"]: row for row in manifest_rows(batch)}
    boston = "Boston, MA 02109"  # the city and ZIP lines and the us_state column, on one line
    expected = {
        "Mercy Bostwick": ["9 Harbor Way", boston, *(["UNITED STATES"] if home == "GB" else [])],
        "Philippa Postlethwaite": [
            "7 Post Street",
            "Flat 3",
            "Leeds",
            "LS7 7PP",
            *(["UNITED KINGDOM"] if home == "US" else []),
        ],
    }
    for name, lines in expected.items():
        row = rows[name]
        printed = [row[f"address_line_{n}"] for n in range(1, letters.MAX_ADDRESS_LINES + 1)]
        assert printed == lines + [""] * (letters.MAX_ADDRESS_LINES - len(lines))
        first = int(row["first_page"])
        text = pages_text(batch.pdf, first, first)
        # The window shows the name and then exactly these lines (the left column: the date
        # and reference are on the right).
        window = [re.split(r"\s{2,}", line.strip())[0] for line in text.splitlines()]
        at = window.index(name)
        assert window[at + 1 : at + 1 + len(lines)] == lines
        assert window[at + 1 + len(lines)] != "UNITED KINGDOM"
    assert rows["Mercy Bostwick"]["country"] == "US"
    assert rows["Philippa Postlethwaite"]["country"] == "GB"


def test_hostile_values_are_text_in_the_pdf_and_data_in_the_manifest(
    app: Flask, sent: Sent
) -> None:
    prepare(sent)
    (batch,) = render_all(app)
    assert batch.pdf is not None
    row = manifest_rows(batch)[4]
    text = " ".join(pages_text(batch.pdf, int(row["first_page"]), int(row["first_page"])).split())
    # Printed as typed: markup is not markup, the file URL is not read, the formula is text.
    assert "Dear =cmd|' /C calc'!A0," in text
    assert "<script>alert(1)</script>" in text
    assert "file:///etc/passwd" in text
    assert "<img src=http://127.0.0.1:9/x.png>" in text
    assert "@SUM(1+1)" in text
    assert "root:" not in text
    # A spreadsheet shows these cells as text and runs nothing.
    assert row["name"] == "'=cmd|' /C calc'!A0 <script>alert(1)</script>"
    assert row["address_line_2"] == "'-2+3 <img src=http://127.0.0.1:9/x.png>"
    assert row["address_line_1"] == "file:///etc/passwd"


def test_the_renderer_fetches_nothing_a_recipient_wrote(
    app: Flask, sent: Sent, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The letters rendered in this process with a fetcher that records every URL asked for:
    only the logo under static/, never the file: or http: URLs in the recipient's values."""
    asked: list[str] = []
    fetch = pdf_module.StaticOnlyFetcher.fetch

    def spy(self: pdf_module.StaticOnlyFetcher, url: str, headers: object = None) -> object:
        asked.append(url)
        return fetch(self, url, headers)

    monkeypatch.setattr(pdf_module.StaticOnlyFetcher, "fetch", spy)
    run = run_of(sent)
    today = utcnow().date()
    letter_for = letters.letters_for_run(
        db.session(), run, config=app.config, catalogue=catalogue_of(app), today=today
    )
    hostile = MergeRecipient(
        first_name="=cmd|' /C calc'!A0",
        last_name="<script>alert(1)</script>",
        postal_address=(
            "file:///etc/passwd",
            '<img src="file:///etc/passwd">',
            "<link rel=stylesheet href=http://127.0.0.1:9/x.css>",
            "url(http://127.0.0.1:9/y.png)",
        ),
    )
    html = letter_for(delivery_of("Postlethwaite").cohort_key, hostile, today)
    assert "<script>" not in html
    assert '<img src="file:///etc/passwd">' not in html
    pdf, pages = pdf_module.write_letters_pdf([html, html], title="t")
    assert pages == (1, 1)
    assert asked, "the logo should have been fetched"
    static = pdf_module.STATIC_DIR.resolve().as_uri()
    for url in asked:
        assert url.startswith(static + "/"), url
    assert b"root:x:" not in pdf


# Refusals --------------------------------------------------------------------------------------


def test_letters_are_refused_when_the_approval_no_longer_matches(app: Flask, sent: Sent) -> None:
    prepare(sent)
    app.config["COMPANY_NAME"] = "Another Company Ltd"
    (batch,) = render_all(app)
    assert batch.state == "failed"
    assert batch.pdf is None
    assert batch.error is not None
    assert batch.error.startswith("Letters not printed: what would be sent is not what legal")
    assert "the company name" in batch.error
    refused = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "letters.refused"))
    assert refused is not None
    assert refused.after is not None
    assert refused.after["reason"] == batch.error
    # Failed batches wait for a person: nothing else is picked up.
    assert render_all(app) == []

    app.config["COMPANY_NAME"] = "Example Ltd"
    letters.retry(db.session(), batch, by=None)
    db.session.commit()
    (again,) = render_all(app)
    assert again.state == "ready", again.error


def test_a_new_version_after_approval_refuses_letters(
    app: Flask, users: dict[str, int], sent: Sent
) -> None:
    prepare(sent)
    ana = db.session.get(User, users["author"])
    incident = db.session.get(Incident, sent.incident_id)
    assert ana is not None
    assert incident is not None
    versions.save_version(
        db.session(),
        incident,
        subject="We lost your email address",
        body="Dear {{ first_name }},\n\nSomething else.\n",
        by=ana,
    )
    db.session.commit()
    (batch,) = render_all(app)
    assert batch.state == "failed"
    assert batch.error is not None
    assert batch.error.startswith("Letters not printed: the approval no longer applies")


def test_a_letter_that_is_not_the_approved_one_is_refused(
    app: Flask, sent: Sent, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The approved letter of each cohort must come out byte for byte from the stand-in; here
    the stand-in is made to differ, as a template change the hash missed would."""
    prepare(sent)
    monkeypatch.setattr(
        letter_rendering, "LETTER_STAND_IN", MergeRecipient(first_name="Someone", last_name="Else")
    )
    with pytest.raises(approval.BundleMismatch, match="is not the one legal approved"):
        letters.letters_for_run(
            db.session(),
            run_of(sent),
            config=app.config,
            catalogue=catalogue_of(app),
            today=utcnow().date(),
        )
    (batch,) = render_all(app)
    assert batch.state == "failed"
    assert "is not the one legal approved" in (batch.error or "")


def test_a_line_break_in_stored_data_refuses_the_batch_without_quoting_it(
    app: Flask, sent: Sent, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The import refuses line breaks; a value changed in the database since is refused at
    printing too, and the message names the letter, never the value."""
    # The release check's recount of the list (tests/approval/test_tamper.py) would refuse
    # first; without it, the letter's own check still holds.
    monkeypatch.setattr(release, "check_recipients", lambda session, incident: None)
    db.session.execute(
        sa.update(Recipient)
        .where(Recipient.last_name == "Postlethwaite")
        .values(last_name="Postle\r\nthwaite Injected: yes")
    )
    db.session.commit()
    prepare(sent)
    (batch,) = render_all(app)
    assert batch.state == "failed"
    assert batch.error is not None
    assert "Letter 4 (delivery" in batch.error
    assert "line break" in batch.error
    assert "Injected" not in batch.error


def test_a_country_with_no_name_refuses_the_batch_naming_the_letter(
    app: Flask, sent: Sent, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A letter abroad must name its country: a code the app has no name for (changed in the
    database since the import checked it) is not guessed at or printed as a bare code."""
    monkeypatch.setattr(release, "check_recipients", lambda session, incident: None)
    db.session.execute(
        sa.update(Recipient).where(Recipient.last_name == "Bostwick").values(country="ZZ")
    )
    db.session.commit()
    prepare(sent)
    (batch,) = render_all(app)
    assert batch.state == "failed"
    assert batch.error is not None
    assert "Letter 6 (delivery" in batch.error
    assert "“ZZ” is not one we have a name for" in batch.error
    assert "Bostwick" not in batch.error
    assert "Harbor" not in batch.error


# The worker's side -----------------------------------------------------------------------------


def test_render_next_takes_the_oldest_free_batch_and_then_says_idle(app: Flask, sent: Sent) -> None:
    prepare(sent, batch_size=3)
    first, second = letters.batches(db.session(), run_of(sent))
    # Another worker holds the first batch: this one takes the second.
    first.lease_until = utcnow() + timedelta(minutes=5)
    db.session.commit()
    kwargs = {"config": app.config, "catalogue": catalogue_of(app)}
    done = letters.render_next_batch(db.session(), now=utcnow(), **kwargs)
    assert done is not None
    assert done.id == second.id
    assert done.state == "ready"
    assert letters.is_rendering(first, utcnow())
    assert not letters.render_next(db.session(), now=utcnow(), **kwargs)
    # The other worker died: once its lease runs out the batch is taken again.
    later = utcnow() + timedelta(minutes=6)
    assert letters.render_next(db.session(), now=later, **kwargs)
    db.session.refresh(first)
    assert first.state == "ready"
    assert first.attempts == 1


def test_a_batch_whose_workers_keep_dying_fails(app: Flask, sent: Sent) -> None:
    prepare(sent)
    (batch,) = letters.batches(db.session(), run_of(sent))
    batch.attempts = letters.MAX_ATTEMPTS
    db.session.commit()
    done = letters.render_next_batch(
        db.session(), config=app.config, catalogue=catalogue_of(app), now=utcnow()
    )
    assert done is not None
    assert done.state == "failed"
    assert "stopped 3 times" in (done.error or "")


def test_the_cli_prepares_renders_and_exports(
    app: Flask, sent: Sent, runner: object, tmp_path: Path
) -> None:
    from click.testing import Result

    def invoke(*args: str) -> Result:
        result: Result = runner.invoke(args=list(args))  # type: ignore[attr-defined]
        return result

    result = invoke("letters", "prepare", str(sent.run_id), "--batch-size", "3")
    assert result.exit_code == 0, result.output
    assert "Prepared 6 letters in 2 batches" in result.output
    assert "1 email refused" in result.output
    result = invoke("letters", "render", "--all")
    assert result.exit_code == 0, result.output
    assert result.output.count("letters a second") == 2
    result = invoke("letters", "render")
    assert "No letter batch is waiting." in result.output
    batch_id = min(db.session.scalars(sa.select(LetterBatch.id)))
    result = invoke("letters", "export", str(batch_id), "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    stem = f"incident-{sent.incident_id}-send-{sent.run_id}-letters-1"
    assert files == [f"{stem}-manifest.csv", f"{stem}.pdf"]
    assert (tmp_path / "out" / f"{stem}.pdf").stat().st_mode & 0o077 == 0
    assert (tmp_path / "out" / f"{stem}.pdf").read_bytes().startswith(b"%PDF-")
    downloads = db.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == "letters.downloaded")
    ).all()
    assert sorted(e.after["file"] for e in downloads if e.after) == ["manifest", "pdf"]
    result = invoke("letters", "prepare", "999")
    assert result.exit_code != 0
    assert "There is no send number 999." in result.output


def test_a_scheduled_send_gets_letters_once_it_has_started(sent: Sent) -> None:
    run = run_of(sent)
    run.state = "scheduled"
    db.session.commit()
    with pytest.raises(letters.LettersRefused, match="scheduled for later"):
        prepare(sent)
    run.state = "running"
    db.session.commit()
    assert prepare(sent).letters == 6


def test_a_batch_waits_for_a_free_renderer_and_goes_back_to_waiting_if_none_comes(
    app: Flask, sent: Sent, monkeypatch: pytest.MonkeyPatch
) -> None:

    prepare(sent)
    (batch,) = letters.batches(db.session(), run_of(sent))
    monkeypatch.setattr(letter_rendering, "RENDER_WAIT_SECONDS", 0.2)
    child_process.limit_concurrency(1)
    try:
        with child_process.render_slot():  # a preview holds the only renderer meanwhile
            done = letters.render_next_batch(
                db.session(), config=app.config, catalogue=catalogue_of(app), now=utcnow()
            )
        assert done is not None
        assert done.state == "waiting"  # not failed: a busy renderer is nobody's fault
        assert done.attempts == 0
        assert not letters.is_rendering(done, utcnow())
        (again,) = render_all(app)
    finally:
        child_process.limit_concurrency(None)
    assert again.id == batch.id
    assert again.state == "ready"
    assert again.attempts == 1

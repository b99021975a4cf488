"""The retention purge: no personal data of a purged list's people is left in any table, while
the counts, digest, deliveries, batch records and audit trail stay; lists a send may still use
are kept; a dry run and a second purge change nothing; the evidence pack still exports."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from composer import audit, evidence, retention
from composer.delivery import control, letters
from composer.delivery import dispatch as outbox
from composer.extensions import db
from composer.models import (
    AuditEvent,
    Delivery,
    DevOutboxMessage,
    Incident,
    KeptForm,
    LetterBatch,
    Recipient,
    RecipientList,
    utcnow,
)
from composer.rendering import pdf
from composer.workers.runtime import purge_due
from tests.sending.letters_scenario import (
    PERSONAL,
    Sent,
    catalogue_of,
    run_of,
    send_notice,
)

RETENTION = timedelta(days=90)


def later() -> datetime:
    """A moment past the retention period of a list uploaded now."""
    return utcnow() + RETENTION + timedelta(days=1)


def purge(**kwargs: Any) -> retention.PurgeReport:
    return retention.purge(
        db.session(), older_than=RETENTION, now=kwargs.pop("now", later()), **kwargs
    )


def snapshot() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in primary-key order."""
    tables = {}
    for table in db.metadata.sorted_tables:
        order = list(table.primary_key.columns)
        rows = db.session.execute(sa.select(table).order_by(*order)).all()
        tables[table.name] = [tuple(row) for row in rows]
    return tables


def personal_values_left() -> list[tuple[str, str]]:
    """(table, value) for each known personal value found anywhere in the database, by a raw
    scan of every column of every row."""
    found = []
    for name, rows in snapshot().items():
        for row in rows:
            for value in row:
                if value is None:
                    continue
                if isinstance(value, bytes):
                    text = value.decode("latin-1")
                elif isinstance(value, str):
                    text = value
                else:
                    text = json.dumps(value, default=str, ensure_ascii=False)
                for needle in PERSONAL:
                    if needle.lower() in text.lower():
                        found.append((name, needle))
    return found


def staff_rows() -> list[str]:
    """Staff mail in the dev outbox: a notification and a test send to an admin."""
    hexid = uuid.uuid4().hex
    rows = [
        DevOutboxMessage(
            to_email="ada@example.com",
            to_name="Ada",
            subject="A notice is waiting for your review",
            text="Open it.",
            gateway_message_id=f"dev-{hexid}",
        ),
        DevOutboxMessage(
            to_email="ada@example.com",
            to_name="Ada",
            subject="We lost your email address",
            text="Dear Ada.",
            gateway_message_id=f"dev-{uuid.uuid4().hex}-0",
        ),
    ]
    db.session.add_all(rows)
    db.session.commit()
    return [r.gateway_message_id for r in rows]


@pytest.fixture
def sent(app: Flask, users: dict[str, int]) -> Iterator[Sent]:
    """Sent through the dev outbox, with bounces, and one batch of letters rendered."""
    done = send_notice(app, users)
    with app.app_context():
        letters.prepare(db.session(), run_of(done), batch_size=100, by=None, now=utcnow())
        db.session.commit()
        assert letters.render_next(
            db.session(), config=app.config, catalogue=catalogue_of(app), now=utcnow()
        )
        yield done


def test_the_purge_leaves_no_personal_data_and_keeps_the_record(sent: Sent) -> None:
    staff = staff_rows()
    # A batch the dev outbox stored whose answer was never recorded: its id is nowhere else.
    db.session.add(
        DevOutboxMessage(
            to_email="cressida.vane@example.org",
            to_name="Cressida Vanebridge",
            subject="We lost your email address",
            text="Dear Cressida.",
            gateway_message_id=f"dev-{uuid.uuid4().hex}-0",
        )
    )
    db.session.commit()
    assert personal_values_left()  # the scan does find them before
    recipient_list = db.session.get(RecipientList, sent.list_id)
    assert recipient_list is not None
    counts = (
        recipient_list.rows,
        recipient_list.imported,
        recipient_list.merged,
        recipient_list.rejected,
        recipient_list.digest,
    )
    states = outbox.run_counts(db.session(), run_of(sent))
    deliveries = [
        (d.id, d.state, d.cohort_key, d.message_id)
        for d in db.session.scalars(sa.select(Delivery).order_by(Delivery.id))
    ]
    batch_before = db.session.scalar(sa.select(LetterBatch))
    assert batch_before is not None
    hashes = (batch_before.pdf_sha256, batch_before.manifest_sha256, batch_before.pages)

    report = purge()

    assert [p.list_id for p in report.purged] == [sent.list_id]
    assert report.kept == ()
    (done,) = report.purged
    assert done.recipients == 9
    assert done.row_errors >= 1
    assert done.letter_files == 1
    assert done.outbox_messages == 7  # six notices sent, and the unrecorded one
    db.session.expire_all()
    assert personal_values_left() == []

    # What the evidence and the run's page need is all still there.
    recipient_list = db.session.get(RecipientList, sent.list_id)
    assert recipient_list is not None
    assert recipient_list.purged_at is not None
    assert (
        recipient_list.rows,
        recipient_list.imported,
        recipient_list.merged,
        recipient_list.rejected,
        recipient_list.digest,
    ) == counts
    assert outbox.run_counts(db.session(), run_of(sent)) == states
    assert [
        (d.id, d.state, d.cohort_key, d.message_id)
        for d in db.session.scalars(sa.select(Delivery).order_by(Delivery.id))
    ] == deliveries
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Recipient)) == 9
    kept_cohorts = sorted((r.country, r.us_state) for r in db.session.scalars(sa.select(Recipient)))
    assert kept_cohorts.count(("US", "MA")) == 1
    batch = db.session.scalar(sa.select(LetterBatch))
    assert batch is not None
    assert batch.pdf is None
    assert batch.manifest is None
    assert batch.purged_at is not None
    assert (batch.pdf_sha256, batch.manifest_sha256, batch.pages) == hashes
    left = set(db.session.scalars(sa.select(DevOutboxMessage.gateway_message_id)))
    assert left == set(staff)
    assert audit.verify(db.session()).ok
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "recipients.purged"))
    assert event is not None
    assert event.subject_id == str(sent.incident_id)
    assert event.after == {
        "list_id": sent.list_id,
        "recipients": 9,
        "row_errors": done.row_errors,
        "letter_files": 1,
        "outbox_messages": 7,
        "retention_days": 90,
    }


def test_a_dry_run_changes_nothing_and_counts_the_same(sent: Sent) -> None:
    before = snapshot()
    dry = purge(dry_run=True)
    assert dry.dry_run
    assert snapshot() == before
    real = purge()
    assert dry.purged == real.purged
    assert dry.kept == real.kept


def test_purging_twice_changes_nothing_the_second_time(sent: Sent) -> None:
    purge()
    db.session.expire_all()
    before = snapshot()
    again = purge()
    assert again.purged == ()
    assert again.kept == ()
    db.session.expire_all()
    assert snapshot() == before


def test_lists_within_the_retention_period_stay(sent: Sent) -> None:
    before = snapshot()
    report = purge(now=utcnow() + RETENTION - timedelta(hours=1))
    assert report.purged == ()
    assert report.kept == ()
    assert snapshot() == before


@pytest.mark.parametrize("state", ["running", "paused", "stopped"])
def test_a_list_a_send_may_still_use_is_kept(app: Flask, users: dict[str, int], state: str) -> None:
    sent = send_notice(app, users, dispatch=False)
    with app.app_context():
        run = run_of(sent)
        run.state = state
        db.session.commit()
        before = snapshot()
        report = purge()
        assert report.purged == ()
        assert [(k.list_id, k.reason) for k in report.kept] == [
            (sent.list_id, f"send {sent.run_id} is {state}: it may still send to this list.")
        ]
        assert snapshot() == before
        # Once the send is over, the list goes.
        control.cancel(db.session(), run, now=utcnow())
        db.session.commit()
        assert [p.list_id for p in purge().purged] == [sent.list_id]


def test_letters_waiting_to_be_printed_keep_the_list(app: Flask, users: dict[str, int]) -> None:
    sent = send_notice(app, users)
    with app.app_context():
        letters.prepare(db.session(), run_of(sent), batch_size=2, by=None, now=utcnow())
        db.session.commit()
        report = purge()
        assert report.purged == ()
        assert [k.reason for k in report.kept] == [
            f"3 letter batches of send {sent.run_id} waiting to be printed."
        ]
        while letters.render_next(
            db.session(), config=app.config, catalogue=catalogue_of(app), now=utcnow()
        ):
            pass
        assert [p.list_id for p in purge().purged] == [sent.list_id]


def test_a_purge_during_rendering_stores_no_letters(
    app: Flask, users: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A purge that commits while a batch renders (the list was not yet waiting on it when the
    purge looked, say) wins: the rendered letters are thrown away, not stored."""
    sent = send_notice(app, users)
    render = pdf.letters_to_pdf

    def purge_meanwhile(*args: Any, **kwargs: Any) -> Any:
        result = render(*args, **kwargs)
        with db.engine.begin() as other:
            other.execute(
                sa.update(RecipientList)
                .where(RecipientList.id == sent.list_id)
                .values(purged_at=utcnow())
            )
        return result

    monkeypatch.setattr(pdf, "letters_to_pdf", purge_meanwhile)
    with app.app_context():
        letters.prepare(db.session(), run_of(sent), batch_size=100, by=None, now=utcnow())
        db.session.commit()
        batch = letters.render_next_batch(
            db.session(), config=app.config, catalogue=catalogue_of(app), now=utcnow()
        )
        assert batch is not None
        assert batch.state == "failed"
        assert batch.pdf is None
        assert "purged" in (batch.error or "")


def test_the_evidence_pack_still_exports_after_the_purge(sent: Sent) -> None:
    purge()
    incident = db.session.get(Incident, sent.incident_id)
    assert incident is not None
    for fmt in ("csv", "json"):
        pack = evidence.export(
            db.session(), incident, fmt, generated_at=utcnow(), actor=None, actor_label="test"
        )
        db.session.commit()
        assert "recipients.purged" in pack.text
        assert "letters.rendered" in pack.text
        for needle in PERSONAL:
            assert needle.lower() not in pack.text.lower(), needle
    document = json.loads(
        evidence.export(
            db.session(), incident, "json", generated_at=utcnow(), actor=None, actor_label="t"
        ).text
    )
    assert "recipients.purged" in [e["action"] for e in document["events"]]


def test_the_purge_command_prints_counts_only(app: Flask, sent: Sent, runner: Any) -> None:
    result = runner.invoke(args=["purge", "--dry-run", "--days", "0"])
    assert result.exit_code == 0, result.output
    assert f"Would purge list {sent.list_id} (incident {sent.incident_id}): 9 recipients" in (
        result.output
    )
    assert db.session.get(RecipientList, sent.list_id).purged_at is None  # type: ignore[union-attr]
    result = runner.invoke(args=["purge", "--days", "0"])
    assert result.exit_code == 0, result.output
    assert f"Purged list {sent.list_id}" in result.output
    assert "Purged 1 list(s) uploaded more than 0 days ago (9 recipients); kept 0." in (
        result.output
    )
    for needle in PERSONAL:
        assert needle.lower() not in result.output.lower()
    result = runner.invoke(args=["purge"])
    assert result.exit_code == 0
    assert "Purged 0 list(s) uploaded more than 90 days ago" in result.output
    assert runner.invoke(args=["purge", "--days", "-1"]).exit_code != 0


def _kept_form(key: str, *, expires_at: datetime) -> KeptForm:
    return KeptForm(
        key_hash=key * 64,
        user_id=None,
        endpoint="notices.save",
        view_args="{}",
        fields='{"body": ["what someone typed"]}',
        address="127.0.0.1",
        expires_at=expires_at,
    )


def test_expired_kept_forms_are_deleted_by_the_purge_whatever_the_retention(
    app: Flask, runner: Any
) -> None:
    """Text typed after a session ended and never taken back does not stay for ever: the purge
    (command and the worker's hourly housekeeping, even with retention switched off) deletes
    the kept forms past their expiry, and only those."""

    def keys() -> list[str]:
        with app.app_context():
            return sorted(db.session.scalars(sa.select(KeptForm.key_hash)))

    def add(key: str, expires_at: datetime) -> None:
        with app.app_context():
            db.session.add(_kept_form(key, expires_at=expires_at))
            db.session.commit()

    def purge(*args: str) -> Any:
        with app.app_context():  # as `flask purge` runs it
            return runner.invoke(args=["purge", *args])

    now = utcnow()
    add("a", now - timedelta(minutes=1))
    add("b", now + timedelta(hours=1))
    result = purge("--dry-run")
    assert result.exit_code == 0, result.output
    assert "Would delete 1 expired kept form(s)" in result.output
    assert keys() == ["a" * 64, "b" * 64]
    result = purge()
    assert "Deleted 1 expired kept form(s)" in result.output
    assert keys() == ["b" * 64]
    assert "kept form" not in purge().output

    add("c", now - timedelta(seconds=1))
    app.config["RECIPIENT_RETENTION_DAYS"] = 0  # retention off: expired forms still go
    purge_due(app)
    assert keys() == ["b" * 64]

"""A big print run: waiting letter batches are rendered several at once (each in its own
renderer process), every letter exactly once, and the letters page says how far it has got."""

from __future__ import annotations

import re
import shutil

import pytest
import sqlalchemy as sa
from flask import Flask

from composer import create_app
from composer.delivery import letters
from composer.extensions import db
from composer.models import Letter, LetterBatch, utcnow
from composer.rendering import child_process
from composer.settings import settings_of
from composer.workers.runtime import render_pending_letters, render_processes
from tests.conftest import sign_in
from tests.sending.letters_scenario import Sent, run_of, send_notice

pytestmark = pytest.mark.skipif(
    shutil.which("pdftotext") is None, reason="needs pdftotext (poppler-utils)"
)


@pytest.fixture
def sent(app: Flask, users: dict[str, int]) -> Sent:
    return send_notice(app, users)


def letters_url(sent: Sent) -> str:
    return f"/incidents/{sent.incident_id}/send/runs/{sent.run_id}/letters"


def prepare(app: Flask, sent: Sent, batch_size: int) -> None:
    with app.app_context():
        letters.prepare(db.session(), run_of(sent), batch_size=batch_size, by=None, now=utcnow())
        db.session.commit()


def states(app: Flask) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(sa.select(LetterBatch.state).order_by(LetterBatch.id)))


def test_two_processes_render_two_batches_at_once_each_letter_once(app: Flask, sent: Sent) -> None:
    prepare(app, sent, batch_size=2)  # 6 letters: 3 batches
    app.config["LETTER_RENDER_PROCESSES"] = 2
    child_process.limit_concurrency(2)
    child_process._POOL.peak = 0
    try:
        assert render_pending_letters(app)
        assert states(app).count("ready") == 2  # one call, two batches
        assert child_process._POOL.peak == 2  # side by side, not one after the other
        assert render_pending_letters(app)  # the last one
        assert not render_pending_letters(app)
    finally:
        child_process.limit_concurrency(None)
    assert states(app) == ["ready"] * 3
    with app.app_context():
        batches = list(db.session.scalars(sa.select(LetterBatch)))
        assert sum(b.size for b in batches) == 6
        assert all(b.attempts == 1 for b in batches)  # nobody rendered twice
        letters = db.session.scalar(sa.select(sa.func.count(sa.distinct(Letter.delivery_id))))
        assert letters == 6


def test_processes_never_exceed_what_the_renderers_allow(app: Flask) -> None:
    child_process.limit_concurrency(3)
    try:
        assert render_processes(settings_of({"LETTER_RENDER_PROCESSES": None})) == 3
        assert render_processes(settings_of({"LETTER_RENDER_PROCESSES": 8})) == 3
        assert render_processes(settings_of({"LETTER_RENDER_PROCESSES": 1})) == 1
    finally:
        child_process.limit_concurrency(None)


@pytest.mark.parametrize("value", [0, -1, "two", 1.5, True])
def test_a_wrong_process_count_stops_start_up_naming_the_setting(app: Flask, value: object) -> None:
    config = {k: v for k, v in app.config.items() if k.isupper()}
    config["LETTER_RENDER_PROCESSES"] = value
    with pytest.raises(ValueError, match="LETTER_RENDER_PROCESSES must be a whole number"):
        create_app(config)


def test_the_letters_page_shows_how_far_rendering_has_got(app: Flask, sent: Sent) -> None:
    prepare(app, sent, batch_size=2)
    app.config["LETTER_RENDER_PROCESSES"] = 1
    client = app.test_client()
    sign_in(client, "author")

    def said() -> str:
        page = client.get(letters_url(sent)).get_data(as_text=True)
        found = re.search(r"data-letter-progress>(.*?)</div>", page, re.S)
        assert found is not None
        return " ".join(re.sub(r"<[^>]+>", "", found.group(1)).split())

    assert "rendering Rendered 0 of 3 batches, 0 of 6 letters (0%)" in said()
    assert "0 rendering now, up to 1 at once; 3 waiting." in said()
    assert render_pending_letters(app)
    assert "Rendered 1 of 3 batches, 2 of 6 letters (33%)" in said()
    while render_pending_letters(app):
        pass
    text = said()
    assert "rendered Rendered 3 of 3 batches, 6 of 6 letters (100%)" in text
    assert "waiting" not in text
    with app.app_context():
        db.session.execute(sa.update(LetterBatch).where(LetterBatch.id == 1).values(state="failed"))
        db.session.commit()
    text = said()
    assert "stopped Rendered 2 of 3 batches, 4 of 6 letters (66%)" in text
    assert "1 batch (2 letters) failed: see below." in text


def test_progress_counts_a_held_batch_as_rendering_and_a_failed_one_apart(
    app: Flask, sent: Sent
) -> None:
    prepare(app, sent, batch_size=2)  # 6 letters: 3 batches
    with app.app_context():
        first, second, _third = letters.batches(db.session(), run_of(sent))
        first.lease_until = utcnow().replace(year=2100)
        second.state = "failed"
        db.session.commit()
        found = letters.progress(db.session(), run_of(sent), utcnow())
    assert (found.batches, found.letters) == (3, 6)
    assert found.rendering_batches == 1
    assert (found.failed_batches, found.failed_letters) == (1, 2)
    assert (found.ready_batches, found.ready_letters) == (0, 0)
    assert found.waiting_batches == 2
    assert not found.done
    assert found.percent == 0

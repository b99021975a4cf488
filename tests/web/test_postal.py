"""Postal letters over HTTP: who may prepare and download, prepare then download, another
incident's batches, and what the pages say once personal data is purged."""

from __future__ import annotations

import csv
import io
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask

from composer import retention
from composer.extensions import db
from composer.models import AuditEvent, LetterBatch, utcnow
from composer.workers.runtime import render_pending_letters
from tests.conftest import sign_in
from tests.sending.letters_scenario import Sent, send_notice


@pytest.fixture
def sent(app: Flask, users: dict[str, int]) -> Sent:
    return send_notice(app, users)


def letters_url(sent: Sent) -> str:
    return f"/incidents/{sent.incident_id}/send/runs/{sent.run_id}/letters"


def prepare_and_render(app: Flask, sent: Sent) -> int:
    client = app.test_client()
    token = sign_in(client, "admin")
    response = client.post(letters_url(sent), data={"csrf_token": token})
    assert response.status_code == 302
    while render_pending_letters(app):
        pass
    with app.app_context():
        return int(db.session.scalar(sa.select(sa.func.max(LetterBatch.id))) or 0)


def test_the_run_page_links_to_its_letters(app: Flask, sent: Sent) -> None:
    client = app.test_client()
    sign_in(client, "approver")
    page = client.get(f"/incidents/{sent.incident_id}/send/runs/{sent.run_id}").get_data(
        as_text=True
    )
    assert f'href="{letters_url(sent)}"' in page


def test_everyone_sees_the_counts_only_admins_prepare(app: Flask, sent: Sent) -> None:
    for who in ("author", "approver"):
        client = app.test_client()
        token = sign_in(client, who)
        page = client.get(letters_url(sent)).get_data(as_text=True)
        assert 'data-reason="post">3<' in page
        assert 'data-reason="bounced">2<' in page
        assert 'data-reason="dropped">1<' in page
        assert 'data-reason="invalid">1<' in page
        assert "Email refused" in page
        assert (
            "1 recipient whose email bounced, was dropped or was refused has no postal address"
            in page
        )
        assert "Prepare letters" not in page
        assert client.post(letters_url(sent), data={"csrf_token": token}).status_code == 403
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(LetterBatch)) == 0
    anonymous = app.test_client()
    response = anonymous.get(letters_url(sent))
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")

    admin = app.test_client()
    sign_in(admin, "admin")
    page = admin.get(letters_url(sent)).get_data(as_text=True)
    assert "Prepare letters for 6 recipients" in page


def test_admin_prepares_and_downloads_and_others_cannot(app: Flask, sent: Sent) -> None:
    client = app.test_client()
    token = sign_in(client, "admin")
    response = client.post(letters_url(sent), data={"csrf_token": token}, follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "Prepared 6 letters in 1 batch" in page
    assert 'data-state="waiting"' in page
    assert 'http-equiv="refresh"' in page  # the page follows progress while batches render
    assert render_pending_letters(app)
    assert not render_pending_letters(app)
    page = client.get(letters_url(sent)).get_data(as_text=True)
    assert 'data-state="ready"' in page
    assert 'http-equiv="refresh"' not in page
    assert "Prepare letters" not in page
    with app.app_context():
        batch_id = db.session.scalar(sa.select(LetterBatch.id))
    pdf_url = f"/incidents/{sent.incident_id}/letters/{batch_id}/letters.pdf"
    csv_url = f"/incidents/{sent.incident_id}/letters/{batch_id}/manifest.csv"
    assert pdf_url in page
    assert csv_url in page

    response = client.get(pdf_url)
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF-")
    assert "attachment" in response.headers["Content-Disposition"]
    response = client.get(csv_url)
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [r["why_by_post"] for r in rows][:3] == [
        "email bounced",
        "email dropped",
        "email refused",
    ]
    with app.app_context():
        downloads = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "letters.downloaded")
        ).all()
        assert [e.after["file"] for e in downloads if e.after] == ["pdf", "manifest"]
        assert all(e.actor == "ada@example.com" for e in downloads)

    for who in ("author", "approver"):
        other = app.test_client()
        sign_in(other, who)
        assert other.get(pdf_url).status_code == 403
        assert other.get(csv_url).status_code == 403
        assert "admins download" in other.get(letters_url(sent)).get_data(as_text=True)


def test_another_incidents_batches_and_runs_are_not_found(
    app: Flask, users: dict[str, int], sent: Sent
) -> None:
    batch_id = prepare_and_render(app, sent)
    other = send_notice(app, users, dispatch=False, title="Another leak")
    client = app.test_client()
    token = sign_in(client, "admin")
    base = f"/incidents/{other.incident_id}"
    assert client.get(f"{base}/letters/{batch_id}/letters.pdf").status_code == 404
    assert client.get(f"{base}/letters/{batch_id}/manifest.csv").status_code == 404
    response = client.post(f"{base}/letters/{batch_id}/retry", data={"csrf_token": token})
    assert response.status_code == 404
    assert client.get(f"{base}/send/runs/{sent.run_id}/letters").status_code == 404
    response = client.post(f"{base}/send/runs/{sent.run_id}/letters", data={"csrf_token": token})
    assert response.status_code == 404


def test_a_refused_batch_shows_why_and_can_be_tried_again(app: Flask, sent: Sent) -> None:
    client = app.test_client()
    token = sign_in(client, "admin")
    client.post(letters_url(sent), data={"csrf_token": token})
    app.config["MAIL_SENDER"] = "Other <other@example.net>"
    assert render_pending_letters(app)
    page = client.get(letters_url(sent)).get_data(as_text=True)
    assert 'data-state="failed"' in page
    assert "Letters not printed:" in page
    assert "the sender (From address)" in page
    app.config["MAIL_SENDER"] = "Example Ltd <security@example.com>"
    with app.app_context():
        batch_id = db.session.scalar(sa.select(LetterBatch.id))
    response = client.post(
        f"/incidents/{sent.incident_id}/letters/{batch_id}/retry",
        data={"csrf_token": token},
        follow_redirects=True,
    )
    assert "will be rendered again" in response.get_data(as_text=True)
    assert render_pending_letters(app)
    assert 'data-state="ready"' in client.get(letters_url(sent)).get_data(as_text=True)


def test_pages_after_the_purge_say_so(app: Flask, sent: Sent) -> None:
    batch_id = prepare_and_render(app, sent)
    with app.app_context():
        report = retention.purge(
            db.session(), older_than=timedelta(days=90), now=utcnow() + timedelta(days=91)
        )
        assert [p.list_id for p in report.purged] == [sent.list_id]
    client = app.test_client()
    token = sign_in(client, "admin")
    base = f"/incidents/{sent.incident_id}"

    page = client.get(f"{base}/recipients/{sent.list_id}").get_data(as_text=True)
    assert "Personal data purged on" in page
    assert "Download the error report" not in page
    assert "First " not in page  # no (empty) table of recipients
    assert "•" not in page  # no masked names or addresses either
    page = client.get(f"{base}/recipients").get_data(as_text=True)
    assert "Personal data purged on" in page
    assert f"{base}/recipients/{sent.list_id}/errors.csv" not in page
    response = client.get(f"{base}/recipients/{sent.list_id}/errors.csv")
    assert response.status_code == 404
    assert "removed with the recipients" in response.get_data(as_text=True)

    page = client.get(letters_url(sent)).get_data(as_text=True)
    assert "Personal data purged on" in page
    assert "Prepare letters" not in page
    assert f"/letters/{batch_id}/letters.pdf" not in page
    response = client.get(f"{base}/letters/{batch_id}/letters.pdf")
    assert response.status_code == 404
    assert "retention period" in response.get_data(as_text=True)
    response = client.post(letters_url(sent), data={"csrf_token": token}, follow_redirects=True)
    assert "No letters were prepared. The recipients&#39; personal data was purged" in (
        response.get_data(as_text=True)
    )


def test_prepare_needs_the_forms_csrf_token(app: Flask, sent: Sent) -> None:
    client = app.test_client()
    sign_in(client, "admin")
    assert client.post(letters_url(sent)).status_code == 400
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(LetterBatch)) == 0


def test_the_in_process_worker_renders_prepared_letters_by_itself(app: Flask, sent: Sent) -> None:
    """The embedded default: pressing Prepare wakes the sending thread, which renders the
    batches when no email is waiting."""
    from composer.workers.inprocess import worker

    app.config["SEND_WORKER"] = "inprocess"
    client = app.test_client()
    token = sign_in(client, "admin")
    assert client.post(letters_url(sent), data={"csrf_token": token}).status_code == 302
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with app.app_context():
                states = set(db.session.scalars(sa.select(LetterBatch.state)))
                db.session.remove()
            if states and states <= {"ready"}:
                break
            time.sleep(0.2)
        assert states == {"ready"}
    finally:
        with app.app_context():
            sender = worker()
            assert sender is not None
            sender.stop()


def test_with_celery_preparing_letters_queues_a_render_task(app: Flask, sent: Sent) -> None:
    import os

    redis_url = os.environ.get("COMPOSER_TEST_REDIS_URL")
    if not redis_url:
        if os.environ.get("CI"):
            pytest.fail("COMPOSER_TEST_REDIS_URL is not set: scripts/test starts Redis in CI")
        pytest.skip("needs COMPOSER_TEST_REDIS_URL (scripts/test starts a Redis server)")
    import json

    import redis

    broker = redis.Redis.from_url(redis_url)
    broker.flushdb()
    app.config.update(SEND_WORKER="celery", CELERY_BROKER_URL=redis_url)
    client = app.test_client()
    token = sign_in(client, "admin")
    assert client.post(letters_url(sent), data={"csrf_token": token}).status_code == 302
    queued = [json.loads(raw) for raw in broker.lrange("celery", 0, -1)]
    assert [m["headers"]["task"] for m in queued] == ["composer.render_letters"]
    broker.flushdb()

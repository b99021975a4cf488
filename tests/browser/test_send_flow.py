"""Bulk sending in a real browser: an admin uploads a CSV with some bad rows and sees the
report, legal approves the notice for that list, the admin sends a test to themselves, tries to
schedule with no date (refused beside the field), schedules the send for later (asked once,
with the count), then sends it now (asked once), and watches the progress bar reach 100% (the
in-process worker sends to the dev outbox); Yes pressed twice sends once, and the Send page no
longer offers the whole list.

``COMPOSER_SCREENSHOTS=<dir>`` saves desktop (1280x900) and phone (390x844) screenshots.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from playwright.sync_api import BrowserContext, expect

from composer.extensions import db
from composer.models import DevOutboxMessage
from tests.browser.conftest import LiveServer, Look
from tests.browser.test_drafting import complete_incident
from tests.conftest import EMAILS, PASSWORD, sign_in
from tests.web.test_reviews import approve, review_id_of, submit

pytestmark = pytest.mark.browser

GOOD = 12
CSV = (
    "email,first_name,last_name,country,data_categories\n"
    + "".join(f"person{i}@example.com,Pat{i},Doe,GB,email\n" for i in range(GOOD))
    + "not-an-email,Bad,Row,GB,email\n"
    + "person1@example.com,Pat1,Again,GB,email\n"  # merged with row 3
    + "=cmd|' /C calc'!A0,Formula,Row,GB,email\n"
)


def test_upload_report_test_send_send_and_watch_it_finish(
    live_server: LiveServer, browser: BrowserContext, screenshots: Path | None, tmp_path: Path
) -> None:
    base = live_server.url
    incident_id = complete_incident(live_server)
    page = browser.pages[0] if browser.pages else browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    look = Look(page, screenshots, "send")

    page.goto(f"{base}/login")
    page.get_by_label("Email address").fill(EMAILS["admin"])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()

    # Upload: good rows in, a bad address and a formula out, a repeat merged.
    upload = tmp_path / "people.csv"
    upload.write_text(CSV, encoding="utf-8")
    page.goto(f"{base}/incidents/{incident_id}/summary")
    page.get_by_role("link", name="Recipients", exact=True).click()
    page.get_by_label("Recipient file (CSV, UTF-8)").set_input_files(str(upload))
    page.get_by_role("button", name="Upload and check").click()
    body = page.locator("main")
    expect(body).to_contain_text("12")
    expect(body).to_contain_text("rejected", ignore_case=True)
    expect(body).not_to_contain_text("person3@example.com")  # masked
    look("recipients-uploaded")
    report = page.get_by_role("link", name=re.compile("report", re.IGNORECASE)).first
    with page.expect_download() as download:
        report.click()
    text = Path(download.value.path()).read_text(encoding="utf-8")
    assert "row" in text.splitlines()[0]
    assert "'=cmd" in text or "=cmd" not in text  # a formula cell never reaches a spreadsheet raw

    # Legal approves the notice for this list (through HTTP, for speed).
    author = live_server.app.test_client()
    token = sign_in(author, "author")
    author.post(f"/incidents/{incident_id}/notice/draft", data={"csrf_token": token})
    review_id = review_id_of(submit(author, token, incident_id))
    lawyer = live_server.app.test_client()
    lawyer_token = sign_in(lawyer, "approver")
    assert approve(lawyer, lawyer_token, incident_id, review_id).status_code == 302

    # Test send to myself, then send to everyone.
    page.goto(f"{base}/incidents/{incident_id}/summary")
    page.get_by_role("link", name="Send", exact=True).click()
    expect(page.locator("[data-release]")).to_contain_text("Approved and unchanged.")
    look("send-page")
    page.get_by_role("button", name=re.compile("^Send a test to")).click()
    expect(page.get_by_role("status").filter(has_text="Test sent to")).to_be_visible()
    # Schedule with no date: refused beside the field, never "now".
    page.get_by_role("button", name="Schedule the send").click()
    expect(page.locator("#send_at-error")).to_contain_text("Choose the date and time")
    look("schedule-empty-date")
    # Schedule it for later (asked once, with the count), then change our mind and send it now.
    zone = ZoneInfo(live_server.app.config["DEFAULT_TIMEZONE"])
    later = (datetime.now(zone) + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    page.get_by_label("Or schedule it for").fill(later)
    page.get_by_role("button", name="Schedule the send").click()
    expect(page.locator("[data-confirm-what]")).to_contain_text(f"{GOOD} recipients")
    look("schedule-confirm")
    page.get_by_role("button", name=f"Yes, schedule it for {GOOD} recipients").click()
    expect(page.locator("[data-scheduled]")).to_contain_text("nothing has been sent yet")
    expect(page.locator("[data-state]")).to_have_text("scheduled")
    look("progress-scheduled")
    page.get_by_role("button", name="Send now").click()
    # Pressed twice (impatience): one send.
    page.get_by_role("button", name=f"Yes, send to {GOOD} recipients now").dblclick()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sending the notice")
    expect(page.locator("[data-percent]")).to_have_text(re.compile(r"^100(\.0)?$"), timeout=30_000)
    expect(page.locator("progress")).to_have_js_property("value", 100)
    expect(page.locator("[data-state]")).to_have_text("finished")
    expect(page.get_by_role("button", name="Pause")).to_have_count(0)  # reloaded: it is over
    look("progress-finished")
    page.goto(f"{base}/incidents/{incident_id}/send")
    expect(page.locator("[data-list-sent]")).to_contain_text("This list was sent")
    expect(page.get_by_role("button", name=re.compile("^Send now"))).to_have_count(0)
    look("send-page-after")

    with live_server.app.app_context():
        sent = db.session.scalars(sa.select(DevOutboxMessage.to_email)).all()
    notices_sent = sorted(e for e in sent if e.startswith("person"))
    assert len(notices_sent) == len(set(notices_sent)) == GOOD
    assert EMAILS["admin"] in sent  # the test send
    assert errors == []

"""From the facts to a notice a person can read and print, in a real browser.

An author opens an incident whose checklist is complete (filled in through the test client, for
speed), presses "Draft notice", sees version 1 in the editor with a clean lint panel, edits a
sentence and saves version 2, opens the history and the changes between 1 and 2, then the
previews: the email in its sandboxed frame, the plain-text part, the letter's first page as an
image, the PDF download, the web page and the SMS. Every page is checked for sideways scrolling
on a phone.

``COMPOSER_SCREENSHOTS=<dir>`` saves desktop (1280x900) and phone (390x844) screenshots.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from composer.notices.drafting import HEADINGS
from tests.browser.conftest import LiveServer, Look
from tests.conftest import EMAILS, PASSWORD, sign_in
from tests.web.test_wizard import STEP_FORMS, fill_all, new_incident, post_step

pytestmark = pytest.mark.browser

OLD_SENTENCE = "We are working with the police."
NEW_SENTENCE = "We are working with the police and the Information Commissioner's Office."


def complete_incident(live_server: LiveServer) -> int:
    client = live_server.app.test_client()
    token = sign_in(client, "author")
    incident_id = new_incident(client, token, "Mailing supplier leak")
    fill_all(client, token, incident_id)
    # A draft promises the next update by a date; "Not yet known" would leave a [DATE] slot,
    # which blocks submission for review.
    contact = {k: v for k, v in STEP_FORMS["contact"].items() if k != "q.next_update.unknown"}
    next_update = (date.today() + timedelta(days=7)).isoformat()
    post_step(client, token, incident_id, "contact", {**contact, "q.next_update": next_update})
    response = client.post(f"/incidents/{incident_id}/finish", data={"csrf_token": token})
    assert response.status_code == 302
    return incident_id


def test_author_drafts_edits_compares_and_previews(
    live_server: LiveServer, browser: BrowserContext, screenshots: Path | None
) -> None:
    incident_id = complete_incident(live_server)
    page = browser.pages[0] if browser.pages else browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    look = Look(page, screenshots, "drafting")

    page.goto(f"{live_server.url}/login")
    page.get_by_label("Email address").fill(EMAILS["author"])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_role("link", name="Mailing supplier leak", exact=True).click()
    expect(page.locator(".status").get_by_text(re.compile("^Checklist finished"))).to_be_visible()
    look("fact-sheet")

    # Draft from the facts: version 1 opens in the editor, and it passes the linter.
    page.get_by_role("button", name="Draft notice").click()
    expect(page.get_by_role("status").filter(has_text="saved as version 1")).to_be_visible()
    expect(page.get_by_text("Version 1", exact=True)).to_be_visible()
    expect(page.get_by_text("drafted from the facts", exact=True)).to_be_visible()
    subject = page.get_by_label("Subject line")
    expect(subject).to_have_value(re.compile(r"your email address", re.IGNORECASE))
    text = page.get_by_label("Notice text")
    for heading in HEADINGS:
        expect(text).to_have_value(re.compile(f"^## {re.escape(heading)}$", re.MULTILINE))
    expect(text).to_have_value(re.compile(re.escape(OLD_SENTENCE)))
    counts = page.locator("#lint-summary")
    expect(counts.locator("[data-lint-count='error']")).to_have_text("0")
    expect(counts.locator("[data-lint-count='warning']")).to_have_text("0")
    look("editor-version-1")

    # Edit one sentence and save: version 2, edited from version 1.
    value = text.input_value()
    text.fill(value.replace(OLD_SENTENCE, NEW_SENTENCE))
    expect(page.get_by_text("Unsaved changes")).to_be_visible()
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="Saved as version 2.")).to_be_visible()
    expect(page.get_by_text("Version 2", exact=True)).to_be_visible()
    expect(page.get_by_text("edited from version 1", exact=True)).to_be_visible()
    expect(text).to_have_value(re.compile(re.escape(NEW_SENTENCE)))
    look("editor-version-2")

    # The history: both versions, newest first, with who, how and the hash.
    page.get_by_role("link", name=re.compile("^History")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("History of the notice")
    rows = page.get_by_role("table").get_by_role("row")
    expect(rows).to_have_count(3)
    expect(rows.nth(1)).to_contain_text("Version 2")
    expect(rows.nth(1)).to_contain_text("Edited from version 1")
    expect(rows.nth(2)).to_contain_text("Drafted from the facts")
    expect(rows.nth(1).locator("code")).to_have_text(re.compile(r"^[0-9a-f]{12}$"))
    look("history")

    # The changes from 1 to 2: the added words are marked inside the sentence.
    page.get_by_role("link", name="Changes in version 2").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Changes from version 1 to version 2")
    changed = page.locator(".diff__line--changed")
    expect(changed).to_have_count(1)
    expect(changed.locator("ins")).to_contain_text("Information Commissioner's Office")
    expect(page.get_by_text("What changed: 1 line changed.")).to_be_visible()
    look("diff")

    # The previews of version 2.
    page.get_by_role("link", name="Previews of version 2").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Previews of version 2")
    email_frame = page.frame_locator("iframe.preview-frame--email")
    expect(email_frame.get_by_role("heading", level=1)).to_have_text(subject_text(page))
    expect(email_frame.get_by_text("Dear Alex,")).to_be_visible()
    expect(email_frame.get_by_text(NEW_SENTENCE)).to_be_visible()
    frame = page.locator("iframe.preview-frame--email")
    assert frame.get_attribute("sandbox") == ""
    plain = page.get_by_label("Email preview, plain-text part")
    expect(plain).to_contain_text("Dear Alex,")
    expect(plain).to_contain_text("What happened\n-------------")

    letter = page.get_by_role("img", name=re.compile("^Page 1 of the letter to Alex Sample"))
    expect(letter).to_be_visible()
    page.wait_for_function(
        "() => { const i = document.querySelector('.letter-page img');"
        " return i.complete && i.naturalWidth > 0; }"
    )
    assert letter.evaluate("i => i.naturalWidth") == 794
    with page.expect_download() as download_info:
        page.get_by_role("link", name=re.compile("^Download PDF")).click()
    download = download_info.value
    assert download.suggested_filename == f"incident-{incident_id}-notice-v2-sample.pdf"
    pdf_path = download.path()
    assert pdf_path is not None
    assert Path(pdf_path).read_bytes().startswith(b"%PDF-")

    page_frame = page.frame_locator("iframe.preview-frame--page")
    expect(page_frame.get_by_text("Dear customer,")).to_be_visible()
    sms = page.locator("[data-sms]")
    expect(sms).to_contain_text("Example Ltd")
    expect(page.locator("[data-sms-count]")).to_have_text(re.compile(r"^\d{2,3} of 160 characters"))
    look("previews")
    if screenshots is not None:
        # Chromium leaves a sandboxed (out-of-process) frame blank in a full-page screenshot
        # when it is below the first screen, so the web page gets a picture of its own.
        frame_box = page.locator("iframe.preview-frame--page")
        frame_box.scroll_into_view_if_needed()
        frame_box.screenshot(path=str(screenshots / "drafting-07-web-page-frame-desktop.png"))
    assert errors == []


def subject_text(page: Page) -> str:
    return str(page.locator("[data-email-subject]").inner_text())

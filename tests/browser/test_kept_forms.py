"""Nothing typed is lost when the session has ended, in a real browser.

An author types a notice in the editor; the session ends (its cookie is cleared, as when it
expires); Save leads to the sign-in page, which says the text is kept; after signing in the
editor shows the text again, not saved, and Save then saves it.

``COMPOSER_SCREENSHOTS=<dir>`` saves desktop (1280x900) and phone (390x844) screenshots.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, expect

from tests.browser.conftest import LiveServer, Look
from tests.conftest import EMAILS, PASSWORD, sign_in
from tests.web.test_wizard import new_incident

pytestmark = pytest.mark.browser

SUBJECT = "Your name and email address were copied"
BODY = (
    "On 3 May a criminal copied the names and email addresses of 1,200 customers from our "
    "mailing supplier's system.\n\nWe have closed the account they used."
)


def test_text_typed_in_an_ended_session_comes_back_after_signing_in(
    live_server: LiveServer, browser: BrowserContext, screenshots: Path | None
) -> None:
    client = live_server.app.test_client()
    incident_id = new_incident(client, sign_in(client, "author"), "Mailing supplier leak")
    page = browser.pages[0] if browser.pages else browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    look = Look(page, screenshots, "kept-form")

    page.goto(f"{live_server.url}/login")
    page.get_by_label("Email address").fill(EMAILS["author"])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.goto(f"{live_server.url}/incidents/{incident_id}/notice")
    page.get_by_label("Subject line").fill(SUBJECT)
    page.get_by_label("Notice text").fill(BODY)

    # The session ends while the author types: its cookie is gone, as when it expires.
    assert any(c["name"] == "session" for c in browser.cookies())
    browser.clear_cookies(name="session")
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page).to_have_url(re.compile(r"/login\?next="))
    expect(
        page.get_by_text("Sign in again to finish saving: what you typed is kept.")
    ).to_be_visible()
    look("sign-in")
    page.get_by_label("Email address").fill(EMAILS["author"])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()

    expect(page).to_have_url(re.compile(rf"/incidents/{incident_id}/notice$"))
    expect(page.get_by_role("status").filter(has_text="It is NOT saved yet")).to_be_visible()
    expect(page.get_by_label("Subject line")).to_have_value(SUBJECT)
    expect(page.get_by_label("Notice text")).to_have_value(BODY)
    look("restored")

    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="Saved as version 1.")).to_be_visible()
    expect(page.get_by_label("Notice text")).to_have_value(BODY)
    assert errors == []

"""Legal sign-off in a real browser, with two people taking turns.

The author drafts a notice from complete facts and submits it. The approver sees the count on
"Reviews", opens the approval view (what will be sent, to whom, what changed), selects words in
the text and comments on them (the page's script turns the selection into exact offsets), and
asks for changes. The author sees the comment in the editor, revises, and submits again. The
approver sees what changed since they last looked, types their password and approves: the page
says it is ready to send. Every page is checked for sideways scrolling on a phone.

``COMPOSER_SCREENSHOTS=<dir>`` saves desktop (1280x900) and phone (390x844) screenshots.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import BrowserContext, Page, expect

from composer.extensions import db
from composer.models import Review, ReviewComment, ReviewState
from tests.browser.conftest import LiveServer, Look
from tests.browser.test_drafting import complete_incident
from tests.conftest import EMAILS, PASSWORD

pytestmark = pytest.mark.browser

COMMENTED = "a supplier we use"
ADDED = "We will write to you again by 15 December 2026 with what we have learned."


def sign_in_as(page: Page, base: str, who: str) -> None:
    if page.get_by_role("button", name="Sign out").count():
        page.get_by_role("button", name="Sign out").click()
    page.goto(f"{base}/login")
    page.get_by_label("Email address").fill(EMAILS[who])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_be_visible()


def select_words(page: Page, part: str, words: str) -> None:
    """Select ``words`` inside the text block for ``part`` as a mouse would, then release."""
    page.evaluate(
        """([part, words]) => {
            const box = document.querySelector(`[data-part="${part}"]`);
            const walker = document.createTreeWalker(box, NodeFilter.SHOW_TEXT);
            let node;
            while ((node = walker.nextNode())) {
                const at = node.textContent.indexOf(words);
                if (at >= 0) {
                    const range = document.createRange();
                    range.setStart(node, at);
                    range.setEnd(node, at + words.length);
                    const selection = window.getSelection();
                    selection.removeAllRanges();
                    selection.addRange(range);
                    box.dispatchEvent(new MouseEvent("mouseup", {bubbles: true}));
                    return;
                }
            }
            throw new Error("words not found: " + words);
        }""",
        [part, words],
    )


def test_author_submits_approver_comments_author_revises_approver_approves(
    live_server: LiveServer, browser: BrowserContext, screenshots: Path | None
) -> None:
    base = live_server.url
    incident_id = complete_incident(live_server)
    page = browser.pages[0] if browser.pages else browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    look = Look(page, screenshots, "review")

    # The author drafts from the facts and submits version 1.
    sign_in_as(page, base, "author")
    page.goto(f"{base}/incidents/{incident_id}/summary")
    page.get_by_role("button", name="Draft notice").click()
    expect(page.get_by_text("Legal review: not submitted yet.")).to_be_visible()
    page.get_by_role("link", name="Submit version 1 for review").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Submit version 1 for legal review")
    expect(page.get_by_text("No errors and no warnings.")).to_be_visible()
    look("submit")
    page.get_by_role("button", name="Submit version 1 for review").click()
    expect(page.get_by_role("status").filter(has_text="is with legal for review")).to_be_visible()

    # The approver sees one review waiting, opens it, and comments on selected words.
    sign_in_as(page, base, "approver")
    reviews_link = page.get_by_role("link", name=re.compile("^Reviews"))
    expect(reviews_link).to_contain_text("1")
    reviews_link.click()
    expect(page.locator("[data-count-mine]")).to_have_text("1")
    look("queue")
    page.get_by_role("link", name="Mailing supplier leak").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Version 1 of the customer notice")
    expect(page.locator("[data-changed]")).to_contain_text("first version legal sees")
    # The frame loads lazily: bring it into view as a reader scrolling down would.
    page.locator("iframe.preview-frame--email").scroll_into_view_if_needed()
    expect(page.frame_locator("iframe.preview-frame--email").locator("body")).to_contain_text(
        "Dear Alex"
    )
    letter = page.locator(".letter-page img")
    letter.scroll_into_view_if_needed()
    expect(letter).to_have_js_property("complete", True)
    assert letter.evaluate("img => img.naturalWidth") > 0
    look("approval-view-version-1")
    select_words(page, "body", COMMENTED)
    expect(page.get_by_label(re.compile("^Passage"))).to_have_value(COMMENTED)
    page.get_by_label("Comment", exact=True).fill("Name the supplier: customers will ask.")
    page.get_by_role("button", name="Add comment").click()
    expect(page.get_by_role("status").filter(has_text="Comment added.")).to_be_visible()
    expect(page.locator("mark.review-mark")).to_have_text(COMMENTED)
    page.get_by_label(re.compile("^What needs to change")).fill("See my comment.")
    page.get_by_role("button", name="Request changes").click()
    expect(page.locator("[data-review-state]")).to_contain_text("Changes requested")

    with live_server.app.app_context():
        comment = db.session.scalars(sa.select(ReviewComment)).one()
        body = comment.review.version.body
        assert comment.part == "body"
        assert comment.start is not None
        assert comment.end is not None
        assert body[comment.start : comment.end] == COMMENTED

    # The author sees the comment in the editor, revises, and submits version 2.
    sign_in_as(page, base, "author")
    page.goto(f"{base}/incidents/{incident_id}/notice")
    banner = page.locator("[data-review-banner]")
    expect(banner).to_contain_text("Changes requested")
    expect(banner).to_contain_text("Name the supplier: customers will ask.")
    look("editor-changes-requested")
    text = page.get_by_label("Notice text")
    text.fill(
        text.input_value().replace(COMMENTED, "Acme Mail Ltd, who send our emails") + f"\n{ADDED}\n"
    )
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="Saved as version 2.")).to_be_visible()
    page.get_by_role("link", name="Submit version 2 for review").click()
    page.get_by_role("button", name="Submit version 2 for review").click()
    expect(page.get_by_role("status").filter(has_text="is with legal for review")).to_be_visible()

    # The approver sees what changed since version 1, and approves with their password.
    sign_in_as(page, base, "approver")
    page.get_by_role("link", name=re.compile("^Reviews")).click()
    page.get_by_role("link", name="Mailing supplier leak").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Version 2 of the customer notice")
    expect(page.locator("[data-changed]")).to_contain_text("Since version 1")
    expect(page.locator(".diff__ins").filter(has_text="15 December 2026")).to_have_count(1)
    look("approval-view-version-2")
    page.get_by_label("Your password, to confirm it is you").fill("not my password")
    page.get_by_role("button", name="Approve version 2").click()
    expect(page.get_by_role("alert").filter(has_text="nothing was approved")).to_be_visible()
    page.get_by_label("Your password, to confirm it is you").fill(PASSWORD)
    page.get_by_role("button", name="Approve version 2").click()
    expect(page.get_by_text("You approved version 2. It is ready to send.")).to_be_visible()
    expect(page.locator("[data-review-state]")).to_contain_text("Approved")
    expect(page.get_by_text("Ready to send.", exact=False).first).to_be_visible()
    look("approved")

    # The incident's audit trail tells the story, and says the chain is intact.
    page.goto(f"{base}/incidents/{incident_id}/audit")
    trail = page.locator("main")
    for words in (
        "Version 1 sent for legal review",
        "Changes requested on version 1",
        "Version 2 sent for legal review",
        "Approved version 2 (1 of 1 approvals)",
    ):
        expect(trail.get_by_text(words).first).to_be_visible()
    expect(page.get_by_text(re.compile("Audit log intact"))).to_be_visible()
    look("audit-trail")

    with live_server.app.app_context():
        states = db.session.scalars(sa.select(Review.state).order_by(Review.id)).all()
    assert states == [ReviewState.CHANGES_REQUESTED.value, ReviewState.APPROVED.value]
    # The one failed load is the wrong password's 422 page, on purpose.
    assert [e for e in errors if "status of 422" not in e] == []

"""The notice editor's live lint panel, in a real browser.

An author opens an incident's notice editor, types a vague sentence, sees the words underlined
and the findings listed, opens the hedge, applies its suggested rewrite and sees the hedge go.
Then: offsets stay right after an emoji, leaving with unsaved text asks first, the subject line
is checked too, saving makes version 1, and on a phone the panel sits below the text with
nothing scrolling sideways.

``COMPOSER_SCREENSHOTS=<dir>`` saves desktop (1280x900) and phone (390x844) screenshots.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Dialog, Locator, Page, Route, expect
from playwright.sync_api import Error as PlaywrightError

from tests.browser.conftest import LiveServer, assert_fits_phone, capture
from tests.conftest import EMAILS, PASSWORD

pytestmark = pytest.mark.browser

VAGUE = "Some customer names may have been compromised."


class Editor:
    def __init__(self, page: Page, shots: Path | None) -> None:
        self.page = page
        self.shots = shots
        self.taken = 0
        self.text = page.get_by_label("Notice text")
        self.panel = page.get_by_role("complementary", name="Checks")

    def findings(self, severity: str = "Warnings") -> Locator:
        group = self.panel.get_by_role("region", name=re.compile(f"^{severity}"))
        return group.get_by_role("listitem")

    def finding(self, words: str) -> Locator:
        return self.panel.locator("details.finding").filter(
            has=self.page.locator("q", has_text=re.compile(f"^{re.escape(words)}$"))
        )

    def mark(self, category: str) -> Locator:
        """The underlined pieces of text a finding of ``category`` covers."""
        return self.page.locator(f".overlay__mirror mark[data-categories~='{category}']")

    def expect_marked(self, category: str, words: str) -> None:
        """Wait until the marks of ``category`` cover exactly ``words``."""
        self.page.wait_for_function(
            """([category, words]) => Array.from(
                 document.querySelectorAll(`.overlay__mirror mark[data-categories~='${category}']`)
               ).map(m => m.textContent).join("") === words""",
            arg=[category, words],
        )

    def selected_text(self) -> str:
        return str(self.text.evaluate("t => t.value.slice(t.selectionStart, t.selectionEnd)"))

    def look(self, name: str) -> None:
        """Check the phone layout, and save screenshots when asked to."""
        page = self.page
        assert_fits_phone(page, name)
        text_box = self.text.bounding_box()
        panel_box = self.panel.bounding_box()
        assert text_box is not None
        assert panel_box is not None
        assert panel_box["y"] >= text_box["y"] + text_box["height"], "panel not below the text"
        stem = None
        if self.shots is not None:
            self.taken += 1
            stem = self.shots / f"lint-{self.taken:02d}-{name}"
        capture(page, stem)
        # Beside the text on a desktop.
        text_box = self.text.bounding_box()
        panel_box = self.panel.bounding_box()
        assert text_box is not None
        assert panel_box is not None
        assert panel_box["x"] >= text_box["x"] + text_box["width"], "panel not beside the text"


def sign_in_and_open_editor(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/login")
    page.get_by_label("Email address").fill(EMAILS["author"])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_label("Short name for the incident").fill("Mailing supplier leak")
    page.get_by_role("button", name="Start the checklist").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("When it happened")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Incidents").click()
    page.get_by_role("link", name="Write the notice for Mailing supplier leak").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Mailing supplier leak")


def test_author_fixes_a_hedge_with_the_live_panel(
    live_server: LiveServer, browser: BrowserContext, screenshots: Path | None
) -> None:
    page = browser.pages[0] if browser.pages else browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    sign_in_and_open_editor(page, live_server.url)
    you = Editor(page, screenshots)
    you.look("empty")

    # Type: the words get underlined, the findings listed, the counts and grade shown.
    you.text.click()
    page.keyboard.type(VAGUE)
    you.expect_marked("hedge", "may have been compromised")
    you.expect_marked("vague-scope", "Some customer names")
    hedge = you.finding("may have been compromised")
    expect(hedge).to_be_visible()
    expect(hedge.locator(".chip")).to_have_text("Hedging")
    expect(you.finding("Some customer names")).to_be_visible()
    summary = page.locator("#lint-summary")
    expect(summary.locator("[data-lint-grade]")).to_have_text(re.compile(r"^\d+(\.\d+)?$"))
    expect(summary.locator("[data-lint-count='warning']")).not_to_have_text("0")
    expect(page.get_by_role("status").filter(has_text="grade")).to_have_text(
        re.compile(r"^(\d+ errors?, )?\d+ warnings?(, \d+ suggestions?)?, grade \d+(\.\d+)?$")
    )
    expect(page.get_by_text("Unsaved changes")).to_be_visible()

    # Open the hedge: its words are selected in the text, with the explanation and a rewrite.
    hedge.locator("summary").click()
    expect(hedge.get_by_text("Hedged impact statements")).to_be_visible()
    assert you.selected_text() == "may have been compromised"
    expect(you.mark("hedge").first).to_have_class(re.compile(r"\bis-active\b"))
    you.look("hedge-open")

    # A click on underlined words in the text opens the finding there.
    you.text.click(position={"x": 30, "y": 20})
    expect(you.finding("Some customer names")).to_have_attribute("open", "")
    expect(hedge).not_to_have_attribute("open", "")
    page.wait_for_timeout(100)  # "toggle" events come a moment later
    assert you.selected_text() == "", "a click in the text must leave the caret where it is"
    hedge.locator("summary").click()

    # Apply the first rewrite: the hedge goes, and its first [SLOT] is selected to type over.
    hedge.get_by_role("button", name=re.compile("^Apply suggestion")).first.click()
    expect(you.text).to_have_value(
        "Some customer names [DATA] was [copied/viewed] by [WHO] on [DATE]."
    )
    expect(you.finding("may have been compromised")).to_have_count(0)
    expect(you.mark("hedge")).to_have_count(0)
    expect(page.locator(".chip--hedge")).to_have_count(0)
    assert you.selected_text() == "[DATA]"
    expect(summary.locator("[data-lint-grade]")).to_have_text(re.compile(r"^\d+(\.\d+)?$"))
    you.look("hedge-fixed")

    # A long notice scrolls inside the box, and the underlines scroll with it.
    lines = [f"Paragraph {n}: we wrote to you on 3 May." for n in range(1, 61)]
    you.text.fill("\n".join([*lines, VAGUE, ""]))
    you.expect_marked("hedge", "may have been compromised")
    you.text.evaluate("t => { t.scrollTop = t.scrollHeight; }")
    page.wait_for_function(
        """() => {
          const text = document.querySelector("#notice-body");
          const mirror = document.querySelector(".overlay__mirror");
          return text.scrollTop > 0 && mirror.scrollTop === text.scrollTop;
        }"""
    )
    box = you.text.bounding_box()
    words = you.mark("hedge").first.bounding_box()
    assert box is not None
    assert words is not None
    assert box["y"] < words["y"] < box["y"] + box["height"], (box, words)
    you.look("long-scrolled")

    # Offsets stay on the words after a character JavaScript counts twice (an emoji).
    you.text.fill(f"Update 📧: {VAGUE}")
    you.expect_marked("hedge", "may have been compromised")

    # Leaving with unsaved text asks first.
    asked: list[str] = []

    def dismiss(dialog: Dialog) -> None:
        asked.append(dialog.type)
        dialog.dismiss()

    page.once("dialog", dismiss)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Incidents").click()
    expect(you.text).to_be_visible()
    assert asked == ["beforeunload"]

    # The subject line is checked too, on its own, under the field.
    subject = page.get_by_label("Subject line")
    subject.fill("Your details may have been compromised")
    subject_checks = page.locator("[data-subject-checks]")
    expect(subject_checks.locator("q", has_text="may have been compromised")).to_be_visible()
    subject.fill("Your name and email address were copied")
    expect(subject_checks.locator("q", has_text="compromised")).to_have_count(0)

    # Saving keeps the text and the findings, and nothing asks on leaving.
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="Saved as version 1.")).to_be_visible()
    expect(page.get_by_text("Version 1", exact=True)).to_be_visible()
    expect(subject).to_have_value("Your name and email address were copied")
    expect(you.text).to_have_value(f"Update 📧: {VAGUE}")
    you.expect_marked("hedge", "may have been compromised")
    expect(page.get_by_text("Unsaved changes")).to_be_hidden()
    you.panel.get_by_text("Colour key").click()
    legend = you.panel.locator(".legend__list")
    expect(legend.get_by_role("listitem")).to_have_count(13)
    expect(legend.get_by_text("Hedging", exact=True)).to_be_visible()
    you.look("saved")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Incidents").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Incidents")
    edit = page.get_by_role("link", name="Edit the notice for Mailing supplier leak")
    expect(edit).to_be_visible()
    assert errors == []


def test_an_old_answer_never_replaces_a_newer_one(
    live_server: LiveServer, browser: BrowserContext
) -> None:
    """The first check is held back until a later one has answered; its answer is ignored."""
    page = browser.pages[0] if browser.pages else browser.new_page()
    sign_in_and_open_editor(page, live_server.url)
    you = Editor(page, None)
    held: list[Route] = []

    def hold_the_first(route: Route) -> None:
        if not held:
            held.append(route)
        else:
            route.continue_()

    page.route("**/api/lint", hold_the_first)
    you.text.click()
    page.keyboard.type(VAGUE)
    page.wait_for_function(
        "() => document.querySelector('[data-lint-state]').textContent === 'Checking…'"
    )
    # "Checking…" shows as the request starts; the route handler sees it a moment later.
    # Playwright runs route handlers while the page is being waited on, so wait in short steps.
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(50)
    assert len(held) == 1
    page.keyboard.type(" Please be assured.")
    you.expect_marked("cliche", "Please be assured")
    expect(you.finding("Please be assured")).to_be_visible()
    with contextlib.suppress(PlaywrightError):
        held[0].continue_()  # the page has already given up on it
    page.wait_for_timeout(500)
    expect(you.finding("Please be assured")).to_be_visible()
    you.expect_marked("cliche", "Please be assured")

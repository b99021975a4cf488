"""One author's journey through the incident checklist, in a real browser.

Signs in through the form, records an incident, trips over a date error, walks all ten steps
by clicking labels and controls (with the page's JavaScript showing follow-up questions),
stops midway, signs out and back in, resumes where they left off, and finishes the checklist
from the fact sheet. At every page it also checks that nothing scrolls sideways on a phone.

``COMPOSER_SCREENSHOTS=<dir>`` saves a desktop and a phone screenshot of every page visited.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Locator, Page, expect

from tests.browser.conftest import LiveServer, assert_fits_phone, capture
from tests.conftest import EMAILS, PASSWORD

pytestmark = pytest.mark.browser

STEPS = 10


class Journey:
    """The page plus the small habits of a careful user: look, then act."""

    def __init__(self, page: Page, shots: Path | None) -> None:
        self.page = page
        self.shots = shots
        self.taken = 0

    def heading(self) -> Locator:
        return self.page.get_by_role("heading", level=1)

    def expect_step(self, number: int, title: str, done: int) -> None:
        """On step ``number`` called ``title``, with ``done`` steps complete so far."""
        expect(self.heading()).to_have_text(title)
        expect(self.page.get_by_text(f"Step {number} of {STEPS}")).to_be_visible()
        self.expect_done(done)

    def expect_done(self, done: int) -> None:
        progress = self.page.get_by_role("navigation", name="Checklist progress")
        expect(progress.get_by_text(re.compile(r"\d+ of \d+ steps done"))).to_have_text(
            f"{done} of {STEPS} steps done"
        )

    def group(self, name: str) -> Locator:
        """A question asked as a group of controls (a fieldset), found by its question."""
        return self.page.get_by_role("group", name=name)

    def question(self, question_id: str) -> Locator:
        return self.page.locator(f"#question-{question_id}")

    def button(self, name: str) -> Locator:
        return self.page.get_by_role("button", name=name, exact=True)

    def look(self, name: str) -> None:
        """Check the page fits a phone, and save screenshots when asked to."""
        page = self.page
        assert_fits_phone(page, name)
        stem = None
        if self.shots is not None:
            self.taken += 1
            stem = self.shots / f"{self.taken:02d}-{name}"
        capture(page, stem)

    def sign_in(self, base_url: str, *, look: bool = False) -> None:
        page = self.page
        page.goto(f"{base_url}/login")
        expect(self.heading()).to_have_text("Sign in")
        if look:
            self.look("sign-in")
        page.get_by_label("Email address").fill(EMAILS["author"])
        page.get_by_label("Password").fill(PASSWORD)
        self.button("Sign in").click()
        expect(self.heading()).to_have_text("Incidents")

    def save_and_continue(self) -> None:
        self.button("Save and continue").click()


def test_author_walks_the_checklist_from_sign_in_to_finished(
    live_server: LiveServer, browser: BrowserContext, screenshots: Path | None
) -> None:
    page = browser.pages[0] if browser.pages else browser.new_page()
    you = Journey(page, screenshots)
    today = date.today()
    occurred_from, occurred_to = today - timedelta(days=22), today - timedelta(days=20)
    too_early = today - timedelta(days=25)
    discovered, contained = today - timedelta(days=18), today - timedelta(days=17)

    # Sign in and record the incident.
    you.sign_in(live_server.url, look=True)
    you.look("incidents-empty")
    page.get_by_label("Short name for the incident").fill("Mailing supplier leak")
    you.button("Start the checklist").click()

    # Step 1: a discovery date before the incident is explained next to the field, and kept.
    you.expect_step(1, "When it happened", done=0)
    you.look("step-01-timing")
    occurred = you.group("When did it happen?")
    occurred.get_by_label("From").fill(occurred_from.isoformat())
    occurred.get_by_label("To").fill(occurred_to.isoformat())
    page.get_by_label("When did you find out?").fill(too_early.isoformat())
    page.get_by_label("When did you stop it?").fill(contained.isoformat())
    you.save_and_continue()

    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("Please fix this")
    expect(summary).to_be_focused()
    expect(page.get_by_text("Your answers are saved, but some need fixing")).to_be_visible()
    found_out = page.get_by_label("When did you find out?")
    message = re.compile(r"This is before “When it happened” \(.+\)\. Check both dates\.")
    expect(you.question("discovered")).to_contain_text(message)
    expect(found_out).to_have_accessible_description(message)
    expect(found_out).to_have_attribute("aria-invalid", "true")
    expect(found_out).to_have_value(too_early.isoformat())
    expect(occurred.get_by_label("From")).to_have_value(occurred_from.isoformat())
    expect(occurred.get_by_label("To")).to_have_value(occurred_to.isoformat())
    expect(page.get_by_label("When did you stop it?")).to_have_value(contained.isoformat())
    you.expect_done(0)
    you.look("step-01-timing-error")

    # The error summary's link takes you to the field.
    summary.get_by_role("link").click()
    expect(found_out).to_be_focused()
    found_out.fill(discovered.isoformat())
    you.save_and_continue()

    # Step 2: the supplier's name is asked only once a supplier is chosen.
    you.expect_step(2, "What happened, in plain words", done=1)
    supplier_name = page.get_by_label("What is the supplier's name?")
    expect(supplier_name).to_be_hidden()
    page.get_by_label("What happened?").fill(
        "A criminal used a stolen password to copy our mailing supplier's customer list."
    )
    who = you.group("Who did it?")
    who.get_by_label("A criminal outside the company").check()
    expect(supplier_name).to_be_hidden()
    who.get_by_label("A supplier, or someone who got into a supplier's systems").check()
    expect(supplier_name).to_be_visible()
    supplier_name.fill("Acme Mail Ltd")
    you.look("step-02-account")
    you.save_and_continue()

    # Step 3: a follow-up question appears when the police are involved.
    you.expect_step(3, "Police and law enforcement", done=2)
    delay = you.group("Have they asked you to delay telling customers?")
    expect(delay).to_be_hidden()
    you.group("Are the police or another law enforcement agency involved?").get_by_label(
        "Yes"
    ).check()
    expect(delay).to_be_visible()
    delay.get_by_label("No").check()
    you.look("step-03-law-enforcement")
    you.save_and_continue()

    # Step 4: ticking hashed passwords asks how they were hashed.
    you.expect_step(4, "Which information", done=3)
    hashing = you.group("How were the passwords scrambled (hashed)?")
    expect(hashing).to_be_hidden()
    contact_details = you.group("Contact details")
    contact_details.get_by_label(re.compile(r"^Name")).check()
    contact_details.get_by_label(re.compile(r"^Email address")).check()
    you.group("Sign-in details").get_by_label(
        re.compile(r"^Passwords stored scrambled \(hashed\)")
    ).check()
    expect(hashing).to_be_visible()
    hashing.get_by_label("bcrypt").check()
    you.look("step-04-data-categories")
    you.save_and_continue()

    # Step 5: numbers, one of them not yet known.
    you.expect_step(5, "Protection and numbers", done=4)
    key_safe = you.group("Is the encryption key safe?")
    you.group("Was the data encrypted?").get_by_label("Some of it").check()
    expect(key_safe).to_be_visible()
    you.group("Was the data encrypted?").get_by_label("No", exact=True).check()
    expect(key_safe).to_be_hidden()
    page.get_by_label("How many records were involved?").fill("120,000")
    people_unknown = you.question("people_affected").get_by_label("Not yet known")
    people_unknown.check()
    expect(people_unknown).to_be_checked()
    you.look("step-05-protection-and-scale")
    you.save_and_continue()

    # Step 6: places, then stop for now.
    you.expect_step(6, "Where affected people live", done=5)
    countries = you.group("Which countries do affected people live in?")
    us_states = you.group("Which US states do affected people live in?")
    expect(us_states).to_be_hidden()
    countries.get_by_label("Place 1", exact=True).select_option(label="United Kingdom")
    countries.get_by_label("People in place 1", exact=True).fill("60000")
    add_place = countries.get_by_role("button", name="Add another place")
    if add_place.is_visible():
        rows_before = countries.get_by_role("combobox").count()
        add_place.click()
        expect(countries.get_by_role("combobox")).to_have_count(rows_before + 1)
        new_row = f"Place {rows_before + 1}"
        expect(countries.get_by_label(new_row, exact=True)).to_be_focused()
        countries.get_by_label(new_row, exact=True).select_option(label="United States")
    else:
        countries.get_by_label("Place 2", exact=True).select_option(label="United States")
    expect(us_states).to_be_visible()
    you.look("step-06-where")
    you.button("Save and finish later").click()

    expect(you.heading()).to_have_text("Incidents")
    expect(page.get_by_role("status")).to_contain_text("Saved. You can pick up where you left")
    listed = page.get_by_role("row", name=re.compile("Mailing supplier leak"))
    expect(listed).to_contain_text(f"5 of {STEPS} steps done")
    you.look("incidents-saved")
    you.button("Sign out").click()
    expect(you.heading()).to_have_text("Sign in")
    expect(page.get_by_role("status")).to_contain_text("You are signed out.")
    you.look("signed-out")

    # Back again: the list opens the step where we stopped, with the answers kept.
    you.sign_in(live_server.url)
    page.get_by_role("link", name="Mailing supplier leak", exact=True).click()
    you.expect_step(6, "Where affected people live", done=5)
    you.look("step-06-where-resumed")
    expect(countries.get_by_role("combobox").first).to_have_value("GB")
    expect(countries.get_by_label("People in place 1", exact=True)).to_have_value("60000")
    expect(countries.get_by_role("combobox").nth(1)).to_have_value("US")
    expect(us_states).to_be_visible()
    progress = page.get_by_role("navigation", name="Checklist progress")
    for title in ("When it happened", "Protection and numbers"):
        # The innermost list item: the step, not its section.
        step_item = progress.get_by_role("listitem").filter(has_text=title).last
        expect(step_item).to_contain_text("done")
    us_states.get_by_label("Place 1", exact=True).select_option(label="California")
    us_states.get_by_label("People in place 1", exact=True).fill("700")
    you.save_and_continue()

    # Step 7.
    you.expect_step(7, "What could happen to them", done=6)
    harms = you.group("What could happen to affected people because of this?")
    harms.get_by_label("Fake emails, calls or texts that use their details").check()
    harms.get_by_label("Someone getting into their accounts").check()
    you.group("How likely is that harm?").get_by_label("Possible").check()
    you.group("How bad would it be for them?").get_by_label("Moderate").check()
    you.look("step-07-harm")
    you.save_and_continue()

    # Step 8.
    you.expect_step(8, "What you have done", done=7)
    done_so_far = you.group("What have you done so far?")
    done_so_far.get_by_label("Stopped it and closed the gap").check()
    done_so_far.get_by_label("Reset affected passwords").check()
    page.get_by_label("Anything else you have done or will do?").fill(
        "We turned off the supplier's access to our customer list."
    )
    you.look("step-08-actions")
    you.save_and_continue()

    # Step 9: no monitoring offered, so no question about months.
    you.expect_step(9, "What you offer and what customers should do", done=8)
    months = page.get_by_label("For how many months?")
    monitoring = you.group("Will you offer free credit or identity monitoring?")
    monitoring.get_by_label("Yes").check()
    expect(months).to_be_visible()
    monitoring.get_by_label("No").check()
    expect(months).to_be_hidden()
    page.get_by_label("What should customers do?").fill(
        "Change your password. Be careful with emails that ask for it."
    )
    you.look("step-09-support")
    you.save_and_continue()

    # Step 10: the last step leads to the fact sheet.
    you.expect_step(10, "Contact and updates", done=9)
    page.get_by_label("Phone number", exact=True).fill("0800 123 4567")
    page.get_by_label("Email address", exact=True).fill("help@example.com")
    page.get_by_label("Reference number for this incident").fill("INC-2026-11")
    you.question("next_update").get_by_label("Not yet known").check()
    you.look("step-10-contact")
    you.button("Save and review the fact sheet").click()

    # The fact sheet shows the facts, then the checklist is finished.
    expect(you.heading()).to_have_text("Mailing supplier leak")
    expect(page.get_by_text("Fact sheet · Incident #")).to_be_visible()
    you.expect_done(STEPS)
    expect(page.get_by_text("Every required answer is in")).to_be_visible()
    expect(fact(page, "Supplier")).to_contain_text("Acme Mail Ltd")
    expect(fact(page, "People affected")).to_contain_text("Not yet known")
    expect(fact(page, "Next update")).to_contain_text("Not yet known")
    expect(fact(page, "Countries")).to_contain_text("United Kingdom")
    expect(fact(page, "Countries")).to_contain_text("United States")
    expect(fact(page, "How passwords were stored")).to_contain_text("bcrypt")
    you.look("summary")

    # "Change" on a question asked as a group lands on the chosen option, ready to change.
    page.get_by_role("link", name="Change who did it").click()
    you.expect_step(2, "What happened, in plain words", done=STEPS)
    expect(you.group("Who did it?").get_by_role("radio", checked=True)).to_be_focused()
    # On a step page the sidebar's "Fact sheet" saves what was typed before it leaves.
    page.get_by_label("What happened?").fill("A criminal copied our supplier's customer list.")
    page.get_by_role("button", name="Fact sheet").click()
    expect(page.get_by_text("Fact sheet · Incident #")).to_be_visible()
    expect(fact(page, "What happened")).to_contain_text("copied our supplier's customer list")
    you.button("Finish the checklist").click()

    expect(page.get_by_role("status").filter(has_text="The checklist is finished")).to_be_visible()
    expect(
        page.get_by_text(re.compile(r"Checklist finished .+ 2 facts still not known"))
    ).to_be_visible()
    expect(you.button("Finish the checklist")).to_have_count(0)
    you.look("summary-finished")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Incidents").click()
    expect(page.get_by_role("row", name=re.compile("Mailing supplier leak"))).to_contain_text(
        "Finished"
    )
    you.look("incidents-finished")


def fact(page: Page, label: str) -> Locator:
    """One row of the fact sheet, found by its label."""
    return page.locator(".facts__row").filter(
        has=page.locator("dt").filter(has_text=re.compile(f"^{re.escape(label)}$"))
    )

"""The deadlines panel on the fact sheet and the approval view: which clocks apply, in words."""

from __future__ import annotations

import html
import re
from datetime import date, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import sign_in
from tests.web.test_reviews import (  # noqa: F401 (fixtures)
    client_for,
    drafted,
    people,
    review_id_of,
    submit,
)
from tests.web.test_wizard import new_incident, post_step


@pytest.fixture
def author(client: FlaskClient, users: dict[str, int]) -> str:
    return sign_in(client, "author")


def days_ago(n: int) -> str:
    return (date.today() - timedelta(days=n)).isoformat()


def answer(
    client: FlaskClient, token: str, incident_id: int, step: str, form: dict[str, Any]
) -> None:
    response = post_step(client, token, incident_id, step, form, action="save")
    assert response.status_code == 302, (step, response.get_data(as_text=True)[:3000])


def discovered(client: FlaskClient, token: str, incident_id: int, days: int) -> None:
    answer(
        client,
        token,
        incident_id,
        "timing",
        {
            "q.occurred.from": days_ago(days + 3),
            "q.occurred.to": days_ago(days + 1),
            "q.discovered": days_ago(days),
            "q.contained": days_ago(days),
        },
    )


def panel_rows(client: FlaskClient, incident_id: int) -> dict[str, list[str]]:
    """Each row of the deadlines table as its cells' words, keyed by the row's heading."""
    page = client.get(f"/incidents/{incident_id}/summary").get_data(as_text=True)
    return rows_of(page)


def rows_of(page: str) -> dict[str, list[str]]:
    section = re.search(r'<section class="deadlines".*?</section>', page, re.S)
    assert section, "no deadlines panel on the page"
    rows: dict[str, list[str]] = {}
    for row in re.findall(r"<tr class=\"deadline .*?</tr>", section.group(0), re.S):
        cells = [words(c) for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
        rows[cells[1]] = cells
    return rows


def words(fragment: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", fragment))).strip()


def panel_text(client: FlaskClient, incident_id: int) -> str:
    page = client.get(f"/incidents/{incident_id}/summary").get_data(as_text=True)
    section = re.search(r'<section class="deadlines".*?</section>', page, re.S)
    assert section, "no deadlines panel on the page"
    return words(section.group(0))


def test_four_state_card_breach_shows_past_state_clocks_and_massachusetts_open_ended(
    client: FlaskClient, author: str
) -> None:
    incident_id = new_incident(client, author, "Card skimming")
    discovered(client, author, incident_id, 40)
    answer(
        client,
        author,
        incident_id,
        "data-categories",
        {"q.data_categories": ["name", "card-full-number", "card-expiry"]},
    )
    answer(
        client,
        author,
        incident_id,
        "where",
        {
            "q.countries.code": ["US"],
            "q.countries.count": [""],
            "q.us_states.code": ["CA", "MA", "NY", "TX"],
            "q.us_states.count": ["1200", "900", "1500", "610"],
        },
    )
    rows = panel_rows(client, incident_id)
    text = panel_text(client, incident_id)

    def row(law: str, who: str) -> list[str]:
        found = [cells for key, cells in rows.items() if law in key and who in key]
        assert found, (law, who, list(rows))
        return found[0]

    assert re.search(r"Warning: \d+ deadlines have passed", text), text
    for law, who, citation in (
        ("California", "residents", "1798.82"),
        ("New York", "residents", "899-aa"),
        ("Texas", "Attorney General", "521.053"),
    ):
        cells = row(law, who)
        assert cells[0] == "⚠ Past due", (law, cells)
        assert re.search(r"\d+ days?( \d+ hours?)? late", cells[2]), (law, cells)
        assert citation in cells[3], (law, cells)
    # Texas gives individuals 60 days: 40 days in, that clock is still open.
    texans = row("Texas", "individuals")
    assert texans[0] == "Open"
    assert re.search(r"(19|20) days( \d+ hours?)? left", texans[2]), texans
    massachusetts = row("Massachusetts", "residents")
    assert massachusetts[0] == "No fixed time"
    assert "no fixed time: as soon as practicable" in massachusetts[2]
    assert "93H" in massachusetts[3]
    # The Attorney General's copy waits until residents are told.
    attorney_general = row("California", "Attorney General")
    assert attorney_general[0] == "Not started"
    assert "starts when the people affected are told" in attorney_general[2]
    # Past clocks first, then open ones, then "as soon as practicable", then those waiting.
    states = [cells[0] for cells in rows.values()]
    order = ["⚠ Past due", "Open", "No fixed time", "Not started"]
    assert states == sorted(states, key=order.index), states


def test_gdpr_breach_found_days_ago_shows_the_72_hours_to_the_regulator_as_past(
    client: FlaskClient, author: str
) -> None:
    incident_id = new_incident(client, author, "Berlin shop")
    # 72 hours run from 00:00 UTC on the discovery day, so four days back is past everywhere.
    discovered(client, author, incident_id, 4)
    answer(client, author, incident_id, "data-categories", {"q.data_categories": ["name", "email"]})
    answer(
        client,
        author,
        incident_id,
        "where",
        {"q.countries.code": ["DE"], "q.countries.count": ["3000"]},
    )
    rows = panel_rows(client, incident_id)
    regulator = [
        c for k, c in rows.items() if "EU General Data Protection" in k and "supervisory" in k
    ]
    assert regulator, list(rows)
    assert regulator[0][0] == "⚠ Past due"
    assert re.search(r"\d+ (days?|hours?)( \d+ hours?)? late", regulator[0][2])
    assert "Art 33" in regulator[0][3]


def test_a_clock_found_today_shows_time_left_not_a_warning(
    client: FlaskClient, author: str
) -> None:
    incident_id = new_incident(client, author, "Texas only")
    discovered(client, author, incident_id, 0)
    answer(client, author, incident_id, "data-categories", {"q.data_categories": ["name", "ssn"]})
    answer(
        client,
        author,
        incident_id,
        "where",
        {
            "q.countries.code": ["US"],
            "q.countries.count": [""],
            "q.us_states.code": ["TX"],
            "q.us_states.count": ["40"],
        },
    )
    rows = panel_rows(client, incident_id)
    texas = [c for k, c in rows.items() if "Texas" in k and "individuals" in k]
    assert texas, list(rows)
    assert texas[0][0] == "Open"
    assert re.search(r"\b(59|60) days( \d+ hours?)? left", texas[0][2]), texas[0]
    assert "Warning:" not in panel_text(client, incident_id)


def test_without_a_discovery_date_the_panel_names_the_question_to_answer(
    client: FlaskClient, author: str
) -> None:
    incident_id = new_incident(client, author, "Just opened")
    text = panel_text(client, incident_id)
    assert "until the discovery date is known" in text
    assert "Answer “When did you find out?” in the checklist" in text
    page = client.get(f"/incidents/{incident_id}/summary").get_data(as_text=True)
    assert f'/incidents/{incident_id}/steps/timing#q-discovered"' in page


def test_when_no_law_applies_the_panel_says_so(client: FlaskClient, author: str) -> None:
    incident_id = new_incident(client, author, "Only emails, one Texan")
    discovered(client, author, incident_id, 3)
    answer(client, author, incident_id, "data-categories", {"q.data_categories": ["email"]})
    answer(
        client,
        author,
        incident_id,
        "where",
        {
            "q.countries.code": ["US"],
            "q.countries.count": [""],
            "q.us_states.code": ["TX"],
            "q.us_states.count": ["1"],
        },
    )
    assert "No notification law we hold applies" in panel_text(client, incident_id)


def test_the_approval_view_shows_the_deadlines(
    app: Flask,
    drafted: tuple[FlaskClient, str, int],  # noqa: F811
) -> None:
    client, token, incident_id = drafted
    review_id = review_id_of(submit(client, token, incident_id))
    approver, _ = client_for(app, "approver")
    page = approver.get(f"/incidents/{incident_id}/reviews/{review_id}").get_data(as_text=True)
    rows = rows_of(page)
    # The sample answers: people in the UK, California and New York, found on 5 November 2026.
    uk = [c for k, c in rows.items() if "UK GDPR" in k]
    assert uk, list(rows)
    assert uk[0][0] == "⚠ Past due"


def test_a_clock_with_less_than_a_quarter_of_its_time_left_is_due_soon(
    client: FlaskClient, author: str
) -> None:
    incident_id = new_incident(client, author, "Californian cards")
    discovered(client, author, incident_id, 25)
    answer(
        client,
        author,
        incident_id,
        "data-categories",
        {"q.data_categories": ["name", "card-full-number"]},
    )
    answer(
        client,
        author,
        incident_id,
        "where",
        {
            "q.countries.code": ["US"],
            "q.countries.count": [""],
            "q.us_states.code": ["CA"],
            "q.us_states.count": ["100"],
        },
    )
    rows = panel_rows(client, incident_id)
    california = [c for k, c in rows.items() if "California" in k and "residents" in k]
    assert california, list(rows)
    assert california[0][0] == "⚠ Due soon"
    assert re.search(r"\b[56] days( \d+ hours?)? left", california[0][2]), california[0]
    # The card brands' three business days to the acquiring bank have run out.
    text = panel_text(client, incident_id)
    assert "Warning: 1 deadline has passed, and 1 is due soon." in text


def test_legal_s_correction_of_a_clock_is_what_the_panel_shows(
    app: Flask, client: FlaskClient, author: str, users: dict[str, int]
) -> None:
    """The panel counts from the regimes as legal corrected them for this incident: a
    regulator clock lengthened to 30 days is open again, and switched off it is gone."""
    from composer.extensions import db
    from composer.models import Incident, User
    from composer.regimes import change_override

    incident_id = new_incident(client, author, "Berlin shop, corrected")
    discovered(client, author, incident_id, 4)
    answer(client, author, incident_id, "data-categories", {"q.data_categories": ["name", "email"]})
    answer(
        client,
        author,
        incident_id,
        "where",
        {"q.countries.code": ["DE"], "q.countries.count": ["3000"]},
    )

    def regulator_row() -> list[list[str]]:
        rows = panel_rows(client, incident_id)
        return [
            c for k, c in rows.items() if "EU General Data Protection" in k and "supervisory" in k
        ]

    assert regulator_row()[0][0] == "⚠ Past due"

    def override(action: str, **correction: Any) -> None:
        with app.app_context():
            incident = db.session.get(Incident, incident_id)
            lee = db.session.get(User, users["approver"])
            assert incident is not None
            assert lee is not None
            change_override(
                db.session(),
                app.extensions["composer.regimes"],
                incident,
                key="gdpr/clocks/supervisory-authority",
                action=action,
                reason="the authority agreed a later report",
                by=lee,
                **correction,
            )
            db.session.commit()

    override("correct", unit="days", amount=30)
    [row] = regulator_row()
    assert row[0] == "Open"
    assert "left" in row[2]
    override("off")
    assert regulator_row() == []

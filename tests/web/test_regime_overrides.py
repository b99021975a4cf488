"""Legal switches a regime's rule off or corrects it for one incident, with a reason, audited;
the incident's regimes page shows each rule with its citation and what holds."""

from __future__ import annotations

import html
import re
from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from composer.extensions import db
from composer.models import AuditEvent, Incident, RegimeOverride
from composer.regimes import Situation, effective_regimes, incident_overrides, notice_rules
from tests.conftest import sign_in
from tests.web.test_wizard import new_incident, post_step

FORBIDDEN_DESCRIPTION = "massachusetts/notice/forbidden/description"
GDPR_REGULATOR = "gdpr/clocks/supervisory-authority"


def words(page: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page))).strip()


def answer(client: FlaskClient, token: str, incident_id: int, step: str, form: Any) -> None:
    response = post_step(client, token, incident_id, step, form, action="save")
    assert response.status_code == 302, (step, response.get_data(as_text=True)[:2000])


@pytest.fixture
def incident_id(app: Flask, users: dict[str, int]) -> int:
    """People in Germany and Massachusetts; Social Security numbers and emails; found 2 days ago."""
    client = app.test_client()
    token = sign_in(client, "author")
    incident_id = new_incident(client, token, "Payroll leak")
    found = date.today() - timedelta(days=2)
    answer(
        client,
        token,
        incident_id,
        "timing",
        {
            "q.occurred.from": (found - timedelta(days=3)).isoformat(),
            "q.occurred.to": (found - timedelta(days=1)).isoformat(),
            "q.discovered": found.isoformat(),
            "q.contained": found.isoformat(),
        },
    )
    answer(client, token, incident_id, "data-categories", {"q.data_categories": ["name", "ssn"]})
    answer(
        client,
        token,
        incident_id,
        "where",
        {
            "q.countries.code": ["DE", "US"],
            "q.countries.count": ["300", ""],
            "q.us_states.code": ["MA"],
            "q.us_states.count": ["40"],
        },
    )
    return incident_id


def signed_in(app: Flask, who: str) -> tuple[FlaskClient, str]:
    client = app.test_client()
    return client, sign_in(client, who)


def change(client: FlaskClient, token: str, incident_id: int, **form: Any) -> Any:
    return client.post(f"/incidents/{incident_id}/regimes", data={**form, "csrf_token": token})


def events(app: Flask, prefix: str = "regime_rule.") -> list[AuditEvent]:
    with app.app_context():
        found = db.session.scalars(
            sa.select(AuditEvent)
            .where(AuditEvent.action.startswith(prefix))
            .order_by(AuditEvent.seq)
        ).all()
        db.session.expunge_all()
        return list(found)


def stored(app: Flask) -> list[tuple[str, str]]:
    with app.app_context():
        rows = db.session.scalars(sa.select(RegimeOverride).order_by(RegimeOverride.id)).all()
        return [(r.rule_key, r.action) for r in rows]


def test_the_page_lists_each_applying_regime_rule_by_rule_with_citation_and_source(
    app: Flask, incident_id: int
) -> None:
    client, _ = signed_in(app, "approver")
    page = client.get(f"/incidents/{incident_id}/regimes").get_data(as_text=True)
    text = words(page)
    assert "EU General Data Protection" in text or "GDPR" in text
    assert "Massachusetts security breach law" in text
    assert "California" not in text  # no Californians here
    assert FORBIDDEN_DESCRIPTION in text
    assert "M.G.L. c. 93H, s. 3(b)" in text
    assert "The resident notice must not state the nature of the breach." in text
    assert "Source: secondary source; unconfirmed against the statute text" in text
    assert "not confirmed" in text
    assert "applies as written" in text
    assert 'name="csrf_token"' in page
    assert f'value="{FORBIDDEN_DESCRIPTION}"' in page


def test_legal_switches_a_forbidden_element_off_with_a_reason_and_it_is_audited(
    app: Flask, incident_id: int, users: dict[str, int]
) -> None:
    client, token = signed_in(app, "approver")
    reason = "Counsel confirmed the description is allowed here"
    response = change(
        client, token, incident_id, key=FORBIDDEN_DESCRIPTION, action="off", reason=reason
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/regimes#rule-{FORBIDDEN_DESCRIPTION}")
    text = words(client.get(f"/incidents/{incident_id}/regimes").get_data(as_text=True))
    assert "Switched off" in text
    assert f"“{reason}”" in text

    [event] = events(app)
    assert event.action == "regime_rule.switched_off"
    assert event.actor_id == users["approver"]
    assert (event.subject_type, event.subject_id) == ("incident", str(incident_id))
    assert event.before is None
    assert event.after is not None
    assert event.after["rule"] == FORBIDDEN_DESCRIPTION
    assert event.after["reason"] == reason

    with app.app_context():
        incident = db.session.get(Incident, incident_id)
        assert incident is not None
        regimes = effective_regimes(
            app.extensions["composer.regimes"], incident_overrides(db.session(), incident)
        )
        massachusetts = regimes.get("massachusetts")
        assert massachusetts is not None
        assert [r.element for r in massachusetts.notice.forbidden] == ["affected_count"]


def test_putting_a_rule_back_is_another_audited_row(app: Flask, incident_id: int) -> None:
    client, token = signed_in(app, "admin")
    because = "Checked with counsel on the call"
    change(client, token, incident_id, key=FORBIDDEN_DESCRIPTION, action="off", reason=because)
    again = change(
        client, token, incident_id, key=FORBIDDEN_DESCRIPTION, action="off", reason=because
    )
    assert again.status_code == 422
    assert "already switched off" in words(again.get_data(as_text=True))
    back = change(
        client,
        token,
        incident_id,
        key=FORBIDDEN_DESCRIPTION,
        action="restore",
        reason="Counsel changed their mind after reading 93H",
    )
    assert back.status_code == 302
    assert stored(app) == [(FORBIDDEN_DESCRIPTION, "off"), (FORBIDDEN_DESCRIPTION, "restore")]
    assert [e.action for e in events(app)] == [
        "regime_rule.switched_off",
        "regime_rule.restored",
    ]
    assert events(app)[1].before == {"rule": FORBIDDEN_DESCRIPTION, "action": "off"}
    text = words(client.get(f"/incidents/{incident_id}/regimes").get_data(as_text=True))
    assert "Switched off" not in text


def test_a_corrected_clock_moves_its_deadline(app: Flask, incident_id: int) -> None:
    client, token = signed_in(app, "approver")
    response = change(
        client,
        token,
        incident_id,
        key=GDPR_REGULATOR,
        action="correct",
        unit="days",
        amount="5",
        reason="The authority agreed to five days in writing",
    )
    assert response.status_code == 302
    assert "Corrected to 5 days" in words(
        client.get(f"/incidents/{incident_id}/regimes").get_data(as_text=True)
    )
    [event] = events(app)
    assert event.action == "regime_rule.corrected"
    assert event.after is not None
    assert event.after["limit"] == "5 days"
    with app.app_context():
        incident = db.session.get(Incident, incident_id)
        assert incident is not None
        gdpr = effective_regimes(
            app.extensions["composer.regimes"], incident_overrides(db.session(), incident)
        ).get("gdpr")
        assert gdpr is not None
        within = gdpr.clocks[0].within
        assert within is not None
        assert (within.days, within.hours) == (5, None)


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        (
            {"key": FORBIDDEN_DESCRIPTION, "action": "off", "reason": ""},
            "reason",
            "at least 3 words",
        ),
        (
            {"key": FORBIDDEN_DESCRIPTION, "action": "off", "reason": "ok"},
            "reason",
            "at least 3 words",
        ),
        (
            {"key": GDPR_REGULATOR, "action": "correct", "unit": "days", "amount": "-2"},
            "amount",
            "whole number from 1",
        ),
        (
            {"key": GDPR_REGULATOR, "action": "correct", "unit": "weeks", "amount": "2"},
            "amount",
            "hours, days or business days",
        ),
        (
            {"key": "massachusetts/notice/monitoring", "action": "correct", "months": "0"},
            "months",
            "whole number from 1 to 120",
        ),
        (
            {"key": FORBIDDEN_DESCRIPTION, "action": "correct"},
            None,
            "can only be switched off",
        ),
        ({"key": FORBIDDEN_DESCRIPTION, "action": "restore"}, None, "already applies"),
        ({"key": "atlantis/clocks/sea", "action": "off"}, None, "No regime has a rule"),
    ],
)
def test_bad_changes_are_refused_with_the_problem_named_and_what_was_typed_kept(
    app: Flask, incident_id: int, form: dict[str, str], field: str | None, message: str
) -> None:
    client, token = signed_in(app, "approver")
    reason = form.pop("reason", "Agreed with the regulator by phone")
    response = change(client, token, incident_id, reason=reason, **form)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert message in words(page)
    assert "That change was not saved" in page
    if reason and form["key"] != "atlantis/clocks/sea":
        # The rule's form is open again with the reason as typed.
        assert f">{reason}</textarea>" in page
    if field is not None:
        # Named beside the field too, and the field marked for screen readers.
        assert re.search(rf'<p class="field-error" id="[^"]*-{field}-error">', page), field
        assert 'aria-invalid="true"' in page
    assert stored(app) == []
    assert events(app) == []


def test_an_author_may_read_the_page_but_not_change_a_rule(app: Flask, incident_id: int) -> None:
    client, token = signed_in(app, "author")
    page = client.get(f"/incidents/{incident_id}/regimes")
    assert page.status_code == 200
    assert 'action="/incidents/' not in page.get_data(as_text=True)
    response = change(
        client,
        token,
        incident_id,
        key=FORBIDDEN_DESCRIPTION,
        action="off",
        reason="I would rather describe the breach",
    )
    assert response.status_code == 403
    assert stored(app) == []
    assert events(app) == []


def test_before_the_discovery_date_is_known_the_page_says_so(
    app: Flask, users: dict[str, int]
) -> None:
    client, token = signed_in(app, "author")
    incident_id = new_incident(client, token, "Too early")
    text = words(client.get(f"/incidents/{incident_id}/regimes").get_data(as_text=True))
    assert "No law can be matched until the discovery date is known" in text


def test_the_notice_rules_follow_the_override(app: Flask, incident_id: int) -> None:
    client, token = signed_in(app, "approver")
    change(
        client,
        token,
        incident_id,
        key="massachusetts/notice/monitoring",
        action="correct",
        months="24",
        reason="The settlement with the AG requires two years",
    )
    with app.app_context():
        incident = db.session.get(Incident, incident_id)
        assert incident is not None
        mass = effective_regimes(
            app.extensions["composer.regimes"], incident_overrides(db.session(), incident)
        ).get("massachusetts")
        assert mass is not None
        situation = Situation(
            places={"US-MA": 40}, categories=frozenset({"ssn"}), discovered=date.today()
        )
        assert notice_rules(mass, situation).monitoring_months == 24

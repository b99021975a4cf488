"""Cohorts: recipients grouped by jurisdiction and data categories, each a variant legal
approves; uploading recipients after approval refuses sending until legal sees them."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from composer import approval
from composer.approval import BundleMismatch
from composer.extensions import db
from composer.incidents import create_incident
from composer.models import Incident, Recipient, Role, User
from composer.notices import versions
from composer.recipients import cohorts
from composer.recipients.importing import import_csv
from composer.settings import settings_of
from tests.conftest import make_user

CSV = (
    "email,first_name,country,us_state,data_categories\n"
    "a@example.com,Al,US,MA,email;password-hashed\n"
    "b@example.com,Bo,US,MA,password-hashed;email\n"  # same set, other order: same cohort
    "c@example.com,Cy,US,CA,email\n"
    "d@example.com,Di,GB,,email;password-hashed\n"
    "e@example.com,Ed,GB,MA,password-hashed;email\n"  # a US state outside the US: rejected
    "f@example.com,Fi,,,\n"
)


class World:
    def __init__(self, app: Flask) -> None:
        self.app = app
        self.session = db.session()
        self.catalogue = app.extensions["composer.catalogue"]
        ana = self.session.get(User, make_user(app, "ana@example.com", Role.AUTHOR))
        lee = self.session.get(User, make_user(app, "lee@example.com", Role.APPROVER))
        assert ana is not None
        assert lee is not None
        self.ana, self.lee = ana, lee
        self.incident: Incident = create_incident(
            self.session, self.catalogue, title="Leak", by=ana
        )
        result = versions.save_version(
            self.session,
            self.incident,
            subject="Your password",
            body="Dear {{ first_name }}.\n",
            by=ana,
        )
        assert result.version is not None
        self.version = result.version
        self.session.commit()

    def upload(self, text: str) -> Any:
        report = import_csv(
            self.session,
            io.BytesIO(text.encode()),
            incident=self.incident,
            by=self.ana,
            categories=set(self.catalogue.categories),
            filename="people.csv",
            max_bytes=10_000_000,
        )
        self.session.commit()
        return report

    def bundle(self) -> approval.Bundle:
        return approval.incident_bundle(
            self.session,
            self.incident,
            self.version,
            settings=settings_of(self.app),
            catalogue=self.catalogue,
            today=date(2026, 11, 29),
        )


@pytest.fixture
def world(app: Flask) -> Iterator[World]:
    with app.app_context():
        yield World(app)


def test_recipients_are_grouped_by_jurisdiction_and_data_categories(world: World) -> None:
    world.upload(CSV)
    found_list = cohorts.latest_list(world.session, world.incident)
    assert found_list is not None
    found = cohorts.cohorts(world.session, found_list)
    summary = [(c.country, c.us_state, c.categories, c.recipients) for c in found]
    assert summary == [
        ("US", "MA", ("email", "password-hashed"), 2),
        ("GB", "", ("email", "password-hashed"), 1),
        ("", "", (), 1),
        ("US", "CA", ("email",), 1),
    ]
    assert sum(c.recipients for c in found) == found_list.imported == 5
    specs = [cohorts.variant_spec(c, world.catalogue) for c in found]
    labels = [s.label for s in specs]
    assert labels[0].startswith("Massachusetts, United States · Email address")
    assert labels[1].startswith("United Kingdom · ")
    assert labels[2] == "Country not given · no data categories given"
    assert specs[0].audience == "2 recipients"
    assert len({s.key for s in specs}) == 4


def test_post_only_recipients_are_counted_in_the_audience(world: World) -> None:
    world.upload(
        "email,first_name,address_line_1,city,postcode,country,data_categories\n"
        "a@example.com,Al,,,,GB,password-hashed\n"
        ",Bo,1 High Street,Leeds,LS1 1AA,GB,password-hashed\n"
    )
    found_list = cohorts.latest_list(world.session, world.incident)
    assert found_list is not None
    [only] = cohorts.cohorts(world.session, found_list)
    assert cohorts.variant_spec(only, world.catalogue).audience == (
        "2 recipients (1 by email, 1 by post)"
    )


def test_stored_values_spelt_differently_fall_into_one_cohort(world: World) -> None:
    # The database counts each stored combination; grouping normalises them as the cohort
    # rules say (a US state only counts in the US; categories are a set), whoever wrote them.
    world.upload(
        "email,first_name,address_line_1,city,country,us_state,data_categories\n"
        "a@example.com,Al,,,US,MA,email;password-hashed\n"
        "b@example.com,Bo,,,GB,,email\n"
        ",Cy,1 High St,Leeds,GB,,email\n"
    )
    found_list = cohorts.latest_list(world.session, world.incident)
    assert found_list is not None
    world.session.execute(
        sa.text("UPDATE recipient SET data_categories = :spelt WHERE email = 'a@example.com'"),
        {"spelt": '["password-hashed","email", "email"]'},
    )
    world.session.execute(
        sa.text("UPDATE recipient SET us_state = 'CA' WHERE email = 'b@example.com'")
    )
    world.session.execute(
        sa.insert(Recipient).values(
            list_id=found_list.id,
            email="d@example.com",
            country="US",
            us_state="MA",
            data_categories=["email", "password-hashed"],
        )
    )
    found = cohorts.cohorts(world.session, found_list)
    summary = [(c.country, c.us_state, c.categories, c.recipients, c.with_email) for c in found]
    assert summary == [
        ("GB", "", ("email",), 2, 1),
        ("US", "MA", ("email", "password-hashed"), 2, 2),
    ]


def test_the_bundle_has_one_variant_per_cohort_and_the_list_digest(world: World) -> None:
    before = world.bundle()
    assert [v.spec.label for v in before.variants] == ["Every recipient"]
    world.upload(CSV)
    after = world.bundle()
    assert len(after.variants) == 4
    found_list = cohorts.latest_list(world.session, world.incident)
    assert found_list is not None
    assert after.settings.recipients_digest == found_list.digest
    assert after.sha256 != before.sha256


def test_recipients_uploaded_after_approval_refuse_sending(world: World) -> None:
    review = approval.submit(
        world.session,
        world.incident,
        world.version,
        by=world.ana,
        summary={"errors": 0},
        warnings=[],
        reasons={},
        bundle=world.bundle(),
    )
    approval.approve(world.session, review, by=world.lee, bundle=world.bundle())
    world.session.commit()
    assert approval.release_check(world.session, world.incident, world.bundle()).review is review
    world.upload(CSV)
    with pytest.raises(BundleMismatch) as refused:
        approval.release_check(world.session, world.incident, world.bundle())
    changes = refused.value.changes
    assert "the recipient list" in changes
    assert any("Massachusetts, United States" in c and "legal has not seen" in c for c in changes)


def test_a_lists_cohorts_are_counted_once_for_its_digest(world: World) -> None:
    # The sender rebuilds the bundle every 30 s: at a million recipients each count is a scan
    # of the whole list. The digest covers every value a cohort is made of, so one is enough.
    counts: list[str] = []

    def count_scans(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "GROUP BY recipient.country" in statement:
            counts.append(statement)

    engine = world.session.get_bind()
    sa.event.listen(engine, "before_cursor_execute", count_scans)
    try:
        world.upload(CSV.replace("@example.com", "@once.example.com"))
        first, second = world.bundle(), world.bundle()
        assert len(counts) == 1
        assert first.sha256 == second.sha256
        assert [v.spec.audience for v in second.variants] == ["2 recipients"] + ["1 recipient"] * 3
        # A new list (one more recipient in Massachusetts) is counted, and its variants say so.
        world.upload(
            CSV.replace("@example.com", "@once.example.com")
            + "g@once.example.com,Gus,US,MA,email;password-hashed\n"
        )
        third = world.bundle()
        assert len(counts) == 2
        assert third.variants[0].spec.audience == "3 recipients"
        assert third.sha256 != second.sha256
    finally:
        sa.event.remove(engine, "before_cursor_execute", count_scans)

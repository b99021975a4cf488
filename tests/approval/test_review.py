"""The review state machine: four eyes, required approvals, voiding, and the release check.

Pure domain tests: a database session and users, no requests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from composer import approval, audit
from composer.approval import (
    ApprovalError,
    ApprovalRefused,
    BundleMismatch,
    BundleSettings,
    NotApproved,
    SubmitRefused,
    WarningToAcknowledge,
)
from composer.extensions import db
from composer.incidents import create_incident
from composer.models import AuditEvent, Incident, NoticeVersion, Review, ReviewState, Role, User
from composer.notices import versions
from composer.settings import settings_of
from tests.conftest import make_user

SUBJECT = "We lost control of your email address"
BODY = (
    "Dear {{ first_name }},\n\n"
    "On 3 May a criminal copied the email addresses of 20,000 customers from our supplier.\n"
)
SETTINGS = BundleSettings(company="Example Ltd", sender="Example Ltd <security@example.com>")
CLEAN = {"errors": 0, "warnings": 0, "suggestions": 0, "grade": 6.0}


class World:
    """An incident with a saved version, and people in each role."""

    def __init__(self, app: Flask) -> None:
        ids = {
            "ana": make_user(app, "ana@example.com", Role.AUTHOR),
            "bob": make_user(app, "bob@example.com", Role.AUTHOR),
            "lee": make_user(app, "lee@example.com", Role.APPROVER),
            "liz": make_user(app, "liz@example.com", Role.APPROVER),
            # A lawyer who also writes: holds both roles.
            "max": make_user(app, "max@example.com", Role.AUTHOR, Role.APPROVER),
            "ada": make_user(app, "ada@example.com", Role.ADMIN),
        }
        self.session: Session = db.session()
        self.users = {name: self.session.get(User, i) for name, i in ids.items()}
        catalogue = app.extensions["composer.catalogue"]
        self.incident: Incident = create_incident(
            self.session, catalogue, title="Supplier leak", by=self.user("ana")
        )
        self.session.commit()
        self.version = self.save(BODY, by="ana")

    def user(self, name: str) -> User:
        found = self.users[name]
        assert found is not None
        return found

    def save(self, body: str, *, by: str, subject: str = SUBJECT) -> NoticeVersion:
        result = versions.save_version(
            self.session, self.incident, subject=subject, body=body, by=self.user(by)
        )
        self.session.commit()
        assert result.version is not None
        return result.version

    def bundle(self, version: NoticeVersion | None = None, **changes: Any) -> approval.Bundle:
        version = version or self.version
        return approval.build_bundle(
            version, version.number, version.sha256, replace(SETTINGS, **changes)
        )

    def submit(
        self,
        version: NoticeVersion | None = None,
        *,
        by: str = "ana",
        summary: dict[str, Any] | None = None,
        warnings: list[WarningToAcknowledge] | None = None,
        reasons: dict[str, str] | None = None,
    ) -> Review:
        version = version or self.version
        review = approval.submit(
            self.session,
            self.incident,
            version,
            by=self.user(by),
            summary=summary or CLEAN,
            warnings=warnings or [],
            reasons=reasons or {},
            bundle=self.bundle(version),
        )
        self.session.commit()
        return review

    def approve(self, review: Review, by: str, **changes: Any) -> None:
        approval.approve(
            self.session, review, by=self.user(by), bundle=self.bundle(review.version, **changes)
        )
        self.session.commit()

    def actions(self) -> list[str]:
        return list(
            self.session.scalars(
                sa.select(AuditEvent.action)
                .where(AuditEvent.subject_type == "incident")
                .order_by(AuditEvent.seq)
            )
        )


@pytest.fixture
def world(app: Flask) -> Iterator[World]:
    with app.app_context():
        yield World(app)


WARNING = WarningToAcknowledge(
    key="body:hedge.potentially:10-21",
    rule="hedge.potentially",
    category="hedge",
    message="“potentially” hedges",
    excerpt="potentially",
    start=10,
    end=21,
    part="body",
)


# Submitting ------------------------------------------------------------------------------------


def test_submit_records_the_bundle_and_the_audit_event(world: World) -> None:
    review = world.submit()
    assert review.state == ReviewState.IN_REVIEW.value
    assert review.required_approvals == 1
    assert review.bundle_sha256 == world.bundle().sha256
    assert review.bundle_manifest["sender"] == SETTINGS.sender
    assert [v["label"] for v in review.bundle_manifest["variants"]] == ["Every recipient"]
    event = world.session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == "review.submitted")
    ).one()
    assert event.actor == "ana@example.com"
    assert event.after is not None
    assert event.after["bundle_sha256"] == review.bundle_sha256
    assert event.after["sha256"] == world.version.sha256


def test_submit_refuses_lint_errors(world: World) -> None:
    with pytest.raises(SubmitRefused, match="found 2 errors"):
        world.submit(summary={**CLEAN, "errors": 2})
    assert approval.open_review(world.session, world.incident) is None


def test_every_warning_needs_a_reason(world: World) -> None:
    summary = {**CLEAN, "warnings": 1}
    with pytest.raises(SubmitRefused) as refused:
        world.submit(summary=summary, warnings=[WARNING], reasons={WARNING.key: "  ok "})
    assert refused.value.problems == {WARNING.key: "Say in a few words why this warning can stay."}
    with pytest.raises(SubmitRefused):
        world.submit(summary=summary, warnings=[WARNING], reasons={WARNING.key: "x" * 501})
    review = world.submit(
        summary=summary,
        warnings=[WARNING],
        reasons={WARNING.key: "We   genuinely\r\ndo not know yet."},
    )
    assert review.acknowledgements == [
        {
            "part": "body",
            "rule": "hedge.potentially",
            "category": "hedge",
            "message": "“potentially” hedges",
            "excerpt": "potentially",
            "start": 10,
            "end": 21,
            "reason": "We genuinely do not know yet.",
        }
    ]


def test_only_authors_submit_and_only_the_latest_version(world: World) -> None:
    with pytest.raises(ApprovalRefused, match="Only authors"):
        world.submit(by="lee")
    old = world.version
    world.version = world.save(BODY + "\nMore.\n", by="bob")
    with pytest.raises(SubmitRefused, match="Version 1 is not the latest: submit version 2"):
        world.submit(old)


def test_a_second_submission_of_the_same_bundle_is_refused(world: World) -> None:
    world.submit()
    with pytest.raises(SubmitRefused, match="already waiting for review"):
        world.submit(by="bob")


# Four eyes -------------------------------------------------------------------------------------


def test_the_author_cannot_approve_even_holding_the_approver_role(world: World) -> None:
    world.version = world.save(BODY + "\nA lawyer's edit.\n", by="max")
    review = world.submit(by="ana")
    with pytest.raises(ApprovalRefused, match="You saved version 2 of this notice"):
        world.approve(review, "max")
    assert review.approvals == []


def test_anyone_who_edited_since_the_last_approval_cannot_approve(world: World) -> None:
    # max edits version 2, bob writes version 3 and submits: max wrote part of it.
    world.save(BODY + "\nmax\n", by="max")
    world.version = world.save(BODY + "\nbob\n", by="bob")
    review = world.submit(by="bob")
    assert set(approval.editors_of(world.session, review.version)) == {
        world.user("ana").id,
        world.user("max").id,
        world.user("bob").id,
    }
    with pytest.raises(ApprovalRefused, match="You saved version 2"):
        world.approve(review, "max")
    world.approve(review, "lee")
    assert review.state == ReviewState.APPROVED.value

    # After an approval, earlier editors are no longer "editors" of the next change.
    world.version = world.save(BODY + "\nbob again\n", by="bob")
    next_review = world.submit(by="bob")
    assert set(approval.editors_of(world.session, next_review.version)) == {world.user("bob").id}
    world.approve(next_review, "max")
    assert next_review.state == ReviewState.APPROVED.value


def test_the_submitter_cannot_approve(world: World) -> None:
    review = world.submit(by="max")  # max submits ana's text
    with pytest.raises(ApprovalRefused, match="You submitted this version"):
        world.approve(review, "max")


def test_authors_and_admins_cannot_approve(world: World) -> None:
    review = world.submit()
    for name in ("bob", "ada"):
        with pytest.raises(ApprovalRefused, match="Only approvers"):
            world.approve(review, name)


def test_an_approver_approves_once(world: World) -> None:
    world.incident.required_approvals = 2
    world.session.commit()
    review = world.submit()
    world.approve(review, "lee")
    with pytest.raises(ApprovalRefused, match="already approved"):
        world.approve(review, "lee")


# Required approvals ----------------------------------------------------------------------------


def test_two_required_approvals(world: World) -> None:
    approval.set_required_approvals(
        world.session, world.incident, 2, by=world.user("ada"), default=1
    )
    world.session.commit()
    review = world.submit()
    assert review.required_approvals == 2
    world.approve(review, "lee")
    assert review.state == ReviewState.IN_REVIEW.value
    with pytest.raises(NotApproved, match=r"waiting for approval \(1 of 2\)"):
        approval.release_check(world.session, world.incident, world.bundle())
    world.approve(review, "liz")
    assert review.state == ReviewState.APPROVED.value
    assert approval.release_check(world.session, world.incident, world.bundle()).review is review


def test_admins_cannot_lower_the_number_during_a_review_but_can_raise_it(world: World) -> None:
    ada = world.user("ada")
    approval.set_required_approvals(world.session, world.incident, 2, by=ada, default=1)
    review = world.submit()
    with pytest.raises(ApprovalRefused, match="cannot be lowered while a review is open"):
        approval.set_required_approvals(world.session, world.incident, 1, by=ada, default=1)
    approval.set_required_approvals(world.session, world.incident, 3, by=ada, default=1)
    world.session.commit()
    assert review.required_approvals == 3
    with pytest.raises(ApprovalRefused, match="Only admins"):
        approval.set_required_approvals(
            world.session, world.incident, 1, by=world.user("lee"), default=1
        )
    with pytest.raises(ApprovalError, match="between 1 and 10"):
        approval.set_required_approvals(world.session, world.incident, 0, by=ada, default=1)
    # Once the review is closed, the number can come down again for the next one.
    approval.withdraw(world.session, review, by=world.user("ana"))
    approval.set_required_approvals(world.session, world.incident, 1, by=ada, default=1)
    assert "approval_policy.changed" in world.actions()


def test_the_site_default_applies_when_the_incident_sets_none(world: World) -> None:
    review = approval.submit(
        world.session,
        world.incident,
        world.version,
        by=world.user("ana"),
        summary=CLEAN,
        warnings=[],
        reasons={},
        bundle=world.bundle(),
        default_required=2,
    )
    assert review.required_approvals == 2


# Voiding ---------------------------------------------------------------------------------------


def test_an_edit_voids_an_open_review(world: World) -> None:
    review = world.submit()
    world.save(BODY + "\nEdited.\n", by="bob")
    assert review.state == ReviewState.VOIDED.value
    assert review.close_reason is not None
    assert "version 2 was saved by Bob" in review.close_reason
    with pytest.raises(ApprovalRefused, match="no longer applies"):
        world.approve(review, "lee")


def test_an_edit_voids_an_approval_and_sending_is_refused(world: World) -> None:
    review = world.submit()
    world.approve(review, "lee")
    assert approval.release_check(world.session, world.incident, world.bundle()).review is review
    edited = world.save(BODY + "\nEdited after approval.\n", by="ana")
    assert review.state == ReviewState.VOIDED.value
    assert review.approved_at is not None  # the history still shows it was approved
    with pytest.raises(NotApproved, match="the approval no longer applies: version 2 was saved"):
        approval.release_check(world.session, world.incident, world.bundle(edited))
    actions = world.actions()
    assert actions.index("review.approved") < actions.index("review.voided")


def test_saving_identical_text_does_not_void(world: World) -> None:
    review = world.submit()
    result = versions.save_version(
        world.session, world.incident, subject=SUBJECT, body=BODY, by=world.user("bob")
    )
    assert not result.created
    assert review.state == ReviewState.IN_REVIEW.value


# The release check (at send time) --------------------------------------------------------------


def test_release_refused_before_any_review(world: World) -> None:
    with pytest.raises(NotApproved, match="has not been submitted"):
        approval.release_check(world.session, world.incident, world.bundle())


def test_changed_sender_after_approval_is_refused_with_what_changed(world: World) -> None:
    review = world.submit()
    world.approve(review, "lee")
    bundle = world.bundle(sender="Someone Else <ceo@example.net>")
    with pytest.raises(BundleMismatch) as refused:
        approval.release_check(world.session, world.incident, bundle)
    assert refused.value.changes == [
        "the sender (From address): approved 'Example Ltd <security@example.com>', "
        "now 'Someone Else <ceo@example.net>'"
    ]
    assert "Submit the notice for review again" in str(refused.value)


def test_changed_letter_contact_lines_after_approval_are_refused(world: World) -> None:
    review = world.submit()
    world.approve(review, "lee")
    letter = approval.LetterSettings(contact_lines=("Call 0800 000 000",))
    with pytest.raises(BundleMismatch) as refused:
        approval.release_check(world.session, world.incident, world.bundle(letter=letter))
    assert refused.value.changes == ["the rendered PDF letter for Every recipient"]


def test_a_new_recipient_variant_after_approval_is_refused(world: World) -> None:
    review = world.submit()
    world.approve(review, "lee")
    variants = (
        approval.EVERY_RECIPIENT,
        approval.VariantSpec(key="us-ma", label="Massachusetts residents"),
    )
    with pytest.raises(BundleMismatch) as refused:
        approval.release_check(world.session, world.incident, world.bundle(variants=variants))
    assert any("Massachusetts residents" in c for c in refused.value.changes)


def test_approving_a_stale_bundle_is_refused(world: World) -> None:
    review = world.submit()
    with pytest.raises(BundleMismatch, match="the company name"):
        world.approve(review, "lee", company="Other Ltd")
    assert review.approvals == []


def drop_review_guards() -> None:
    """What an attacker with database access would do first."""
    if db.engine.dialect.name == "sqlite":
        for table in ("review_decision",):
            db.session.execute(sa.text(f"DROP TRIGGER {table}_no_update"))
    else:
        db.session.execute(sa.text("DROP TRIGGER review_decision_immutable ON review_decision"))


def test_a_tampered_approval_record_is_refused_at_send(world: World) -> None:
    review = world.submit()
    world.approve(review, "lee")
    # Someone with database access swaps in the hash of a different bundle everywhere.
    other = world.bundle(company="Tampered Ltd")
    drop_review_guards()
    world.session.execute(
        sa.update(Review).where(Review.id == review.id).values(bundle_sha256=other.sha256)
    )
    world.session.execute(
        sa.text("UPDATE review_decision SET bundle_sha256 = :h WHERE review_id = :r"),
        {"h": other.sha256, "r": review.id},
    )
    world.session.commit()
    world.session.expire_all()
    with pytest.raises(BundleMismatch, match="does not add up"):
        approval.release_check(world.session, world.incident, other)


def test_an_approval_by_an_editor_inserted_in_the_database_is_refused(world: World) -> None:
    world.incident.required_approvals = 1
    review = world.submit()
    # Forge an approval by the author straight into the table (no trigger stops INSERT).
    world.session.execute(
        sa.text(
            "INSERT INTO review_decision (review_id, user_id, kind, at, bundle_sha256, note) "
            "VALUES (:r, :u, 'approve', :at, :h, '')"
        ),
        {
            "r": review.id,
            "u": world.user("ana").id,
            "at": review.submitted_at,
            "h": review.bundle_sha256,
        },
    )
    world.session.execute(
        sa.update(Review)
        .where(Review.id == review.id)
        .values(state=ReviewState.APPROVED.value, approved_at=review.submitted_at)
    )
    world.session.commit()
    world.session.expire_all()
    with pytest.raises(BundleMismatch, match="does not add up"):
        approval.release_check(world.session, world.incident, world.bundle())


def test_decisions_and_comments_cannot_be_changed_in_the_database(world: World) -> None:
    review = world.submit()
    approval.comment(world.session, review, by=world.user("lee"), text="Say who.")
    world.session.commit()
    world.approve(review, "lee")
    for statement in (
        "UPDATE review_decision SET note = 'changed'",
        "DELETE FROM review_decision",
        "UPDATE review_comment SET text = 'changed'",
        "DELETE FROM review_comment",
    ):
        with pytest.raises(DBAPIError):
            world.session.execute(sa.text(statement))
        world.session.rollback()


# Comments, requests for changes, withdrawal -------------------------------------------------


def test_comments_are_anchored_to_the_text(world: World) -> None:
    review = world.submit()
    start = BODY.index("a criminal")
    row = approval.comment(
        world.session,
        review,
        by=world.user("lee"),
        text="Do we know it was a criminal?",
        part="body",
        start=start,
        end=start + len("a criminal"),
    )
    assert row.quote == "a criminal"
    with pytest.raises(ApprovalError, match="not in this version's text"):
        approval.comment(
            world.session, review, by=world.user("lee"), text="x", part="body", start=5, end=10**6
        )
    with pytest.raises(ApprovalError, match="empty"):
        approval.comment(world.session, review, by=world.user("lee"), text="   ")
    with pytest.raises(ApprovalRefused, match="Only authors and approvers"):
        approval.comment(world.session, review, by=world.user("ada"), text="Hello")


def test_request_changes_needs_a_note_or_a_comment(world: World) -> None:
    review = world.submit()
    with pytest.raises(ApprovalError, match="Say what needs to change"):
        approval.request_changes(world.session, review, by=world.user("lee"))
    approval.request_changes(world.session, review, by=world.user("lee"), note="Name the supplier.")
    world.session.commit()
    assert review.state == ReviewState.CHANGES_REQUESTED.value
    with pytest.raises(ApprovalRefused, match="Changes were requested"):
        world.approve(review, "liz")
    with pytest.raises(ApprovalRefused):
        approval.comment(world.session, review, by=world.user("lee"), text="More")
    # The author revises and submits again: a new review of the new version.
    world.version = world.save(BODY + "\nThe supplier is Mailer Ltd.\n", by="ana")
    again = world.submit()
    assert again.id != review.id
    world.approve(again, "lee")
    assert again.state == ReviewState.APPROVED.value


def test_withdraw(world: World) -> None:
    review = world.submit()
    with pytest.raises(ApprovalRefused, match="Only authors"):
        approval.withdraw(world.session, review, by=world.user("lee"))
    approval.withdraw(world.session, review, by=world.user("bob"))
    assert review.state == ReviewState.WITHDRAWN.value
    with pytest.raises(NotApproved, match="withdrawn"):
        approval.release_check(world.session, world.incident, world.bundle())


# The queue and the audit trail ---------------------------------------------------------------


def test_review_queue_counts_what_each_person_can_approve(world: World) -> None:
    assert approval.waiting_for(world.session, world.user("lee")) == 0
    world.submit()
    assert approval.waiting_for(world.session, world.user("lee")) == 1
    assert approval.waiting_for(world.session, world.user("ana")) == 0  # not an approver
    items = approval.review_queue(world.session, world.user("ana"))
    assert [i.refusal for i in items] == ["Only approvers (legal) can approve a notice."]


def test_views_are_audited_once_per_person(world: World) -> None:
    review = world.submit()
    assert approval.record_view(world.session, review, by=world.user("lee"))
    assert not approval.record_view(world.session, review, by=world.user("lee"))
    assert approval.record_view(world.session, review, by=world.user("liz"))
    world.session.commit()
    assert world.actions().count("review.viewed") == 2


def test_the_whole_flow_is_in_the_audit_trail_and_the_chain_holds(world: World) -> None:
    review = world.submit()
    approval.record_view(world.session, review, by=world.user("lee"))
    approval.comment(world.session, review, by=world.user("lee"), text="Say who did it.")
    approval.request_changes(world.session, review, by=world.user("lee"))
    world.session.commit()
    world.version = world.save(BODY + "\nA criminal did it.\n", by="ana")
    second = world.submit()
    world.approve(second, "lee")
    world.save(BODY + "\nAfter.\n", by="ana")
    assert world.actions() == [
        "incident.created",
        "notice.version_created",
        "review.submitted",
        "review.viewed",
        "review.commented",
        "review.changes_requested",
        "notice.version_created",
        "review.submitted",
        "review.approved",
        "notice.version_created",
        "review.voided",
    ]
    assert audit.verify(world.session).ok


def test_bundle_settings_come_from_the_typed_settings_as_from_the_config() -> None:
    """The sender, the command line and the views build a bundle from the typed settings; a
    caller still holding the config mapping gets the same parts. An empty company name stands
    as the default's and an empty logo as none, as the config reads always did."""
    config = {
        "COMPANY_NAME": "",
        "MAIL_SENDER": "Acme <security@acme.example>",
        "MAIL_REPLY_TO": "help@acme.example",
        "LETTER_LOGO": "",
    }
    from_config = approval.settings_from_config(config, {})
    assert from_config == approval.settings_for_bundle(settings_of(config), {})
    assert (from_config.company, from_config.sender, from_config.reply_to) == (
        "Example Ltd",
        "Acme <security@acme.example>",
        "help@acme.example",
    )
    assert from_config.letter.logo is None

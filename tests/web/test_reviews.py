"""Legal sign-off over HTTP: submitting, the approval view, comments, requests for changes,
approval with the password, four eyes against crafted requests, voiding, the queue, the
approvals rule, notifications, and the release check on the command line."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape

from composer.extensions import db
from composer.models import (
    AuditEvent,
    DevOutboxMessage,
    Review,
    ReviewDecision,
    ReviewState,
    Role,
)
from composer.notices import previews
from tests.conftest import PASSWORD, make_user, sign_in
from tests.sample_answers import STEP_FORMS
from tests.web.test_wizard import fill_all, new_incident, post_step

HOSTILE = '<script>alert("x")</script>'


@pytest.fixture(autouse=True)
def empty_render_cache() -> Iterator[None]:
    previews.CACHE.clear()
    yield
    previews.CACHE.clear()


@pytest.fixture
def people(app: Flask, users: dict[str, int]) -> dict[str, int]:
    """ana (author), lee (approver), ada (admin), plus liz (approver) and max (author and
    approver: a lawyer who also writes)."""
    return {
        **users,
        "liz": make_user(app, "liz@example.com", Role.APPROVER),
        "max": make_user(app, "max@example.com", Role.AUTHOR, Role.APPROVER),
    }


def client_for(app: Flask, who: str) -> tuple[FlaskClient, str]:
    client = app.test_client()
    return client, sign_in(client, who)


@pytest.fixture
def drafted(app: Flask, people: dict[str, int]) -> tuple[FlaskClient, str, int]:
    """ana's client and token, and an incident with a finished checklist and a drafted notice
    (version 1, which lints with no errors and no warnings)."""
    client, token = client_for(app, "author")
    incident_id = new_incident(client, token, "Supplier leak")
    fill_all(client, token, incident_id)
    # A draft says "by [DATE]" while the next update is not known, and a slot blocks submission.
    contact = {k: v for k, v in STEP_FORMS["contact"].items() if k != "q.next_update.unknown"}
    post_step(client, token, incident_id, "contact", {**contact, "q.next_update": "2026-12-01"})
    client.post(f"/incidents/{incident_id}/notice/draft", data={"csrf_token": token})
    return client, token, incident_id


def text(response: Any) -> str:
    """The page's words as a reader sees them: tags dropped, spaces collapsed."""
    words = re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))
    return re.sub(r"\s+", " ", html.unescape(words))


def latest(client: FlaskClient, incident_id: int) -> tuple[int, str, str, str]:
    """The latest version's number, sha256, subject and body, read from the editor page."""
    page = client.get(f"/incidents/{incident_id}/notice").get_data(as_text=True)
    number = int(re.search(r'data-version="(\d+)"', page).group(1))  # type: ignore[union-attr]
    sha = re.search(r'SHA-256 <code title="([0-9a-f]{64})"', page)
    subject = re.search(r'name="subject"[^>]*value="([^"]*)"', page)
    body = re.search(r"<textarea[^>]*name=\"body\"[^>]*>(.*?)</textarea>", page, re.S)
    assert sha
    assert subject
    assert body
    # A browser drops the newline that starts a textarea's content, as here.
    text_body = html.unescape(body.group(1)).removeprefix("\n")
    return number, sha.group(1), html.unescape(subject.group(1)), text_body


def _submit_page(client: FlaskClient, incident_id: int) -> str:
    return client.get(f"/incidents/{incident_id}/notice/submit").get_data(as_text=True)


def save_text(
    client: FlaskClient, token: str, incident_id: int, *, subject: str, body: str
) -> None:
    response = client.post(
        f"/incidents/{incident_id}/notice",
        data={"subject": subject, "body": body, "csrf_token": token},
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]


def submit(client: FlaskClient, token: str, incident_id: int, **reasons: str) -> Any:
    _, sha, _, _ = latest(client, incident_id)
    data = {"sha256": sha, "csrf_token": token}
    data.update({f"reason-{k}": v for k, v in reasons.items()})
    return client.post(f"/incidents/{incident_id}/notice/submit", data=data)


def review_id_of(response: Any) -> int:
    match = re.search(r"/reviews/(\d+)$", response.headers["Location"])
    assert match, response.headers.get("Location")
    return int(match.group(1))


def bundle_of(page: str) -> str:
    match = re.search(r'name="bundle_sha256" value="([0-9a-f]{64})"', page)
    assert match, "no approve form on the page"
    return match.group(1)


def approve(
    client: FlaskClient,
    token: str,
    incident_id: int,
    review_id: int,
    *,
    password: str = PASSWORD,
    bundle: str | None = None,
) -> Any:
    url = f"/incidents/{incident_id}/reviews/{review_id}"
    if bundle is None:
        bundle = bundle_of(client.get(url).get_data(as_text=True))
    return client.post(
        url + "/approve",
        data={"password": password, "bundle_sha256": bundle, "note": "", "csrf_token": token},
    )


def decisions(app: Flask) -> list[tuple[int, str]]:
    with app.app_context():
        return [(d.user_id, d.kind) for d in db.session.scalars(sa.select(ReviewDecision))]


def review_state(app: Flask, review_id: int) -> str:
    with app.app_context():
        review = db.session.get(Review, review_id)
        assert review is not None
        return review.state


# Submitting ------------------------------------------------------------------------------------


def test_submitting_notifies_approvers_by_email_and_in_the_queue(
    app: Flask, drafted: tuple[FlaskClient, str, int]
) -> None:
    client, token, incident_id = drafted
    page = text(client.get(f"/incidents/{incident_id}/notice/submit"))
    assert "0 errors 0 warnings" in page
    assert "No errors and no warnings." in page
    response = submit(client, token, incident_id)
    assert response.status_code == 302
    review_id = review_id_of(response)
    follow = text(client.get(response.headers["Location"]))
    assert "is with legal for review. We told 3 approvers" in follow

    with app.app_context():
        sent = db.session.scalars(sa.select(DevOutboxMessage).order_by(DevOutboxMessage.id)).all()
        # Every active approver who wrote none of it: lee, liz, and max (a lawyer-author who
        # has not touched this incident). Never the author.
        assert sorted(m.to_email for m in sent) == [
            "lee@example.com",
            "liz@example.com",
            "max@example.com",
        ]
        assert sent[0].subject == "Please review: Supplier leak (notice version 1)"
        assert f"/incidents/{incident_id}/reviews/{review_id}" in sent[0].text

    lee, _ = client_for(app, "approver")
    queue = text(lee.get("/reviews"))
    assert "Waiting for you 1" in queue
    assert "Supplier leak" in queue
    assert 'aria-label="1 waiting for you"' in lee.get("/incidents/").get_data(as_text=True)
    # The author sees it waiting for someone else, with why not them.
    assert "Only approvers (legal) can approve a notice." in text(client.get("/reviews"))


def test_lint_errors_block_submission(app: Flask, drafted: tuple[FlaskClient, str, int]) -> None:
    client, token, incident_id = drafted
    _, _, subject, body = latest(client, incident_id)
    # A count that contradicts the facts is an error.
    save_text(
        client,
        token,
        incident_id,
        subject=subject,
        body=body + "\nOnly 3 customers were affected.\n",
    )
    page = text(client.get(f"/incidents/{incident_id}/notice/submit"))
    assert "Fix these errors before legal can review this version" in page
    assert ">Submit version 2 for review</button>" not in client.get(
        f"/incidents/{incident_id}/notice/submit"
    ).get_data(as_text=True)
    response = submit(client, token, incident_id)
    assert response.status_code == 422
    assert "The checker found 1 error in this version" in text(response)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Review)) == 0


def test_each_warning_needs_a_reason_and_typed_reasons_are_kept(
    app: Flask, drafted: tuple[FlaskClient, str, int]
) -> None:
    client, token, incident_id = drafted
    _, _, subject, body = latest(client, incident_id)
    save_text(
        client,
        token,
        incident_id,
        subject=subject,
        body=body + "\nWe take your privacy very seriously.\n",
    )
    page = _submit_page(client, incident_id)
    keys = re.findall(r'name="reason-([^"]+)"', page)
    assert len(keys) == 1, keys
    response = submit(client, token, incident_id, **{keys[0]: "x"})
    assert response.status_code == 422
    body_text = text(response)
    assert "1 warning needs a reason before this version can go to legal." in body_text
    assert "Say in a few words why this warning can stay." in body_text
    assert ">x</textarea>" in response.get_data(as_text=True)  # what was typed is kept

    reason = f"Our board insists {HOSTILE}"
    response = submit(client, token, incident_id, **{keys[0]: reason})
    assert response.status_code == 302
    review_page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Warnings the author kept, and why" in review_page
    assert str(escape(reason)) in review_page
    assert HOSTILE not in review_page


def test_a_version_saved_while_on_the_submit_page_is_not_submitted(
    app: Flask, drafted: tuple[FlaskClient, str, int]
) -> None:
    client, token, incident_id = drafted
    _, sha, subject, body = latest(client, incident_id)
    save_text(client, token, incident_id, subject=subject, body=body + "\nMore.\n")
    response = client.post(
        f"/incidents/{incident_id}/notice/submit", data={"sha256": sha, "csrf_token": token}
    )
    assert response.status_code == 409
    assert "Version 2 was saved while you were on this page" in text(response)


# The approval view -----------------------------------------------------------------------------


def test_the_approval_view_shows_what_will_be_sent_to_whom_and_what_changed(
    app: Flask, drafted: tuple[FlaskClient, str, int]
) -> None:
    client, token, incident_id = drafted
    first = review_id_of(submit(client, token, incident_id))
    lee, lee_token = client_for(app, "approver")
    lee.post(
        f"/incidents/{incident_id}/reviews/{first}/request-changes",
        data={"note": "Say when you will write again.", "csrf_token": lee_token},
    )
    _, _, subject, body = latest(client, incident_id)
    save_text(
        client,
        token,
        incident_id,
        subject=subject,
        body=body + "\nWe will write to you again by 15 December.\n",
    )
    second = review_id_of(submit(client, token, incident_id))

    response = lee.get(f"/incidents/{incident_id}/reviews/{second}")
    assert response.status_code == 200
    page = text(response)
    assert "Version 2 of the customer notice" in page
    assert "In review 0 of 1 approval" in page
    assert f"Subject {subject}" in page
    assert "From Example Ltd <security@example.com>" in page
    assert "Every recipient" in page
    assert "Since version 1, the last one legal saw: 2 added." in page
    assert "We will write to you again by 15 December." in page  # in the diff and the text
    raw = response.get_data(as_text=True)
    assert f"/incidents/{incident_id}/notice/versions/2/email.html" in raw  # email (HTML)
    assert "Plain-text part" in page
    assert f"/incidents/{incident_id}/notice/versions/2/letter-page-1.png" in raw  # letter
    assert "0 errors 0 warnings" in page  # the checker's report
    assert "The incident's facts" in page
    assert "Supplier" in page
    assert re.search(r"Version 1 ?: Changes requested", page)  # the review rounds
    assert "Version 2 sent for legal review, needing 1 approval" in page  # the audit trail
    assert "Ana (they cannot approve it)" in page


def test_views_are_audited_once_per_person(
    app: Flask, drafted: tuple[FlaskClient, str, int]
) -> None:
    client, token, incident_id = drafted
    review_id = review_id_of(submit(client, token, incident_id))
    lee, _ = client_for(app, "approver")
    for _ in range(3):
        assert lee.get(f"/incidents/{incident_id}/reviews/{review_id}").status_code == 200
    with app.app_context():
        viewed = db.session.scalars(
            sa.select(AuditEvent.actor).where(AuditEvent.action == "review.viewed")
        ).all()
    assert viewed.count("lee@example.com") == 1


# Approving -------------------------------------------------------------------------------------


def test_approval_needs_the_approvers_password(
    app: Flask, drafted: tuple[FlaskClient, str, int]
) -> None:
    client, token, incident_id = drafted
    review_id = review_id_of(submit(client, token, incident_id))
    lee, lee_token = client_for(app, "approver")
    response = approve(lee, lee_token, incident_id, review_id, password="wrong password")
    assert response.status_code == 422
    assert "That password is not right, so nothing was approved" in text(response)
    assert decisions(app) == []

    response = approve(lee, lee_token, incident_id, review_id)
    assert response.status_code == 302
    page = text(lee.get(response.headers["Location"]))
    assert "You approved version 1. It is ready to send." in page
    assert "Approved 1 of 1 approval" in page
    assert "Ready to send." in page
    assert review_state(app, review_id) == ReviewState.APPROVED.value


def test_an_editor_cannot_approve_through_a_crafted_post(
    app: Flask, drafted: tuple[FlaskClient, str, int]
) -> None:
    client, token, incident_id = drafted
    # max, a lawyer who also writes, edits the text; ana submits it.
    max_client, max_token = client_for(app, "max@example.com")
    _, _, subject, body = latest(client, incident_id)
    save_text(
        max_client, max_token, incident_id, subject=subject, body=body + "\nA lawyer's line.\n"
    )
    review_id = review_id_of(submit(client, token, incident_id))
    page = text(max_client.get(f"/incidents/{incident_id}/reviews/{review_id}"))
    assert "You saved version 2 of this notice, so someone else must approve it" in page
    assert "Approve version 2" not in page

    with app.app_context():
        bundle = db.session.get(Review, review_id).bundle_sha256  # type: ignore[union-attr]
    response = approve(max_client, max_token, incident_id, review_id, bundle=bundle)
    assert response.status_code == 403
    assert "You saved version 2 of this notice" in text(response)
    assert decisions(app) == []
    # The author, even given the approver role, cannot approve their own text either.
    with app.app_context():
        from composer.models import User

        ana = db.session.get(User, 1)
        assert ana is not None
        assert ana.email == "ana@example.com"
        ana.set_roles({Role.AUTHOR, Role.APPROVER})
        db.session.commit()
    response = approve(client, token, incident_id, review_id, bundle=bundle)
    assert response.status_code == 403
    assert decisions(app) == []


def test_an_approval_from_a_stale_page_is_refused(
    app: Flask, drafted: tuple[FlaskClient, str, int]
) -> None:
    client, token, incident_id = drafted
    review_id = review_id_of(submit(client, token, incident_id))
    lee, lee_token = client_for(app, "approver")
    response = approve(lee, lee_token, incident_id, review_id, bundle="0" * 64)
    assert response.status_code == 422
    assert "showed a different bundle" in text(response)
    assert decisions(app) == []


def test_a_settings_change_after_submission_blocks_approval_and_says_what(
    app: Flask, drafted: tuple[FlaskClient, str, int]
) -> None:
    client, token, incident_id = drafted
    review_id = review_id_of(submit(client, token, incident_id))
    lee, lee_token = client_for(app, "approver")
    bundle = bundle_of(lee.get(f"/incidents/{incident_id}/reviews/{review_id}").get_data(True))
    app.config["MAIL_SENDER"] = "Security Team <alerts@example.net>"
    page = text(lee.get(f"/incidents/{incident_id}/reviews/{review_id}"))
    assert "What would be sent has changed since this version was submitted" in page
    assert "The sender (From address): approved 'Example Ltd <security@example.com>'" in page
    response = approve(lee, lee_token, incident_id, review_id, bundle=bundle)
    assert response.status_code == 409
    assert decisions(app) == []


def test_two_approvals_when_the_admin_asks_for_two(
    app: Flask, drafted: tuple[FlaskClient, str, int]
) -> None:
    client, token, incident_id = drafted
    admin, admin_token = client_for(app, "admin")
    response = admin.post(
        f"/incidents/{incident_id}/required-approvals",
        data={"required": "2", "csrf_token": admin_token},
    )
    assert response.status_code == 302
    review_id = review_id_of(submit(client, token, incident_id))
    # Lowering while in review is refused, with the reason.
    response = admin.post(
        f"/incidents/{incident_id}/required-approvals",
        data={"required": "1", "csrf_token": admin_token},
        follow_redirects=True,
    )
    assert "cannot be lowered while a review is open" in text(response)
    lee, lee_token = client_for(app, "approver")
    response = approve(lee, lee_token, incident_id, review_id)
    assert "1 more approval is needed" in text(lee.get(response.headers["Location"]))
    assert review_state(app, review_id) == ReviewState.IN_REVIEW.value
    liz, liz_token = client_for(app, "liz@example.com")
    approve(liz, liz_token, incident_id, review_id)
    assert review_state(app, review_id) == ReviewState.APPROVED.value


# Comments and requests for changes ------------------------------------------------------------


def test_comments_anchor_to_a_pasted_passage_and_are_escaped(
    app: Flask, drafted: tuple[FlaskClient, str, int]
) -> None:
    client, token, incident_id = drafted
    review_id = review_id_of(submit(client, token, incident_id))
    _, _, subject, body = latest(client, incident_id)
    passage = body.split("\n")[0][:20].strip()
    lee, lee_token = client_for(app, "approver")
    url = f"/incidents/{incident_id}/reviews/{review_id}"
    response = lee.post(
        url + "/comments",
        data={"quote": passage, "text": f"Clearer? {HOSTILE}", "csrf_token": lee_token},
    )
    assert response.status_code == 302
    page = lee.get(url).get_data(as_text=True)
    assert '<mark class="review-mark" data-n="1"' in page
    assert HOSTILE not in page
    assert str(escape(f"Clearer? {HOSTILE}")) in page

    # Exact offsets (what the page's script sends) for the subject line.
    response = lee.post(
        url + "/comments",
        data={
            "part": "subject",
            "start": "0",
            "end": "5",
            "quote": subject[:5],
            "text": "Subject ok?",
            "csrf_token": lee_token,
        },
    )
    assert response.status_code == 302
    with app.app_context():
        review = db.session.get(Review, review_id)
        assert review is not None
        assert [(c.part, c.quote) for c in review.comments] == [
            ("body", passage),
            ("subject", subject[:5]),
        ]

    # A passage that is not in the text: refused, and the comment typed is kept.
    response = lee.post(
        url + "/comments",
        data={"quote": "words we never wrote", "text": "Keep me", "csrf_token": lee_token},
    )
    assert response.status_code == 422
    assert "is not in version 1's text" in text(response)
    assert ">Keep me</textarea>" in response.get_data(as_text=True)


def test_request_changes_then_revise_then_approve(
    app: Flask, drafted: tuple[FlaskClient, str, int]
) -> None:
    client, token, incident_id = drafted
    first = review_id_of(submit(client, token, incident_id))
    lee, lee_token = client_for(app, "approver")
    url = f"/incidents/{incident_id}/reviews/{first}"
    response = lee.post(url + "/request-changes", data={"note": "", "csrf_token": lee_token})
    assert response.status_code == 422
    assert "Say what needs to change" in text(response)
    lee.post(url + "/comments", data={"text": "Name the supplier.", "csrf_token": lee_token})
    response = lee.post(url + "/request-changes", data={"note": "", "csrf_token": lee_token})
    assert response.status_code == 302
    assert review_state(app, first) == ReviewState.CHANGES_REQUESTED.value
    with app.app_context():
        notified = db.session.scalars(
            sa.select(DevOutboxMessage).where(DevOutboxMessage.to_email == "ana@example.com")
        ).all()
        assert [m.subject for m in notified] == [
            "Changes requested: Supplier leak (notice version 1)"
        ]

    # The author sees the comments in the editor, revises, and submits again.
    editor = text(client.get(f"/incidents/{incident_id}/notice"))
    assert "Legal's comments on version 1 (1)" in editor
    assert "Name the supplier." in editor
    _, _, subject, body = latest(client, incident_id)
    save_text(
        client, token, incident_id, subject=subject, body=body + "\nOur supplier is Mailer Ltd.\n"
    )
    second = review_id_of(submit(client, token, incident_id))
    approve(lee, lee_token, incident_id, second)
    assert review_state(app, second) == ReviewState.APPROVED.value


def test_an_edit_after_approval_voids_it(
    app: Flask, drafted: tuple[FlaskClient, str, int], runner: Any
) -> None:
    client, token, incident_id = drafted
    review_id = review_id_of(submit(client, token, incident_id))
    lee, lee_token = client_for(app, "approver")
    approve(lee, lee_token, incident_id, review_id)
    result = runner.invoke(args=["approval", "check", str(incident_id)])
    assert result.exit_code == 0, result.output
    assert "Ready to send: version 1 matches the approved bundle" in result.output

    _, _, subject, body = latest(client, incident_id)
    save_text(client, token, incident_id, subject=subject, body=body + "\nLate edit.\n")
    assert review_state(app, review_id) == ReviewState.VOIDED.value
    editor = text(client.get(f"/incidents/{incident_id}/notice"))
    assert "Legal review: Voided version 1" in editor
    assert "Submit version 2 for review" in editor
    page = text(lee.get(f"/incidents/{incident_id}/reviews/{review_id}"))
    assert "Version 2 was saved by Ana, so the approval of version 1 no longer applies" in page
    result = runner.invoke(args=["approval", "check", str(incident_id)])
    assert result.exit_code == 1
    assert "the approval no longer applies" in result.output


def test_the_release_check_refuses_a_changed_sender_and_says_so(
    app: Flask, drafted: tuple[FlaskClient, str, int], runner: Any
) -> None:
    client, token, incident_id = drafted
    review_id = review_id_of(submit(client, token, incident_id))
    lee, lee_token = client_for(app, "approver")
    approve(lee, lee_token, incident_id, review_id)
    app.config["MAIL_SENDER"] = "Someone <x@example.net>"
    result = runner.invoke(args=["approval", "check", str(incident_id)])
    assert result.exit_code == 1
    assert "Not sent: what would be sent is not what legal approved" in result.output
    assert "the sender (From address)" in result.output
    page = text(lee.get(f"/incidents/{incident_id}/reviews/{review_id}"))
    assert "Sending is blocked until legal approves again." in page


def test_withdraw_returns_the_notice_to_the_authors(
    app: Flask, drafted: tuple[FlaskClient, str, int]
) -> None:
    client, token, incident_id = drafted
    review_id = review_id_of(submit(client, token, incident_id))
    response = client.post(
        f"/incidents/{incident_id}/reviews/{review_id}/withdraw", data={"csrf_token": token}
    )
    assert response.status_code == 302
    assert review_state(app, review_id) == ReviewState.WITHDRAWN.value
    lee, _ = client_for(app, "approver")
    assert "Waiting for you 0" in text(lee.get("/reviews"))


def test_unknown_reviews_and_reviews_of_other_incidents_are_404(
    app: Flask, drafted: tuple[FlaskClient, str, int]
) -> None:
    client, token, incident_id = drafted
    review_id = review_id_of(submit(client, token, incident_id))
    other = new_incident(client, token, "Another incident")
    assert client.get(f"/incidents/{incident_id}/reviews/999").status_code == 404
    assert client.get(f"/incidents/{other}/reviews/{review_id}").status_code == 404
    lee, lee_token = client_for(app, "approver")
    response = approve(lee, lee_token, other, review_id, bundle="0" * 64)
    assert response.status_code == 404
    assert decisions(app) == []

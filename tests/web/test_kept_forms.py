"""Nothing typed is lost when the session has ended: every form with typed text is kept until
its writer signs in again, then shown back, not saved (composer/web/kept_forms.py)."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from composer import create_app
from composer.extensions import db
from composer.models import (
    KeptForm,
    NoticeVersion,
    Review,
    ReviewComment,
    ReviewState,
    Role,
    utcnow,
)
from composer.settings import kept_form_hours
from composer.web.kept_forms import SIGNER_COOKIE
from tests.conftest import PASSWORD, base_config, csrf_token, make_user, sign_in
from tests.web.test_reviews import drafted, people, review_id_of, submit  # noqa: F401
from tests.web.test_wizard import new_incident

#: A browser posting a form from a page of this site says so.
SAME_SITE = {"Origin": "http://localhost"}
TYPED = "On 3 May a criminal copied <your> email address & “name” from our supplier."


def page_text(response: Any) -> str:
    return html.unescape(response.get_data(as_text=True))


def expire(client: FlaskClient, *, forget_who: bool = False) -> None:
    """The session cookie is gone, as when it expires in the browser; ``forget_who`` also drops
    the note of who signed in last (a changed secret key makes both unreadable)."""
    client.delete_cookie("session")
    if forget_who:
        client.delete_cookie(SIGNER_COOKIE)


def sign_in_again(client: FlaskClient, who: str, next_page: str) -> Any:
    """Sign in through the form the sign-in page shows, ``next`` included."""
    token = csrf_token(client, "/login?next=" + next_page)
    return client.post(
        "/login",
        data={
            "email": f"{who}@example.com",
            "password": PASSWORD,
            "csrf_token": token,
            "next": next_page,
        },
    )


def kept_rows(app: Flask) -> list[KeptForm]:
    with app.app_context():
        return list(db.session.scalars(sa.select(KeptForm)))


def version_count(app: Flask) -> int:
    with app.app_context():
        return int(db.session.scalar(sa.select(sa.func.count()).select_from(NoticeVersion)) or 0)


@pytest.fixture
def author(app: Flask, users: dict[str, int]) -> tuple[FlaskClient, str, int]:
    client = app.test_client()
    token = sign_in(client, "author")
    return client, token, new_incident(client, token, "Mailing supplier leak")


def post_notice(client: FlaskClient, token: str, incident_id: int, body: str = TYPED) -> Any:
    return client.post(
        f"/incidents/{incident_id}/notice",
        data={"subject": "What happened", "body": body, "parent": "", "csrf_token": token},
        headers=SAME_SITE,
    )


def test_the_editor_text_survives_an_expired_session_once(
    app: Flask, author: tuple[FlaskClient, str, int]
) -> None:
    client, token, incident_id = author
    editor = f"/incidents/{incident_id}/notice"
    expire(client)
    response = post_notice(client, token, incident_id)
    assert response.status_code == 302
    assert response.headers["Location"] == f"/login?next=/incidents/{incident_id}/notice"
    assert version_count(app) == 0
    login = client.get(response.headers["Location"])
    assert "Sign in again to finish saving: what you typed is kept." in page_text(login)
    # Kept server-side without the stale token, and bound to ana from the start.
    (row,) = kept_rows(app)
    assert "csrf_token" not in row.fields
    assert row.user_id is not None

    response = sign_in_again(client, "ana", editor)
    assert response.headers["Location"] == editor
    page = page_text(client.get(editor))
    assert TYPED in page
    assert 'value="What happened"' in page
    assert "It is NOT saved yet" in page
    assert version_count(app) == 0
    assert kept_rows(app) == []
    # One use: a reload shows the saved state (nothing), not the kept text again.
    assert TYPED not in page_text(client.get(editor))

    token = csrf_token(client, editor)
    assert post_notice(client, token, incident_id).status_code == 302
    assert version_count(app) == 1


def test_save_pressed_twice_keeps_the_newest_text_once(
    app: Flask, author: tuple[FlaskClient, str, int]
) -> None:
    client, token, incident_id = author
    editor = f"/incidents/{incident_id}/notice"
    expire(client)
    post_notice(client, token, incident_id, body="First try")
    post_notice(client, token, incident_id, body="Second try")
    assert len(kept_rows(app)) == 1
    sign_in_again(client, "ana", editor)
    page = page_text(client.get(editor))
    assert "Second try" in page
    assert "First try" not in page
    assert "NOT saved yet" not in page_text(client.get(editor))


def test_a_checklist_step_survives_being_signed_out_elsewhere(
    app: Flask, author: tuple[FlaskClient, str, int]
) -> None:
    client, token, incident_id = author
    # Signed out everywhere from another browser: this session is readable but no longer valid,
    # so the form passes its CSRF check and meets the sign-in wall instead.
    other = app.test_client()
    other.post("/logout", data={"csrf_token": sign_in(other, "author")})
    step = f"/incidents/{incident_id}/steps/account"
    response = client.post(
        step,
        data={"q.description": TYPED, "q.actor": "supplier", "action": "next", "csrf_token": token},
        headers=SAME_SITE,
    )
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")
    sign_in_again(client, "ana", step)
    page = page_text(client.get(step))
    assert TYPED in page
    assert "It is NOT saved yet" in page
    with app.app_context():
        assert db.session.scalar(sa.text("select count(*) from answer")) == 0


def test_the_incident_title_survives(app: Flask, users: dict[str, int]) -> None:
    client = app.test_client()
    token = sign_in(client, "author")
    expire(client)
    client.post(
        "/incidents/", data={"title": "Leak at the printer", "csrf_token": token}, headers=SAME_SITE
    )
    sign_in_again(client, "ana", "/incidents/")
    assert 'value="Leak at the printer"' in page_text(client.get("/incidents/"))


def test_reasons_are_put_back_in_their_boxes(
    app: Flask,
    drafted: tuple[FlaskClient, str, int],  # noqa: F811
) -> None:
    client, token, incident_id = drafted
    editor = f"/incidents/{incident_id}/notice"
    body = re.search(r"<textarea[^>]*>\n?(.*?)</textarea>", page_text(client.get(editor)), re.S)
    assert body
    client.post(
        editor,
        data={
            "subject": "About your account",
            "body": body.group(1) + "\nWe take your privacy very seriously.\n",
            "csrf_token": token,
        },
    )
    submit_page = f"/incidents/{incident_id}/notice/submit"
    key = re.findall(r'name="reason-([^"]+)"', client.get(submit_page).get_data(as_text=True))[0]
    expire(client)
    client.post(
        submit_page,
        data={"sha256": "x", f"reason-{key}": "Our board insists", "csrf_token": token},
        headers=SAME_SITE,
    )
    sign_in_again(client, "ana", submit_page)
    page = page_text(client.get(submit_page))
    assert ">Our board insists</textarea>" in page
    assert "It is NOT saved yet" in page
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Review)) == 0


def test_a_comment_and_a_request_for_changes_survive(
    app: Flask,
    drafted: tuple[FlaskClient, str, int],  # noqa: F811
) -> None:
    client, token, incident_id = drafted
    review_id = review_id_of(submit(client, token, incident_id))
    review = f"/incidents/{incident_id}/reviews/{review_id}"
    lee = app.test_client()
    lee_token = sign_in(lee, "approver")
    expire(lee)
    lee.post(
        review + "/comments",
        data={"quote": "", "text": "Say when it happened.", "csrf_token": lee_token},
        headers=SAME_SITE,
    )
    lee.post(
        review + "/request-changes",
        data={"note": "Please name the supplier.", "csrf_token": lee_token},
        headers=SAME_SITE,
    )
    sign_in_again(lee, "lee", review)
    first = page_text(lee.get(review))
    second = page_text(lee.get(review))
    # One form back per visit, each once.
    assert ">Say when it happened.</textarea>" in first + second
    assert ">Please name the supplier.</textarea>" in first + second
    assert "Say when it happened." not in page_text(lee.get(review))
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ReviewComment)) == 0
    assert review_state_is_open(app, review_id)


def review_state_is_open(app: Flask, review_id: int) -> bool:
    with app.app_context():
        review = db.session.get(Review, review_id)
        return review is not None and review.state == ReviewState.IN_REVIEW.value


def test_the_approval_note_survives_but_never_the_password(
    app: Flask,
    drafted: tuple[FlaskClient, str, int],  # noqa: F811
) -> None:
    client, token, incident_id = drafted
    review = f"/incidents/{incident_id}/reviews/{review_id_of(submit(client, token, incident_id))}"
    lee = app.test_client()
    lee_token = sign_in(lee, "approver")
    expire(lee)
    lee.post(
        review + "/approve",
        data={
            "password": PASSWORD,
            "note": "Fine by legal",
            "bundle_sha256": "x",
            "csrf_token": lee_token,
        },
        headers=SAME_SITE,
    )
    (row,) = kept_rows(app)
    assert PASSWORD not in row.fields
    sign_in_again(lee, "lee", review)
    assert ">Fine by legal</textarea>" in page_text(lee.get(review))


def test_another_person_signing_in_sees_nothing(
    app: Flask, author: tuple[FlaskClient, str, int]
) -> None:
    client, token, incident_id = author
    make_user(app, "max@example.com", Role.AUTHOR)
    editor = f"/incidents/{incident_id}/notice"
    expire(client)
    post_notice(client, token, incident_id)
    sign_in_again(client, "max", editor)
    page = page_text(client.get(editor))
    assert TYPED not in page
    assert "NOT saved yet" not in page
    # Dropped unseen, so the writer signing in later does not get it either.
    assert kept_rows(app) == []
    client.post("/logout", data={"csrf_token": csrf_token(client, editor)})
    sign_in_again(client, "ana", editor)
    assert TYPED not in page_text(client.get(editor))


def test_without_any_note_of_who_it_goes_to_the_next_to_sign_in_here(
    app: Flask, author: tuple[FlaskClient, str, int]
) -> None:
    client, token, incident_id = author
    editor = f"/incidents/{incident_id}/notice"
    expire(client, forget_who=True)  # as after the server's secret key changed
    post_notice(client, token, incident_id)
    (row,) = kept_rows(app)
    assert row.user_id is None
    # Another browser signing in as ana has no key, so gets nothing.
    elsewhere = app.test_client()
    sign_in(elsewhere, "author")
    assert TYPED not in page_text(elsewhere.get(editor))
    sign_in_again(client, "ana", editor)
    assert TYPED in page_text(client.get(editor))


def test_the_text_survives_a_new_secret_key(
    app: Flask, author: tuple[FlaskClient, str, int]
) -> None:
    client, token, incident_id = author
    editor = f"/incidents/{incident_id}/notice"
    # Every cookie the browser holds was signed with the old key: none can be read now.
    app.secret_key = app.config["SECRET_KEY"] = "a-new-secret-key-after-a-reset"
    response = post_notice(client, token, incident_id)
    assert response.headers["Location"].startswith("/login?next=")
    sign_in_again(client, "ana", editor)
    assert TYPED in page_text(client.get(editor))
    assert version_count(app) == 0


def test_a_user_without_the_role_gets_nothing_back_and_nothing_saved(
    app: Flask, author: tuple[FlaskClient, str, int]
) -> None:
    _, _, incident_id = author
    lee = app.test_client()
    token = sign_in(lee, "approver")
    editor = f"/incidents/{incident_id}/notice"
    expire(lee)
    post_notice(lee, token, incident_id)
    sign_in_again(lee, "lee", editor)
    assert kept_rows(app) == []
    page = page_text(lee.get(editor))
    assert TYPED not in page
    assert version_count(app) == 0


def test_an_expired_kept_form_is_not_given_back(
    app: Flask, author: tuple[FlaskClient, str, int]
) -> None:
    client, token, incident_id = author
    editor = f"/incidents/{incident_id}/notice"
    expire(client)
    post_notice(client, token, incident_id)
    with app.app_context():
        db.session.execute(sa.update(KeptForm).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    sign_in_again(client, "ana", editor)
    assert TYPED not in page_text(client.get(editor))
    assert kept_rows(app) == []


def test_a_stale_token_while_signed_in_keeps_the_comment(
    app: Flask,
    drafted: tuple[FlaskClient, str, int],  # noqa: F811
) -> None:
    client, token, incident_id = drafted
    review = f"/incidents/{incident_id}/reviews/{review_id_of(submit(client, token, incident_id))}"
    response = client.post(
        review + "/comments",
        data={"quote": "", "text": "Typed in an old tab.", "csrf_token": "stale"},
        headers=SAME_SITE,
    )
    assert response.headers["Location"] == review
    page = page_text(client.get(review))
    assert ">Typed in an old tab.</textarea>" in page
    assert "It is NOT saved yet" in page


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {**SAME_SITE, "Sec-Fetch-Site": "cross-site"},
    ],
)
def test_a_post_from_another_site_is_not_kept(
    app: Flask, author: tuple[FlaskClient, str, int], headers: dict[str, str]
) -> None:
    client, token, incident_id = author
    expire(client)
    response = client.post(
        f"/incidents/{incident_id}/notice",
        data={"subject": "Planted", "body": "Planted text", "csrf_token": token},
        headers=headers,
    )
    assert response.status_code == 400
    assert kept_rows(app) == []


def test_huge_and_junk_posts_are_handled_calmly(
    app: Flask, author: tuple[FlaskClient, str, int]
) -> None:
    client, token, incident_id = author
    editor = f"/incidents/{incident_id}/notice"
    junk = "<>&\"'`;{}[]!?*#%\\" * 2_941 + "\x00\x01\ud800"  # 50,000 punctuation, then junk
    expire(client)
    response = client.post(
        editor,
        data={
            "subject": "\x00junk",
            "body": junk.encode("utf-8", "surrogatepass") + b"\xff\xfe",
            "csrf_token": token,
        },
        headers=SAME_SITE,
    )
    assert response.status_code == 302
    sign_in_again(client, "ana", editor)
    response = client.get(editor)
    assert response.status_code == 200
    assert "It is NOT saved yet" in page_text(response)
    # Too large to keep: said plainly, nothing kept, nothing saved.
    expire(client)
    response = client.post(
        editor, data={"body": "x" * 1_200_000, "csrf_token": token}, headers=SAME_SITE
    )
    assert response.status_code == 400
    assert "too large to keep" in page_text(response)
    assert kept_rows(app) == []
    assert version_count(app) == 0


@pytest.mark.parametrize("value", [0, -1, "four", "", float("nan"), float("inf"), 24 * 365, True])
def test_a_wrong_keeping_time_stops_start_up(tmp_path: Path, value: object) -> None:
    config = base_config(tmp_path, f"sqlite:///{tmp_path}/kept.db")
    with pytest.raises(ValueError, match="KEPT_FORM_HOURS must be a number of hours above 0"):
        create_app({**config, "KEPT_FORM_HOURS": value})


def test_the_keeping_time_is_taken_from_the_environment_s_text(tmp_path: Path) -> None:
    config = base_config(tmp_path, f"sqlite:///{tmp_path}/kept.db")
    app = create_app({**config, "KEPT_FORM_HOURS": "0.5"})
    assert kept_form_hours(app.config) == 0.5
    assert kept_form_hours({}) == 4

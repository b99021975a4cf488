"""Who can reach what: every route for anonymous, author, approver and admin."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from composer import approval
from composer.extensions import db
from composer.models import Incident, Review, Role, User
from composer.notices import versions
from tests.conftest import PASSWORD, csrf_token, make_user, sign_in

WHO = ["anonymous", "author", "approver", "admin"]


@pytest.fixture
def incident_id(app: Flask, users: dict[str, int]) -> int:
    """An incident whose notice has a version 1, submitted by the author for review 1."""
    client = app.test_client()
    token = sign_in(client, "author")
    client.post("/incidents/", data={"title": "Leak", "csrf_token": token})
    with app.app_context():
        incident = db.session.scalar(sa.select(Incident))
        assert incident is not None
        author = db.session.get(User, users["author"])
        assert author is not None
        version = versions.save_version(
            db.session(), incident, subject="Your email address", body="Dear customer.\n", by=author
        ).version
        assert version is not None
        settings = approval.BundleSettings(
            company=app.config["COMPANY_NAME"], sender=app.config["MAIL_SENDER"]
        )
        approval.submit(
            db.session(),
            incident,
            version,
            by=author,
            summary={"errors": 0, "warnings": 0, "suggestions": 0},
            warnings=[],
            reasons={},
            bundle=approval.build_bundle(version, 1, version.sha256, settings),
        )
        db.session.commit()
        return incident.id


def placeholders(app: Flask, users: dict[str, int], incident_id: int) -> dict[str, object]:
    with app.app_context():
        review = db.session.scalar(sa.select(Review))
        assert review is not None
        return {
            "id": incident_id,
            "author": users["author"],
            "sha": review.version.sha256,
            "bundle": review.bundle_sha256,
        }


def as_user(app: Flask, who: str) -> tuple[FlaskClient, str]:
    client = app.test_client()
    if who == "anonymous":
        return client, csrf_token(client)
    return client, sign_in(client, who)


# (method, url template, expected status per role in WHO order)
ROUTES = [
    ("GET", "/incidents/", [302, 200, 200, 200]),
    ("POST", "/incidents/", [302, 302, 403, 403]),
    ("GET", "/incidents/{id}", [302, 302, 302, 302]),
    ("GET", "/incidents/{id}/steps/timing", [302, 200, 200, 200]),
    ("POST", "/incidents/{id}/steps/timing", [302, 302, 403, 403]),
    ("GET", "/incidents/{id}/summary", [302, 200, 200, 200]),
    ("POST", "/incidents/{id}/finish", [302, 422, 403, 403]),
    ("GET", "/incidents/{id}/facts.json", [302, 200, 200, 200]),
    ("GET", "/incidents/{id}/notice", [302, 200, 200, 200]),
    ("POST", "/incidents/{id}/notice", [302, 302, 403, 403]),
    ("POST", "/incidents/{id}/notice/draft", [302, 302, 403, 403]),
    ("GET", "/incidents/{id}/notice/versions", [302, 200, 200, 200]),
    ("GET", "/incidents/{id}/notice/versions/1", [302, 200, 200, 200]),
    ("GET", "/incidents/{id}/notice/diff?a=1&b=1", [302, 200, 200, 200]),
    ("GET", "/incidents/{id}/notice/versions/1/previews", [302, 200, 200, 200]),
    ("GET", "/incidents/{id}/notice/versions/1/email.html", [302, 200, 200, 200]),
    ("GET", "/incidents/{id}/notice/versions/1/page.html", [302, 200, 200, 200]),
    ("GET", "/incidents/{id}/notice/versions/1/letter.pdf", [302, 200, 200, 200]),
    ("GET", "/incidents/{id}/notice/versions/1/letter-page-1.png", [302, 200, 200, 200]),
    ("GET", "/admin/users", [302, 403, 403, 200]),
    ("POST", "/admin/users", [302, 403, 403, 302]),
    ("POST", "/admin/users/{author}/roles", [302, 403, 403, 302]),
    ("POST", "/admin/users/{author}/active", [302, 403, 403, 302]),
    # Legal review. Submitting the version already in review is refused (422); approving works
    # for the approver, who wrote none of it; admins hold no author or approver role here.
    ("GET", "/reviews", [302, 200, 200, 200]),
    ("GET", "/incidents/{id}/notice/submit", [302, 200, 403, 403]),
    ("POST", "/incidents/{id}/notice/submit", [302, 422, 403, 403]),
    ("GET", "/incidents/{id}/review", [302, 302, 302, 302]),
    ("GET", "/incidents/{id}/reviews/1", [302, 200, 200, 200]),
    ("POST", "/incidents/{id}/reviews/1/comments", [302, 302, 302, 403]),
    ("POST", "/incidents/{id}/reviews/1/approve", [302, 403, 302, 403]),
    ("POST", "/incidents/{id}/reviews/1/request-changes", [302, 403, 302, 403]),
    ("POST", "/incidents/{id}/reviews/1/withdraw", [302, 302, 403, 403]),
    ("POST", "/incidents/{id}/required-approvals", [302, 403, 403, 302]),
    # The audit trail is for everyone signed in; the evidence pack for legal and admins.
    ("GET", "/incidents/{id}/audit", [302, 200, 200, 200]),
    ("GET", "/incidents/{id}/audit.csv", [302, 403, 200, 200]),
    ("GET", "/incidents/{id}/audit.json", [302, 403, 200, 200]),
    # The dev outbox holds staff mail: admins only (message 1 does not exist: 404).
    ("GET", "/outbox", [302, 403, 403, 200]),
    ("GET", "/outbox/1", [302, 403, 403, 404]),
    ("GET", "/outbox/1/body.html", [302, 403, 403, 404]),
    # Recipients: authors and admins upload (no file here: 400); the list's pages need one (404).
    ("GET", "/incidents/{id}/recipients", [302, 200, 200, 200]),
    ("POST", "/incidents/{id}/recipients", [302, 400, 403, 400]),
    ("GET", "/incidents/{id}/recipients/1", [302, 404, 404, 404]),
    ("GET", "/incidents/{id}/recipients/1/errors.csv", [302, 404, 404, 404]),
    # Sending: admins send; a test send is for authors and admins (here refused with a message,
    # as the notice is not approved); a run that does not exist is 404.
    ("GET", "/incidents/{id}/send", [302, 200, 200, 200]),
    ("POST", "/incidents/{id}/send/test", [302, 302, 403, 302]),
    ("POST", "/incidents/{id}/send", [302, 403, 403, 302]),
    ("GET", "/incidents/{id}/send/runs/1", [302, 404, 404, 404]),
    ("GET", "/incidents/{id}/send/runs/1.json", [302, 404, 404, 404]),
    ("POST", "/incidents/{id}/send/runs/1/pause", [302, 403, 403, 404]),
    # Sending to the people a send did not reach, and settling its in-doubt ones: admins.
    ("POST", "/incidents/{id}/send/runs/1/unreached", [302, 403, 403, 404]),
    ("POST", "/incidents/{id}/send/runs/1/in-doubt/resend", [302, 403, 403, 404]),
    ("POST", "/incidents/{id}/send/runs/1/in-doubt/delivered", [302, 403, 403, 404]),
    # Postal letters: everyone signed in sees a run's letters page (counts only); admins
    # prepare, retry and download (names and addresses). No run or batch exists here: 404.
    ("GET", "/incidents/{id}/send/runs/1/letters", [302, 404, 404, 404]),
    ("POST", "/incidents/{id}/send/runs/1/letters", [302, 403, 403, 404]),
    ("POST", "/incidents/{id}/letters/1/retry", [302, 403, 403, 404]),
    ("GET", "/incidents/{id}/letters/1/letters.pdf", [302, 403, 403, 404]),
    ("GET", "/incidents/{id}/letters/1/manifest.csv", [302, 403, 403, 404]),
    # The regimes that apply, rule by rule: everyone signed in reads; legal and admins switch a
    # rule off or correct it.
    ("GET", "/incidents/{id}/regimes", [302, 200, 200, 200]),
    ("POST", "/incidents/{id}/regimes", [302, 403, 302, 302]),
    # SendGrid's webhook: no session, signed instead; with no key configured it is off.
    ("POST", "/webhooks/sendgrid", [503, 503, 503, 503]),
    ("GET", "/", [302, 302, 302, 302]),
    ("GET", "/login", [200, 302, 302, 302]),
    ("POST", "/logout", [302, 302, 302, 302]),
]
#: Routes whose access is not a redirect to the sign-in page for anonymous users.
PUBLIC = {"/login", "/", "/webhooks/sendgrid"}
FORMS = {
    "/incidents/": {"title": "Another"},
    "/admin/users": {"email": "new@example.com", "roles": "author"},
    "/admin/users/{author}/roles": {"roles": ["author", "approver"]},
    "/admin/users/{author}/active": {"active": "1"},
    "/incidents/{id}/steps/timing": {"q.discovered": "2026-11-05", "action": "next"},
    "/incidents/{id}/notice": {"subject": "Your email address", "body": "Dear customer,\n"},
    "/incidents/{id}/notice/submit": {"sha256": "{sha}"},
    "/incidents/{id}/reviews/1/comments": {"text": "Say who did it.", "part": "general"},
    "/incidents/{id}/reviews/1/approve": {"password": PASSWORD, "bundle_sha256": "{bundle}"},
    "/incidents/{id}/reviews/1/request-changes": {"note": "Name the supplier."},
    "/incidents/{id}/required-approvals": {"required": "2"},
    "/incidents/{id}/regimes": {
        "key": "gdpr/clocks/supervisory-authority",
        "action": "off",
        "reason": "The regulator was told already",
    },
}


@pytest.mark.parametrize(("method", "url", "expected"), ROUTES)
@pytest.mark.parametrize("who", WHO)
def test_route_access_matrix(
    app: Flask,
    users: dict[str, int],
    incident_id: int,
    method: str,
    url: str,
    expected: list[int],
    who: str,
) -> None:
    client, token = as_user(app, who)
    values = placeholders(app, users, incident_id)
    path = url.format(**values)
    if method == "GET":
        response = client.get(path)
    else:
        form = {
            k: [x.format(**values) for x in v] if isinstance(v, list) else v.format(**values)
            for k, v in FORMS.get(url, {}).items()
        }
        response = client.post(path, data={**form, "csrf_token": token})
    assert response.status_code == expected[WHO.index(who)], response.get_data(as_text=True)[:500]
    if who == "anonymous" and url not in PUBLIC and url != "/logout":
        assert response.headers["Location"].startswith("/login")


def test_every_route_is_in_the_matrix(app: Flask) -> None:
    """A new route cannot ship without saying who may use it."""
    adapter = app.url_map.bind("localhost")
    covered = set()
    for method, url, _ in ROUTES:
        path = url.format(id=1, author=1).split("?")[0]
        endpoint, _ = adapter.match(path, method=method)
        covered.add((endpoint, method))
    # /api/lint has its own JSON access tests (tests/web/test_notice_editor.py), and signing in
    # its own (tests/web/test_auth.py).
    exempt = {("static", "GET"), ("api.lint", "POST"), ("auth.login", "POST")}
    every = {
        (rule.endpoint, method)
        for rule in app.url_map.iter_rules()
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    assert every - exempt - covered == set()


def test_approver_sees_the_checklist_read_only(
    app: Flask, users: dict[str, int], incident_id: int
) -> None:
    client, _ = as_user(app, "approver")
    page = client.get(f"/incidents/{incident_id}/steps/timing").get_data(as_text=True)
    assert "Only authors can change it" in page
    assert '<fieldset class="questions" disabled>' in page
    assert "Save and continue" not in page


def test_a_user_with_several_roles_gets_each_roles_access(
    app: Flask, users: dict[str, int]
) -> None:
    make_user(app, "both@example.com", Role.AUTHOR, Role.ADMIN)
    client = app.test_client()
    sign_in(client, "both@example.com")
    assert client.get("/admin/users").status_code == 200
    page = client.get("/incidents/").get_data(as_text=True)
    assert "Record a new incident" in page


def test_admin_creates_a_user_and_sees_the_password_once(app: Flask, users: dict[str, int]) -> None:
    client, token = as_user(app, "admin")
    response = client.post(
        "/admin/users",
        data={
            "email": "New.Person@Example.com",
            "display_name": "New",
            "roles": ["approver"],
            "csrf_token": token,
        },
        follow_redirects=True,
    )
    page = response.get_data(as_text=True)
    assert "Account created for new.person@example.com" in page
    assert "Give them this password once" not in client.get("/admin/users").get_data(as_text=True)
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.email == "new.person@example.com"))
        assert user is not None
        assert user.roles == {Role.APPROVER}


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"email": "not-an-email", "roles": ["author"]}, "is not an email address"),
        ({"email": "x@example.com"}, "at least one role"),
        ({"email": "ana@example.com", "roles": ["author"]}, "already an account"),
    ],
)
def test_admin_gets_clear_errors_when_adding_a_user(
    app: Flask, users: dict[str, int], form: dict[str, object], message: str
) -> None:
    client, token = as_user(app, "admin")
    response = client.post("/admin/users", data={**form, "csrf_token": token})
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)


def test_admin_cannot_lock_themselves_out(app: Flask, users: dict[str, int]) -> None:
    client, token = as_user(app, "admin")
    me = users["admin"]
    response = client.post(
        f"/admin/users/{me}/roles", data={"roles": ["author"], "csrf_token": token}
    )
    assert response.status_code == 422
    assert "cannot remove your own admin role" in response.get_data(as_text=True)
    response = client.post(f"/admin/users/{me}/active", data={"active": "0", "csrf_token": token})
    assert response.status_code == 422


def test_deactivating_a_user_signs_them_out_at_once(app: Flask, users: dict[str, int]) -> None:
    author, _ = as_user(app, "author")
    admin, token = as_user(app, "admin")
    assert author.get("/incidents/").status_code == 200
    admin.post(f"/admin/users/{users['author']}/active", data={"active": "0", "csrf_token": token})
    assert author.get("/incidents/").status_code == 302

"""Notice versions over HTTP: immutable and numbered, hashed, drafted from the facts, compared,
checked at save time, previewed (email, PDF, page image, web page, SMS), and who may do what."""

from __future__ import annotations

import hashlib
import html
import re
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.exc import DBAPIError

from composer import incidents
from composer.extensions import db
from composer.models import AuditEvent, Incident, NoticeVersion
from composer.notices import previews, versions
from composer.notices.drafting import HEADINGS
from composer.rendering.merge_fields import SAMPLE_RECIPIENT
from tests.conftest import sign_in, user_by_email
from tests.web.test_wizard import fill_all, new_incident, post_step

SUBJECT = "We lost control of your email address"
BODY = (
    "Dear {{ first_name }},\n\n"
    "On 3 May a criminal copied the email addresses of 20,000 customers from our supplier.\n\n"
    "## What you can do\n\n"
    "Watch for emails that ask for your password.\n"
)
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture
def author(client: FlaskClient, users: dict[str, int]) -> str:
    return sign_in(client, "author")


@pytest.fixture
def incident_id(client: FlaskClient, author: str) -> int:
    return new_incident(client, author, "Mailing supplier leak")


@pytest.fixture(autouse=True)
def empty_render_cache() -> Iterator[None]:
    previews.CACHE.clear()
    yield
    previews.CACHE.clear()


def save(
    client: FlaskClient,
    token: str,
    incident_id: int,
    *,
    subject: str = SUBJECT,
    body: str = BODY,
    **extra: str,
) -> Any:
    return client.post(
        f"/incidents/{incident_id}/notice",
        data={"subject": subject, "body": body, "csrf_token": token, **extra},
    )


def all_versions(app: Flask) -> list[NoticeVersion]:
    with app.app_context():
        return list(db.session.scalars(sa.select(NoticeVersion).order_by(NoticeVersion.id)))


def version_events(app: Flask) -> list[AuditEvent]:
    with app.app_context():
        return list(
            db.session.scalars(
                sa.select(AuditEvent).where(AuditEvent.action == "notice.version_created")
            )
        )


def pdf_text(pdf: bytes) -> str:
    return subprocess.run(
        ["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True
    ).stdout.decode()


# Versions: numbered, immutable, hashed -----------------------------------------------------


def test_each_changed_save_is_a_new_numbered_version(
    client: FlaskClient, author: str, incident_id: int, app: Flask
) -> None:
    assert save(client, author, incident_id).status_code == 302
    second = BODY.replace("20,000", "21,500")
    assert save(client, author, incident_id, body=second, parent="1").status_code == 302
    third_subject = "We lost control of your email address and name"
    response = save(client, author, incident_id, subject=third_subject, body=second, parent="2")
    assert response.status_code == 302
    assert "Saved as version 3." in client.get(response.headers["Location"]).get_data(as_text=True)

    found = all_versions(app)
    assert [v.number for v in found] == [1, 2, 3]
    assert [v.source for v in found] == ["edit", "edit", "edit"]
    assert [v.parent_id for v in found] == [None, found[0].id, found[1].id]
    assert found[0].body == BODY
    assert found[1].body == second
    assert found[2].subject == third_subject
    # Earlier versions keep their text: nothing was overwritten.
    assert len({v.sha256 for v in found}) == 3

    # A second incident counts from 1 again.
    other = new_incident(client, author, "Another")
    save(client, author, other)
    with app.app_context():
        numbers = db.session.scalars(
            sa.select(NoticeVersion.number).where(NoticeVersion.incident_id == other)
        ).all()
    assert numbers == [1]


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE notice_version SET body = 'Something else.' WHERE number = 1",
        "UPDATE notice_version SET sha256 = '0' WHERE number = 1",
        "DELETE FROM notice_version",
    ],
)
def test_the_database_refuses_to_change_or_delete_a_version(
    client: FlaskClient, author: str, incident_id: int, app: Flask, statement: str
) -> None:
    save(client, author, incident_id)
    with app.app_context():
        with pytest.raises(DBAPIError, match="cannot be changed or deleted"):
            db.session.execute(sa.text(statement))
        db.session.rollback()
        if db.engine.dialect.name == "postgresql":
            with pytest.raises(DBAPIError, match="cannot be changed or deleted"):
                db.session.execute(sa.text("TRUNCATE notice_version CASCADE"))
            db.session.rollback()
    [version] = all_versions(app)
    assert version.body == BODY


def test_the_hash_is_sha256_of_the_canonical_text(
    client: FlaskClient, author: str, incident_id: int, app: Flask
) -> None:
    # Posted with CRLF line breaks (as browsers send them) and spaces around the subject.
    save(client, author, incident_id, subject=f"  {SUBJECT} ", body=BODY.replace("\n", "\r\n"))
    [version] = all_versions(app)
    canonical = f"{SUBJECT}\n\n{BODY}".encode()
    assert version.sha256 == hashlib.sha256(canonical).hexdigest()
    assert version.subject == SUBJECT
    assert version.body == BODY
    assert versions.content_sha256(SUBJECT, BODY) == version.sha256
    assert versions.content_sha256(SUBJECT, BODY.replace("\n", "\r\n")) == version.sha256
    # A known answer, so the canonical form cannot drift unnoticed.
    assert versions.canonical_text("S", "B\n") == "S\n\nB\n"
    assert (
        versions.content_sha256("S", "B\n")
        == "5da8833584d0112fb2cd138fcb52810f2347ccbdc8533ea9965454d08f11c2c7"
    )
    # The editor and the history show the first 12 characters.
    page = client.get(f"/incidents/{incident_id}/notice").get_data(as_text=True)
    assert f'<code title="{version.sha256}">{version.sha256[:12]}</code>' in page


def test_saving_unchanged_text_creates_nothing(
    client: FlaskClient, author: str, incident_id: int, app: Flask
) -> None:
    save(client, author, incident_id)
    response = save(client, author, incident_id, body=BODY.replace("\n", "\r\n"), parent="1")
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "No changes to save: the text is the same as version 1." in page
    assert len(all_versions(app)) == 1
    assert len(version_events(app)) == 1


def test_a_newer_version_saved_meanwhile_is_not_overwritten_silently(
    client: FlaskClient, author: str, incident_id: int, app: Flask
) -> None:
    save(client, author, incident_id)
    save(client, author, incident_id, body=BODY + "\nA second writer's line.\n", parent="1")
    mine = BODY.replace("20,000", "19,000")
    # Opened when version 1 was the newest; version 2 has been saved since.
    response = save(client, author, incident_id, body=mine, parent="1", seen_latest="1")
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert "Ana saved version 2" in page
    assert "19,000" in page  # the text is kept
    assert f'href="/incidents/{incident_id}/notice/diff?a=1&amp;b=2"' in page
    assert 'name="seen_latest" value="2"' in page
    assert len(all_versions(app)) == 2
    # Pressing Save again (the page now says version 2 was seen) saves it as version 3.
    response = save(client, author, incident_id, body=mine, parent="1", seen_latest="2")
    assert response.status_code == 302
    assert [v.body for v in all_versions(app)][-1] == mine


def test_two_saves_at_the_same_moment_are_a_conflict_not_an_error(
    client: FlaskClient,
    author: str,
    incident_id: int,
    app: Flask,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    save(client, author, incident_id)
    save(client, author, incident_id, body=BODY + "\nSecond.\n", parent="1")
    newest = versions.latest_version
    calls: list[int] = []

    def not_yet_committed(session: Any, incident: Incident) -> NoticeVersion | None:
        # As if version 2 were being committed by another request while this one read.
        calls.append(1)
        if len(calls) == 1:
            return versions.get_version(session, incident, 1)
        return newest(session, incident)

    monkeypatch.setattr(versions, "latest_version", not_yet_committed)
    response = save(client, author, incident_id, body=BODY + "\nThird.\n", parent="1")
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert "Ana saved version 2" in page
    assert "Third." in page
    assert len(all_versions(app)) == 2


def test_an_old_version_opens_in_the_editor_and_saving_it_makes_a_new_version(
    client: FlaskClient, author: str, incident_id: int, app: Flask
) -> None:
    save(client, author, incident_id)
    save(client, author, incident_id, body=BODY.replace("20,000", "21,500"), parent="1")
    page = client.get(f"/incidents/{incident_id}/notice/versions/1").get_data(as_text=True)
    assert "You are looking at version 1, not the newest." in page
    assert "20,000" in page
    assert 'name="parent" value="1"' in page
    save(client, author, incident_id, parent="1", seen_latest="2")
    found = all_versions(app)
    assert [v.number for v in found] == [1, 2, 3]
    assert found[2].body == BODY
    assert found[2].parent_id == found[0].id
    assert client.get(f"/incidents/{incident_id}/notice/versions/9").status_code == 404


# Checks at save time -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "message"),
    [
        ("Your data\r\nBcc: everyone@example.com", "line feed (LF)"),
        ("Your data\rBcc: everyone@example.com", "line feed (LF)"),
        ("Your data%0aBcc: everyone@example.com", "'%0a', an encoded line break"),
        ("Your data%0D%0ABcc: everyone@example.com", "'%0D%0A', an encoded line break"),
        ("Your data&NewLine;Bcc: everyone@example.com", "'&NewLine;', an encoded line break"),
        ("Your data&#x2028;Bcc: everyone@example.com", "'&#x2028;', an encoded line break"),
        ("Your data\u2029Bcc: everyone@example.com", "U+2029"),
        ("Your data&#10;Bcc: everyone@example.com", "'&#10;', an encoded line break"),
        ("Your data\\nBcc: everyone@example.com", "an encoded line break"),
        ("Tab\there", "a tab"),
        ("   ", "The subject line is empty"),
        ("x" * 151, "151 characters long"),
    ],
)
def test_a_bad_subject_is_refused_next_to_the_field_and_the_text_kept(
    client: FlaskClient, author: str, incident_id: int, app: Flask, subject: str, message: str
) -> None:
    response = save(client, author, incident_id, subject=subject, body=BODY + "Kept words.\n")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    field_error = re.search(r'<p class="field-error" id="notice-subject-error">(.*?)</p>', page)
    assert field_error, page
    assert message in html.unescape(field_error.group(1))
    assert 'aria-invalid="true"' in page
    assert "Kept words." in page
    assert 'href="#notice-subject"' in page
    assert all_versions(app) == []


def test_an_unknown_merge_field_is_refused_naming_it(
    client: FlaskClient, author: str, incident_id: int, app: Flask
) -> None:
    body = "Dear {{ first_name }},\n\nYour nickname {{ nickname }} was copied.\n"
    response = save(client, author, incident_id, body=body)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    error = re.search(r'<p class="field-error" id="notice-body-error">(.*?)</p>', page)
    assert error
    assert "Line 3: unknown merge field {{ nickname }}" in error.group(1)
    for allowed in ("{{ first_name }}", "{{ last_name }}", "{{ reference }}"):
        assert allowed in error.group(1)
    assert "Your nickname {{ nickname }} was copied." in page  # kept
    # In the subject too, and code in a field is refused as well.
    response = save(client, author, incident_id, subject="Hello {{ user.name }}")
    assert response.status_code == 422
    assert "Attributes and items (&#39;.&#39; or" in response.get_data(as_text=True)
    assert all_versions(app) == []


def test_a_merge_field_in_a_link_address_is_refused(
    client: FlaskClient, author: str, incident_id: int, app: Flask
) -> None:
    body = "Dear {{ first_name }},\n\n[Your case](https://example.com/case?r={{ reference }})\n"
    response = save(client, author, incident_id, body=body)
    assert response.status_code == 422
    page = html.unescape(response.get_data(as_text=True))
    assert "{{ reference }} is in a link's address" in page
    assert all_versions(app) == []


def test_control_characters_in_the_text_are_refused(
    client: FlaskClient, author: str, incident_id: int, app: Flask
) -> None:
    response = save(client, author, incident_id, body="Dear customer,\n\nHello\x00 there.\n")
    assert response.status_code == 422
    assert "Line 3 holds the invisible control character U+0000" in response.get_data(as_text=True)
    assert all_versions(app) == []


def test_the_subject_line_is_linted_too(client: FlaskClient, author: str, incident_id: int) -> None:
    save(client, author, incident_id, subject="Your data may have been compromised")
    page = client.get(f"/incidents/{incident_id}/notice").get_data(as_text=True)
    checks = re.search(r'<div class="subject-checks".*?</div>', page, re.S)
    assert checks
    assert "Checks on the subject line:" in checks.group(0)
    assert '<q class="finding__words">may have been compromised</q>' in checks.group(0)
    assert "chip--hedge" in checks.group(0)


# Drafting from the facts -------------------------------------------------------------------


def test_draft_from_complete_facts_is_version_1_and_lints_clean(
    client: FlaskClient, author: str, incident_id: int, app: Flask
) -> None:
    fill_all(client, author, incident_id)
    client.post(f"/incidents/{incident_id}/finish", data={"csrf_token": author})
    response = client.post(f"/incidents/{incident_id}/notice/draft", data={"csrf_token": author})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/incidents/{incident_id}/notice")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Drafted from the facts and saved as version 1." in page
    assert "The checklist is not finished" not in page
    assert "drafted from the facts" in page

    [version] = all_versions(app)
    assert version.source == "draft-from-facts"
    assert version.parent_id is None
    assert "Example Ltd" in version.body
    for heading in HEADINGS:
        assert f"## {heading}" in version.body
    assert version.sha256 == versions.content_sha256(version.subject, version.body)
    [event] = version_events(app)
    assert event.after is not None
    assert event.after["source"] == "draft-from-facts"

    from composer.lint.engine import Linter

    with app.test_request_context():
        incident = db.session.get(Incident, incident_id)
        assert incident is not None
        facts = incidents.facts_document(
            app.extensions["composer.catalogue"], incident, today=version.created_at.date()
        )
    result = Linter.load().lint(version.body, facts=facts)
    noisy = [f for f in result.findings if f.severity in ("error", "warning")]
    # The next update was ticked "Not yet known": its slot is the one error, until filled in.
    assert [(f.rule, f.text) for f in noisy] == [("placeholder.slot", "[DATE]")], noisy

    # Drafting again from the same facts gives the same text: nothing new.
    client.post(f"/incidents/{incident_id}/notice/draft", data={"csrf_token": author})
    page = client.get(f"/incidents/{incident_id}/notice").get_data(as_text=True)
    assert "is the same as version 1, so nothing new was saved" in page
    assert len(all_versions(app)) == 1


def test_draft_from_an_unfinished_checklist_says_what_is_missing(
    client: FlaskClient, author: str, incident_id: int, app: Flask
) -> None:
    post_step(
        client,
        author,
        incident_id,
        "data-categories",
        {"q.data_categories": ["name", "email"]},
    )
    response = client.post(
        f"/incidents/{incident_id}/notice/draft",
        data={"csrf_token": author},
        follow_redirects=True,
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Drafted from the facts and saved as version 1." in page
    assert "The checklist is not finished:" in page
    assert "[WORDS IN SQUARE BRACKETS]" in page
    [version] = all_versions(app)
    assert re.search(r"\[[A-Z][A-Z ,.:'-]*\]", version.body), version.body
    assert "your email address" in version.body


def test_draft_again_after_edits_is_a_new_version_and_keeps_the_edits(
    client: FlaskClient, author: str, incident_id: int, app: Flask
) -> None:
    save(client, author, incident_id)
    page = client.get(f"/incidents/{incident_id}/notice").get_data(as_text=True)
    assert "Draft again from facts" in page
    client.post(f"/incidents/{incident_id}/notice/draft", data={"csrf_token": author})
    found = all_versions(app)
    assert [(v.number, v.source) for v in found] == [(1, "edit"), (2, "draft-from-facts")]
    assert found[0].body == BODY


# History and differences -------------------------------------------------------------------


def test_history_lists_versions_with_author_time_source_and_hash(
    client: FlaskClient, author: str, incident_id: int, app: Flask
) -> None:
    client.post(f"/incidents/{incident_id}/notice/draft", data={"csrf_token": author})
    save(client, author, incident_id, parent="1")
    page = client.get(f"/incidents/{incident_id}/notice/versions").get_data(as_text=True)
    found = all_versions(app)
    assert page.index("Version 2</a>") < page.index("Version 1</a>")  # newest first
    assert "Drafted from the facts" in page
    assert "Edited from version 1" in page
    assert page.count('<td data-label="By">Ana</td>') == 2
    for version in found:
        assert f">{version.sha256[:12]}</code>" in page
    assert re.search(r'<td data-label="Saved">\d{1,2} \w{3} \d{4}, \d\d:\d\d (GMT|BST)</td>', page)
    assert f'href="/incidents/{incident_id}/notice/diff?a=1&amp;b=2"' in page
    assert f'href="/incidents/{incident_id}/notice/versions/2/previews"' in page


def test_the_diff_shows_the_changes_and_escapes_hostile_text(
    client: FlaskClient, author: str, incident_id: int
) -> None:
    first = BODY + f"\nAn attacker wrote {HOSTILE} here.\n"
    save(client, author, incident_id, body=first)
    second = first.replace("Watch for emails", "Look out for emails").replace(
        HOSTILE, HOSTILE + "<b>bold</b>"
    )
    save(
        client,
        author,
        incident_id,
        subject=SUBJECT + " and name",
        body=second + "\nA new closing line.\n",
        parent="1",
    )
    response = client.get(f"/incidents/{incident_id}/notice/diff?a=1&b=2")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "<script>" not in page
    assert "<img src=x" not in page
    assert "<b>bold</b>" not in page
    assert "&lt;script&gt;" in page
    assert "&lt;b&gt;bold&lt;/b&gt;" in page
    # The changed words, marked inside their line.
    assert re.search(r'<del class="diff__del">.*?Watch.*?</del>', page)
    assert re.search(r'<ins class="diff__ins">.*?Look out.*?</ins>', page)
    # The subject change and a whole new line.
    assert re.search(r'<ins class="diff__ins">.*? and name.*?</ins>', page)
    assert '<ins class="diff__ins">A new closing line.</ins>' in page
    assert "What changed: the subject line" in page

    # Defaults, the same version twice, bad and unknown numbers.
    assert "Changes from version 1 to version 2" in client.get(
        f"/incidents/{incident_id}/notice/diff"
    ).get_data(as_text=True)
    same = client.get(f"/incidents/{incident_id}/notice/diff?a=2&b=2").get_data(as_text=True)
    assert "exactly the same text" in same
    assert client.get(f"/incidents/{incident_id}/notice/diff?a=x&b=2").status_code == 400
    assert client.get(f"/incidents/{incident_id}/notice/diff?a=1&b=7").status_code == 404


def test_the_editor_links_to_history_diff_and_previews(
    client: FlaskClient, author: str, incident_id: int
) -> None:
    save(client, author, incident_id)
    save(client, author, incident_id, body=BODY + "\nMore.\n", parent="1")
    page = client.get(f"/incidents/{incident_id}/notice").get_data(as_text=True)
    assert "Version 2" in page
    assert f'href="/incidents/{incident_id}/notice/versions"' in page
    assert f'href="/incidents/{incident_id}/notice/diff?a=1&amp;b=2"' in page
    assert f'href="/incidents/{incident_id}/notice/versions/2/previews"' in page


# Previews ----------------------------------------------------------------------------------


def test_previews_page_shows_email_letter_page_and_sms(
    client: FlaskClient, author: str, incident_id: int
) -> None:
    fill_all(client, author, incident_id)
    save(client, author, incident_id, body=BODY + f"\nHostile: {HOSTILE}\n")
    base = f"/incidents/{incident_id}/notice/versions/1"
    response = client.get(f"{base}/previews")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert (
        f'<iframe class="preview-frame preview-frame--email" sandbox src="{base}/email.html"'
        in page
    )
    assert f'sandbox src="{base}/page.html"' in page
    assert f'<img src="{base}/letter-page-1.png"' in page
    assert f'href="{base}/letter.pdf" download' in page
    assert f"Alex Sample &lt;{SAMPLE_RECIPIENT.email}&gt;" in page
    assert "Dear Alex," in page  # the plain-text part, merged for the sample recipient
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    sms = re.search(r'<p class="sms__bubble" data-sms>(.*?)</p>', page, re.S)
    count = re.search(r"data-sms-count>(\d+) of 160 characters", page)
    assert sms
    assert count
    assert 0 < int(count.group(1)) <= 160
    assert int(count.group(1)) == len(html.unescape(sms.group(1)))
    # The app's own strict policy still holds on the previews page.
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


def test_the_email_frame_is_sandboxed_by_its_csp(
    client: FlaskClient, author: str, incident_id: int
) -> None:
    save(client, author, incident_id, body=BODY + f"\n{HOSTILE}\n")
    for part in ("email.html", "page.html"):
        response = client.get(f"/incidents/{incident_id}/notice/versions/1/{part}")
        assert response.status_code == 200
        assert response.mimetype == "text/html"
        csp = response.headers["Content-Security-Policy"]
        directives = [d.strip() for d in csp.split(";")]
        assert directives[0] == "sandbox"
        assert "default-src 'none'" in directives
        assert "frame-ancestors 'self'" in directives
        assert not any(d.startswith("script-src") for d in directives)
        assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
        html = response.get_data(as_text=True)
        assert "<script>" not in html
        assert "&lt;script&gt;" in html
    email = client.get(f"/incidents/{incident_id}/notice/versions/1/email.html")
    assert "Dear Alex," in email.get_data(as_text=True)
    page = client.get(f"/incidents/{incident_id}/notice/versions/1/page.html")
    assert "Dear customer," in page.get_data(as_text=True)


def test_pdf_download_and_page_image(
    client: FlaskClient, author: str, incident_id: int, app: Flask
) -> None:
    fill_all(client, author, incident_id)
    client.post(f"/incidents/{incident_id}/notice/draft", data={"csrf_token": author})
    base = f"/incidents/{incident_id}/notice/versions/1"
    response = client.get(f"{base}/letter.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF-")
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert f"incident-{incident_id}-notice-v1" in disposition
    text = pdf_text(response.data)
    for heading in HEADINGS:
        assert heading in text
    assert "Dear Alex," in text
    assert SAMPLE_RECIPIENT.reference in text
    assert "Example Ltd" in text
    assert "0800 123 4567" in text  # the incident's contact phone, in the letterhead

    image = client.get(f"{base}/letter-page-1.png")
    assert image.status_code == 200
    assert image.mimetype == "image/png"
    assert image.data.startswith(b"\x89PNG\r\n\x1a\n")
    width = int.from_bytes(image.data[16:20], "big")
    height = int.from_bytes(image.data[20:24], "big")
    assert (width, height) == (794, 1123)  # A4 at 96 dpi

    # Rendered once: the image, the page and the PDF again all come from the cache.
    misses = previews.CACHE.misses
    client.get(f"{base}/previews")
    client.get(f"{base}/letter.pdf")
    client.get(f"{base}/letter-page-1.png")
    assert previews.CACHE.misses == misses
    assert previews.CACHE.hits >= 3


def _insert_raw_version(app: Flask, incident_id: int, subject: str, body: str) -> None:
    """A version as migration 0003 makes them from old drafts: never checked by the editor."""
    with app.app_context():
        db.session.add(
            NoticeVersion(
                incident_id=incident_id,
                number=1,
                subject=subject,
                body=body,
                sha256=versions.content_sha256(subject, body),
                created_by=user_by_email("ana@example.com"),
                source="edit",
            )
        )
        db.session.commit()


@pytest.mark.parametrize(
    ("subject", "body", "message"),
    [
        ("", BODY, "The subject line is empty"),
        (SUBJECT, "Hello {{ pin }}.\n", "unknown merge field {{ pin }}"),
    ],
)
def test_a_version_that_cannot_be_rendered_is_explained_not_a_500(
    client: FlaskClient,
    author: str,
    incident_id: int,
    app: Flask,
    subject: str,
    body: str,
    message: str,
) -> None:
    _insert_raw_version(app, incident_id, subject, body)
    base = f"/incidents/{incident_id}/notice/versions/1"
    response = client.get(f"{base}/previews")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "This version cannot be rendered" in page
    assert message in page
    assert "<iframe" not in page
    for part in ("email.html", "page.html", "letter.pdf", "letter-page-1.png"):
        failed = client.get(f"{base}/{part}")
        assert failed.status_code == 422, part
        assert message in failed.get_data(as_text=True)


def test_a_refused_resource_and_a_time_out_are_explained(
    client: FlaskClient, author: str, incident_id: int, app: Flask
) -> None:
    save(client, author, incident_id)
    base = f"/incidents/{incident_id}/notice/versions/1"
    app.config["LETTER_LOGO"] = "file:///etc/passwd"
    page = client.get(f"{base}/previews").get_data(as_text=True)
    assert "This could not be rendered." in page
    assert "Refused to load file:///etc/passwd" in page
    assert "Dear Alex," in page  # the email still shows
    assert client.get(f"{base}/letter.pdf").status_code == 422

    app.config["LETTER_LOGO"] = "notices/logo.svg"
    app.config["RENDER_TIMEOUT_SECONDS"] = 0.001
    page = client.get(f"{base}/previews").get_data(as_text=True)
    assert "took longer than 0.001 seconds and was stopped" in page
    app.config["RENDER_TIMEOUT_SECONDS"] = 20
    assert client.get(f"{base}/letter.pdf").status_code == 200  # errors are not cached


# Roles -------------------------------------------------------------------------------------


def test_an_approver_reads_everything_but_saves_nothing(
    client: FlaskClient, author: str, incident_id: int, app: Flask
) -> None:
    save(client, author, incident_id)
    save(client, author, incident_id, body=BODY + "\nMore.\n", parent="1")
    client.post("/logout", data={"csrf_token": author})
    token = sign_in(client, "approver")
    base = f"/incidents/{incident_id}/notice"
    for url in (
        base,
        f"{base}/versions",
        f"{base}/versions/1",
        f"{base}/diff?a=1&b=2",
        f"{base}/versions/2/previews",
        f"{base}/versions/2/email.html",
        f"{base}/versions/2/letter-page-1.png",
        f"{base}/versions/2/letter.pdf",
    ):
        assert client.get(url).status_code == 200, url
    editor = client.get(base).get_data(as_text=True)
    assert "Only authors can change it." in editor
    assert "Draft again from facts" not in editor
    assert save(client, token, incident_id, body="Approver's text.\n").status_code == 403
    draft = client.post(f"{base}/draft", data={"csrf_token": token})
    assert draft.status_code == 403
    assert len(all_versions(app)) == 2

"""Recipient lists over HTTP: upload (with its own size limit and CSRF check), the result page,
the error report download, who may do what, masking, and the audit trail."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from composer.extensions import db
from composer.models import AuditEvent, Recipient, RecipientList
from composer.recipients import row_process
from tests.conftest import csrf_token, sign_in
from tests.paths import REPO_ROOT
from tests.web.test_wizard import new_incident

GOOD = (
    "email,first_name,last_name,reference,country,data_categories\n"
    "alexandra@example.com,Alexandra,Smith,CUST-000123,GB,name;email\n"
    "ben.okafor@example.org,Ben,Okafor,CUST-000124,US,email\n"
    "ALEXANDRA@example.com,Alex,S,,,postal-address\n"
    "not-an-email,=cmd|' /C calc'!A0,Bad,,,\n"
)


@pytest.fixture
def author(client: FlaskClient, users: dict[str, int]) -> str:
    return sign_in(client, "author")


@pytest.fixture
def incident_id(client: FlaskClient, author: str) -> int:
    return new_incident(client, author, "Mailing supplier leak")


def upload(
    client: FlaskClient,
    incident_id: int,
    data: bytes | str,
    *,
    token: str | None,
    filename: str = "customers.csv",
) -> object:
    form: dict[str, object] = {
        "file": FileStorage(
            io.BytesIO(data.encode() if isinstance(data, str) else data), filename=filename
        )
    }
    if token is not None:
        form["csrf_token"] = token
    # Encoded here, in memory: the test client spools a large body to a temporary file that
    # it never closes (a ResourceWarning, an error in this suite).
    boundary, body = encode_multipart(form)
    return client.post(
        f"/incidents/{incident_id}/recipients",
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
    )


def lists(app: Flask) -> list[RecipientList]:
    with app.app_context():
        return list(db.session.scalars(sa.select(RecipientList).order_by(RecipientList.id)))


def events(app: Flask, action: str) -> list[AuditEvent]:
    with app.app_context():
        return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action)))


def test_author_uploads_and_sees_counts_with_every_detail_masked(
    app: Flask, client: FlaskClient, author: str, incident_id: int
) -> None:
    response = upload(client, incident_id, GOOD, token=author)
    assert response.status_code == 303  # type: ignore[attr-defined]
    (saved,) = lists(app)
    location = response.headers["Location"]  # type: ignore[attr-defined]
    assert location.endswith(f"/incidents/{incident_id}/recipients/{saved.id}")
    assert (saved.rows, saved.imported, saved.merged, saved.rejected) == (4, 2, 1, 1)

    for url in (location, f"/incidents/{incident_id}/recipients"):
        page = client.get(url).get_data(as_text=True)
        assert "a•••••••a@e••••••.com" in page
        assert "A•••••••• S••••" in page
        for secret in ("alexandra@example.com", "Alexandra", "Smith", "Okafor", "CUST-000123"):
            assert secret not in page, secret
        assert "not-an-email" not in page
    page = client.get(location).get_data(as_text=True)
    assert re.search(r"<dt>Rejected</dt><dd>1</dd>", page)
    assert f"/incidents/{incident_id}/recipients/{saved.id}/errors.csv" in page
    assert saved.digest in page


def test_every_upload_is_audited_with_counts_never_personal_data(
    app: Flask, client: FlaskClient, author: str, incident_id: int
) -> None:
    upload(client, incident_id, GOOD, token=author)
    (saved,) = lists(app)
    (event,) = events(app, "recipients.imported")
    assert (event.subject_type, event.subject_id) == ("incident", str(incident_id))
    assert event.after == {
        "list_id": saved.id,
        "size_bytes": len(GOOD.encode()),
        "rows": 4,
        "imported": 2,
        "merged": 1,
        "rejected": 1,
        "digest": saved.digest,
    }
    assert "@" not in json.dumps(event.after)


def test_the_error_report_downloads_escaped_and_the_download_is_audited(
    app: Flask, client: FlaskClient, author: str, incident_id: int
) -> None:
    upload(client, incident_id, GOOD, token=author)
    (saved,) = lists(app)
    response = client.get(f"/incidents/{incident_id}/recipients/{saved.id}/errors.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["row", "column", "problem", "value"]
    assert rows[1][:2] == ["5", "email"]
    assert rows[1][3] == "not-an-email"
    assert all(cell[:1] not in "=+-@" for row in rows for cell in row if cell)
    assert len(events(app, "recipients.errors_downloaded")) == 1


def test_a_formula_name_is_escaped_in_the_error_report(
    app: Flask, client: FlaskClient, author: str, incident_id: int
) -> None:
    upload(client, incident_id, 'email,first_name\nann@example.com,"=1+1\x07"\n', token=author)
    (saved,) = lists(app)
    text = client.get(f"/incidents/{incident_id}/recipients/{saved.id}/errors.csv").get_data(
        as_text=True
    )
    assert list(csv.reader(io.StringIO(text)))[1][3] == "'=1+1\x07"


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        (b"", 400, "The file is empty (0 bytes)"),
        (b"email\n", 400, "header line but no rows"),
        ("email,first_name\nren\u00e9@example.com,Ren\u00e9\n".encode("latin-1"), 400, "not UTF-8"),
        (b"name,town\nAnn,Bath\n", 400, "no \u201cemail\u201d column"),
        (
            b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00\x13\x00\x00\x00"
            b"[Content_Types].xml\n<Types/>xl/workbook.xml",
            400,
            "This is an Excel workbook (.xlsx), not a CSV file",
        ),
        (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", 400, "This is a PDF document"),
    ],
)
def test_a_refused_file_says_why_and_keeps_nothing(
    app: Flask,
    client: FlaskClient,
    author: str,
    incident_id: int,
    data: bytes,
    status: int,
    message: str,
) -> None:
    response = upload(client, incident_id, data, token=author)
    assert response.status_code == status  # type: ignore[attr-defined]
    page = response.get_data(as_text=True)  # type: ignore[attr-defined]
    assert "The file was not imported" in page
    assert message in page
    assert lists(app) == []
    (event,) = events(app, "recipients.refused")
    assert message in event.after["reason"]


def test_no_file_chosen(client: FlaskClient, author: str, incident_id: int) -> None:
    response = client.post(
        f"/incidents/{incident_id}/recipients",
        data={"csrf_token": author},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert "Choose a CSV file" in response.get_data(as_text=True)


def big_file(size: int) -> bytes:
    line = b"person.with.a.long.name@example.com,Person\n"
    return b"email,first_name\n" + line * (size // len(line) + 1)


@pytest.mark.parametrize("size", [1_300_000, 2_600_000])
def test_a_file_over_the_limit_gets_a_413_page_with_the_limit(
    app: Flask, client: FlaskClient, author: str, incident_id: int, size: int
) -> None:
    # 1.3 MB is read and stopped by the importer; 2.6 MB is refused before it is read.
    app.config["RECIPIENTS_MAX_BYTES"] = 1024 * 1024
    response = upload(client, incident_id, big_file(size), token=author)
    assert response.status_code == 413  # type: ignore[attr-defined]
    page = response.get_data(as_text=True)  # type: ignore[attr-defined]
    assert "larger than the limit of 1 MB" in page
    assert lists(app) == []


def test_only_the_upload_gets_the_larger_limit(
    app: Flask, client: FlaskClient, author: str, incident_id: int
) -> None:
    app.config["RECIPIENTS_MAX_BYTES"] = 5 * 1024 * 1024
    data = big_file(3_000_000)
    assert len(data) > app.config["MAX_CONTENT_LENGTH"]
    response = upload(client, incident_id, data, token=author)
    assert response.status_code == 303  # type: ignore[attr-defined]
    (saved,) = lists(app)
    assert saved.imported == 1
    assert saved.merged == saved.rows - 1
    elsewhere = client.post("/incidents/", data={"title": "x" * 3_000_000, "csrf_token": author})
    assert elsewhere.status_code == 413


def test_a_file_past_the_setting_is_checked_in_a_second_process(
    app: Flask, client: FlaskClient, author: str, incident_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    app.config["RECIPIENTS_SECOND_PROCESS_BYTES"] = 100
    started: list[int] = []
    real = row_process.check_rows_elsewhere

    def spy(setup: row_process.Setup, *args: object) -> object:
        started.append(setup.list_id)
        return real(setup, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(row_process, "check_rows_elsewhere", spy)
    response = upload(client, incident_id, GOOD, token=author)
    assert response.status_code == 303  # type: ignore[attr-defined]
    (saved,) = lists(app)
    assert started == [saved.id]
    assert (saved.rows, saved.imported, saved.merged, saved.rejected) == (4, 2, 1, 1)


def test_a_second_process_that_dies_gets_a_page_that_says_to_upload_again(
    app: Flask, client: FlaskClient, author: str, incident_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    app.config["RECIPIENTS_SECOND_PROCESS_BYTES"] = 100
    monkeypatch.setattr(
        row_process, "_CHILD", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
    )
    response = upload(client, incident_id, GOOD, token=author)
    assert response.status_code == 500  # type: ignore[attr-defined]
    page = response.get_data(as_text=True)  # type: ignore[attr-defined]
    assert "Nothing was imported: upload the file again." in page
    assert 'type="file"' in page  # the form is there to try again
    assert lists(app) == []
    monkeypatch.undo()
    assert upload(client, incident_id, GOOD, token=author).status_code == 303  # type: ignore[attr-defined]
    assert len(lists(app)) == 1


def test_the_upload_checks_the_csrf_token(
    app: Flask, client: FlaskClient, author: str, incident_id: int
) -> None:
    response = upload(client, incident_id, GOOD, token=None)
    assert response.status_code == 400  # type: ignore[attr-defined]
    response = upload(client, incident_id, GOOD, token="forged")
    assert response.status_code == 400  # type: ignore[attr-defined]
    assert lists(app) == []


def test_who_may_do_what(app: Flask, client: FlaskClient, author: str, incident_id: int) -> None:
    upload(client, incident_id, GOOD, token=author)
    (saved,) = lists(app)
    base = f"/incidents/{incident_id}/recipients"
    client.post("/logout", data={"csrf_token": author})

    assert client.get(base).status_code == 302  # signed out: to the sign-in page
    assert client.get(f"{base}/{saved.id}/errors.csv").status_code == 302

    token = sign_in(client, "approver")
    page = client.get(base)
    assert page.status_code == 200
    assert 'enctype="multipart/form-data"' not in page.get_data(as_text=True)
    assert client.get(f"{base}/{saved.id}").status_code == 200
    assert client.get(f"{base}/{saved.id}/errors.csv").status_code == 200
    assert upload(client, incident_id, GOOD, token=token).status_code == 403  # type: ignore[attr-defined]
    client.post("/logout", data={"csrf_token": token})

    token = sign_in(client, "admin")
    assert upload(client, incident_id, GOOD, token=token).status_code == 303  # type: ignore[attr-defined]
    assert len(lists(app)) == 2


def test_a_list_belongs_to_its_incident(
    app: Flask, client: FlaskClient, author: str, incident_id: int
) -> None:
    upload(client, incident_id, GOOD, token=author)
    (saved,) = lists(app)
    other = new_incident(client, author, "Another incident")
    assert client.get(f"/incidents/{other}/recipients/{saved.id}").status_code == 404
    assert client.get(f"/incidents/{other}/recipients/{saved.id}/errors.csv").status_code == 404
    assert client.get(f"/incidents/{incident_id}/recipients/999").status_code == 404


def test_warnings_show_on_the_result_page(
    app: Flask, client: FlaskClient, author: str, incident_id: int
) -> None:
    response = upload(client, incident_id, "email,phone\nann@example.com,0123\n", token=author)
    page = client.get(response.headers["Location"]).get_data(as_text=True)  # type: ignore[attr-defined]
    assert "“phone” is not a recipient column" in page
    assert "Every row was imported or merged." in page


def test_pages_keep_to_the_strict_content_security_policy(
    client: FlaskClient, author: str, incident_id: int
) -> None:
    response = client.get(f"/incidents/{incident_id}/recipients")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    for template in (REPO_ROOT / "templates" / "recipients").glob("*.html"):
        text = template.read_text()
        assert "style=" not in text, template
        assert "<script" not in text, template
        assert "<style" not in text, template


def test_the_newest_lists_first_recipients_are_previewed(
    app: Flask, client: FlaskClient, author: str, incident_id: int
) -> None:
    rows = "".join(f"person{i}@example.com,P{i}\n" for i in range(60))
    upload(client, incident_id, "email,first_name\n" + rows, token=author)
    page = client.get(f"/incidents/{incident_id}/recipients").get_data(as_text=True)
    assert page.count("recipient-preview__masked") == 50 * 3
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Recipient)) == 60
    assert csrf_token(client, f"/incidents/{incident_id}/recipients")

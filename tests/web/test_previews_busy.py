"""Previews when every PDF renderer is busy: the letter and its image get a 503 page with
Retry-After (never a 500, never an extra renderer); the previews page still shows the rest."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from composer.notices import previews
from composer.rendering import child_process
from tests.conftest import sign_in
from tests.web.test_notice_versions import save
from tests.web.test_wizard import new_incident


@pytest.fixture
def app(app: Flask) -> Iterator[Flask]:
    app.config.update(RENDER_MAX_CONCURRENT=1, RENDER_WAIT_SECONDS=0.2)
    child_process.limit_concurrency(1)
    previews.CACHE.clear()
    yield app
    previews.CACHE.clear()
    child_process.limit_concurrency(None)


def test_letter_and_image_are_503_with_retry_after_while_every_renderer_is_busy(
    client: FlaskClient, users: dict[str, int]
) -> None:
    token = sign_in(client, "author")
    incident_id = new_incident(client, token, "Mailing supplier leak")
    save(client, token, incident_id)
    base = f"/incidents/{incident_id}/notice/versions/1"
    with child_process.render_slot():  # another request's render, holding the only renderer
        for part in ("letter.pdf", "letter-page-1.png"):
            response = client.get(f"{base}/{part}")
            assert response.status_code == 503, part
            assert int(response.headers["Retry-After"]) > 0
            assert response.mimetype == "text/html"
            text = response.get_data(as_text=True)
            assert "Every PDF renderer is busy" in text
            assert "Try again in" in text
        page = client.get(f"{base}/previews")
        assert page.status_code == 200
        assert "Every PDF renderer is busy" in page.get_data(as_text=True)
        assert "Dear Alex," in page.get_data(as_text=True)  # the email part is still shown
    # Busy is never cached: once the renderer is free the letter is made.
    response = client.get(f"{base}/letter.pdf")
    assert response.status_code == 200
    assert response.data.startswith(b"%PDF-")

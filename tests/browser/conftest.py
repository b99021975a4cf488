"""Fixtures for real-browser tests: the app served on 127.0.0.1 and a headless Chromium.

The browser is Debian's Chromium (``COMPOSER_CHROMIUM`` overrides the path), driven by
Playwright; we never download one. Without it the tests are skipped on a developer machine
and fail in CI (``CI`` set), where a silently skipped browser test would prove nothing.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import BrowserContext, Page, sync_playwright
from werkzeug.serving import make_server

from composer import create_app
from composer.extensions import db
from composer.models import Role
from tests.conftest import EMAILS, base_config, make_user

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


class LiveServer:
    """The app served over HTTP on a free port in a background thread."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="live-server", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)
        self._server.server_close()


@pytest.fixture
def live_server(database_factory: Any, tmp_path: Path) -> Iterator[LiveServer]:
    """The app on a fresh migrated database, with the usual three users, served for real.

    Cookies stay ``Secure`` as in production: Chromium treats http://127.0.0.1 as a
    potentially trustworthy origin, so it stores and sends Secure cookies there.
    """
    config = base_config(tmp_path, database_factory(tmp_path))
    config.update(SESSION_COOKIE_SECURE=True, REMEMBER_COOKIE_SECURE=True, SEND_WORKER="inprocess")
    app = create_app(config)
    make_user(app, EMAILS["author"], Role.AUTHOR)
    make_user(app, EMAILS["approver"], Role.APPROVER)
    make_user(app, EMAILS["admin"], Role.ADMIN)
    server = LiveServer(app)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        sender = app.extensions.get("composer.sender")
        if sender is not None:
            sender.stop()
        with app.app_context():
            db.engine.dispose()


def chromium_path() -> str:
    return os.environ.get("COMPOSER_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[BrowserContext]:
    """A headless Chromium with a fresh profile; yields its (only) browser context."""
    executable = chromium_path()
    if not os.access(executable, os.X_OK):
        reason = f"no Chromium at {executable} (install Debian's chromium or set COMPOSER_CHROMIUM)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            user_data_dir=tmp_path / "chromium-profile",
            executable_path=executable,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport=DESKTOP,
            locale="en-GB",
            timezone_id="Europe/London",
        )
        context.set_default_timeout(10_000)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def screenshots() -> Path | None:
    """Where to save screenshots (``COMPOSER_SCREENSHOTS=<dir>``); None saves nothing."""
    target = os.environ.get("COMPOSER_SCREENSHOTS")
    if not target:
        return None
    path = Path(target)
    path.mkdir(parents=True, exist_ok=True)
    return path


def assert_fits_phone(page: Page, name: str) -> None:
    """Switch ``page`` to a phone-sized viewport and check nothing scrolls sideways."""
    page.set_viewport_size(PHONE)
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"{name}: the page scrolls sideways by {overflow}px on a phone"


def capture(page: Page, stem: Path | None) -> None:
    """Save phone and desktop screenshots from the top of the page when ``stem`` is given;
    leave the page at desktop size either way."""
    if stem is not None:
        # From the top, so sticky parts sit where a reader first sees them.
        page.evaluate("() => window.scrollTo(0, 0)")
        page.screenshot(path=f"{stem}-phone.png", full_page=True)
        page.set_viewport_size(DESKTOP)
        page.screenshot(path=f"{stem}-desktop.png", full_page=True)
    page.set_viewport_size(DESKTOP)


class Look:
    """Phone-layout checks and, with a screenshots folder, numbered screenshots, page by page:
    ``look("editor")`` saves ``<prefix>-01-editor-phone.png`` and ``-desktop.png``."""

    def __init__(self, page: Page, shots: Path | None, prefix: str) -> None:
        self.page = page
        self.shots = shots
        self.prefix = prefix
        self.taken = 0

    def __call__(self, name: str) -> None:
        assert_fits_phone(self.page, name)
        stem = None
        if self.shots is not None:
            self.taken += 1
            stem = self.shots / f"{self.prefix}-{self.taken:02d}-{name}"
        capture(self.page, stem)

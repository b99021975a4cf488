"""The package works installed as a plain wheel, away from the checkout.

Builds the wheel from a copy of the sources, installs it with the app's lock into a new venv
outside the repository, and from a scratch folder: migrates the default SQLite database, signs
in over HTTP to the app served by ``flask run``, renders a PDF letter through the app, and
lints a notice with ``python -m composer lint``. Runs once, in the SQLite run of the suite
(it builds its own environment, whatever database the rest of the run uses).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.paths import REPO_ROOT

#: What the wheel is built from: everything pyproject.toml, setup.py and MANIFEST.in name.
SOURCES = (
    "composer",
    "templates",
    "static",
    "checklists",
    "pyproject.toml",
    "setup.py",
    "MANIFEST.in",
    "README.md",
)
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _run(args: list[str | Path], **kwargs: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=600, **kwargs
    )
    assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def installed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv outside the checkout with the app's lock and the wheel installed; its bin/."""
    if request.config.getoption("--db") != "sqlite":
        pytest.skip("the wheel is tested once, in the SQLite run")
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for name in SOURCES:
        path = REPO_ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, src / name)
    # The venv's pinned setuptools builds it (no isolation: nothing fetched from the index).
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    _run([*pip, "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", tmp / "dist", src])
    (wheel,) = (tmp / "dist").glob("notice_composer-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for data in (
        "templates/notices/letter.html",
        "static/notices/letter.css",
        "checklists/incident.yaml",
        "migrations/env.py",
    ):
        assert any(n.endswith(data) for n in names), f"{data} is not in {wheel.name}"

    venv = tmp / "venv"
    base = Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    _run([base, "-m", "venv", "--without-pip", venv])
    # This venv's pinned pip installs into the new one (its own pip would be the bundled one).
    target = ["--python", venv / "bin" / "python"]
    lock = REPO_ROOT / "requirements" / "app.txt"
    _run([*pip, *target, "install", "--quiet", "--require-hashes", "--no-deps", "-r", lock])
    _run([*pip, *target, "install", "--quiet", "--no-deps", wheel])
    _run([*pip, *target, "check"])
    return venv / "bin"


@pytest.fixture(scope="module")
def scratch(installed: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("scratch")


def _env(bin_dir: Path) -> dict[str, str]:
    """The user's environment, less anything that could lead back to the checkout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSER_", "PYTHON"))}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["FLASK_DEBUG"] = "0"
    return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Browser:
    """Just enough of a browser: keeps cookies (the session cookie is Secure, and browsers send
    it to localhost over plain HTTP too) and never follows redirects."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.cookies: dict[str, str] = {}

    def request(
        self, path: str, form: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        req = urllib.request.Request(self.base + path, data=data)  # noqa: S310 - http://127.0.0.1
        if self.cookies:
            req.add_header("Cookie", "; ".join(f"{k}={v}" for k, v in self.cookies.items()))

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args: object, **kwargs: object) -> None:
                return None

        opener = urllib.request.build_opener(NoRedirect)
        try:
            with opener.open(req, timeout=120) as resp:
                status, headers, body = resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as exc:
            status, headers, body = exc.code, exc.headers, exc.read()
        for cookie in headers.get_all("Set-Cookie") or []:
            name, _, rest = cookie.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        return status, dict(headers.items()), body

    def csrf(self, path: str) -> str:
        status, _, body = self.request(path)
        assert status == 200, (path, status)
        match = CSRF.search(body.decode())
        assert match, f"no CSRF token on {path}"
        return match.group(1)


@pytest.fixture(scope="module")
def server(installed: Path, scratch: Path) -> Iterator[tuple[str, str]]:
    """The app served by ``flask run`` from the scratch folder, on the migrated default
    database, with one author; yields the base URL and the author's password."""
    env = _env(installed)
    flask = installed / "flask"
    _run([flask, "--app", "composer", "db", "upgrade"], cwd=scratch, env=env)
    made = _run(
        [
            flask,
            "--app",
            "composer",
            "create-user",
            "author@example.com",
            "--name",
            "Ana",
            "--role",
            "author",
            "--generate-password",
        ],
        cwd=scratch,
        env=env,
    )
    password = re.search(r"Password \(shown once\): (\S+)", made.stdout)
    assert password, made.stdout
    port = _free_port()
    log = scratch / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [flask, "--app", "composer", "run", "--host", "127.0.0.1", "--port", str(port)],
            cwd=scratch,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(base + "/login", timeout=5).close()  # noqa: S310
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"flask run did not start:\n{log.read_text()}")
                time.sleep(0.2)
        yield base, password.group(1)
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_the_installed_package_is_the_wheel_not_the_checkout(
    installed: Path, scratch: Path
) -> None:
    where = _run(
        [
            installed / "python",
            "-c",
            "import composer.support.resources as r; "
            "print(r.TEMPLATES_DIR); print(r.CHECKLISTS_DIR)",
        ],
        cwd=scratch,
        env=_env(installed),
    ).stdout.split()
    for path in where:
        assert f"{os.sep}site-packages{os.sep}composer{os.sep}_data{os.sep}" in path
        assert not Path(path).is_relative_to(REPO_ROOT)


def test_sign_in_and_render_a_letter_over_http(server: tuple[str, str], scratch: Path) -> None:
    base, password = server
    browser = Browser(base)
    token = browser.csrf("/login")
    status, headers, _ = browser.request(
        "/login", {"csrf_token": token, "email": "author@example.com", "password": password}
    )
    assert status == 302, "the right password did not sign in"
    assert not headers["Location"].endswith("/login")

    token = browser.csrf("/incidents/")
    status, headers, _ = browser.request(
        "/incidents/", {"csrf_token": token, "title": "Card data copied from the checkout"}
    )
    assert status == 302
    incident = re.search(r"/incidents/(\d+)/", headers["Location"])
    assert incident, headers["Location"]
    notice = f"/incidents/{incident.group(1)}/notice"
    token = browser.csrf(notice)
    status, _, _ = browser.request(
        notice,
        {
            "csrf_token": token,
            "subject": "We lost your card details",
            "body": "## What happened\n\nOn 3 May a criminal copied your card number.\n",
        },
    )
    assert status == 302
    status, headers, pdf = browser.request(f"{notice}/versions/1/letter.pdf")
    assert status == 200, pdf[:500]
    assert headers["Content-Type"] == "application/pdf"
    assert pdf.startswith(b"%PDF-")
    (scratch / "letter.pdf").write_bytes(pdf)
    text = _run(["pdftotext", scratch / "letter.pdf", "-"]).stdout
    assert "criminal copied your card number" in text


def test_lint_a_notice_from_the_command_line(installed: Path, scratch: Path) -> None:
    notice = scratch / "notice.txt"
    notice.write_text("Some customer names may have been compromised.\n", encoding="utf-8")
    result = subprocess.run(
        [installed / "python", "-m", "composer", "lint", "--format", "jsonl", notice.name],
        cwd=scratch,
        env=_env(installed),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode in (0, 1), result.stderr
    assert '"category": "hedge"' in result.stdout, result.stdout

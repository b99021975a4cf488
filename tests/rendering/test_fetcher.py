"""The PDF's URL fetcher: files under static/ and small data: images, nothing else, and a
refusal fails the render naming the URL. A local HTTP server proves nothing reaches the network.
"""

from __future__ import annotations

import base64
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from composer.rendering.errors import ResourceRefused
from composer.rendering.pdf import StaticOnlyFetcher, html_to_pdf, write_pdf
from composer.support.resources import STATIC_DIR

#: A 1x1 transparent PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)


class Server:
    """An HTTP server on 127.0.0.1 that records every request; /redirect answers 302."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        recorded = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                recorded.append(self.path)
                if self.path.startswith("/redirect"):
                    self.send_response(302)
                    self.send_header("Location", "file:///etc/passwd")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.end_headers()
                self.wfile.write(PNG)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def server() -> Iterator[Server]:
    with Server() as running:
        yield running
    assert running.requests == [], "the renderer made a network request"


@pytest.fixture
def static_copy(tmp_path: Path) -> Path:
    """A static/ folder of our own, with a symbolic link that points outside it."""
    root = tmp_path / "static"
    shutil.copytree(STATIC_DIR / "notices", root / "notices")
    secret = tmp_path / "secret.png"
    secret.write_bytes(PNG)
    (root / "notices" / "escape.png").symlink_to(secret)
    (root / "notices" / "inside.png").symlink_to(root / "notices" / "logo.svg")
    (root / "notices" / "dir.png").mkdir()
    return root


def page(body: str, head: str = "") -> str:
    return (
        f'<!DOCTYPE html><html lang="en"><head><title>T</title>{head}</head>'
        f"<body>{body}</body></html>"
    )


def hostile_documents(server_url: str) -> list[tuple[str, str]]:
    big_png = "data:image/png;base64," + base64.b64encode(PNG + b"\0" * 150_000).decode()
    return [
        (page('<img src="file:///etc/passwd" alt="">'), "file:///etc/passwd"),
        (page("", '<link rel="attachment" href="file:///etc/passwd">'), "file:///etc/passwd"),
        (
            page("<p>x</p>", f"<style>body {{ background: url({server_url}/x.png) }}</style>"),
            f"{server_url}/x.png",
        ),
        (page(f'<img src="{server_url}/pixel.png" alt="">'), f"{server_url}/pixel.png"),
        (page(f'<img src="{server_url}/redirect" alt="">'), f"{server_url}/redirect"),
        (
            page("", f'<link rel="stylesheet" href="{server_url}/s.css">'),
            f"{server_url}/s.css",
        ),
        (
            page("<p>x</p>", f'<style>@import url("{server_url}/i.css");</style>'),
            f"{server_url}/i.css",
        ),
        (
            page(
                '<p style="font-family: X">x</p>',
                f"<style>@font-face {{ font-family: X; src: url({server_url}/f.woff) }}</style>",
            ),
            f"{server_url}/f.woff",
        ),
        (page('<img src="https://example.com/logo.png" alt="">'), "https://example.com/logo.png"),
        (page(f'<img src="{big_png}" alt="">'), big_png),
        (
            page('<img src="data:text/html;base64,PHNjcmlwdD4=" alt="">'),
            "data:text/html;base64,PHNjcmlwdD4=",
        ),
        (page('<img src="data:image/svg+xml,<svg/>" alt="">'), "data:image/svg+xml,<svg/>"),
        (page('<object data="ftp://example.com/x.png"></object>'), "ftp://example.com/x.png"),
    ]


def test_each_hostile_resource_fails_the_render_naming_the_url(server: Server) -> None:
    for html, url in hostile_documents(server.url):
        with pytest.raises(ResourceRefused) as caught:
            html_to_pdf(html, timeout=20)
        assert caught.value.url == url, html
        assert url[:60] in str(caught.value)


def test_in_process_rendering_refuses_the_same(server: Server) -> None:
    for html, url in hostile_documents(server.url)[:5]:
        with pytest.raises(ResourceRefused) as caught:
            write_pdf(html)
        assert caught.value.url == url


def test_symlinks_out_of_static_are_refused(static_copy: Path) -> None:
    url = (static_copy / "notices" / "escape.png").as_uri()
    with pytest.raises(ResourceRefused, match="outside the static/ folder") as caught:
        html_to_pdf(page('<img src="notices/escape.png" alt="">'), static_dir=static_copy)
    assert caught.value.url == url
    # A link that stays inside static/ is fine.
    pdf = html_to_pdf(page('<img src="notices/inside.png" alt="x">'), static_dir=static_copy)
    assert pdf.startswith(b"%PDF-1.7")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("notices/../../secret.png", "outside the static/ folder"),
        ("file:///etc/passwd", "outside the static/ folder"),
        ("file:///nonexistent/x.png", "no such file"),
        ("file://attacker.example/etc/passwd", "another host"),
        ("http://127.0.0.1:9/x.png", "never fetched"),
        ("https://example.com/x.png", "never fetched"),
        ("gopher://example.com/", "never fetched"),
        ("notices/dir.png", "regular file"),
        ("notices/email.html", "only stylesheets, images and fonts"),
        ("data:image/png;base64,%%%", "not valid base64"),
        ("data:,hello", "only hold PNG, JPEG, GIF or WebP"),
    ],
)
def test_fetcher_refusals(static_copy: Path, url: str, reason: str) -> None:
    (static_copy / "notices" / "email.html").write_text("<p>not a resource</p>")
    fetcher = StaticOnlyFetcher(static_copy)
    absolute = url if ":" in url else (static_copy / url).as_uri()
    with pytest.raises(ResourceRefused, match=reason):
        fetcher.fetch(absolute)
    assert fetcher.refused
    assert fetcher.refused[0].url == absolute


def test_fetcher_serves_static_files_and_small_images(static_copy: Path) -> None:
    fetcher = StaticOnlyFetcher(static_copy)
    logo = fetcher.fetch((static_copy / "notices" / "logo.svg").as_uri())
    assert logo.content_type == "image/svg+xml"
    assert logo.read().startswith(b"<svg")
    small = "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert fetcher.fetch(small).read() == PNG
    assert fetcher.refused == []


def test_a_small_data_image_and_the_logo_render(server: Server) -> None:
    small = "data:image/png;base64," + base64.b64encode(PNG).decode()
    pdf = html_to_pdf(page(f'<img src="{small}" alt="dot"><img src="notices/logo.svg" alt="l">'))
    assert pdf.startswith(b"%PDF-1.7")

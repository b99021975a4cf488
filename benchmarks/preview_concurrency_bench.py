#!/usr/bin/env python3
"""Memory under many PDF previews at once: RENDER_MAX_CONCURRENT at work.

    .venv/bin/python benchmarks/preview_concurrency_bench.py [--requests 20] [--limit N]
        [--wait SECONDS] [--png]

Starts the app on a local port (a threaded WSGI server in this process, SQLite in a temporary
folder), signs in over HTTP, saves --requests different notice versions (so no preview comes
from the render cache), then asks for every version's letter.pdf (or, with --png, its page
image) at the same moment, one thread per request. Meanwhile /proc is read every 20 ms:
the app's resident memory, its render processes' (PDF workers and pdftoppm), their sum, and
how many render processes there are. --limit sets RENDER_MAX_CONCURRENT (default: unset, the
number of cores); --limit 0 lifts the limit (one renderer per request, as before the limit was
added) for comparison.
The last line is exactly:
    requests=<n> ok=<200s> busy=<503s> other=<other statuses> seconds=<wall>
    peak_app_mb=<x> peak_renderers_mb=<y> peak_total_mb=<z> peak_renderers=<k> limit=<l>
(on one line).
"""

from __future__ import annotations

import argparse
import http.cookiejar
import os
import re
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path

from composer.rendering import child_process

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from flask_migrate import upgrade  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from composer import create_app  # noqa: E402
from composer.accounts import create_user  # noqa: E402
from composer.extensions import db  # noqa: E402
from composer.models import Role  # noqa: E402
from composer.rendering import child_process as worker  # noqa: E402

PASSWORD = "correct horse battery staple"  # noqa: S105 - a throwaway account
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
BODY = (
    "Dear {{ first_name }},\n\n"
    "On 3 May a criminal copied the email addresses of 20,000 customers from our supplier.\n\n"
    "## What you can do\n\n"
    + "\n\n".join(
        f"Step {n}: watch for emails that ask for your password, and tell us about them."
        for n in range(1, 25)
    )
    + "\n"
)


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def is_renderer(pid: int) -> bool:
    """A PDF render worker or a pdftoppm making a page image."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"composer.rendering.child_process" in command or b"pdftoppm" in command


def parent_of(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def children(pid: int) -> list[int]:
    """Every descendant of ``pid`` (Linux /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        kids = [child for child, ppid in parents.items() if ppid == parent]
        found.extend(kids)
        todo.extend(kids)
    return found


class Sampler(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.stop = threading.Event()
        self.peak_app = self.peak_children = self.peak_total = self.peak_count = 0

    def run(self) -> None:
        me = os.getpid()
        while not self.stop.is_set():
            app = rss_kib(me)
            # Every descendant's memory counts; only the app's own children that are render
            # processes are counted as renderers (a worker's short-lived forks, to look for
            # libraries as WeasyPrint starts, still show the worker's command line).
            descendants = children(me)
            kids = [pid for pid in descendants if is_renderer(pid) and parent_of(pid) == me]
            rendering = sum(rss_kib(pid) for pid in descendants)
            self.peak_app = max(self.peak_app, app)
            self.peak_children = max(self.peak_children, rendering)
            self.peak_total = max(self.peak_total, app + rendering)
            self.peak_count = max(self.peak_count, len(kids))
            time.sleep(0.02)


def opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
        urllib.request.HTTPErrorProcessor(),
    )


def token(browser: urllib.request.OpenerDirector, url: str) -> str:
    page = browser.open(url).read().decode()
    match = CSRF.search(page)
    assert match, f"no CSRF token on {url}"
    return match.group(1)


def post(browser: urllib.request.OpenerDirector, url: str, fields: dict[str, str]) -> str:
    data = urllib.parse.urlencode(fields).encode()
    with browser.open(url, data=data) as response:
        return str(response.geturl())


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--limit", type=int, default=None, help="RENDER_MAX_CONCURRENT")
    parser.add_argument("--wait", type=float, default=10.0, help="RENDER_WAIT_SECONDS")
    parser.add_argument("--png", action="store_true", help="ask for page images, not PDFs")
    args = parser.parse_args()
    limit = None if args.limit is None else (args.limit or args.requests)

    folder = Path(tempfile.mkdtemp(prefix="preview-bench-"))
    app = create_app(
        {
            "SECRET_KEY": "benchmark",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'bench.sqlite3'}",
            "SESSION_COOKIE_SECURE": False,
            "REMEMBER_COOKIE_SECURE": False,
            "PASSWORD_HASH_TIME_COST": 1,
            "PASSWORD_HASH_MEMORY_KIB": 1024,
            "PASSWORD_HASH_PARALLELISM": 1,
            "SEND_WORKER": "none",
            "RENDER_MAX_CONCURRENT": limit,
            "RENDER_WAIT_SECONDS": args.wait,
        }
    )
    with app.app_context():
        upgrade()
        create_user(
            db.session,
            app.extensions["composer.password_hasher"],
            email="ana@example.com",
            display_name="Ana",
            password=PASSWORD,
            roles=(Role.AUTHOR,),
            created_by=None,
            actor_label="benchmark",
        )
        db.session.commit()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"

    browser = opener()
    post(
        browser,
        f"{base}/login",
        {
            "email": "ana@example.com",
            "password": PASSWORD,
            "csrf_token": token(browser, f"{base}/login"),
        },
    )
    csrf = token(browser, f"{base}/incidents/")
    where = post(browser, f"{base}/incidents/", {"title": "Supplier leak", "csrf_token": csrf})
    incident = int(re.search(r"/incidents/(\d+)/", where).group(1))  # type: ignore[union-attr]
    for n in range(args.requests):
        post(
            browser,
            f"{base}/incidents/{incident}/notice",
            {"subject": f"We lost your email address ({n + 1})", "body": BODY, "csrf_token": csrf},
        )
    # As on a server that has rendered before: WeasyPrint imported here (it looks for its
    # libraries with gcc and ldconfig the first time), no idle renderer left.
    import composer.rendering.pdf  # noqa: F401

    child_process.close_workers()

    part = "letter-page-1.png" if args.png else "letter.pdf"
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    start = threading.Barrier(args.requests + 1)

    def fetch(number: int) -> None:
        start.wait()
        url = f"{base}/incidents/{incident}/notice/versions/{number}/{part}"
        try:
            with browser.open(url, timeout=120) as response:
                response.read()
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        with lock:
            statuses[status] += 1

    sampler = Sampler()
    sampler.start()
    threads = [threading.Thread(target=fetch, args=(n,)) for n in range(1, args.requests + 1)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.monotonic()
    for thread in threads:
        thread.join()
    seconds = time.monotonic() - began
    time.sleep(0.1)
    sampler.stop.set()
    sampler.join()
    server.shutdown()
    child_process.close_workers()

    ok, busy = statuses.pop(200, 0), statuses.pop(503, 0)
    print(f"statuses: 200={ok} 503={busy} other={dict(statuses)}")
    print(
        f"requests={args.requests} ok={ok} busy={busy} other={sum(statuses.values())} "
        f"seconds={seconds:.1f} peak_app_mb={sampler.peak_app / 1024:.0f} "
        f"peak_renderers_mb={sampler.peak_children / 1024:.0f} "
        f"peak_total_mb={sampler.peak_total / 1024:.0f} peak_renderers={sampler.peak_count} "
        f"limit={worker.max_concurrent()}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

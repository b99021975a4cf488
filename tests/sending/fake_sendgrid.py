"""A tiny local stand-in for SendGrid's v3 API: records requests, answers as told."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Reply:
    status: int = 202
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    #: Seconds to wait before answering (cut short when the server stops).
    delay: float = 0.0


class FakeSendGrid:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.replies: list[Reply] = []
        self.stopping = threading.Event()
        self.served = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                fake.requests.append(
                    Recorded("POST", self.path, dict(self.headers.items()), json.loads(raw))
                )
                reply = fake.replies.pop(0) if fake.replies else fake.accepted()
                if reply.delay and fake.stopping.wait(reply.delay):
                    return
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except OSError:
                    pass  # the client gave up (a time-out test)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def accepted(self) -> Reply:
        self.served += 1
        return Reply(202, {"X-Message-Id": f"sg-{self.served}"})

    def reply(self, status: int, headers: dict[str, str] | None = None, **errors: Any) -> None:
        body = json.dumps({"errors": [errors]}).encode() if errors else b""
        self.replies.append(Reply(status, headers or {}, body))


@contextmanager
def running() -> Iterator[FakeSendGrid]:
    fake = FakeSendGrid()
    thread = threading.Thread(target=fake.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake.stopping.set()
        fake.server.shutdown()
        fake.server.server_close()
        thread.join(5)

"""Run a function in a child process with a time limit, for rendering that might run away.

:func:`run_with_time_limit` hands ``func(*args)`` to a worker process (``python -m
composer.rendering.worker``) and waits at most ``timeout`` seconds for the answer; when time runs
out the worker is killed (SIGKILL) and :class:`RenderTimeout` raised, so a pathological draft
costs one worker, never a hung web request or queue job.

Workers are kept between calls (a few idle ones per process, each replaced after
:data:`MAX_JOBS_PER_WORKER` jobs to bound its memory), because starting one means importing
WeasyPrint and loading the system's fonts: about a second. Start-up does not count against a
job's time limit. A worker is a plain subprocess, not ``multiprocessing``: it works from threads,
from daemonic (Celery) processes, and without re-running the parent's main script.

The protocol, on the worker's stdin and stdout: 8-byte big-endian length, then a pickle. The
parent sends ``(func, args)``; the worker answers ``("ok", result)``, ``("refused", url,
reason)``, or ``("error", message)``, and first sends ``("ready",)`` once it has started. Both
ends are this code, so the pickles are trusted.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import logging
import os
import pickle
import select
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import IO, Any, Final, TypeVar

from composer.rendering.errors import RenderError, RenderTimeout, ResourceRefused
from composer.resources import IMPORT_ROOT

#: Modules a worker imports (and warms up, through their ``warm_up()``) before its first job.
PRELOAD: Final = ("composer.rendering.pdf",)
#: Seconds a worker may take to start (import WeasyPrint, load fonts) before it counts as broken.
STARTUP_TIMEOUT: Final = 60.0
#: A worker is replaced after this many jobs, so a slow leak cannot grow without bound.
MAX_JOBS_PER_WORKER: Final = 200
#: Idle workers kept per process; more are started when more renders run at once.
MAX_IDLE_WORKERS: Final = 2

_HEADER = 8

T = TypeVar("T")


class _WorkerGone(Exception):
    """The worker closed its end (it exited or crashed)."""


def _send(stream: IO[bytes], message: object) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(len(data).to_bytes(_HEADER, "big") + data)
    stream.flush()


class _Worker:
    """One worker process, as the parent sees it."""

    def __init__(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(IMPORT_ROOT), env.get("PYTHONPATH", "")) if p
        )
        self.process = subprocess.Popen(  # noqa: S603 - this interpreter, our own module
            [sys.executable, "-m", "composer.rendering.worker", *PRELOAD],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            close_fds=True,
        )
        self.jobs = 0
        try:
            ready = self._receive(time.monotonic() + STARTUP_TIMEOUT)
        except (TimeoutError, _WorkerGone):
            code = self.kill()
            raise RenderError(
                f"The PDF renderer could not start (exit code {code}); see the server log."
            ) from None
        if ready != ("ready",):  # pragma: no cover - the protocol's first message
            self.kill()
            raise RenderError("The PDF renderer started wrongly; see the server log.")

    def run(self, func: Callable[..., Any], args: tuple[Any, ...], timeout: float) -> Any:
        assert self.process.stdin is not None
        try:
            _send(self.process.stdin, (func, args))
        except (BrokenPipeError, OSError):
            raise _WorkerGone from None
        self.jobs += 1
        return self._receive(time.monotonic() + timeout)

    def _receive(self, deadline: float) -> Any:
        size = int.from_bytes(self._read(_HEADER, deadline), "big")
        return pickle.loads(self._read(size, deadline))  # noqa: S301 - our own worker's answer

    def _read(self, count: int, deadline: float) -> bytes:
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()  # raw reads only: select() cannot see a buffer
        chunks: list[bytes] = []
        while count:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
            chunk = os.read(fd, min(count, 1 << 20))
            if not chunk:
                raise _WorkerGone
            chunks.append(chunk)
            count -= len(chunk)
        return b"".join(chunks)

    def kill(self) -> int:
        """Stop the worker now; its exit code."""
        if self.process.poll() is None:
            self.process.kill()
        code = self.process.wait()
        self._close_pipes()
        return code

    def close(self) -> None:
        """Let the worker finish (end of its input), or kill it if it does not."""
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._close_pipes()

    def _close_pipes(self) -> None:
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


class _Pool:
    def __init__(self) -> None:
        self._idle: list[_Worker] = []
        self._lock = threading.Lock()

    def run(self, func: Callable[..., Any], args: tuple[Any, ...], timeout: float) -> Any:
        with self._lock:
            worker = self._idle.pop() if self._idle else None
        if worker is None:
            worker = _Worker()
        try:
            outcome = worker.run(func, args, timeout)
        except TimeoutError:
            worker.kill()
            raise RenderTimeout(timeout) from None
        except (_WorkerGone, pickle.UnpicklingError, EOFError):
            code = worker.kill()
            raise RenderError(
                f"The PDF renderer stopped unexpectedly (exit code {code})."
            ) from None
        except BaseException:
            worker.kill()
            raise
        self._put_back(worker)
        return outcome

    def _put_back(self, worker: _Worker) -> None:
        with self._lock:
            if worker.jobs < MAX_JOBS_PER_WORKER and len(self._idle) < MAX_IDLE_WORKERS:
                self._idle.append(worker)
                return
        worker.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.close()

    def forget(self) -> None:
        """In a forked child: the workers belong to the parent; never touch them."""
        self._idle = []
        self._lock = threading.Lock()


_POOL = _Pool()
atexit.register(_POOL.close)
os.register_at_fork(after_in_child=_POOL.forget)


def run_with_time_limit(func: Callable[..., T], *args: Any, timeout: float) -> T:
    """``func(*args)`` in a worker process, which is killed after ``timeout`` seconds.

    ``func`` and ``args`` must be picklable (``func`` a module-level function). Raises
    :class:`RenderTimeout` when time runs out, the worker's :class:`ResourceRefused` or
    :class:`RenderError` when ``func`` raised one, and :class:`RenderError` if the worker died.
    """
    if timeout <= 0:
        raise ValueError("timeout must be positive")
    outcome = _POOL.run(func, args, timeout)
    kind = outcome[0]
    if kind == "ok":
        result: T = outcome[1]
        return result
    if kind == "refused":
        raise ResourceRefused(outcome[1], outcome[2])
    raise RenderError(outcome[1])


def close_workers() -> None:
    """Stop the idle workers (they are also stopped when the process exits)."""
    _POOL.close()


# --- the worker's side ------------------------------------------------------------------------


def _outcome(func: Callable[..., Any], args: tuple[Any, ...]) -> tuple[Any, ...]:
    try:
        return ("ok", func(*args))
    except ResourceRefused as exc:
        return ("refused", exc.url, exc.reason)
    except RenderError as exc:
        return ("error", str(exc))
    except Exception as exc:  # reported to the parent, which raises it
        return ("error", f"The PDF could not be made: {type(exc).__name__}: {exc}")


def _read_message(stream: IO[bytes]) -> Any:
    header = stream.read(_HEADER)
    if len(header) < _HEADER:
        return None
    return pickle.loads(stream.read(int.from_bytes(header, "big")))  # noqa: S301 - from our parent


def worker_main(preload: list[str]) -> int:
    """The worker process: preload, say ready, then answer jobs until its input ends."""
    requests = sys.stdin.buffer
    # Answers go to a private copy of stdout; anything printed goes to stderr instead.
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    for name in preload:
        warm_up = getattr(importlib.import_module(name), "warm_up", None)
        if callable(warm_up):
            warm_up()
    _send(answers, ("ready",))
    while (job := _read_message(requests)) is not None:
        func, args = job
        _send(answers, _outcome(func, args))
    return 0


if __name__ == "__main__":
    raise SystemExit(worker_main(sys.argv[1:]))

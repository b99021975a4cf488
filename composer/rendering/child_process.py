"""Run a function in a child process with a time limit, for rendering that might run away.

:func:`run_with_time_limit` hands ``func(*args)`` to a worker process (``python -m
composer.rendering.child_process``) and waits at most ``timeout`` seconds for the answer; when
time runs out the worker is killed (SIGKILL) and :class:`RenderTimeout` raised, so a
pathological draft costs one worker, never a hung web request or queue job.

Workers are kept between calls (a few idle ones per process, each replaced after
:data:`MAX_JOBS_PER_WORKER` jobs to bound its memory), because starting one means importing
WeasyPrint and loading the system's fonts: about a second. Start-up does not count against a
job's time limit. A worker is a plain subprocess, not ``multiprocessing``: it works from
threads, from daemonic (Celery) processes, and without re-running the parent's main script.

At most :func:`max_concurrent` renders run at once in a process (``RENDER_MAX_CONCURRENT``,
set by the app factory through :func:`limit_concurrency`), so at most that many workers are
alive: each holds 150-250 MB while it lays out a letter. A caller beyond the limit waits for a
free worker, up to the ``wait`` it gives (a web request: a few seconds; a letter batch: longer),
then gets :class:`RenderBusy`. The limit is per process: an app served by four processes has up
to four times as many workers.

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
from collections.abc import Callable, Iterator
from typing import IO, Any, Final, TypeVar

from composer.rendering.errors import RenderBusy, RenderError, RenderTimeout, ResourceRefused
from composer.support.resources import IMPORT_ROOT

#: Modules a worker imports (and warms up, through their ``warm_up()``) before its first job.
PRELOAD: Final = ("composer.rendering.pdf",)
#: Seconds a worker may take to start (import WeasyPrint, load fonts) before it counts as broken.
STARTUP_TIMEOUT: Final = 60.0
#: A worker is replaced after this many jobs, so a slow leak cannot grow without bound.
MAX_JOBS_PER_WORKER: Final = 200
#: Idle workers kept per process (never more than the concurrency limit); more are started
#: when more renders run at once, up to that limit.
MAX_IDLE_WORKERS: Final = 2
#: Seconds a caller waits for a free worker when it does not say.
DEFAULT_WAIT_SECONDS: Final = 10.0
#: The Retry-After, in seconds, suggested when every worker stayed busy.
BUSY_RETRY_AFTER_SECONDS: Final = 5


def default_max_concurrent() -> int:
    """The concurrency limit when none is set: the CPU cores this process may use (at least
    1). A render keeps one core busy, so more at once would only queue inside the kernel
    while each held its memory."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


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
            [sys.executable, "-m", "composer.rendering.child_process", *PRELOAD],
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
    def __init__(self, limit: int | None = None) -> None:
        self._idle: list[_Worker] = []
        self._lock = threading.Lock()
        self._free = threading.Condition(self._lock)
        self.limit = limit or default_max_concurrent()
        #: Renders running now (each with its own worker).
        self.running = 0
        #: The most renders that ran at once since the last :meth:`reset_peak`.
        self.peak = 0

    def set_limit(self, limit: int) -> None:
        with self._lock:
            self.limit = limit
            surplus = self._idle[self._keep_idle() :]
            del self._idle[self._keep_idle() :]
            self._free.notify_all()
        for worker in surplus:
            worker.close()

    def _keep_idle(self) -> int:
        # Running workers plus idle ones never exceed the limit.
        return max(0, min(MAX_IDLE_WORKERS, self.limit - self.running))

    @contextlib.contextmanager
    def slot(self, wait: float | None) -> Iterator[None]:
        """Hold one of the ``limit`` render slots meanwhile, waiting at most ``wait`` seconds
        (None: as long as it takes) for one to be free; :class:`RenderBusy` if none was."""
        started = time.monotonic()
        with self._free:
            while self.running >= self.limit:
                left = None if wait is None else wait - (time.monotonic() - started)
                if left is not None and left <= 0:
                    raise RenderBusy(wait or 0.0, BUSY_RETRY_AFTER_SECONDS)
                self._free.wait(left)
            self.running += 1
            self.peak = max(self.peak, self.running)
        try:
            yield
        finally:
            with self._free:
                self.running -= 1
                self._free.notify()

    def run(
        self, func: Callable[..., Any], args: tuple[Any, ...], timeout: float, wait: float | None
    ) -> Any:
        with self.slot(wait):
            return self._run(func, args, timeout)

    def _run(self, func: Callable[..., Any], args: tuple[Any, ...], timeout: float) -> Any:
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
            # Called while this render still counts as running: its worker may stay idle if
            # that leaves room under the limit once it stops counting.
            keep = max(0, min(MAX_IDLE_WORKERS, self.limit - self.running + 1))
            if worker.jobs < MAX_JOBS_PER_WORKER and len(self._idle) < keep:
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
        self._free = threading.Condition(self._lock)
        self.running = 0


_POOL = _Pool()
atexit.register(_POOL.close)
os.register_at_fork(after_in_child=_POOL.forget)


def limit_concurrency(limit: int | None) -> None:
    """At most ``limit`` renders at once in this process (None: :func:`default_max_concurrent`).
    Idle workers beyond the new limit are stopped."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"the render limit must be a whole number of 1 or more, not {limit!r}")
    _POOL.set_limit(limit or default_max_concurrent())


def max_concurrent() -> int:
    """How many renders may run at once in this process."""
    return _POOL.limit


def render_slot(
    wait: float | None = DEFAULT_WAIT_SECONDS,
) -> contextlib.AbstractContextManager[None]:
    """One of the process's render slots, for other heavy render work (a page image made from
    a PDF): waits at most ``wait`` seconds (None: as long as it takes), else :class:`RenderBusy`.
    Never take one around :func:`run_with_time_limit`, which takes its own."""
    return _POOL.slot(wait)


def run_with_time_limit(
    func: Callable[..., T], *args: Any, timeout: float, wait: float | None = DEFAULT_WAIT_SECONDS
) -> T:
    """``func(*args)`` in a worker process, which is killed after ``timeout`` seconds.

    ``func`` and ``args`` must be picklable (``func`` a module-level function). Waits at most
    ``wait`` seconds (None: as long as it takes) for a free worker when :func:`max_concurrent`
    renders are running already; ``timeout`` starts when the worker does. Raises
    :class:`RenderBusy` when no worker came free in time, :class:`RenderTimeout` when time runs
    out, the worker's :class:`ResourceRefused` or :class:`RenderError` when ``func`` raised one,
    and :class:`RenderError` if the worker died.
    """
    if timeout <= 0:
        raise ValueError("timeout must be positive")
    outcome = _POOL.run(func, args, timeout, wait)
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

"""At most RENDER_MAX_CONCURRENT PDF renders at once per process: callers beyond it wait a
bounded time for a free renderer, then get RenderBusy; the number of renderer processes never
exceeds the limit."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from composer import create_app
from composer.rendering import child_process
from composer.rendering.errors import RenderBusy
from composer.rendering.pdf import html_to_pdf
from tests.conftest import base_config

LETTER = '<html lang="en"><title>t</title><p class="notice">Dear Alex,</p></html>'


@pytest.fixture(autouse=True)
def default_limit() -> Iterator[None]:
    yield
    child_process.limit_concurrency(None)


def _children() -> set[int]:
    """This process's child processes (Linux /proc)."""
    me = str(os.getpid())
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if stat.rsplit(")", 1)[1].split()[1] == me:
            found.add(int(entry.name))
    return found


def test_renders_beyond_the_limit_wait_their_turn_and_never_run_at_once() -> None:
    child_process.limit_concurrency(2)
    child_process._POOL.peak = 0
    results: list[bytes] = []
    errors: list[BaseException] = []
    alive: list[int] = []
    done = threading.Event()

    def render() -> None:
        try:
            results.append(html_to_pdf(LETTER, timeout=30, wait=60))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def count_children() -> None:
        while not done.is_set():
            alive.append(len(_children()))
            time.sleep(0.02)

    counter = threading.Thread(target=count_children)
    counter.start()
    threads = [threading.Thread(target=render) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    counter.join()
    assert errors == []
    assert len(results) == 6
    assert all(pdf.startswith(b"%PDF-") for pdf in results)
    assert child_process._POOL.peak == 2
    assert max(alive) <= 2  # never more renderer processes than the limit


def test_a_caller_that_cannot_wait_longer_is_told_the_renderers_are_busy() -> None:
    child_process.limit_concurrency(1)
    started = time.monotonic()
    with child_process.render_slot(), pytest.raises(RenderBusy) as raised:
        html_to_pdf(LETTER, timeout=30, wait=0.3)
    assert 0.25 <= time.monotonic() - started < 5
    assert "Every PDF renderer is busy" in str(raised.value)
    assert raised.value.retry_after > 0
    # Once the slot is free again, the same render works.
    assert html_to_pdf(LETTER, timeout=30, wait=0.3).startswith(b"%PDF-")


def test_lowering_the_limit_stops_idle_renderers_beyond_it() -> None:
    child_process.limit_concurrency(2)
    threads = [threading.Thread(target=html_to_pdf, args=(LETTER,)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    child_process.limit_concurrency(1)
    assert len(child_process._POOL._idle) <= 1
    assert len(_children()) <= 1


@pytest.mark.parametrize("bad", [0, -1, "four", 2.5, True])
def test_a_bad_limit_stops_the_app_from_starting_naming_the_setting(
    tmp_path: Path, bad: object
) -> None:
    config = base_config(tmp_path, f"sqlite:///{tmp_path / 'x.sqlite3'}")
    with pytest.raises(ValueError, match="RENDER_MAX_CONCURRENT must be a whole number"):
        create_app({**config, "RENDER_MAX_CONCURRENT": bad})


def test_the_app_sets_the_limit_and_defaults_to_the_cores(tmp_path: Path) -> None:
    config = base_config(tmp_path, f"sqlite:///{tmp_path / 'x.sqlite3'}")
    create_app({**config, "RENDER_MAX_CONCURRENT": 3})
    assert child_process.max_concurrent() == 3
    create_app(config)
    assert child_process.max_concurrent() == len(os.sched_getaffinity(0))

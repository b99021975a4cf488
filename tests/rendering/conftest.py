"""Fixtures for the drafting tests: one loaded linter per session, and the fact sets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from composer.lint.engine import Linter

FACTS_DIR = Path(__file__).with_name("facts")
#: The hand-built fact sets under facts/, by name (the file name without ".json").
FACT_SETS = tuple(sorted(p.stem for p in FACTS_DIR.glob("*.json")))


def load_facts(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FACTS_DIR / f"{name}.json").read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="session")
def linter() -> Linter:
    # spaCy loads once per process (composer.lint.nlp caches the pipeline).
    return Linter.load()

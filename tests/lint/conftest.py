"""One loaded linter for the whole test session (spaCy loads once per process)."""

from __future__ import annotations

import pytest

from composer.lint.engine import Linter


@pytest.fixture(scope="session")
def linter() -> Linter:
    return Linter.load()

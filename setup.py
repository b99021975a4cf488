"""Build hook: the wheel carries ``templates/``, ``static/`` and ``checklists/`` as package data.

The project's metadata is in ``pyproject.toml``. The three folders stay at the top of the
repository (the layout is fixed); building a wheel copies them to ``composer/_data/``, where
``composer/support/resources.py`` looks first. An editable install copies nothing: there the package
finds them beside itself.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

DATA_FOLDERS = ("templates", "static", "checklists")


class BuildWithData(build_py):  # type: ignore[misc]
    """``build_py`` plus the data folders under ``composer/_data/``."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        root = Path(__file__).resolve().parent
        bundled = Path(self.build_lib, "composer", "_data")
        shutil.rmtree(bundled, ignore_errors=True)  # a file deleted since the last build goes too
        for name in DATA_FOLDERS:
            source = root / name
            for path in sorted(source.rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts:
                    target = bundled / name / path.relative_to(source)
                    self.mkpath(str(target.parent))
                    self.copy_file(str(path), str(target))


setup(cmdclass={"build_py": BuildWithData})

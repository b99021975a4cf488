"""Where the app's data folders are: ``templates/``, ``static/`` and ``checklists/``.

Two layouts, one answer:

- a checkout (``pip install -e .``, or the repository on the import path): the folders sit at
  the top of the repository, beside the ``composer`` package;
- an installed wheel: ``setup.py`` copied them into the package as ``composer/_data/``.

The wheel's copy is looked for first, so a stray ``templates/`` folder that another package
left in ``site-packages`` is never mistaken for ours.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Final

#: The folder holding the ``composer`` package (``site-packages``, or the repository root in a
#: checkout); a child process running our modules gets it on its import path.
PACKAGE_DIR: Final = Path(str(files("composer")))
IMPORT_ROOT: Final = PACKAGE_DIR.parent
#: Where a wheel keeps the data folders, relative to the package (``setup.py`` writes them).
BUNDLED: Final = "_data"
#: The data folders, as named at the top of the repository.
NAMES: Final = ("templates", "static", "checklists")


class ResourcesMissing(RuntimeError):
    """The install is broken: a data folder is in neither layout."""


def data_dir(name: str) -> Path:
    """The folder ``name`` (one of :data:`NAMES`): the wheel's copy, else the checkout's."""
    if name not in NAMES:
        raise ValueError(f"Not one of the app's data folders: {name!r}")
    for candidate in (PACKAGE_DIR / BUNDLED / name, IMPORT_ROOT / name):
        if candidate.is_dir():
            return candidate
    raise ResourcesMissing(
        f"The app's {name}/ folder is missing: looked in {PACKAGE_DIR / BUNDLED / name} (an "
        f"installed wheel) and {IMPORT_ROOT / name} (a checkout). Reinstall notice-composer."
    )


TEMPLATES_DIR: Final = data_dir("templates")
#: The only directory the PDF renderer may read resources from (``rendering.pdf``).
STATIC_DIR: Final = data_dir("static")
CHECKLISTS_DIR: Final = data_dir("checklists")

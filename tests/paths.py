"""Where the tests find the repository's files (docs, README, checklists) and the shared
evaluation set beside the checkout. The app finds its own data through
``composer.support.resources``."""

from __future__ import annotations

from pathlib import Path
from typing import Final

REPO_ROOT: Final = Path(__file__).resolve().parents[1]
#: The annotated real notices (``shared/eval/dev/notices``), beside the checkout.
DEV_NOTICES: Final = REPO_ROOT.parent / "shared" / "eval" / "dev" / "notices"

"""The facts document's documentation cannot drift from the checklist."""

from __future__ import annotations

import re

import pytest

from composer.checklist import load_catalogue
from tests.paths import REPO_ROOT


def test_every_fact_path_and_option_is_documented() -> None:
    doc = (REPO_ROOT / "docs" / "facts.md").read_text()
    cat = load_catalogue(REPO_ROOT / "checklists")
    for question in cat.questions.values():
        assert f"| `{question.fact}` | {question.label} | {question.type} |" in doc, question.id
        for option in question.options or []:
            assert f"`{option.id}`" in doc, (question.id, option.id)


def test_the_readme_describes_the_sample_recipient_previews_use() -> None:
    from composer.rendering.merge_fields import SAMPLE_RECIPIENT

    readme = " ".join((REPO_ROOT / "README.md").read_text().split())
    for value in (
        SAMPLE_RECIPIENT.full_name,
        SAMPLE_RECIPIENT.email,
        SAMPLE_RECIPIENT.reference,
        ", ".join(SAMPLE_RECIPIENT.postal_address),
    ):
        assert value in readme, value


#: A repository path in backticks: `composer/lint/syntax.py`, `tests/sending/fake_sendgrid.py`.
_REPO_PATH = re.compile(
    r"`((?:composer|tests|benchmarks|scripts|docs|requirements|templates|static|checklists)"
    r"/[\w./-]*\w)`"
)
#: A Markdown link to a file: [text](target), without a scheme or a bare anchor.
_LINK = re.compile(r"\]\(([^)#\s:]+)(?:#[^)\s]*)?\)")


@pytest.mark.parametrize(
    "page", ["README.md", *sorted(p.name for p in (REPO_ROOT / "docs").glob("*.md"))]
)
def test_the_docs_name_only_files_a_clone_has(page: str) -> None:
    path = REPO_ROOT / page if page == "README.md" else REPO_ROOT / "docs" / page
    text = path.read_text(encoding="utf-8")
    assert "../shared" not in text, "names a file outside this repository"
    prose = re.sub(r"```.*?```|`[^`\n]*`", "", text, flags=re.DOTALL)  # code is not a link
    for target in _LINK.findall(prose):
        assert (path.parent / target).exists(), f"{page} links to {target}, which is not here"
    for target in _REPO_PATH.findall(text):
        assert (REPO_ROOT / target).exists(), f"{page} names {target}, which is not here"

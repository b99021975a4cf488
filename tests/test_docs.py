"""The facts document's documentation cannot drift from the checklist."""

from __future__ import annotations

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
    from composer.rendering.merge import SAMPLE_RECIPIENT

    readme = " ".join((REPO_ROOT / "README.md").read_text().split())
    for value in (
        SAMPLE_RECIPIENT.full_name,
        SAMPLE_RECIPIENT.email,
        SAMPLE_RECIPIENT.reference,
        ", ".join(SAMPLE_RECIPIENT.postal_address),
    ):
        assert value in readme, value

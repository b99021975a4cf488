"""The draft's sections and headings come from checklists/notice_sections.yaml, checked at load."""

from __future__ import annotations

from pathlib import Path

import pytest

from composer.notices.drafting import HEADINGS, SECTIONS_PATH, load_sections
from composer.support.datafiles import DataFileError


def test_the_headings_are_californias_in_order() -> None:
    assert HEADINGS == (
        "What happened",
        "What information was involved",
        "What we are doing",
        "What you can do",
        "For more information",
    )
    assert load_sections(SECTIONS_PATH).law.startswith("California")


@pytest.mark.parametrize(
    ("change", "where", "says"),
    [
        (("- id: doing\n", "- id: doings\n"), "- id: doing\n", "sections[2].id: Input should be"),
        (
            ("    heading: What we are doing\n", "    heading: ''\n"),
            "    heading: What we are doing",
            "sections[2].heading",
        ),
        (("  - id: can_do\n    heading: What you can do\n", ""), "sections:", "sections: "),
        (("law:", "lawful:"), "law:", ": lawful: Extra inputs"),
    ],
)
def test_a_wrong_sections_file_names_the_file_key_and_line(
    tmp_path: Path, change: tuple[str, str], where: str, says: str
) -> None:
    text = SECTIONS_PATH.read_text("utf-8")
    assert change[0] in text
    line = text[: text.index(where)].count("\n") + 1
    path = tmp_path / "notice_sections.yaml"
    path.write_text(text.replace(*change), "utf-8")
    with pytest.raises(DataFileError) as caught:
        load_sections(path)
    assert str(caught.value).startswith(f"{path}:{line}: "), str(caught.value)
    assert says in str(caught.value)

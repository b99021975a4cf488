"""The data files load, and every kind of mistake in them is named by file, key and line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from composer import create_app
from composer.checklist import DataFileError, load_catalogue
from tests.paths import REPO_ROOT

DATA = REPO_ROOT / "checklists"


def test_shipped_data_loads() -> None:
    cat = load_catalogue(DATA)
    assert [s.id for s in cat.checklist.sections] == [
        "what-happened",
        "what-data",
        "customer-impact",
        "next-steps",
    ]
    assert len(cat.steps) == 10
    assert {"name", "email", "ssn", "card-full-number", "password-hashed", "health"} <= set(
        cat.categories
    )
    assert cat.place_names["countries"]["GB"] == "United Kingdom"
    assert cat.place_names["us_states"]["CA"] == "California"
    assert all(c.advice and c.label for c in cat.categories.values())


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    target = tmp_path / "checklists"
    shutil.copytree(DATA, target)
    return target


def edit(path: Path, old: str, new: str) -> int:
    """Replace the first ``old`` in ``path``; returns the 1-based line it was on."""
    text = path.read_text()
    index = text.index(old)
    path.write_text(text.replace(old, new, 1))
    return text.count("\n", 0, index) + 1


@pytest.mark.parametrize(
    ("file", "old", "new", "key", "problem"),
    [
        (
            "incident.yaml",
            "            type: textarea\n            label: What happened?",
            "            type: essay\n            label: What happened?",
            "sections[0].steps[1].questions[0].type",
            "Input should be 'text'",
        ),
        (
            "incident.yaml",
            "            label: When did you find out?",
            "            label: When did you find out?\n            colour: red",
            "sections[0].steps[0].questions[1].colour",
            "Extra inputs are not permitted",
        ),
        (
            "incident.yaml",
            "            show_if: {question: actor, equals: supplier}",
            "            show_if: {question: actor, equals: vendor}",
            "sections[0].steps[1].questions[2].show_if.equals",
            "'vendor' is not an option of 'actor'",
        ),
        (
            "incident.yaml",
            "            show_if: {question: actor, equals: supplier}",
            "            show_if: {question: reference, equals: supplier}",
            "sections[0].steps[1].questions[2].show_if.question",
            "'reference' is not a question that comes earlier",
        ),
        (
            "incident.yaml",
            "          - id: discovered\n",
            "          - id: occurred\n",
            "sections[0].steps[0].questions[1].id",
            "question id 'occurred' is used more than once",
        ),
        (
            "incident.yaml",
            "            not_before: occurred\n            fact: what_happened.discovered",
            "            not_before: description\n            fact: what_happened.discovered",
            "sections[0].steps[0].questions[1].not_before",
            "'description' is not an earlier date question",
        ),
        (
            "incident.yaml",
            "                label: Argon2\n",
            "                label: no\n",
            "sections[1].steps[0].questions[1].options[0].label",
            "Input should be a valid string",
        ),
        (
            "incident.yaml",
            "            show_if: {question: data_categories, includes: password-hashed}",
            "            show_if: {question: data_categories, includes: passwords}",
            "sections[1].steps[0].questions[1].show_if.includes",
            "'passwords' is not a choice of 'data_categories'",
        ),
        (
            "data_categories.yaml",
            "    group: contact\n",
            "    group: nowhere\n",
            "categories[0].group",
            "no group with id 'nowhere'",
        ),
        (
            "data_categories.yaml",
            "    flags: [contact",
            "    flags: [secret, contact",
            "categories[0].flags[0]",
            "Input should be 'contact'",
        ),
        (
            "places.yaml",
            '  - {code: "GB"',
            '  - {code: "gb"',
            "countries",
            "String should match pattern",
        ),
    ],
)
def test_schema_errors_name_file_key_and_line(
    data_dir: Path, file: str, old: str, new: str, key: str, problem: str
) -> None:
    path = data_dir / file
    line = edit(path, old, new)
    with pytest.raises(DataFileError) as caught:
        load_catalogue(data_dir)
    error = caught.value
    assert error.path == str(path)
    assert error.key.startswith(key)
    assert problem in error.problem
    # The line points at the edited key (or the line just after, for an added key).
    assert error.line in (line, line + 1), str(error)
    assert str(error).startswith(f"{path}:{error.line}: {error.key}: ")


def test_missing_required_key_points_at_its_parent(data_dir: Path) -> None:
    line = edit(data_dir / "incident.yaml", "            summary_label: When we found out\n", "")
    with pytest.raises(DataFileError) as caught:
        load_catalogue(data_dir)
    assert caught.value.key == "sections[0].steps[0].questions[1].summary_label"
    assert caught.value.problem == "Field required"
    assert caught.value.line is not None
    assert caught.value.line < line


def test_yaml_syntax_error_names_the_line(data_dir: Path) -> None:
    line = edit(data_dir / "incident.yaml", "title: Incident checklist", "title: [unclosed")
    with pytest.raises(DataFileError, match="not valid YAML") as caught:
        load_catalogue(data_dir)
    assert caught.value.line is not None
    assert caught.value.line >= line


def test_missing_file_is_named(data_dir: Path) -> None:
    (data_dir / "places.yaml").unlink()
    with pytest.raises(DataFileError, match=r"places\.yaml: cannot read the file"):
        load_catalogue(data_dir)


def test_app_refuses_to_start_with_a_broken_checklist(data_dir: Path, tmp_path: Path) -> None:
    edit(data_dir / "incident.yaml", "version: 1", "version: 0")
    with pytest.raises(DataFileError, match=r"incident\.yaml:\d+: version: Input should be"):
        create_app(
            {
                "SECRET_KEY": "x",
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.db",
                "CHECKLISTS_DIR": str(data_dir),
            }
        )

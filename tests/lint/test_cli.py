"""``python -m composer lint`` as LINT.md specifies: formats, --facts, exit codes, messages."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from composer.cli import lint
from composer.lint.engine import Linter

HEDGED = "Your email address may have been compromised.\n"
THREAT = "Failure to reset your password will result in your account being closed.\n"
PLAIN = "On 3 May a criminal copied your name and email address.\n"


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for name, text in (("hedged.txt", HEDGED), ("threat.txt", THREAT), ("plain.txt", PLAIN)):
        out[name] = tmp_path / name
        out[name].write_text(text, encoding="utf-8")
    return out


def run(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    code = lint.main(list(args), out=out)
    return code, out.getvalue()


def test_jsonl_gives_one_object_per_file_in_order(files: dict[str, Path]) -> None:
    code, out = run("--format", "jsonl", str(files["hedged.txt"]), str(files["plain.txt"]))
    assert code == 0  # warnings only
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["file"] for r in records] == [str(files["hedged.txt"]), str(files["plain.txt"])]
    hedge = next(f for f in records[0]["findings"] if f["category"] == "hedge")
    assert hedge["text"] == "may have been compromised"
    assert HEDGED[hedge["start"] : hedge["end"]] == hedge["text"]
    assert set(hedge) == {
        "rule", "category", "severity", "start", "end", "text", "message", "suggestion",
        "explanation",
    }  # fmt: skip
    assert {"words", "grade"} <= set(records[0]["stats"])


def test_exit_1_when_a_finding_is_an_error(files: dict[str, Path]) -> None:
    code, out = run(str(files["plain.txt"]), str(files["threat.txt"]))
    assert code == 1
    assert "error [threat]" in out


def test_human_report_names_file_line_and_column(files: dict[str, Path]) -> None:
    code, out = run(str(files["hedged.txt"]))
    assert code == 0
    assert f"{files['hedged.txt']}:1:20: warning [hedge] “may have been compromised”" in out
    assert "try: " in out
    assert f"{files['hedged.txt']}: grade " in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.txt"], "missing.txt: no such file"),
        (["--facts", "nofacts.json", "{plain}"], "nofacts.json: cannot read the facts file"),
        (["--facts", "{bad_json}", "{plain}"], "not valid JSON"),
        (["--facts", "{array_json}", "{plain}"], "not a facts document"),
        (["{latin1}"], "not UTF-8 text"),
        (["--config", "{bad_config}", "{plain}"], "expected a mapping with only"),
        (["--format", "xml", "{plain}"], ""),
        ([], ""),
    ],
)
def test_bad_usage_and_unreadable_input_exit_2_naming_the_file(
    files: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "array.json").write_text("[1, 2]")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 au lait".encode("latin-1"))
    (tmp_path / "bad.yaml").write_text("colour: red\n")
    names = {
        "plain": str(files["plain.txt"]),
        "bad_json": str(tmp_path / "bad.json"),
        "array_json": str(tmp_path / "array.json"),
        "latin1": str(tmp_path / "latin1.txt"),
        "bad_config": str(tmp_path / "bad.yaml"),
    }
    code, _ = run(*[a.format(**names) for a in args])
    assert code == 2
    assert message in capsys.readouterr().err


def test_disable_switches_off_a_rule(files: dict[str, Path]) -> None:
    _, out = run("--format", "jsonl", "--disable", "hedge", str(files["hedged.txt"]))
    categories = {f["category"] for f in json.loads(out)["findings"]}
    assert "hedge" not in categories


def test_the_model_loads_once_for_all_files(
    files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    real = Linter.load.__func__  # type: ignore[attr-defined]

    def counting(cls: type[Linter], *a: object, **k: object) -> Linter:
        calls.append(1)
        return real(cls, *a, **k)  # type: ignore[no-any-return]

    monkeypatch.setattr(Linter, "load", classmethod(counting))
    run(*(str(p) for p in files.values()))
    assert calls == [1]


def test_the_real_command_line(files: dict[str, Path]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "composer", "lint", "--format", "jsonl", str(files["threat.txt"])],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert json.loads(proc.stdout)["file"] == str(files["threat.txt"])
    unknown = subprocess.run(
        [sys.executable, "-m", "composer", "frobnicate"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert unknown.returncode == 2
    assert "unknown command 'frobnicate'" in unknown.stderr

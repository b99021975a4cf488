"""``python -m composer draft`` and ``render``: outputs, exit codes and messages."""

from __future__ import annotations

import json
import subprocess
import sys
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from composer.__main__ import main
from composer.notices.drafting import HEADINGS
from tests.paths import REPO_ROOT
from tests.rendering.notice_samples import FACTS_DIR, pdf_text

FACTS = str(FACTS_DIR / "supplier.json")


@pytest.fixture
def draft_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    assert main(["draft", "--facts", FACTS, "--company", "Example Shop"]) == 0
    path = tmp_path / "notice.md"
    path.write_text(capsys.readouterr().out, encoding="utf-8")
    return path


def render(*args: str) -> int:
    return main(["render", *args])


def test_draft_prints_markdown_with_the_sections(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["draft", "--facts", FACTS, "--company", "Example Shop"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Subject: ")
    for heading in HEADINGS:
        assert f"\n## {heading}\n" in out


def test_draft_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["draft", "--facts", str(tmp_path / "nope.json")]) == 2
    assert "nope.json: no such file" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    assert main(["draft", "--facts", str(bad)]) == 2
    assert "expected a JSON object" in capsys.readouterr().err


def test_render_every_format(
    draft_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recipient = tmp_path / "recipient.json"
    recipient.write_text(
        json.dumps(
            {
                "first_name": "Dana",
                "last_name": "Whitfield",
                "email": "dana@example.org",
                "postal_address": ["27 Harbour Road", "Porthaven", "PH4 7QT"],
            }
        )
    )
    common = ["--facts", FACTS, "--company", "Example Shop", "--recipient", str(recipient)]

    assert render(str(draft_file), *common, "--format", "pdf", "-o", str(tmp_path / "n.pdf")) == 0
    text = pdf_text((tmp_path / "n.pdf").read_bytes())
    assert "Dear Dana," in text
    assert "27 Harbour Road" in text
    assert "help@example.com" in text  # the facts' contact details in the letterhead

    assert render(str(draft_file), *common, "--format", "email", "-o", str(tmp_path / "n.eml")) == 0
    message = message_from_bytes((tmp_path / "n.eml").read_bytes(), policy=policy.default)
    assert isinstance(message, EmailMessage)
    assert message["To"] == "Dana Whitfield <dana@example.org>"
    assert message["From"] == "Example Shop <help@example.com>"  # from the facts
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]

    assert render(str(draft_file), *common, "--format", "html", "-o", str(tmp_path / "n.html")) == 0
    html = (tmp_path / "n.html").read_text()
    assert '<html lang="en">' in html
    assert "Dear customer," in html

    assert render(str(draft_file), *common, "--format", "sms", "-o", str(tmp_path / "n.txt")) == 0
    sms = (tmp_path / "n.txt").read_text()
    assert 0 < len(sms.strip()) <= 160

    err = capsys.readouterr().err
    assert "Wrote " in err


def test_render_letter_paper(draft_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "n.pdf"
    assert render(str(draft_file), "--format", "pdf", "--paper", "letter", "-o", str(out)) == 0
    info = subprocess.run(["pdfinfo", str(out)], capture_output=True, text=True, check=True)
    assert "612 x 792 pts (letter)" in info.stdout


def test_a_letter_abroad_gets_the_country_line_of_the_home_country_given(
    draft_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    person = tmp_path / "r.json"
    person.write_text(
        json.dumps(
            {
                "first_name": "Sam",
                "postal_address": ["1 Market St", "San Francisco"],
                "country": "US",
                "us_state": "CA",
            }
        )
    )
    out = tmp_path / "n.pdf"
    args = [str(draft_file), "--format", "pdf", "--recipient", str(person), "-o", str(out)]
    assert render(*args) == 0
    text = pdf_text(out.read_bytes())
    assert "San Francisco, CA" in text
    assert "UNITED STATES" in text
    assert render(*args, "--home-country", "us") == 0
    assert "UNITED STATES" not in pdf_text(out.read_bytes())
    assert render(*args, "--home-country", "UK") == 2
    assert "--home-country must be the two-letter ISO 3166-1 code" in capsys.readouterr().err


def test_unknown_merge_field_names_the_field_and_file_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    draft = tmp_path / "d.md"
    draft.write_text("Subject: About your data\n\nDear {{ first_name }},\n\nYour PIN {{ pin }}.\n")
    assert render(str(draft), "--format", "pdf", "-o", str(tmp_path / "x.pdf")) == 1
    err = capsys.readouterr().err
    assert f"{draft}:5: unknown merge field {{{{ pin }}}}" in err
    assert not (tmp_path / "x.pdf").exists()
    draft.write_text("Subject: Hi {{ nick }}\n\nBody\n")
    assert render(str(draft), "--format", "html", "-o", str(tmp_path / "x.html")) == 1
    assert "(subject line): unknown merge field {{ nick }}" in capsys.readouterr().err


def test_refused_resource_names_the_url(
    draft_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = render(
        str(draft_file), "--format", "pdf", "--logo", "/etc/passwd", "-o", str(tmp_path / "x")
    )
    assert code == 1
    assert "Refused to load file:///etc/passwd" in capsys.readouterr().err


def test_timeout_is_reported(
    draft_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = render(
        str(draft_file), "--format", "pdf", "--timeout", "0.01", "-o", str(tmp_path / "x")
    )
    assert code == 1
    assert "took longer than 0.01 seconds and was stopped" in capsys.readouterr().err


def test_bad_subject_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    draft = tmp_path / "d.md"
    draft.write_text("Subject: Hello%0d%0aBcc: everyone@example.com\n\nBody\n")
    code = render(str(draft), "--format", "email", "--sender", "a@example.com", "-o", "-")
    assert code == 1
    assert "encoded line break" in capsys.readouterr().err


def test_usage_errors(draft_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert render(str(tmp_path / "missing.md"), "--format", "html", "-o", "-") == 2
    assert "missing.md: no such file" in capsys.readouterr().err
    assert render(str(draft_file), "--format", "sms", "-o", "-") == 2
    assert "--format sms needs --facts" in capsys.readouterr().err
    assert render(str(draft_file), "--format", "email", "-o", "-") == 2
    assert "needs --sender" in capsys.readouterr().err
    bad = tmp_path / "r.json"
    bad.write_text('{"first_name": "A\\nB"}')
    assert render(str(draft_file), "--format", "html", "--recipient", str(bad), "-o", "-") == 1
    assert "control character or line break" in capsys.readouterr().err
    with pytest.raises(SystemExit) as caught:
        render(str(draft_file), "--format", "docx", "-o", "-")
    assert caught.value.code == 2


def test_python_dash_m_entry_point(draft_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "n.html"
    ok = subprocess.run(
        [
            sys.executable,
            "-m",
            "composer",
            "render",
            str(draft_file),
            "--format",
            "html",
            "-o",
            str(out),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert out.read_text().startswith("<!DOCTYPE html>")
    assert "no --company given" in ok.stderr

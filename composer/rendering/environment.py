"""The one Jinja environment notices are rendered with, and where their templates live.

Sandboxed (a template cannot reach Python internals), ``StrictUndefined`` (a missing value is
an error, never an empty string) and autoescaping on for everything except ``.txt`` templates,
so a recipient's name is HTML-escaped wherever it lands in an email, web page or PDF.
"""

from __future__ import annotations

import functools
import re

from jinja2 import FileSystemLoader, StrictUndefined, Template, select_autoescape
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from composer.support.resources import STATIC_DIR, TEMPLATES_DIR  # templates/, static/notices/


@functools.cache
def notice_environment() -> SandboxedEnvironment:
    """The shared environment (built once per process)."""
    return SandboxedEnvironment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(
            enabled_extensions=("html", "xml"),
            disabled_extensions=("txt",),
            default_for_string=True,
            default=True,
        ),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        auto_reload=False,
    )


def compile_template(source: str, *, html: bool) -> Template:
    """``source`` compiled in the notice environment, escaped for HTML when ``html`` is true.

    Like ``Environment.from_string``, but the name decides the autoescaping, so plain-text parts
    (an email's text/plain part, its Subject header) are not HTML-escaped.
    """
    env = notice_environment()
    name = "<notice>.html" if html else "<notice>.txt"
    code = env.compile(source, name=name)
    return env.template_class.from_code(env, code, env.make_globals(None))


@functools.cache
def notice_css(*names: str) -> Markup:
    """The named stylesheets from ``static/notices/``, concatenated, for a ``<style>`` element.
    Our own files, so trusted as they are (never a draft's or a recipient's text)."""
    css = "\n".join((STATIC_DIR / "notices" / name).read_text("utf-8") for name in names)
    return Markup(css)  # noqa: S704 - our own stylesheets, not user input


#: A BCP 47 language tag, as ``<html lang>`` and the PDF's /Lang take it.
_LANG = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*")


def checked_lang(lang: str) -> str:
    """``lang`` if it looks like a language tag ("en", "en-GB"); ValueError otherwise."""
    if not _LANG.fullmatch(lang):
        raise ValueError(f"Not a language tag: {lang!r} (expected something like 'en' or 'en-GB')")
    return lang

"""Where a form may send the browser next: only to a page of this site.

A ``next`` or ``back`` value comes from the request, so anyone can craft it. A browser reading
a Location header drops tabs and line breaks anywhere in it, trims control characters and
spaces at its ends, and reads a backslash as a slash; "/\\t/evil.example" therefore leads to
another site, and a line break would not even fit in a header. Such values are refused, not
repaired: the target is checked as the browser will read it, both as sent and with its
percent-escapes decoded once (for a server that decodes "%2F" before routing).
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

#: Characters a browser removes from, or reads differently in, a URL: C0 controls (tab, line
#: feed and carriage return among them), space, DEL, and the backslash.
_ALTERED = re.compile(r"[\x00-\x20\x7f\\]")
_TAB_OR_NEWLINE = re.compile(r"[\t\n\r]")
_ENDS = re.compile(r"^[\x00-\x20]+|[\x00-\x20]+$")
#: The longest target kept; a page of this site has a far shorter address.
MAX_TARGET_CHARS = 2000


def _reads_as_local_path(url: str) -> bool:
    # What a browser would make of it: "\t" and "\n" gone, "\\" as "/".
    seen = _ENDS.sub("", _TAB_OR_NEWLINE.sub("", url)).replace("\\", "/")
    if not seen.startswith("/") or seen.startswith("//"):
        return False
    parts = urlsplit(seen)
    return not parts.scheme and not parts.netloc


def local_target(target: str | None) -> str | None:
    """``target`` when it is a path on this site ("/incidents/3?tab=facts"), else None.

    Refuses absolute and scheme-relative URLs ("https://x", "//x", "///x"), anything with
    control characters, spaces or backslashes as typed, and anything that reads as another
    site once its percent-escapes are decoded ("/%09/x", "/%0A/x", "/%5Cx", "/%2F%2Fx").
    """
    if not target or len(target) > MAX_TARGET_CHARS or _ALTERED.search(target):
        return None
    decoded = unquote(target)
    if not (_reads_as_local_path(target) and _reads_as_local_path(decoded)):
        return None
    return target

"""Nothing typed is lost when the session has ended (docs/security.md, "Kept forms").

A form posted without a usable session (it expired, the user signed out in another tab, the
server's secret was changed) or with a stale CSRF token is kept server-side under a random
one-time key that lives only in the browser's session. Signing in again binds it to that
account; the form's page then shows the text again, not saved, for the user to check and send
with a fresh CSRF token. Nothing is ever saved from here, so the roles and CSRF checks of the
form itself still decide what is saved.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import current_app, flash, request, session, url_for
from flask_login import current_user
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import delete, func, select
from werkzeug.wrappers import Response

from composer.extensions import current_settings, db
from composer.models import KeptForm, Role, User, utcnow


@dataclass(frozen=True)
class Keepable:
    """A form whose typed text is kept: where it is shown, who may send it, its button."""

    page: str
    roles: tuple[Role, ...]
    button: str
    #: The URL arguments of ``page``, from those of the endpoint posted to.
    page_args: tuple[str, ...]


#: Every form that carries typed text, by the endpoint it posts to.
KEEPABLE: dict[str, Keepable] = {
    "notices.save": Keepable("notices.editor", (Role.AUTHOR,), "Save", ("incident_id",)),
    "incidents.save_step": Keepable(
        "incidents.step", (Role.AUTHOR,), "Save and continue", ("incident_id", "step_id")
    ),
    "incidents.create": Keepable("incidents.index", (Role.AUTHOR,), "Start", ()),
    "reviews.submit": Keepable(
        "reviews.submit_form", (Role.AUTHOR,), "Submit for review", ("incident_id",)
    ),
    "reviews.add_comment": Keepable(
        "reviews.review",
        (Role.APPROVER, Role.AUTHOR),
        "Add comment",
        ("incident_id", "review_id"),
    ),
    "reviews.approve": Keepable(
        "reviews.review", (Role.APPROVER,), "Approve", ("incident_id", "review_id")
    ),
    "reviews.request_changes": Keepable(
        "reviews.review", (Role.APPROVER,), "Request changes", ("incident_id", "review_id")
    ),
}

#: The largest form kept, in characters of its JSON: far above a notice at LINT_MAX_CHARS.
MAX_CHARS = 1_000_000
#: Kept forms waiting at once from one client address, and in all for no known account: a
#: stranger posting junk cannot fill the database.
MAX_PER_ADDRESS = 20
MAX_WITHOUT_ACCOUNT = 500
#: Keys one browser's session holds; the oldest goes first.
MAX_IN_SESSION = 5
SESSION_KEY = "kept_forms"
#: A signed note of the last account signed in on this browser: it outlives the session, so a
#: form posted after the session cookie expired is still bound to the account that wrote it.
SIGNER_COOKIE = "composer_signer"
SIGNER_DAYS = 30
#: Fields never kept: the stale token, and passwords (approving asks for it again).
_DROPPED = frozenset({"csrf_token", "password"})

SIGN_IN_MESSAGE = "Sign in again to finish saving: what you typed is kept."


class NotKept(Exception):
    """The form could not be kept; the message says why, for the user."""


@dataclass(frozen=True)
class Kept:
    """A kept form, taken back for its page."""

    endpoint: str
    fields: dict[str, list[str]]

    def get(self, name: str) -> str:
        values = self.fields.get(name) or [""]
        return values[0]


def is_keepable() -> bool:
    """A POST of a form with typed text, from a page of this site.

    Only same-origin posts are kept: a page elsewhere posting junk into someone's form (without
    a CSRF token, as it must) would otherwise have it shown to them as "what you typed".
    """
    return request.method == "POST" and request.endpoint in KEEPABLE and same_origin()


def same_origin() -> bool:
    """The browser says the request came from a page of this site (Sec-Fetch-Site, Origin or,
    failing both, Referer); a request that says nothing is not trusted."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None and fetch_site != "same-origin":
        return False
    source = request.headers.get("Origin") or request.headers.get("Referer")
    if not source or source == "null":
        return False
    return urlsplit(source).netloc == request.host


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode("ascii")).hexdigest()


def _lifetime() -> timedelta:
    return timedelta(hours=current_settings().kept_form_hours)


def _signer() -> URLSafeSerializer:
    return URLSafeSerializer(str(current_app.secret_key), salt="composer.kept-forms.signer")


def _owner_hint() -> int | None:
    """The account whose session ended: from the session itself when it is still readable
    (signed out elsewhere), else from the signed note of the last sign-in on this browser."""
    if current_user.is_authenticated:
        return int(current_user.id)
    user_id, _, _ = str(session.get("_user_id") or "").partition(":")
    if user_id.isdigit():
        return int(user_id)
    cookie = request.cookies.get(SIGNER_COOKIE)
    if cookie:
        try:
            value = _signer().loads(cookie)
        except BadSignature:
            return None
        if isinstance(value, int):
            return value
    return None


def _may_send(user: User, keepable: Keepable) -> bool:
    return any(user.has_role(role) for role in keepable.roles)


def _posted_fields() -> dict[str, list[str]]:
    return {
        name: values
        for name, values in request.form.to_dict(flat=False).items()
        if name not in _DROPPED
    }


def page_url(endpoint: str, view_args: Mapping[str, Any]) -> str:
    keepable = KEEPABLE[endpoint]
    return url_for(keepable.page, **{name: view_args[name] for name in keepable.page_args})


def keep_posted_form() -> str:
    """Keep the form being posted; returns the URL of its page. Raises ``NotKept``."""
    endpoint = str(request.endpoint)
    view_args = dict(request.view_args or {})
    now = utcnow()
    fields = json.dumps(_posted_fields(), ensure_ascii=True)
    if len(fields) > MAX_CHARS:
        raise NotKept("The form was too large to keep.")
    owner = _owner_hint()
    address = (request.remote_addr or "unknown")[:64]
    sess = db.session()
    sess.execute(delete(KeptForm).where(KeptForm.expires_at <= now))
    from_address = sess.scalar(
        select(func.count()).select_from(KeptForm).where(KeptForm.address == address)
    )
    unowned = sess.scalar(
        select(func.count()).select_from(KeptForm).where(KeptForm.user_id.is_(None))
    )
    if (from_address or 0) >= MAX_PER_ADDRESS or (
        owner is None and (unowned or 0) >= MAX_WITHOUT_ACCOUNT
    ):
        sess.commit()
        raise NotKept("Too many forms are already waiting for their writers to sign in.")
    if owner is not None and sess.get(User, owner) is None:
        owner = None
    # The same form posted again (Save pressed twice): the newest text replaces the older.
    view_args_json = json.dumps(view_args, sort_keys=True)
    earlier = [k for k in session.get(SESSION_KEY, []) if isinstance(k, str)]
    replaced = set(
        sess.scalars(
            select(KeptForm.key_hash).where(
                KeptForm.key_hash.in_([_hash(k) for k in earlier]),
                KeptForm.endpoint == endpoint,
                KeptForm.view_args == view_args_json,
            )
        )
    )
    if replaced:
        sess.execute(delete(KeptForm).where(KeptForm.key_hash.in_(replaced)))
    key = secrets.token_urlsafe(32)
    sess.add(
        KeptForm(
            key_hash=_hash(key),
            user_id=owner,
            endpoint=endpoint,
            view_args=view_args_json,
            fields=fields,
            address=address,
            created_at=now,
            expires_at=now + _lifetime(),
        )
    )
    sess.commit()
    keys = [k for k in earlier if _hash(k) not in replaced]
    session[SESSION_KEY] = [*keys, key][-MAX_IN_SESSION:]
    return page_url(endpoint, view_args)


def waiting() -> bool:
    """Whether this browser's session holds kept forms (the sign-in page says so)."""
    return bool(session.get(SESSION_KEY))


def keys_before_sign_in() -> list[str]:
    """The session's keys, read before sign-in clears the session."""
    return [k for k in session.get(SESSION_KEY, []) if isinstance(k, str)]


def claim(user: User, keys: list[str]) -> str | None:
    """Bind the kept forms behind ``keys`` to ``user``, who has just signed in, and keep their
    keys in the new session. Forms of another account, or that ``user`` may not send, are
    deleted unseen. Returns the page of the newest form kept, if any."""
    sess = db.session()
    now = utcnow()
    kept: list[str] = []
    page = None
    for key in keys:
        row = sess.scalar(select(KeptForm).where(KeptForm.key_hash == _hash(key)))
        if row is None:
            continue
        keepable = KEEPABLE.get(row.endpoint)
        if row.user_id is None:
            row.user_id = user.id
        if (
            row.expires_at <= now
            or row.user_id != user.id
            or keepable is None
            or not _may_send(user, keepable)
        ):
            sess.delete(row)
            continue
        kept.append(key)
        page = page_url(row.endpoint, json.loads(row.view_args))
    sess.commit()
    if kept:
        session[SESSION_KEY] = kept
    return page


def take(*endpoints: str, **view_args: Any) -> Kept | None:
    """The signed-in user's kept form for one of ``endpoints`` with ``view_args``, once: it is
    deleted as it is read. Flashes that it is back but not saved."""
    keys = session.get(SESSION_KEY)
    if not keys or not current_user.is_authenticated:
        return None
    sess = db.session()
    wanted = json.dumps(view_args, sort_keys=True)
    for key in keys:
        row = sess.scalar(select(KeptForm).where(KeptForm.key_hash == _hash(key)))
        if row is None or row.endpoint not in endpoints or row.view_args != wanted:
            continue
        session[SESSION_KEY] = [k for k in keys if k != key]
        sess.delete(row)
        sess.commit()
        keepable = KEEPABLE[row.endpoint]
        if (
            row.user_id != current_user.id
            or row.expires_at <= utcnow()
            or not _may_send(current_user, keepable)
        ):
            return None
        flash(
            "What you typed before signing in again is back in the form below. It is NOT "
            f"saved yet: check it and press “{keepable.button}”.",
            "warning",
        )
        return Kept(row.endpoint, json.loads(row.fields))
    return None


def remember_signer(response: Response, user: User) -> None:
    """Note on the browser who signed in, signed, for forms posted after the session ends."""
    response.set_cookie(
        SIGNER_COOKIE,
        _signer().dumps(user.id),
        max_age=SIGNER_DAYS * 24 * 3600,
        secure=current_settings().session_cookie_secure,
        httponly=True,
        samesite="Lax",
    )

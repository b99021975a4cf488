"""Role checks for views."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from flask import abort
from flask_login import current_user, login_required

from composer.models import Role

P = ParamSpec("P")
R = TypeVar("R")


def signed_in(view: Callable[P, R]) -> Callable[P, R]:
    """Flask-Login's ``login_required``, typed."""
    return login_required(view)  # type: ignore[no-any-return]


def require_role(*roles: Role) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Signed-in users holding any of ``roles`` get through; others get 403."""

    def decorator(view: Callable[P, R]) -> Callable[P, R]:
        @wraps(view)
        def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
            if not any(current_user.has_role(role) for role in roles):
                needed = " or ".join(r.value for r in roles)
                abort(403, description=f"This needs the {needed} role.")
            return view(*args, **kwargs)

        return signed_in(wrapped)

    return decorator


def can(role: Role) -> bool:
    return bool(current_user.is_authenticated and current_user.has_role(role))

"""User management, for admins only."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from composer import accounts
from composer.extensions import db
from composer.models import Role, User
from composer.web.access import require_role
from composer.web.common import password_hasher
from composer.web.forms.admin import ActiveForm, NewUserForm, RolesForm

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _render(status: int = 200, **context: object) -> tuple[str, int]:
    users = db.session.scalars(db.select(User).order_by(User.email)).all()
    return render_template("admin/users.html", users=users, roles=list(Role), **context), status


@bp.get("/users")
@require_role(Role.ADMIN)
def users() -> tuple[str, int]:
    return _render()


@bp.post("/users")
@require_role(Role.ADMIN)
def create_user() -> Response | tuple[str, int]:
    form = NewUserForm.posted()
    password = accounts.generate_password(form.email)
    try:
        user = accounts.create_user(
            db.session(),
            password_hasher(),
            email=form.email,
            display_name=form.display_name,
            password=password,
            roles=set(form.roles),
            created_by=current_user,
        )
    except accounts.AccountError as exc:
        db.session.rollback()
        return _render(422, create_error=str(exc), form=form, form_roles=form.roles)
    db.session.commit()
    flash(
        f"Account created for {user.email}. Give them this password once, by a separate channel: "
        f"{password}",
        "success",
    )
    return redirect(url_for(".users"))


def _user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        abort(404, description=f"There is no user number {user_id}.")
    return user


@bp.post("/users/<int:user_id>/roles")
@require_role(Role.ADMIN)
def set_roles(user_id: int) -> Response | tuple[str, int]:
    user = _user(user_id)
    try:
        accounts.set_roles(db.session(), user, set(RolesForm.posted().roles), by=current_user)
    except accounts.AccountError as exc:
        db.session.rollback()
        return _render(422, row_error=(user_id, str(exc)))
    db.session.commit()
    flash(f"Roles updated for {user.email}.", "success")
    return redirect(url_for(".users"))


@bp.post("/users/<int:user_id>/active")
@require_role(Role.ADMIN)
def set_active(user_id: int) -> Response | tuple[str, int]:
    user = _user(user_id)
    active = ActiveForm.posted().activate
    try:
        accounts.set_active(db.session(), user, active, by=current_user)
    except accounts.AccountError as exc:
        db.session.rollback()
        return _render(422, row_error=(user_id, str(exc)))
    db.session.commit()
    flash(f"{user.email} is now {'active' if active else 'deactivated'}.", "success")
    return redirect(url_for(".users"))

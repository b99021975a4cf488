"""``create-user`` and ``demo-accounts``: staff accounts from the command line."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from composer import accounts
from composer.cli.app_state import password_hasher
from composer.extensions import db
from composer.models import Role, User

DEMO_ACCOUNTS = [
    ("author@example.com", "Demo Author", [Role.AUTHOR]),
    ("approver@example.com", "Demo Approver", [Role.APPROVER]),
    ("admin@example.com", "Demo Admin", [Role.ADMIN]),
]


@click.command("create-user")
@with_appcontext
@click.argument("email")
@click.option("--name", "display_name", default="", help="Name shown in the app.")
@click.option(
    "--role",
    "roles",
    multiple=True,
    required=True,
    type=click.Choice([r.value for r in Role]),
    help="Repeat for several roles.",
)
@click.option(
    "--generate-password",
    is_flag=True,
    help="Make a strong password and print it once, instead of asking for one.",
)
def create_user_command(
    email: str, display_name: str, roles: tuple[str, ...], generate_password: bool
) -> None:
    """Create a staff account with the given roles."""
    if generate_password:
        password = accounts.generate_password(email)
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = accounts.create_user(
            db.session(),
            password_hasher(),
            email=email,
            display_name=display_name,
            password=password,
            roles=[Role(r) for r in roles],
            created_by=None,
            actor_label="cli",
        )
    except accounts.AccountError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"Created {user.email} with roles: {', '.join(sorted(roles))}.")
    if generate_password:
        click.echo(f"Password (shown once): {password}")


@click.command("demo-accounts")
@with_appcontext
def demo_accounts_command() -> None:
    """Create one demo account per role on an empty database and print their passwords once."""
    if db.session.scalar(db.select(User.id).limit(1)) is not None:
        click.echo(
            "Accounts already exist, so no demo accounts were made (their passwords were "
            "printed when they were created). Add one with: flask --app composer create-user"
        )
        return
    rows = []
    for email, name, roles in DEMO_ACCOUNTS:
        password = accounts.generate_password(email)
        accounts.create_user(
            db.session(),
            password_hasher(),
            email=email,
            display_name=name,
            password=password,
            roles=roles,
            created_by=None,
            actor_label="cli",
        )
        rows.append((email, password, ", ".join(r.value for r in roles)))
    db.session.commit()
    click.echo("Demo accounts (these passwords are shown only this once):")
    for email, password, roles_text in rows:
        click.echo(f"  {email:<24} {password:<24} {roles_text}")

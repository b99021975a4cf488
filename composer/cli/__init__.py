"""The command line: one click group, ``main``, behind both ``python -m composer COMMAND`` and
``flask --app composer COMMAND``.

- ``lint``, ``draft`` and ``render`` need no app: they never create one nor open the database,
  and keep the argument parsing, messages and exit codes docs/linter.md and docs/rendering.md
  promise (``composer.cli.lint``, ``composer.cli.render``).
- The app commands (accounts, facts, the audit log, approval, sending, staff mail, postal
  letters, the retention purge, the database migrations) run inside an app, which
  ``python -m composer`` creates with ``create_app()`` only when one of them runs.

``register(app)`` adds the same command objects to ``app.cli`` for ``flask --app composer``.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence
from typing import Any

import click
from flask import Flask
from flask.cli import ScriptInfo

PROG = "python -m composer"

#: Command name -> "module:attribute" of the click command. Loaded on first use, so that
#: ``python -m composer lint`` imports neither the database layer nor the sending workers.
APP_COMMANDS = {
    "approval": "composer.cli.approval:approval_cli",
    "audit": "composer.cli.audit:audit_cli",
    "create-user": "composer.cli.accounts:create_user_command",
    "demo-accounts": "composer.cli.accounts:demo_accounts_command",
    "facts": "composer.cli.facts:facts_command",
    "letters": "composer.cli.letters:letters_cli",
    "mail": "composer.cli.mail:mail_cli",
    "purge": "composer.cli.retention:purge_command",
    "send": "composer.cli.sending:send_cli",
}
#: Flask-Migrate's ``db`` group: ``flask`` finds it through its plugin entry point, so
#: ``register`` leaves it out; ``python -m composer`` lists it with the app commands.
MIGRATIONS = {"db": "flask_migrate.cli:db"}


class ArgvCommand(click.Command):
    """A command that hands its arguments untouched to ``run(argv) -> exit status``: the
    argparse command lines of ``lint``, ``draft`` and ``render`` keep their own options, help
    and usage errors (exit status 2, message on stderr)."""

    def __init__(self, name: str, run: str, help: str) -> None:
        super().__init__(name, help=help, add_help_option=False)
        self.run = run

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.args = list(args)
        return []

    def invoke(self, ctx: click.Context) -> Any:
        run: Callable[[list[str]], int] = _load(self.run)
        ctx.exit(run(ctx.args))


TOOLS = {
    "lint": ArgvCommand(
        "lint",
        "composer.cli.lint:main",
        help="Check notice text for hedging, vagueness, jargon and cliches (docs/linter.md).",
    ),
    "draft": ArgvCommand(
        "draft",
        "composer.cli.render:draft_main",
        help="Print a first draft written from the facts (docs/rendering.md).",
    ),
    "render": ArgvCommand(
        "render",
        "composer.cli.render:render_main",
        help="Render a draft as a PDF letter, an email (.eml), a web page or an SMS.",
    ),
}


def _load(target: str) -> Any:
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)


class CommandLine(click.Group):
    """Every composer command, the app commands loaded on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*TOOLS, *APP_COMMANDS, *MIGRATIONS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in TOOLS:
            return TOOLS[cmd_name]
        target = APP_COMMANDS.get(cmd_name) or MIGRATIONS.get(cmd_name)
        return None if target is None else _load(target)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0]
        if self.get_command(ctx, name) is None and not name.startswith("-"):
            ctx.fail(f"unknown command '{name}'.")
        return super().resolve_command(ctx, args)


main = CommandLine(
    "composer",
    help="The notice composer's commands. Those that need the app (its database) create it "
    "from COMPOSER_* settings; lint, draft and render need none. 'COMMAND --help' for more.",
)


def run(argv: Sequence[str] | None, *, create_app: Callable[[], Flask]) -> int:
    """Run ``python -m composer`` with ``argv`` (default: the process's arguments) and give its
    exit status: 0 done, 1 a finding that is an error or a refusal, 2 bad usage.

    ``create_app`` makes the app, called only when an app command runs (its with_appcontext
    finds it through the ScriptInfo, as under ``flask``)."""
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        status = main.main(
            args, prog_name=PROG, standalone_mode=False, obj=ScriptInfo(create_app=create_app)
        )
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.Abort:
        click.echo("Aborted!", err=True)
        return 1
    return status if isinstance(status, int) else 0


def register(app: Flask) -> None:
    """``flask --app composer COMMAND``: the same commands on the app's command group."""
    for name in (*TOOLS, *APP_COMMANDS):
        command = main.get_command(click.Context(main), name)
        assert command is not None
        app.cli.add_command(command)

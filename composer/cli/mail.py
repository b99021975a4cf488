"""``mail deliver``: staff email the gateway could not take at the time, sent again."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

from composer.extensions import current_settings, db

mail_cli = AppGroup("mail", help="Email to staff.")


@mail_cli.command("deliver")
@click.option("--limit", default=100, show_default=True, help="Most messages to send now.")
def mail_deliver_command(limit: int) -> None:
    """Send pending staff emails through the configured gateway (the retry path).

    Exits 1 if any message failed; failed messages stay pending for the next run.
    """
    from sqlalchemy.orm import sessionmaker

    from composer.delivery import staff_mail
    from composer.delivery.gateways import GatewayError, gateway_for

    try:
        gateway = gateway_for(current_settings(), sessionmaker(db.engine))
        report = staff_mail.deliver_pending(
            db.session(), gateway, base_url=current_settings().app_base_url, limit=limit
        )
    except (GatewayError, staff_mail.StaffMailError) as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from None
    unsent = staff_mail.count_unsent(db.session())
    click.echo(
        f"Sent {report.sent}, failed {report.failed} (gateway: {gateway.name}); "
        f"{unsent} still unsent."
    )
    if report.failed:
        sys.exit(1)

"""Staff email from the web layer: the configured gateway, and delivery after the commit."""

from __future__ import annotations

from flask import current_app

from composer.delivery import staff_mail
from composer.delivery.gateways import GatewayError
from composer.extensions import current_settings, db
from composer.workers.runtime import mail_gateway


def deliver_staff_mail(limit: int = 20) -> staff_mail.DeliveryReport | None:
    """Send pending staff messages now; call it after the request's commit.

    Never raises: a failure is logged (without addresses) and the messages stay pending for the
    next request or ``flask --app composer mail deliver``. Returns None when delivery could not
    run at all.
    """
    try:
        return staff_mail.deliver_pending(
            db.session(),
            mail_gateway(),
            base_url=current_settings().app_base_url,
            limit=limit,
        )
    except (GatewayError, staff_mail.StaffMailError) as exc:
        db.session.rollback()
        current_app.logger.error("Staff email not delivered; it stays pending: %s", exc)
    except Exception as exc:
        # Only the type: the text of a database error can quote the row, addresses included.
        db.session.rollback()
        current_app.logger.error(
            "Staff email not delivered (%s); it stays pending.", type(exc).__name__
        )
    return None

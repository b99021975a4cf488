"""SendGrid's signed Event Webhook."""

from __future__ import annotations

import time

from flask import current_app, request

from composer.delivery import reconcile
from composer.delivery.webhook import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookKeyInvalid,
    WebhookRejected,
    parse_events,
    skipped_summary,
    verify_signature,
)
from composer.extensions import csrf, current_settings, db
from composer.models import utcnow


@csrf.exempt  # type: ignore[untyped-decorator]  # SendGrid signs its posts instead
def webhook() -> tuple[str, int] | tuple[str, int, dict[str, str]]:
    """SendGrid's Event Webhook: signed (ECDSA over timestamp + body), fresh, applied once.
    Items that are not usable events are skipped, never the whole post (SendGrid would retry
    it, good events and all, for ever): 204 when every item was used, else 200 and a line
    saying what was skipped and why."""
    settings = current_settings()
    key = settings.sendgrid_webhook_public_key or ""
    if not key:
        return "The Event Webhook is not configured (SENDGRID_WEBHOOK_PUBLIC_KEY).", 503
    payload = request.get_data(cache=False)
    try:
        verify_signature(
            key,
            payload,
            request.headers.get(SIGNATURE_HEADER),
            request.headers.get(TIMESTAMP_HEADER),
            now=time.time(),
            max_age_seconds=settings.sendgrid_webhook_max_age_seconds,
        )
        events = parse_events(payload)
    except WebhookKeyInvalid as exc:
        current_app.logger.error("Event Webhook key unusable: %s", exc)
        return "The Event Webhook's verification key is not usable.", 503
    except WebhookRejected as exc:
        return f"Refused: {exc}", 403
    except ValueError as exc:
        return f"Refused: {exc}", 400
    reconcile.apply_events(db.session(), events, now=utcnow())
    db.session.commit()
    skipped = skipped_summary(events)
    if skipped:
        current_app.logger.warning("Event Webhook: %s", skipped)
        return skipped, 200, {"Content-Type": "text/plain; charset=utf-8"}
    return "", 204

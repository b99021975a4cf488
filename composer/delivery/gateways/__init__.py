"""Mail gateways: where an email goes when the app sends it.

Two gateways, chosen by ``MAIL_GATEWAY`` (:func:`gateway_for`):

- ``outbox`` (the default) stores each message in the ``dev_outbox_message`` table, where an
  admin reads it at ``/outbox``. Nothing leaves the machine (``dev_outbox``).
- ``sendgrid`` posts one SendGrid v3 Mail Send request per message, or per batch of up to 1000
  recipients, through the official client (``sendgrid``).

A gateway (``messages.MailGateway``) either returns the provider's message id or raises a
``GatewayError`` (``errors``) whose message is written for the admin who will read it.

Bulk notices go through ``send_batch``: one cohort's notice (the same subject, HTML and text,
whose only code is ``{{ field }}`` merge fields: ``content``) to up to 1000 people in one
request, each with their own merge values.

This package's names are imported from here; its modules are how the code is laid out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from composer.delivery.gateways.addresses import MAX_NAME_CHARS as MAX_NAME_CHARS
from composer.delivery.gateways.addresses import MAX_SUBJECT_CHARS as MAX_SUBJECT_CHARS
from composer.delivery.gateways.addresses import MailAddress as MailAddress
from composer.delivery.gateways.addresses import parse_sender as parse_sender
from composer.delivery.gateways.content import CohortContent as CohortContent
from composer.delivery.gateways.dev_outbox import DevOutboxGateway as DevOutboxGateway
from composer.delivery.gateways.errors import GatewayAuthError as GatewayAuthError
from composer.delivery.gateways.errors import GatewayConfigError as GatewayConfigError
from composer.delivery.gateways.errors import GatewayError as GatewayError
from composer.delivery.gateways.errors import GatewayRateLimited as GatewayRateLimited
from composer.delivery.gateways.errors import GatewayRecipientInvalid as GatewayRecipientInvalid
from composer.delivery.gateways.errors import GatewayRejected as GatewayRejected
from composer.delivery.gateways.errors import GatewayTimedOut as GatewayTimedOut
from composer.delivery.gateways.errors import GatewayTooLarge as GatewayTooLarge
from composer.delivery.gateways.errors import GatewayUnavailable as GatewayUnavailable
from composer.delivery.gateways.errors import InvalidBatchRecipient as InvalidBatchRecipient
from composer.delivery.gateways.errors import InvalidMessage as InvalidMessage
from composer.delivery.gateways.messages import MAX_BATCH_RECIPIENTS as MAX_BATCH_RECIPIENTS
from composer.delivery.gateways.messages import BatchAccepted as BatchAccepted
from composer.delivery.gateways.messages import BatchMessage as BatchMessage
from composer.delivery.gateways.messages import BatchRecipient as BatchRecipient
from composer.delivery.gateways.messages import MailGateway as MailGateway
from composer.delivery.gateways.messages import MailMessage as MailMessage
from composer.delivery.gateways.messages import SessionFactory as SessionFactory
from composer.delivery.gateways.sendgrid import MAX_SUBSTITUTION_BYTES as MAX_SUBSTITUTION_BYTES
from composer.delivery.gateways.sendgrid import SendGridGateway as SendGridGateway
from composer.settings import Defaults, SettingError, Settings, settings_of


def _outbox(_settings: Settings, session_factory: SessionFactory) -> MailGateway:
    return DevOutboxGateway(session_factory)


def _sendgrid(settings: Settings, _factory: SessionFactory) -> MailGateway:
    return SendGridGateway(
        api_key=settings.sendgrid_api_key,
        sender=settings.mail_sender,
        host=settings.sendgrid_host or Defaults.SENDGRID_HOST,
        timeout=settings.sendgrid_timeout_seconds,
        reply_to=settings.mail_reply_to,
    )


#: ``MAIL_GATEWAY`` value -> how to make that gateway from the site's settings.
GATEWAYS: Final[Mapping[str, Callable[[Settings, SessionFactory], MailGateway]]] = {
    "outbox": _outbox,
    "sendgrid": _sendgrid,
}


def gateway_for(settings: Settings, session_factory: SessionFactory) -> MailGateway:
    """The gateway ``MAIL_GATEWAY`` names ("outbox" when unset), configured and ready.

    Raises ``GatewayConfigError`` for an unknown gateway or incomplete settings (SendGrid
    without an API key), with a message saying what to set.
    """
    name = settings.mail_gateway
    make = GATEWAYS.get(name)
    if make is None:
        choices = ", ".join(repr(n) for n in GATEWAYS)
        raise GatewayConfigError(f"MAIL_GATEWAY is {name!r}; it must be one of {choices}.")
    return make(settings, session_factory)


def gateway_from_config(config: Mapping[str, Any], session_factory: SessionFactory) -> MailGateway:
    """:func:`gateway_for` for a caller holding a config mapping (the command line, tests): a
    setting with a wrong value is a ``GatewayConfigError`` naming it."""
    try:
        settings = settings_of(config)
    except SettingError as exc:
        raise GatewayConfigError(str(exc)) from None
    return gateway_for(settings, session_factory)

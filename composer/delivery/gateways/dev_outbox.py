"""The dev outbox gateway (``MAIL_GATEWAY = "outbox"``, the default): each message is stored
in the ``dev_outbox_message`` table, where an admin reads it at ``/outbox``. Nothing leaves the
machine."""

from __future__ import annotations

import functools
import uuid

from sqlalchemy.exc import SQLAlchemyError

from composer.delivery.gateways.addresses import MAX_SUBJECT_CHARS
from composer.delivery.gateways.content import CohortContent
from composer.delivery.gateways.errors import GatewayUnavailable
from composer.delivery.gateways.messages import (
    BatchAccepted,
    BatchMessage,
    MailMessage,
    SessionFactory,
)
from composer.models.mail import DevOutboxMessage
from composer.rendering.merge_fields import MergeTemplate


@functools.lru_cache(maxsize=32)
def merge_templates(content: CohortContent) -> tuple[MergeTemplate, MergeTemplate, MergeTemplate]:
    return (
        MergeTemplate(content.subject, html=False),
        MergeTemplate(content.html, html=True),
        MergeTemplate(content.text, html=False),
    )


class DevOutboxGateway:
    """Stores each message in ``dev_outbox_message`` instead of sending it.

    ``session_factory`` must make a new, independent session (``sessionmaker(engine)``): the
    message is committed on its own, like a real provider accepting it, whatever the caller's
    transaction does next.

    A development tool only. ``send_batch`` stores every recipient's filled-in notice -- their
    name, address, reference and whatever else the notice says about them -- in plain rows
    that any admin can read at ``/outbox`` and that no retention purge removes. Use made-up
    recipients with it, never a real recipient list: production sends through ``sendgrid``.
    """

    name = "outbox"

    def __init__(self, session_factory: SessionFactory) -> None:
        self._session_factory = session_factory

    def send(self, message: MailMessage) -> str:
        message_id = f"dev-{uuid.uuid4().hex}"
        try:
            with self._session_factory() as session, session.begin():
                session.add(
                    DevOutboxMessage(
                        to_email=message.to_email,
                        to_name=message.to_name,
                        subject=message.subject,
                        text=message.text,
                        html=message.html,
                        gateway_message_id=message_id,
                    )
                )
        except SQLAlchemyError as exc:
            raise GatewayUnavailable(
                f"The dev outbox could not store the message ({type(exc).__name__})."
            ) from exc
        return message_id

    def send_batch(self, message: BatchMessage) -> BatchAccepted:
        """Stores one message per recipient with their fields filled in (the HTML part
        escaped), all in one transaction, as a provider accepts a whole request or none of it.
        Each row's id is the batch's id plus the recipient's position."""
        subject, html, text = merge_templates(message.content)
        batch_message_id = f"dev-{uuid.uuid4().hex}"
        rows = []
        for index, recipient in enumerate(message.recipients):
            values = dict(recipient.values)
            rows.append(
                DevOutboxMessage(
                    to_email=recipient.email,
                    to_name=recipient.name,
                    # A long value may push it past the column; the draft's own was checked.
                    subject=subject.render(values)[:MAX_SUBJECT_CHARS],
                    text=text.render(values),
                    html=html.render(values),
                    gateway_message_id=f"{batch_message_id}-{index}",
                )
            )
        try:
            with self._session_factory() as session, session.begin():
                session.add_all(rows)
        except SQLAlchemyError as exc:
            raise GatewayUnavailable(
                f"The dev outbox could not store the batch ({type(exc).__name__})."
            ) from exc
        return BatchAccepted(message_id=batch_message_id)

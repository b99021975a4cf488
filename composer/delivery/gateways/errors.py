"""What can go wrong on the way to a gateway: a message that must not be sent as it is
(``InvalidMessage``), and a gateway that could not send (``GatewayError`` and its kinds, each
telling the dispatcher what to do next). Every message is written for the admin who reads it.
"""

from __future__ import annotations

from collections.abc import Sequence


class InvalidMessage(ValueError):
    """A message that must not be sent as it is (refused before any gateway sees it)."""


class InvalidBatchRecipient(InvalidMessage):
    """One recipient makes a batch unsendable (a bad or repeated address, a control character
    in a value, values too long for SendGrid); the message names them by position and outbox
    row, never by their details."""

    def __init__(self, message: str, *, index: int, outbox_id: int) -> None:
        super().__init__(f"Recipient {index} (outbox row {outbox_id}): {message}")
        self.index = index
        self.outbox_id = outbox_id


class GatewayError(Exception):
    """A gateway could not send a message; ``str(exc)`` is written for an admin to read."""


class GatewayConfigError(GatewayError):
    """The mail settings are wrong or incomplete, so no gateway could be made."""


class GatewayAuthError(GatewayError):
    """The provider refused our credentials (HTTP 401 or 403)."""


class GatewayRateLimited(GatewayError):
    """The provider asked us to slow down (HTTP 429)."""

    def __init__(self, message: str, *, retry_after: float | None) -> None:
        super().__init__(message)
        #: Seconds until the provider accepts requests again, when it said; else None.
        self.retry_after = retry_after


class GatewayUnavailable(GatewayError):
    """The provider could not be reached, failed (5xx) or did not answer in time."""

    def __init__(self, message: str, *, maybe_sent: bool = False) -> None:
        super().__init__(message)
        #: True when the request reached the provider and no answer came back, so it may have
        #: been accepted: sending again could deliver it twice.
        self.maybe_sent = maybe_sent


class GatewayTimedOut(GatewayUnavailable):
    """The provider did not answer within the timeout, after receiving the request."""

    def __init__(self, message: str) -> None:
        super().__init__(message, maybe_sent=True)


class GatewayRejected(GatewayError):
    """The provider refused this particular message (another 4xx); sending it again won't help."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class GatewayTooLarge(GatewayRejected):
    """The request was too big for the provider (HTTP 413): send its recipients in smaller
    batches. (A subclass of ``GatewayRejected``: catch it first.)"""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=413)


class GatewayRecipientInvalid(GatewayRejected):
    """The provider refused a batch because of one recipient (HTTP 400 naming
    ``personalizations.N``): nothing in the request was sent. Mark that recipient invalid and
    send the others again. (A subclass of ``GatewayRejected``: catch it first.)"""

    def __init__(
        self,
        *,
        index: int,
        outbox_id: int,
        message: str,
        invalid: Sequence[tuple[int, int]] = (),
    ) -> None:
        super().__init__(message, status=400)
        #: The recipient's position in ``BatchMessage.recipients`` (and in the request).
        self.index = index
        #: That recipient's outbox row.
        self.outbox_id = outbox_id
        #: What the provider said, with any email address replaced by "[address]".
        self.message = message
        #: Every (index, outbox_id) the provider named, this one first (it may name several).
        self.invalid: tuple[tuple[int, int], ...] = tuple(invalid) or ((index, outbox_id),)

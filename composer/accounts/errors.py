"""What a change to an account refuses with."""


class AccountError(ValueError):
    """A problem with account details, written for the person who typed them."""

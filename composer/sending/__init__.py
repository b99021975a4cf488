"""Sending email: the gateways (SendGrid, and a dev outbox read in the browser).

No Flask here: callers pass configuration and a database session factory in.
"""

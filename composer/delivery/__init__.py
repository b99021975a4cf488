"""Delivery: getting an approved notice to its recipients, by email and on paper. No Flask.

- ``preparing``: starting a send run and writing one delivery row per recipient.
- ``dispatch``: the dispatcher's step (claim a batch, send it, record the answer), with
  ``ratelimit`` (one rate shared by every worker) and ``schedule`` (sends that wait for a time).
- ``ledger``: at most once, the sent-address ledger.
- ``reconcile``: batches whose answer never came (in doubt), and SendGrid's Event Webhook
  events applied (``webhook`` checks and reads the posts).
- ``control``: what an admin does to a run (pause, resume, cancel, settle, send to the unreached).
- ``gateways``: where an email goes (SendGrid, or the dev outbox).
- ``release``: what a run may still send, checked against legal's approval.
- ``letters``: the notice on paper for those email cannot reach.
- ``staff_mail``: notifications to staff, queued and sent after the commit.
- ``tables``: the sending tables as the hot path reads and writes them.

What runs all this (threads, Celery) is ``composer.workers``.
"""

"""Configuration defaults.

Every setting can be overridden from the environment with the ``COMPOSER_`` prefix
(``COMPOSER_SQLALCHEMY_DATABASE_URI=postgresql+psycopg://...``), Flask's documented
``from_prefixed_env`` pattern, and by the mapping passed to ``create_app``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, ClassVar


class Defaults:
    """Embedded defaults: SQLite under ``instance/``, safe cookies, Argon2id."""

    #: Filled in by ``create_app`` from ``instance/secret_key`` when not configured.
    SECRET_KEY: str | None = None
    #: Filled in by ``create_app`` with a SQLite file under the instance folder when unset.
    SQLALCHEMY_DATABASE_URI: str | None = None
    SQLALCHEMY_ENGINE_OPTIONS: ClassVar[dict[str, object]] = {"pool_pre_ping": True}
    #: SQLite only: seconds a write waits for another connection's write to finish (a large
    #: recipient import holds the write lock until it commits, about a minute for a million
    #: rows) before the request gets a "busy, try again" page (HTTP 503). PostgreSQL has no
    #: such wait.
    SQLITE_BUSY_TIMEOUT_SECONDS = 30.0

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SECURE = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SECURE = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    PERMANENT_SESSION_LIFETIME = timedelta(hours=12)

    WTF_CSRF_TIME_LIMIT = 12 * 3600
    #: Requests larger than this are refused with 413 before any parsing.
    MAX_CONTENT_LENGTH = 2 * 1024 * 1024

    #: Argon2id cost. Defaults follow argon2-cffi's RFC 9106 "low memory" profile.
    PASSWORD_HASH_TIME_COST = 3
    PASSWORD_HASH_MEMORY_KIB = 65536
    PASSWORD_HASH_PARALLELISM = 4

    #: Sign-in throttling (docs/security.md); nothing locks an account for everyone.
    #: Wrong passwords for one account from one client address before that address waits
    #: between tries: 1 minute, doubling with each further wrong one. A right password from
    #: the address clears its count; so do 24 hours. Approving a notice (password re-typed)
    #: has the same waits, per user.
    LOGIN_FAILURES_BEFORE_DELAY = 5
    #: The longest of those waits.
    LOGIN_MAX_DELAY = timedelta(minutes=15)
    #: Wrong passwords from one client address, across all accounts, within
    #: LOGIN_FAILURE_WINDOW; then that address waits until the oldest leaves the window.
    LOGIN_MAX_FAILURES_PER_ADDRESS = 30
    #: Wrong passwords for one account, from anywhere, within LOGIN_FAILURE_WINDOW; then only
    #: addresses that signed in to the account in the last 30 days may try it.
    LOGIN_MAX_FAILURES_PER_ACCOUNT = 20
    LOGIN_FAILURE_WINDOW = timedelta(minutes=15)

    #: Where checklist, taxonomy and place data live (relative paths are from the project root).
    CHECKLISTS_DIR: str | None = None
    #: Timezone used to show times when a user has not chosen one.
    DEFAULT_TIMEZONE = "Europe/London"

    #: The longest notice text, in characters, that the editor saves and ``POST /api/lint``
    #: checks; longer texts are refused (413 from the API) with a message giving the limit.
    LINT_MAX_CHARS = 50_000
    #: Rule ids ("jargon.compromised") or whole categories ("cliche") the linter never reports.
    #: From the environment: ``COMPOSER_LINT_DISABLED='["cliche", "jargon.pii"]'``.
    LINT_DISABLED: ClassVar[list[str]] = []
    #: Phrases never flagged, case-insensitive: a product name that looks like jargon.
    LINT_EXCEPTIONS: ClassVar[list[str]] = []
    #: Seconds one check of a notice may take in a web request (the editor page, ``POST
    #: /api/lint``): past it, checking stops between paragraphs and the page says how much of the
    #: text was checked. A normal notice takes well under a second.
    LINT_TIME_BUDGET_SECONDS = 3.0

    #: Approvals a notice needs before it can be sent, unless an admin sets another number for
    #: an incident. Fixed for a review when it is submitted.
    REQUIRED_APPROVALS = 1

    #: The key (at least 32 characters) that signs audit events, audit checkpoints and
    #: approvals, so that rewriting them in the database shows (docs/audit.md). Unset: a key
    #: made once in ``instance/audit_signing_key`` (mode 600). Keep it out of the database and
    #: its backups; events and approvals signed with a lost key can no longer be checked.
    AUDIT_SIGNING_KEY = ""
    #: The file (a path) holding the audit log's latest signed checkpoint, outside the
    #: database: a log that ends before it was truncated. Unset: ``instance/
    #: audit_checkpoint.json``. Every process that writes to the database must share it.
    AUDIT_CHECKPOINT_FILE = ""

    #: The company's name as its customers know it: drafts, emails, letters and web pages say it.
    COMPANY_NAME = "Example Ltd"
    #: The letter's logo: a file under ``static/`` ("" for none).
    LETTER_LOGO = "notices/logo.svg"
    #: The country letters are posted from (ISO 3166-1 alpha-2: "GB", "JE", "US"). A letter to
    #: a recipient in another country ends with that country's name in capitals
    #: (docs/letters.md); a recipient here, or with no country, gets no country line.
    LETTER_HOME_COUNTRY = "GB"
    #: Seconds a PDF preview may take to render before it is stopped with a message.
    RENDER_TIMEOUT_SECONDS = 20.0
    #: PDF renders (previews, letters, letter batches) running at once in each app, worker or
    #: Celery process; each renderer holds 150-250 MB while it works. None: the number of CPU
    #: cores the process may use.
    RENDER_MAX_CONCURRENT: int | None = None
    #: Seconds a preview or letter download waits for a free renderer when every one is busy,
    #: before it gets a "busy, try again" page (HTTP 503 with Retry-After).
    RENDER_WAIT_SECONDS = 10.0

    #: How email leaves the app: "outbox" keeps every message in the database, readable by
    #: admins at /outbox, and sends nothing; "sendgrid" sends through SendGrid's v3 API.
    MAIL_GATEWAY = "outbox"
    #: The From of every email, customer notices and staff notifications alike.
    MAIL_SENDER = "Example Ltd <security@example.com>"
    #: Where replies go ("" for the sender's address).
    MAIL_REPLY_TO = ""
    #: A key with the Mail Send permission; set it from the environment
    #: (``COMPOSER_SENDGRID_API_KEY``), never in a file under version control.
    SENDGRID_API_KEY = ""
    #: The SendGrid API's base URL: a local SendGrid-compatible server for tests and
    #: benchmarks, or https://api.eu.sendgrid.com for EU data residency.
    SENDGRID_HOST = "https://api.sendgrid.com"
    #: Seconds to wait for SendGrid to answer one request. A request that times out may still
    #: have been accepted.
    SENDGRID_TIMEOUT_SECONDS = 10.0
    #: The app's address as staff reach it, for links in emails sent outside a request.
    APP_BASE_URL = "http://localhost:5000"

    #: The largest recipient CSV file accepted, in bytes. Only the upload route allows a body
    #: this large (``MAX_CONTENT_LENGTH`` still applies everywhere else); a larger file is
    #: refused with a page that gives the limit.
    RECIPIENTS_MAX_BYTES = 200 * 1024 * 1024
    #: A recipient file with more than this many bytes after its header line has its rows
    #: checked in a second process while the upload request writes them (about 1.5 times as
    #: fast on a machine with two cores or more); 0 keeps every import in one process.
    RECIPIENTS_SECOND_PROCESS_BYTES = 8 * 1024 * 1024
    #: The Event Webhook's verification key, exactly as SendGrid's Mail Settings show it
    #: (base64 of a DER P-256 public key). Signed event posts are checked against it.
    SENDGRID_WEBHOOK_PUBLIC_KEY = ""
    #: Event Webhook posts signed longer ago than this are refused, so a captured post cannot be
    #: replayed later; SendGrid's timestamp may also be at most 60 seconds ahead of our clock.
    SENDGRID_WEBHOOK_MAX_AGE_SECONDS = 300

    #: Who sends bulk notices: "inprocess" (threads in the app's process, the embedded
    #: default), "celery" (Celery workers with a Redis broker: README "Sending with Celery"),
    #: or "none" (nothing sends from here: ``flask --app composer send work`` processes, or
    #: tests driving the dispatcher).
    SEND_WORKER = "inprocess"
    #: The Celery broker (SEND_WORKER = "celery").
    CELERY_BROKER_URL = "redis://localhost:6379/0"
    #: Send tasks queued per run when it starts or resumes: how many workers send it at once.
    CELERY_SEND_TASKS_PER_RUN = 4
    #: Seconds one task sends batches before handing over to a fresh task (so a paused run
    #: stops promptly and no task runs for long).
    CELERY_SEND_TASK_SECONDS = 10
    #: Seconds before Redis hands an unacknowledged task (its worker was killed) to another
    #: worker. Far longer than a task runs; a worker that starts also picks up running runs.
    CELERY_VISIBILITY_TIMEOUT_SECONDS = 300
    #: Seconds with no Event Webhook event after which the send pages say the webhook is
    #: silent. In-doubt recipients (a time-out, or a worker that died mid-request) are never
    #: sent again on a timer: events settle them, or an admin does.
    SEND_WEBHOOK_SILENT_SECONDS = 600
    #: Seconds a worker's claim on a batch holds; a claim older than this with no recorded
    #: answer means the worker died mid-request, and the batch is in doubt. Longer than the
    #: SendGrid timeout.
    SEND_LEASE_SECONDS = 120
    #: Recipients per second, for all workers together (threads, processes and Celery
    #: workers share one limit in the database). 0: no limit of our own; SendGrid's 429s are
    #: still obeyed. Set it to what your SendGrid plan allows.
    SEND_RATE_PER_SECOND = 0
    #: Batches each sending worker process (the in-process sender, ``flask --app composer send
    #: work``) has in flight at once, one thread each: while one waits for SendGrid's answer,
    #: the next is claimed and built. SendGrid takes a good part of a second to answer a
    #: 1,000-recipient request, so one at a time caps a worker at a few thousand recipients a
    #: second. Celery workers get the same from CELERY_SEND_TASKS_PER_RUN and their concurrency.
    SEND_THREADS = 2
    #: Recipients whose delivery rows a worker writes per step while preparing a send (one
    #: transaction each; progress shows between steps). Pressing Send only makes the run.
    SEND_PREPARE_ROWS = 20_000
    #: Hours a form posted after its session ended is kept for its writer to sign in again
    #: and save it (``composer.web.kept_forms``; docs/security.md, "Kept forms").
    KEPT_FORM_HOURS = 4

    #: Letters per batch: one PDF and one manifest CSV each (docs/postal.md). At about 15
    #: letters a second per renderer (benchmarks/render_bench.py), 100 letters (200 pages for a
    #: two-page notice) render in about 7 s; a renderer holds about 150 MB and 1.2 MB a letter.
    LETTER_BATCH_SIZE = 100
    #: Letter batches rendered at once, each in its own renderer process, while letters are
    #: waiting: each keeps one core busy, so a machine with N free cores prints up to N times
    #: as many letters a minute. None: RENDER_MAX_CONCURRENT's value (the CPU cores by
    #: default), never more than it. While every renderer prints letters, a PDF preview waits
    #: for the next free one (a batch of 100 takes a few seconds); set 1 fewer than the cores
    #: to keep one for previews.
    LETTER_RENDER_PROCESSES: int | None = None
    #: Days after its upload that a recipient list's personal data is purged by
    #: ``flask --app composer purge`` (docs/retention.md explains the default).
    RECIPIENT_RETENTION_DAYS = 90
    #: How often the in-process worker (the embedded default, and ``send work``) runs that
    #: purge by itself; with Celery, run the command daily from cron or a systemd timer.
    RECIPIENT_PURGE_EVERY_SECONDS = 3600


def lint_time_budget(config: Mapping[str, Any]) -> float:
    """``LINT_TIME_BUDGET_SECONDS`` as seconds; a ``ValueError`` naming the setting when it is not
    a number above 0 (``create_app`` checks it at start-up)."""
    value = config.get("LINT_TIME_BUDGET_SECONDS", Defaults.LINT_TIME_BUDGET_SECONDS)
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = 0.0
    if not seconds > 0 or seconds == float("inf"):
        raise ValueError(
            f"LINT_TIME_BUDGET_SECONDS must be a number of seconds above 0, not {value!r}."
        )
    return seconds


def letter_home_country(config: Mapping[str, Any]) -> str:
    """``LETTER_HOME_COUNTRY`` as an upper-case ISO 3166-1 alpha-2 code; a ``ValueError`` naming
    the setting when it is not one the app has a country name for (``create_app`` checks it at
    start-up)."""
    from composer.rendering.address import UnknownCountry, country_name

    value = config.get("LETTER_HOME_COUNTRY", Defaults.LETTER_HOME_COUNTRY)
    code = value.strip().upper() if isinstance(value, str) else ""
    hint = " (the United Kingdom is GB)" if code == "UK" else ""
    try:
        if len(code) != 2:
            raise UnknownCountry(code)
        country_name(code)
    except UnknownCountry:
        raise ValueError(
            "LETTER_HOME_COUNTRY must be the two-letter ISO 3166-1 code of the country letters "
            f"are posted from, such as GB, JE or US{hint}; it is {value!r}."
        ) from None
    return code


def letter_render_processes(config: Mapping[str, Any]) -> int | None:
    """``LETTER_RENDER_PROCESSES``: a whole number of 1 or more, or None (as many as
    ``RENDER_MAX_CONCURRENT`` allows); a ``ValueError`` naming the setting otherwise
    (``create_app`` checks it at start-up)."""
    value = config.get("LETTER_RENDER_PROCESSES", Defaults.LETTER_RENDER_PROCESSES)
    if value is None:
        return None
    if isinstance(value, str) and value.strip().isdigit():  # from the environment
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            "LETTER_RENDER_PROCESSES must be a whole number of 1 or more (letter batches "
            f"rendered at once), or unset for as many as RENDER_MAX_CONCURRENT; it is {value!r}."
        )
    return value


def kept_form_hours(config: Mapping[str, Any]) -> float:
    """``KEPT_FORM_HOURS``: a number of hours above 0 and under a year; a ``ValueError`` naming
    the setting otherwise (``create_app`` checks it at start-up)."""
    value = config.get("KEPT_FORM_HOURS", Defaults.KEPT_FORM_HOURS)
    try:
        hours = float(value) if not isinstance(value, bool) else 0.0
    except (TypeError, ValueError):
        hours = 0.0
    if not 0 < hours < 24 * 365:  # also refuses nan and inf
        raise ValueError(
            "KEPT_FORM_HOURS must be a number of hours above 0 and under a year (how long a "
            f"form posted after the session ended is kept); it is {value!r}."
        )
    return hours


def send_prepare_rows(config: Mapping[str, Any]) -> int:
    """``SEND_PREPARE_ROWS``: a whole number of 1 or more; a ``ValueError`` naming the setting
    otherwise (``create_app`` checks it at start-up)."""
    value = config.get("SEND_PREPARE_ROWS", Defaults.SEND_PREPARE_ROWS)
    if isinstance(value, str) and value.strip().isdigit():  # from the environment
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            "SEND_PREPARE_ROWS must be a whole number of 1 or more (recipients a sending "
            f"worker prepares per step); it is {value!r}."
        )
    return value

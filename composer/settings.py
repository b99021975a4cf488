"""Configuration defaults.

Every setting can be overridden from the environment with the ``COMPOSER_`` prefix
(``COMPOSER_SQLALCHEMY_DATABASE_URI=postgresql+psycopg://...``), Flask's documented
``from_prefixed_env`` pattern, and by the mapping passed to ``create_app``.

:class:`Defaults` is what Flask loads; :class:`Settings` is the same settings typed and checked,
read with :func:`settings_of` (``create_app`` does so once, so a wrong value stops start-up
with a message naming the setting; views and workers use
``composer.extensions.current_settings()``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from types import UnionType
from typing import Any, ClassVar, Final, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import ErrorDetails


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
    #: Proxies in front of the app whose X-Forwarded-For and X-Forwarded-Proto are trusted
    #: (werkzeug's ProxyFix); 0 trusts none, and every client has the proxy's address.
    PROXY_FIX_X_FOR = 0

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


# The checks ----------------------------------------------------------------------------------
# One function per setting that needs more than its type: each takes the value as configured
# (from a file, the mapping given to ``create_app``, or the environment as Flask parses it)
# and returns it in its working form, or raises a ``ValueError`` whose message names the
# setting as users write it and says what is wrong.


def _whole_number(value: object, *, from_text: bool) -> int | None:
    """``value`` as an int of 1 or more, or None; digits in text count when ``from_text``."""
    if from_text and isinstance(value, str) and value.strip().isdigit():  # from the environment
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return None
    return value


def _check_send_threads(value: object) -> int:
    threads = _whole_number(value, from_text=False)
    if threads is None:
        # Found at start-up rather than when the first send starts its worker.
        raise ValueError(
            "SEND_THREADS must be a whole number of 1 or more (batches in flight per sending "
            f"worker); it is {value!r}."
        )
    return threads


def _check_render_max_concurrent(value: object) -> int | None:
    limit = None if value is None else _whole_number(value, from_text=False)
    if value is not None and limit is None:
        raise ValueError(
            "RENDER_MAX_CONCURRENT must be a whole number of 1 or more (PDF renders at once "
            f"per process), or unset for the number of CPU cores; it is {value!r}."
        )
    return limit


def _check_lint_time_budget(value: object) -> float:
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        seconds = 0.0
    if not seconds > 0 or seconds == float("inf"):  # also refuses nan
        raise ValueError(
            f"LINT_TIME_BUDGET_SECONDS must be a number of seconds above 0, not {value!r}."
        )
    return seconds


def _check_letter_home_country(value: object) -> str:
    from composer.rendering.address import UnknownCountry, country_name

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


def _check_letter_render_processes(value: object) -> int | None:
    processes = None if value is None else _whole_number(value, from_text=True)
    if value is not None and processes is None:
        raise ValueError(
            "LETTER_RENDER_PROCESSES must be a whole number of 1 or more (letter batches "
            f"rendered at once), or unset for as many as RENDER_MAX_CONCURRENT; it is {value!r}."
        )
    return processes


def _check_kept_form_hours(value: object) -> float:
    try:
        hours = float(value) if not isinstance(value, bool) else 0.0  # type: ignore[arg-type]
    except (TypeError, ValueError):
        hours = 0.0
    if not 0 < hours < 24 * 365:  # also refuses nan and inf
        raise ValueError(
            "KEPT_FORM_HOURS must be a number of hours above 0 and under a year (how long a "
            f"form posted after the session ended is kept); it is {value!r}."
        )
    return hours


def _check_send_prepare_rows(value: object) -> int:
    rows = _whole_number(value, from_text=True)
    if rows is None:
        raise ValueError(
            "SEND_PREPARE_ROWS must be a whole number of 1 or more (recipients a sending "
            f"worker prepares per step); it is {value!r}."
        )
    return rows


def _check_audit_signing_key(value: object) -> str:
    key = str(value or "")
    if key and len(key) < 32:
        raise ValueError(
            "AUDIT_SIGNING_KEY must be at least 32 characters long (a random string such as "
            "python -c 'import secrets; print(secrets.token_urlsafe(48))' prints)."
        )
    return key


def _names(value: object) -> tuple[str, ...]:
    """A list of names, or one string with commas between them (handy in the environment)."""
    if value is None:
        return ()
    if isinstance(value, str):
        items: Iterable[object] = value.split(",")
    elif isinstance(value, Iterable):
        items = value
    else:
        raise ValueError(
            f"must be a list of names, or text with commas between them; it is {value!r}"
        )
    return tuple(str(item).strip() for item in items if str(item).strip())


# The typed settings ---------------------------------------------------------------------------


class SettingError(ValueError):
    """A setting has a value the app cannot use. The message names each such setting as users
    set it (``SEND_THREADS``, ``COMPOSER_SEND_THREADS`` in the environment) and says what is
    wrong; ``settings`` lists their names."""

    def __init__(self, message: str, settings: Sequence[str]) -> None:
        super().__init__(message)
        self.settings = tuple(settings)


#: Settings whose empty or 0 value means their default (how every reader treated them).
_EMPTY_MEANS_DEFAULT: Final = (
    "company_name",
    "required_approvals",
    "letter_batch_size",
    "send_webhook_silent_seconds",
    "recipient_purge_every_seconds",
)


class Settings(BaseModel):
    """Every setting of :class:`Defaults`, typed and checked: one attribute per setting, its
    name in lower case (``SEND_THREADS`` is ``send_threads``). Build it with
    :func:`settings_of`; ``Settings()`` is the defaults. See :class:`Defaults` for what each
    setting does."""

    model_config = ConfigDict(frozen=True, extra="ignore", validate_default=True)

    secret_key: str | None = Defaults.SECRET_KEY
    sqlalchemy_database_uri: str | None = Defaults.SQLALCHEMY_DATABASE_URI
    sqlalchemy_engine_options: Mapping[str, Any] = Field(
        default_factory=lambda: dict(Defaults.SQLALCHEMY_ENGINE_OPTIONS)
    )
    sqlite_busy_timeout_seconds: float = Defaults.SQLITE_BUSY_TIMEOUT_SECONDS

    session_cookie_httponly: bool = Defaults.SESSION_COOKIE_HTTPONLY
    session_cookie_secure: bool = Defaults.SESSION_COOKIE_SECURE
    session_cookie_samesite: str | None = Defaults.SESSION_COOKIE_SAMESITE
    remember_cookie_httponly: bool = Defaults.REMEMBER_COOKIE_HTTPONLY
    remember_cookie_secure: bool = Defaults.REMEMBER_COOKIE_SECURE
    remember_cookie_samesite: str | None = Defaults.REMEMBER_COOKIE_SAMESITE
    permanent_session_lifetime: timedelta = Defaults.PERMANENT_SESSION_LIFETIME

    wtf_csrf_time_limit: int | None = Defaults.WTF_CSRF_TIME_LIMIT
    max_content_length: int | None = Defaults.MAX_CONTENT_LENGTH
    proxy_fix_x_for: int = Defaults.PROXY_FIX_X_FOR

    password_hash_time_cost: int = Defaults.PASSWORD_HASH_TIME_COST
    password_hash_memory_kib: int = Defaults.PASSWORD_HASH_MEMORY_KIB
    password_hash_parallelism: int = Defaults.PASSWORD_HASH_PARALLELISM

    login_failures_before_delay: int = Defaults.LOGIN_FAILURES_BEFORE_DELAY
    login_max_delay: timedelta = Defaults.LOGIN_MAX_DELAY
    login_max_failures_per_address: int = Defaults.LOGIN_MAX_FAILURES_PER_ADDRESS
    login_max_failures_per_account: int = Defaults.LOGIN_MAX_FAILURES_PER_ACCOUNT
    login_failure_window: timedelta = Defaults.LOGIN_FAILURE_WINDOW

    checklists_dir: str | None = Defaults.CHECKLISTS_DIR
    default_timezone: str = Defaults.DEFAULT_TIMEZONE

    lint_max_chars: int = Defaults.LINT_MAX_CHARS
    #: Normalised: a comma-separated string becomes its names, blanks are dropped.
    lint_disabled: tuple[str, ...] = tuple(Defaults.LINT_DISABLED)
    lint_exceptions: tuple[str, ...] = tuple(Defaults.LINT_EXCEPTIONS)
    lint_time_budget_seconds: float = Defaults.LINT_TIME_BUDGET_SECONDS

    required_approvals: int = Defaults.REQUIRED_APPROVALS

    audit_signing_key: str = Defaults.AUDIT_SIGNING_KEY
    audit_checkpoint_file: str = Defaults.AUDIT_CHECKPOINT_FILE

    company_name: str = Defaults.COMPANY_NAME
    letter_logo: str = Defaults.LETTER_LOGO
    #: Normalised to upper case without spaces (" je " is "JE").
    letter_home_country: str = Defaults.LETTER_HOME_COUNTRY
    render_timeout_seconds: float = Defaults.RENDER_TIMEOUT_SECONDS
    render_max_concurrent: int | None = Defaults.RENDER_MAX_CONCURRENT
    render_wait_seconds: float = Defaults.RENDER_WAIT_SECONDS

    mail_gateway: str = Defaults.MAIL_GATEWAY
    mail_sender: str = Defaults.MAIL_SENDER
    mail_reply_to: str = Defaults.MAIL_REPLY_TO
    sendgrid_api_key: str = Defaults.SENDGRID_API_KEY
    sendgrid_host: str = Defaults.SENDGRID_HOST
    sendgrid_timeout_seconds: float = Defaults.SENDGRID_TIMEOUT_SECONDS
    app_base_url: str = Defaults.APP_BASE_URL

    recipients_max_bytes: int = Defaults.RECIPIENTS_MAX_BYTES
    recipients_second_process_bytes: int = Defaults.RECIPIENTS_SECOND_PROCESS_BYTES
    sendgrid_webhook_public_key: str = Defaults.SENDGRID_WEBHOOK_PUBLIC_KEY
    sendgrid_webhook_max_age_seconds: int = Defaults.SENDGRID_WEBHOOK_MAX_AGE_SECONDS

    send_worker: str = Defaults.SEND_WORKER
    celery_broker_url: str = Defaults.CELERY_BROKER_URL
    celery_send_tasks_per_run: int = Defaults.CELERY_SEND_TASKS_PER_RUN
    celery_send_task_seconds: float = Defaults.CELERY_SEND_TASK_SECONDS
    celery_visibility_timeout_seconds: float = Defaults.CELERY_VISIBILITY_TIMEOUT_SECONDS
    send_webhook_silent_seconds: float = Defaults.SEND_WEBHOOK_SILENT_SECONDS
    send_lease_seconds: float = Defaults.SEND_LEASE_SECONDS
    send_rate_per_second: float = Defaults.SEND_RATE_PER_SECOND
    send_threads: int = Defaults.SEND_THREADS
    send_prepare_rows: int = Defaults.SEND_PREPARE_ROWS
    kept_form_hours: float = Defaults.KEPT_FORM_HOURS

    letter_batch_size: int = Defaults.LETTER_BATCH_SIZE
    letter_render_processes: int | None = Defaults.LETTER_RENDER_PROCESSES
    recipient_retention_days: int = Defaults.RECIPIENT_RETENTION_DAYS
    recipient_purge_every_seconds: float = Defaults.RECIPIENT_PURGE_EVERY_SECONDS

    # Checked before pydantic's own conversion, so each keeps the rules (and the message) it
    # had when create_app checked it by hand.

    @field_validator("send_threads", mode="before")
    @classmethod
    def check_send_threads(cls, value: object) -> int:
        return _check_send_threads(value)

    @field_validator("render_max_concurrent", mode="before")
    @classmethod
    def check_render_max_concurrent(cls, value: object) -> int | None:
        return _check_render_max_concurrent(value)

    @field_validator("lint_time_budget_seconds", mode="before")
    @classmethod
    def check_lint_time_budget_seconds(cls, value: object) -> float:
        return _check_lint_time_budget(value)

    @field_validator("letter_home_country", mode="before")
    @classmethod
    def check_letter_home_country(cls, value: object) -> str:
        return _check_letter_home_country(value)

    @field_validator("letter_render_processes", mode="before")
    @classmethod
    def check_letter_render_processes(cls, value: object) -> int | None:
        return _check_letter_render_processes(value)

    @field_validator("kept_form_hours", mode="before")
    @classmethod
    def check_kept_form_hours(cls, value: object) -> float:
        return _check_kept_form_hours(value)

    @field_validator("send_prepare_rows", mode="before")
    @classmethod
    def check_send_prepare_rows(cls, value: object) -> int:
        return _check_send_prepare_rows(value)

    @field_validator("audit_signing_key", mode="before")
    @classmethod
    def check_audit_signing_key(cls, value: object) -> str:
        return _check_audit_signing_key(value)

    @field_validator(*_EMPTY_MEANS_DEFAULT, mode="before")
    @classmethod
    def empty_means_default(cls, value: object, info: ValidationInfo) -> object:
        """These settings were always read as ``value or default``: an empty or 0 value stands
        for the default here, once, rather than in every place that reads it."""
        if value is None or value == 0 or (isinstance(value, str) and not value.strip()):
            return getattr(Defaults, str(info.field_name).upper())
        return value

    @field_validator("mail_gateway", mode="before")
    @classmethod
    def check_mail_gateway(cls, value: object) -> object:
        """Compared without case or spaces ("SendGrid " is "sendgrid"); empty is the outbox."""
        if value is None or (isinstance(value, str) and not value.strip()):
            return Defaults.MAIL_GATEWAY
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("lint_disabled", "lint_exceptions", mode="before")
    @classmethod
    def check_names(cls, value: object) -> tuple[str, ...]:
        return _names(value)


#: Each setting's name as users set it, and its attribute.
_ATTRIBUTES: dict[str, str] = {name.upper(): name for name in Settings.model_fields}


def settings_of(source: object) -> Settings:
    """The settings of ``source``: an object with a ``config`` mapping (a Flask app), or the
    mapping itself. Settings it does not have take their defaults; keys that are not settings
    are ignored. Raises :class:`SettingError` naming every setting with a wrong value."""
    config = getattr(source, "config", source)
    if not isinstance(config, Mapping):
        raise TypeError(
            f"settings_of needs a mapping or an object with one as .config, not {source!r}"
        )
    values = {attribute: config[key] for key, attribute in _ATTRIBUTES.items() if key in config}
    try:
        return Settings.model_validate(values)
    except ValidationError as error:
        problems = [_problem(found) for found in error.errors()]
        raise SettingError(
            "\n".join(message for _, message in problems), [name for name, _ in problems]
        ) from None


def _problem(error: ErrorDetails) -> tuple[str, str]:
    """The setting's name and a message for one of pydantic's errors."""
    attribute = str(error["loc"][0]) if error["loc"] else ""
    name = attribute.upper()
    if error["type"] == "value_error":
        message = str(error.get("ctx", {}).get("error", error["msg"]))
        return name, message if message.startswith(name) else f"{name} {message}."
    kind = _kind(attribute)
    return name, f"{name} must be {kind}; it is {error['input']!r}."


def _kind(attribute: str) -> str:
    """What a setting's value must be, in words, from its type."""
    annotation = Settings.model_fields[attribute].annotation
    optional = isinstance(annotation, UnionType) and type(None) in get_args(annotation)
    base = (
        next((a for a in get_args(annotation) if a is not type(None)), None)
        if optional
        else annotation
    )
    if base is float and attribute.endswith("_seconds"):
        words = "a number of seconds"
    else:
        words = _KINDS.get(base, "a value of another kind")
    return f"{words}, or unset" if optional else words


_KINDS: dict[object, str] = {
    int: "a whole number",
    float: "a number",
    bool: "true or false",
    str: "text",
    timedelta: "a length of time (a number of seconds)",
    Mapping[str, Any]: "a mapping of names to values",
}


# For callers that still read one setting from a config mapping. -----------------------------


def lint_time_budget(config: Mapping[str, Any]) -> float:
    """``LINT_TIME_BUDGET_SECONDS`` as seconds; a ``ValueError`` naming the setting when it is not
    a number above 0 (``create_app`` checks it at start-up)."""
    return _check_lint_time_budget(
        config.get("LINT_TIME_BUDGET_SECONDS", Defaults.LINT_TIME_BUDGET_SECONDS)
    )


def letter_home_country(config: Mapping[str, Any]) -> str:
    """``LETTER_HOME_COUNTRY`` as an upper-case ISO 3166-1 alpha-2 code; a ``ValueError`` naming
    the setting when it is not one the app has a country name for (``create_app`` checks it at
    start-up)."""
    return _check_letter_home_country(
        config.get("LETTER_HOME_COUNTRY", Defaults.LETTER_HOME_COUNTRY)
    )


def letter_render_processes(config: Mapping[str, Any]) -> int | None:
    """``LETTER_RENDER_PROCESSES``: a whole number of 1 or more, or None (as many as
    ``RENDER_MAX_CONCURRENT`` allows); a ``ValueError`` naming the setting otherwise
    (``create_app`` checks it at start-up)."""
    return _check_letter_render_processes(
        config.get("LETTER_RENDER_PROCESSES", Defaults.LETTER_RENDER_PROCESSES)
    )


def kept_form_hours(config: Mapping[str, Any]) -> float:
    """``KEPT_FORM_HOURS``: a number of hours above 0 and under a year; a ``ValueError`` naming
    the setting otherwise (``create_app`` checks it at start-up)."""
    return _check_kept_form_hours(config.get("KEPT_FORM_HOURS", Defaults.KEPT_FORM_HOURS))


def send_prepare_rows(config: Mapping[str, Any]) -> int:
    """``SEND_PREPARE_ROWS``: a whole number of 1 or more; a ``ValueError`` naming the setting
    otherwise (``create_app`` checks it at start-up)."""
    return _check_send_prepare_rows(config.get("SEND_PREPARE_ROWS", Defaults.SEND_PREPARE_ROWS))

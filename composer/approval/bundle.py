"""The canonical bundle legal approves: everything that decides what a customer receives.

A bundle is built from a notice version and the sending settings. It covers the subject, every
variant's rendered email (HTML and plain text, with merge fields left as ``{{ first_name }}``)
and its letter (the HTML WeasyPrint prints), the notice templates and stylesheets they were made
with, the sender identity, and the recipient list's digest once there is one. Each part is
hashed on its own; the bundle's SHA-256 is the hash of the sorted part hashes, so an approval
binds to all of it, and a mismatch later can say which part changed (:func:`changed_parts`).

No Flask: the caller passes the settings in.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Final

from sqlalchemy.orm import Session

from composer.checklist import Catalogue
from composer.models import Incident, NoticeVersion
from composer.recipients.cohorts import EVERY_RECIPIENT, VariantSpec
from composer.rendering.merge_fields import Recipient
from composer.rendering.validation import NoticeText
from composer.settings import Settings, settings_of
from composer.support.resources import data_dir

#: Bumped when the way the bundle is made changes, so an old approval can never match by luck.
BUNDLE_FORMAT: Final = 1

#: The files that shape every notice: templates under templates/, stylesheets under static/.
TEMPLATE_FILES: Final = (
    "templates/notices/email.html",
    "templates/notices/email.txt",
    "templates/notices/letter.html",
    "static/notices/notice.css",
    "static/notices/email.css",
    "static/notices/letter.css",
)

#: Who the letter in the bundle is addressed to. The letter's address block, reference and date
#: differ for every recipient and are filled in when letters are printed; the bundle renders
#: them with these stand-ins (and a fixed date) so its hash does not change from day to day.
LETTER_STAND_IN: Final = Recipient(
    first_name="[FIRST NAME]",
    last_name="[LAST NAME]",
    reference="[REFERENCE]",
    postal_address=("[ADDRESS LINE 1]", "[ADDRESS LINE 2]", "[POSTCODE]"),
)
LETTER_STAND_IN_DATE: Final = date(2000, 1, 1)


@dataclass(frozen=True)
class LetterSettings:
    """The letter's fixed parts (from the incident's facts and the site's settings)."""

    contact_lines: tuple[str, ...] = ()
    return_address: str = ""
    logo: str | None = "notices/logo.svg"
    paper: str = "A4"


@dataclass(frozen=True)
class BundleSettings:
    """Everything outside the notice text that decides what is sent."""

    company: str
    #: The From of every email ("Example Ltd <security@example.com>").
    sender: str
    reply_to: str = ""
    letter: LetterSettings = field(default_factory=LetterSettings)
    variants: tuple[VariantSpec, ...] = (EVERY_RECIPIENT,)
    #: SHA-256 of the recipient list (None until one is uploaded).
    recipients_digest: str | None = None


@dataclass(frozen=True)
class RenderedVariant:
    spec: VariantSpec
    subject: str
    html: str
    text: str
    letter_html: str


@dataclass(frozen=True)
class Bundle:
    """A built bundle: the rendered parts and their hashes."""

    version_number: int
    notice_sha256: str
    settings: BundleSettings
    variants: tuple[RenderedVariant, ...]
    #: Template path -> SHA-256 of the file's bytes.
    templates: Mapping[str, str]

    def parts(self) -> dict[str, str]:
        """Every part's name and the SHA-256 of its content."""
        parts = {"notice": self.notice_sha256}
        for variant in self.variants:
            key = variant.spec.key
            parts[f"variant:{key}:label"] = _sha(variant.spec.label)
            parts[f"variant:{key}:subject"] = _sha(variant.subject)
            parts[f"variant:{key}:html"] = _sha(variant.html)
            parts[f"variant:{key}:text"] = _sha(variant.text)
            parts[f"variant:{key}:letter"] = _sha(variant.letter_html)
        for path, digest in self.templates.items():
            parts[f"template:{path}"] = digest
        parts["sender"] = _sha(self.settings.sender)
        parts["reply_to"] = _sha(self.settings.reply_to)
        parts["company"] = _sha(self.settings.company)
        parts["recipients"] = _sha(self.settings.recipients_digest or "")
        return parts

    def manifest(self) -> dict[str, Any]:
        """What a review stores: the format, the version, the readable identity and every part's
        hash (not the rendered content itself, which can be rebuilt from the version)."""
        return {
            "format": BUNDLE_FORMAT,
            "version": self.version_number,
            "sender": self.settings.sender,
            "reply_to": self.settings.reply_to,
            "company": self.settings.company,
            "recipients_digest": self.settings.recipients_digest,
            "variants": [
                {"key": v.spec.key, "label": v.spec.label, "audience": v.spec.audience}
                for v in self.variants
            ],
            "parts": self.parts(),
        }

    @property
    def sha256(self) -> str:
        return manifest_sha256(self.manifest())


def bundle_settings(
    facts: Mapping[str, Any],
    *,
    company: str,
    sender: str,
    reply_to: str = "",
    logo: str | None = "notices/logo.svg",
    paper: str = "A4",
    variants: tuple[VariantSpec, ...] = (EVERY_RECIPIENT,),
    recipients_digest: str | None = None,
) -> BundleSettings:
    """The settings for an incident's bundle: the letter's contact lines and return address come
    from its facts document (as in the previews), the rest from the site's settings."""
    from composer.rendering.letterhead import letter_options

    options = letter_options(facts, company=company, letter_date=LETTER_STAND_IN_DATE, logo=logo)
    return BundleSettings(
        company=company,
        sender=sender,
        reply_to=reply_to,
        letter=LetterSettings(
            contact_lines=options.contact_lines,
            return_address=options.return_address,
            logo=options.logo,
            paper=paper,
        ),
        variants=variants,
        recipients_digest=recipients_digest,
    )


def settings_for_bundle(
    settings: Settings,
    facts: Mapping[str, Any],
    *,
    variants: tuple[VariantSpec, ...] = (EVERY_RECIPIENT,),
    recipients_digest: str | None = None,
) -> BundleSettings:
    """:func:`bundle_settings` from the site's settings (company name, mail sender and reply-to,
    letter logo): the one place the web views, the command line and the sender agree on what
    goes into a bundle. An empty company name stands as the default's, an empty logo as none."""
    return bundle_settings(
        facts,
        company=settings.company_name,
        sender=settings.mail_sender,
        reply_to=settings.mail_reply_to,
        logo=settings.letter_logo or None,
        variants=variants,
        recipients_digest=recipients_digest,
    )


def settings_from_config(
    config: Mapping[str, Any],
    facts: Mapping[str, Any],
    *,
    variants: tuple[VariantSpec, ...] = (EVERY_RECIPIENT,),
    recipients_digest: str | None = None,
) -> BundleSettings:
    """:func:`settings_for_bundle` for a caller holding the app's config mapping."""
    return settings_for_bundle(
        settings_of(config), facts, variants=variants, recipients_digest=recipients_digest
    )


def incident_bundle(
    session: Session,
    incident: Incident,
    version: NoticeVersion,
    *,
    catalogue: Catalogue,
    today: date,
    settings: Settings | None = None,
    config: Mapping[str, Any] | None = None,
) -> Bundle:
    """The bundle for ``version`` as it would be sent now: the site's ``settings`` (or, from a
    caller holding it, the app's ``config`` mapping), the incident's facts (the letter's contact
    lines), and its recipient list's cohorts and digest. The web views, ``flask approval
    check`` and the sender all build it here."""
    from composer import incidents
    from composer.recipients.cohorts import variants_for

    if settings is None:
        if config is None:
            raise TypeError("incident_bundle needs the site's settings (or the app's config)")
        settings = settings_of(config)
    facts = incidents.facts_document(catalogue, incident, today=today)
    variants, digest = variants_for(session, incident, catalogue)
    bundle_parts = settings_for_bundle(
        settings, facts, variants=variants or (EVERY_RECIPIENT,), recipients_digest=digest
    )
    return build_bundle(version, version.number, version.sha256, bundle_parts)


def manifest_sha256(manifest: Mapping[str, Any]) -> str:
    """The bundle hash: SHA-256 of the format number and the sorted part hashes."""
    doc = {"format": manifest["format"], "parts": manifest["parts"]}
    return _sha(json.dumps(doc, sort_keys=True, separators=(",", ":")))


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def template_digests() -> dict[str, str]:
    """SHA-256 of each template and stylesheet in :data:`TEMPLATE_FILES`."""
    return {
        path: hashlib.sha256(_data_file(path).read_bytes()).hexdigest() for path in TEMPLATE_FILES
    }


def _data_file(path: str) -> Path:
    """``templates/...`` or ``static/...`` wherever this install keeps those folders."""
    folder, _, rest = path.partition("/")
    return data_dir(folder) / rest


def logo_digest(logo: str | None) -> str:
    if not logo:
        return _sha("")
    static = data_dir("static").resolve()
    path = (static / logo).resolve()
    if not path.is_relative_to(static) or not path.is_file():
        return _sha(f"missing:{logo}")
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_bundle(version: NoticeText, number: int, sha256: str, settings: BundleSettings) -> Bundle:
    """Render every variant of ``version`` and hash the parts. Raises a ``RenderError`` (bad
    subject, merge field, sender) with a message for the user."""
    from composer.rendering.email import check_sender, prepare_email
    from composer.rendering.pdf import Paper, letter_html

    check_sender(settings.sender)
    if settings.reply_to:
        check_sender(settings.reply_to)
    variants = []
    # Every variant says the same text today (variants differ by who gets them), so each
    # language is rendered once; the parts are still hashed per variant.
    rendered: dict[str, tuple[str, str, str, str]] = {}
    for spec in settings.variants:
        if spec.lang not in rendered:
            cohort = prepare_email(version, company=settings.company, lang=spec.lang)
            letter = letter_html(
                version,
                LETTER_STAND_IN,
                company=settings.company,
                paper=Paper(settings.letter.paper),
                logo=settings.letter.logo,
                return_address=settings.letter.return_address,
                contact_lines=settings.letter.contact_lines,
                letter_date=LETTER_STAND_IN_DATE,
                lang=spec.lang,
            )
            rendered[spec.lang] = (
                cohort.subject.source,
                cohort.html.source,
                cohort.text.source,
                letter,
            )
        subject, html, text, letter = rendered[spec.lang]
        variants.append(
            RenderedVariant(spec=spec, subject=subject, html=html, text=text, letter_html=letter)
        )
    templates = template_digests()
    templates[f"static/{settings.letter.logo}" if settings.letter.logo else "logo"] = logo_digest(
        settings.letter.logo
    )
    return Bundle(
        version_number=number,
        notice_sha256=sha256,
        settings=settings,
        variants=tuple(variants),
        templates=templates,
    )


def changed_parts(approved: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """What differs between two manifests, in words a person can act on ("the sender (From
    address)", "the HTML email for Every recipient", "the template templates/notices/...")."""
    old: Mapping[str, str] = approved.get("parts", {})
    new: Mapping[str, str] = current.get("parts", {})
    labels = {
        v["key"]: v["label"] for v in [*approved.get("variants", []), *current.get("variants", [])]
    }
    changes: list[str] = []
    if approved.get("format") != current.get("format"):
        changes.append("the way bundles are built (the app was upgraded)")
    for name in sorted(set(old) | set(new), key=_part_order):
        if old.get(name) == new.get(name):
            continue
        changes.append(_describe(name, old, new, labels, approved, current))
    # One change to the notice text changes every variant's rendering too: say it once.
    if any(c.startswith("the notice text") for c in changes):
        changes = [c for c in changes if not c.startswith("the rendered ")]
    return list(dict.fromkeys(changes))


def _part_order(name: str) -> tuple[int, str]:
    order = ("notice", "variant:", "template:", "sender", "reply_to", "company", "recipients")
    for index, prefix in enumerate(order):
        if name.startswith(prefix):
            return index, name
    return len(order), name


_VARIANT_PARTS: Final = {
    "label": "the name of the variant",
    "subject": "the rendered subject line",
    "html": "the rendered HTML email",
    "text": "the rendered plain-text email",
    "letter": "the rendered PDF letter",
}


def _describe(
    name: str,
    old: Mapping[str, str],
    new: Mapping[str, str],
    labels: Mapping[str, str],
    approved: Mapping[str, Any],
    current: Mapping[str, Any],
) -> str:
    if name == "notice":
        return (
            f"the notice text (version {approved.get('version')} was approved; "
            f"version {current.get('version')} is the latest)"
        )
    if name.startswith("variant:"):
        _, key, what = name.split(":", 2)
        label = labels.get(key, key)
        if name not in old:
            return f"a new recipient variant, {label}, that legal has not seen"
        if name not in new:
            return f"the variant {label} is no longer sent"
        return f"{_VARIANT_PARTS.get(what, what)} for {label}"
    if name.startswith("template:"):
        return f"the template {name.removeprefix('template:')}"
    if name == "sender":
        return (
            f"the sender (From address): approved {approved.get('sender')!r}, "
            f"now {current.get('sender')!r}"
        )
    if name == "reply_to":
        return "the Reply-To address"
    if name == "company":
        return "the company name"
    if name == "recipients":
        return "the recipient list"
    return name


def variant_labels(manifest: Mapping[str, Any]) -> Sequence[str]:
    return [str(v.get("label", v.get("key"))) for v in manifest.get("variants", [])]

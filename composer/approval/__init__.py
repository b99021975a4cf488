"""Legal sign-off: the canonical bundle an approval binds to, and the review state machine.

No Flask: the actor and the settings are passed in. See ``review`` for the rules and the
steps; ``release`` for the check before anything is sent; ``bundle`` for what an approval
covers; ``queries`` for reading reviews and the queue; ``policy`` for how many approvals a
notice needs; ``acknowledgements`` for the lint warnings a submission must give reasons for;
``signatures`` for the approvals' signatures; ``errors`` for what a step refuses with.
Callers use the names re-exported here.
"""

from composer.approval.acknowledgements import (
    WarningToAcknowledge,
    lint_summary,
    warnings_to_acknowledge,
)
from composer.approval.bundle import (
    Bundle,
    BundleSettings,
    LetterSettings,
    build_bundle,
    bundle_settings,
    changed_parts,
    incident_bundle,
    settings_for_bundle,
    settings_from_config,
)
from composer.approval.errors import (
    ApprovalError,
    ApprovalRefused,
    ApprovalTampered,
    BundleMismatch,
    NotApproved,
    RecipientsChanged,
    SubmitRefused,
)
from composer.approval.policy import (
    DEFAULT_REQUIRED_APPROVALS,
    required_approvals,
    set_required_approvals,
)
from composer.approval.queries import (
    QueueItem,
    approval_refusal,
    current_review,
    editors_of,
    get_review,
    last_approved,
    open_review,
    review_queue,
    reviews_for,
    waiting_for,
)
from composer.approval.release import Release, check_recipients, release_check
from composer.approval.review import (
    approve,
    comment,
    record_view,
    request_changes,
    submit,
    void_for_new_version,
    withdraw,
)
from composer.approval.signatures import approval_signature_problems
from composer.recipients.cohorts import EVERY_RECIPIENT, VariantSpec

__all__ = [
    "DEFAULT_REQUIRED_APPROVALS",
    "EVERY_RECIPIENT",
    "ApprovalError",
    "ApprovalRefused",
    "ApprovalTampered",
    "Bundle",
    "BundleMismatch",
    "BundleSettings",
    "LetterSettings",
    "NotApproved",
    "QueueItem",
    "RecipientsChanged",
    "Release",
    "SubmitRefused",
    "VariantSpec",
    "WarningToAcknowledge",
    "approval_refusal",
    "approval_signature_problems",
    "approve",
    "build_bundle",
    "bundle_settings",
    "changed_parts",
    "check_recipients",
    "comment",
    "current_review",
    "editors_of",
    "get_review",
    "incident_bundle",
    "last_approved",
    "lint_summary",
    "open_review",
    "record_view",
    "release_check",
    "request_changes",
    "required_approvals",
    "review_queue",
    "reviews_for",
    "set_required_approvals",
    "settings_for_bundle",
    "settings_from_config",
    "submit",
    "void_for_new_version",
    "waiting_for",
    "warnings_to_acknowledge",
    "withdraw",
]

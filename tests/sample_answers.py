"""A complete, realistic set of checklist answers, as the step forms post them."""

from __future__ import annotations

STEP_FORMS: dict[str, dict[str, str | list[str]]] = {
    "timing": {
        "q.occurred.from": "2026-11-01",
        "q.occurred.to": "2026-11-03",
        "q.discovered": "2026-11-05",
        "q.contained": "2026-11-06",
    },
    "account": {
        "q.description": "A criminal used a stolen password to copy our mailing supplier's "
        "customer list.",
        "q.actor": "supplier",
        "q.supplier_name": "Acme Mail Ltd",
    },
    "law-enforcement": {"q.law_enforcement_involved": "yes", "q.law_enforcement_delay": "no"},
    "data-categories": {
        "q.data_categories": ["name", "email", "password-hashed"],
        "q.password_storage": "bcrypt",
    },
    "protection-and-scale": {
        "q.encrypted": "none",
        "q.records_affected": "120,000",
        "q.people_affected": "90000-100000",
    },
    "where": {
        "q.countries.code": ["GB", "US", ""],
        "q.countries.count": ["60000", "", ""],
        "q.us_states.code": ["CA", "NY"],
        "q.us_states.count": ["700", ""],
    },
    "harm": {
        "q.harms": ["phishing", "account-takeover"],
        "q.likelihood": "possible",
        "q.severity": "moderate",
    },
    "actions": {
        "q.actions_taken": ["contained", "passwords-reset", "regulator-told"],
        "q.actions_detail": "On 6 November we turned off the supplier's access.",
    },
    "support": {
        "q.credit_monitoring": "no",
        "q.customer_actions": "Change your password. Watch for emails that ask for it.",
    },
    "contact": {
        "q.contact_phone": "0800 123 4567",
        "q.contact_email": "help@example.com",
        "q.contact_web": "https://example.com/incident",
        "q.reference": "INC-2026-11",
        "q.next_update.unknown": "1",
    },
}

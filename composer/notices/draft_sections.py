"""What each part of the first draft says, written from the facts: the subject line, the lead
paragraph, and the paragraphs of the five sections. A fact that is not known becomes an honest
"We do not yet know ..."; one not answered yet becomes a visible ``[SLOT]`` (see ``drafting``'s
docstring)."""

from __future__ import annotations

from datetime import date
from typing import Final

from composer.facts import Facts
from composer.notices.draft_wording import (
    MAX_SENTENCE_WORDS,
    as_written,
    capitalise,
    format_count,
    join,
    one_line,
    plain_advice,
    repeats,
    sentence_key,
    sentences,
    when_phrase,
    word_count,
)
from composer.support.formatting import format_date

#: The subject is shortened past this many characters (mail clients cut long subjects).
_MAX_SUBJECT_CHARS: Final = 78


ACTORS: Final = ("criminal-outsider", "insider", "supplier", "mistake", "unknown")
PASSWORD_STORAGE: Final = (
    "argon2",
    "bcrypt",
    "scrypt",
    "pbkdf2",
    "salted-fast-hash",
    "unsalted-fast-hash",
    "other",
)
HARMS: Final = {
    "phishing": "Fake emails, calls or texts that use your details",
    "fraud": "Someone taking your money or making payments in your name",
    "identity-theft": "Someone opening accounts or borrowing money in your name",
    "account-takeover": "Someone getting into your accounts",
    "distress": "Upset or embarrassment",
    "physical-safety": "Harm to your physical safety",
    "discrimination": "Unfair treatment",
    "none-expected": "",
}
LIKELIHOOD: Final = {
    "already-happening": "We know this is already happening.",
    "likely": "We think it is likely.",
    "possible": "We think it is possible.",
    "unlikely": "We think this is unlikely, but please still take the steps below.",
}
ACTIONS: Final = (
    "contained",
    "passwords-reset",
    "cards-cancelled",
    "supplier-stopped",
    "regulator-told",
    "police-told",
    "experts-hired",
    "none-yet",
)


class SectionWriter:
    """Writes each part of the draft from the facts: the subject, the lead paragraph and the
    five sections' paragraphs (Markdown blocks)."""

    def __init__(self, facts: Facts, company: str) -> None:
        self.facts = facts
        self.company = one_line(company) or "[COMPANY]"
        update = facts.day("next_steps.next_update")
        self.update = format_date(update) if update else "[DATE]"
        self.categories = facts.categories()
        self.actor = facts.choice("what_happened.actor", ACTORS)
        supplier = facts.text("what_happened.supplier_name")
        self.supplier = one_line(supplier) if supplier else None

    # -- helpers ----------------------------------------------------------------------------------

    def unknown(self, what: str) -> str:
        return f"We do not yet know {what}. We will tell you by {self.update}."

    def occurred(self) -> tuple[date, date] | None:
        return self.facts.date_range("what_happened.occurred")

    def labels(self) -> list[str]:
        return [c.short_label for c in self.categories or ()]

    def data_phrase(self, limit_words: int) -> str:
        """The information involved, all named if that fits in ``limit_words``."""
        labels = self.labels()
        if not labels:
            return "your [WHAT INFORMATION]"
        full = join(labels)
        if word_count(full) <= limit_words or len(labels) <= 2:
            return full
        for keep in range(len(labels) - 1, 0, -1):
            other = len(labels) - keep
            kinds = "other kind of information" if other == 1 else "other kinds of information"
            phrase = f"{', '.join(labels[:keep])} and {other} {kinds}"
            if word_count(phrase) <= limit_words or keep == 1:
                return phrase
        return full  # not reached

    # -- parts ------------------------------------------------------------------------------------

    def subject(self) -> str:
        occurred = self.occurred()
        when = ""
        if occurred:  # the year goes, unless the dates cross one
            when = f" {when_phrase(*occurred)}"
            when = when.rsplit(" ", 1)[0] if occurred[0].year == occurred[1].year else when
        labels = self.labels() or ["your [WHAT INFORMATION]"]
        options = [join(labels)]
        if len(labels) > 1:
            kinds = "other kind" if len(labels) == 2 else f"{len(labels) - 1} other kinds"
            options.append(f"{labels[0]} and {kinds} of information")
            options.append(f"{labels[0]} and other information")
        for data in options:
            for suffix in (when, ""):
                subject = f"We lost control of {data}{suffix}"
                if len(subject) <= _MAX_SUBJECT_CHARS:
                    return subject
        return f"We lost control of {options[-1]}"

    def lead(self) -> str:
        occurred = self.occurred()
        when = f" {when_phrase(*occurred)}" if occurred else ""
        room = MAX_SENTENCE_WORDS - 5 - word_count(when)
        first = f"We lost control of {self.data_phrase(room)}{when}."
        second = {
            "criminal-outsider": "A criminal got hold of this information.",
            "insider": "Someone who works for us did this.",
            "supplier": f"It happened at our supplier {self.supplier or '[SUPPLIER NAME]'}.",
            "mistake": "It happened because we made a mistake.",
            "unknown": "We do not yet know who did this.",
        }.get(self.actor or "", "")
        return f"{first} {second}".strip()

    def what_happened(self) -> list[str]:
        facts = self.facts
        blocks: list[str] = []
        occurred = self.occurred()
        not_known: list[str] = []
        if occurred:
            when = f" {when_phrase(*occurred)}"
        elif facts.not_known("what_happened.occurred"):
            when = ""
            not_known.append("when it happened")
        else:
            when = " on [DATE]"
        if self.actor == "supplier":
            where = f"{self.supplier}, a supplier we use" if self.supplier else "[SUPPLIER NAME]"
            line = f"It happened{when}, at {where}."
        else:
            line = f"It happened{when}." if when else ""
            line += {
                "criminal-outsider": " A criminal did it.",
                "insider": " Someone who works for us did it.",
                "mistake": " We made a mistake.",
                "unknown": "",
            }.get(self.actor or "", " [WHO DID IT]")
            if self.actor == "unknown":
                not_known.insert(0, "who did it")
        if not_known:
            line += f" {self.unknown(join(not_known, 'or'))}"
        blocks.append(line.strip())
        description = facts.text("what_happened.description")
        blocks.append(as_written(description) if description else "[WHAT HAPPENED, IN PLAIN WORDS]")

        found = facts.day("what_happened.discovered")
        times = [f"We found out on {format_date(found) if found else '[DATE]'}."]
        contained = facts.day("what_happened.contained")
        if contained:
            times.append(f"We stopped it on {format_date(contained)}.")
        elif facts.not_known("what_happened.contained"):
            times.append(self.unknown("if it has stopped"))
        elif facts.present("what_happened.contained"):
            times.append("We stopped it on [DATE].")
        blocks.append(" ".join(times))

        police = facts.flag("what_happened.law_enforcement.involved")
        if police:
            delay = facts.flag("what_happened.law_enforcement.delay_requested")
            line = "We are working with the police."
            if delay:
                line += " They asked us to wait before we told you, so we did."
            elif delay is None:
                line += " [SAY IF THE POLICE ASKED YOU TO WAIT BEFORE TELLING CUSTOMERS.]"
            blocks.append(line)
        elif police is None and facts.present("what_happened.law_enforcement.involved"):
            blocks.append("[SAY IF THE POLICE ARE INVOLVED.]")
        return blocks

    def information(self) -> list[str]:
        facts = self.facts
        blocks: list[str] = []
        categories = self.categories
        if not categories:
            blocks.append("It involved your [WHAT INFORMATION].")
        elif len(categories) == 1:
            blocks.append(f"It involved {categories[0].label}.")
        else:
            items = "\n".join(f"- {capitalise(c.label)}" for c in categories)
            blocks.append(f"It involved this information about you:\n\n{items}")
        if any(c.id == "password-hashed" for c in categories or ()):
            blocks.append(self.password_storage())
        encryption = self.encryption()
        if encryption:
            blocks.append(encryption)
        people = facts.count("data.people_affected")
        if people:
            low, high = people
            if low == high == 1:
                blocks.append("You are the only person affected.")
            else:
                blocks.append(f"In total, {format_count(low, high)} are affected.")
        elif facts.not_known("data.people_affected"):
            records = facts.count("data.records_affected")
            line = self.unknown("the number of people affected")
            if records:
                low, high = records
                line = line.replace(
                    ". ", f". It involves {format_count(low, high, 'records')}. ", 1
                )
            blocks.append(line)
        elif facts.present("data.people_affected"):
            blocks.append("In total, [NUMBER] people are affected.")
        risks = self.risks()
        if risks:
            blocks.append(risks)
        return blocks

    def password_storage(self) -> str:
        storage = self.facts.choice("data.password_storage", PASSWORD_STORAGE)
        base = "We stored your password in a scrambled form, not as you typed it."
        if storage in ("argon2", "bcrypt", "scrypt", "pbkdf2"):
            return (
                f"{base} The way we scrambled it is hard to undo, but you should still change it."
            )
        if storage in ("salted-fast-hash", "unsalted-fast-hash"):
            speed = "quick" if storage == "salted-fast-hash" else "very quick"
            return (
                f"{base} But the way we scrambled it is {speed} to undo with a powerful computer. "
                "Act as if someone else knows your password, and change it now."
            )
        if storage == "other":
            return f"{base} You should still change it."
        if self.facts.not_known("data.password_storage"):
            return (
                f"{base} {self.unknown('how hard it is to undo')} Until then, change your password."
            )
        return f"{base} [SAY HOW HARD IT IS TO UNDO.]"

    def encryption(self) -> str:
        facts = self.facts
        path = "data.encryption.encrypted"
        encrypted = facts.choice(path, ("all", "some", "none"))
        locked = "locked (encrypted) this information with a secret key"
        if encrypted == "none":
            return "We had not locked (encrypted) this information with a secret key."
        if encrypted is None:
            if facts.not_known(path):
                return self.unknown("if this information was locked (encrypted) with a secret key")
            return "[SAY IF THE INFORMATION WAS ENCRYPTED.]" if facts.present(path) else ""
        first = (
            f"We had {locked}." if encrypted == "all" else f"We had {locked}, but not all of it."
        )
        safe = facts.flag("data.encryption.key_safe")
        if safe:
            key = "Whoever has the information does not have the key, so it is hard to read."
        elif safe is False:
            key = "But the key was not safe, so act as if someone can read your information."
        elif facts.not_known("data.encryption.key_safe"):
            key = self.unknown("if anyone else has the key")
            key += " Until then, act as if someone can read it."
        else:
            key = "[SAY IF THE KEY IS SAFE.]"
        return f"{first} {key}"

    def risks(self) -> str:
        harms = self.facts.choices("impact.harms", HARMS)
        if not harms:
            return ""
        real = [HARMS[h] for h in harms if HARMS[h]]
        if not real:
            return "We do not expect this to harm you."
        if len(real) == 1:
            text = f"This puts you at risk of {real[0][:1].lower() + real[0][1:]}."
        else:
            text = "This puts you at risk of:\n\n" + "\n".join(f"- {r}" for r in real)
        likelihood = self.facts.choice("impact.likelihood", LIKELIHOOD)
        if likelihood:
            text += f"\n\n{LIKELIHOOD[likelihood]}"
        return text

    def doing(self) -> list[str]:
        facts = self.facts
        blocks = ["We are sorry this happened."]
        taken = facts.choices("next_steps.actions_taken", ACTIONS)
        supplier = self.supplier if self.actor == "supplier" and self.supplier else None
        lines = {
            "contained": "We closed the gap that let this happen.",
            "passwords-reset": (
                "We reset the passwords of everyone affected. "
                "You will need to choose a new one when you next sign in."
            ),
            "cards-cancelled": "We asked the banks to cancel the cards involved.",
            "supplier-stopped": (
                f"We stopped {supplier} from getting to the information."
                if supplier
                else "We stopped our supplier from getting to the information."
            ),
            "regulator-told": "We told the regulator.",
            "police-told": "We told the police.",
            "experts-hired": "We brought in outside security experts to help us.",
        }
        done = [lines[a] for a in taken or () if a in lines]
        if done:
            blocks.append("So far:\n\n" + "\n".join(f"- {line}" for line in done))
        elif taken is not None:
            blocks.append(
                f"We have not taken any action yet. We will tell you what we do by {self.update}."
            )
        else:
            blocks.append("[WHAT WE HAVE DONE SO FAR]")
        detail = facts.text("next_steps.actions_detail")
        if detail:
            blocks.append(as_written(detail))
        if facts.flag("next_steps.offer.credit_monitoring"):
            months = facts.integer("next_steps.offer.months")
            span = f"{months} month{'s' if months != 1 else ''}" if months else "[NUMBER] months"
            blocks.append(
                f"We are offering you free credit monitoring for {span}. It warns you if someone "
                "tries to open an account or borrow money in your name. "
                "To sign up, [HOW TO SIGN UP, AND BY WHEN]."
            )
        return blocks

    def can_do(self) -> list[str]:
        facts = self.facts
        actions = facts.text("next_steps.customer_actions")
        blocks = [as_written(actions) if actions else "[WHAT CUSTOMERS SHOULD DO]"]
        seen = [
            frozenset(sentence_key(s).split()) for s in sentences(" ".join((actions or "").split()))
        ]
        items: list[str] = []
        for category in self.categories or ():
            kept = []
            for sentence in sentences(plain_advice(category.advice)):
                words = frozenset(sentence_key(sentence).split())
                if words and not any(repeats(words, earlier) for earlier in seen):
                    seen.append(words)
                    kept.append(sentence)
            if kept:
                items.append(f"- **{capitalise(category.short_label)}.** {' '.join(kept)}")
        if items:
            blocks.append("For each kind of information:\n\n" + "\n".join(items))
        return blocks

    def more_information(self) -> list[str]:
        facts = self.facts
        routes: list[str] = []
        phone = facts.text("next_steps.contact.phone")
        if phone:
            routes.append(f"Call us on {one_line(phone)}")
        email = facts.text("next_steps.contact.email")
        if email:
            routes.append(f"Email us at {one_line(email)}")
        web = facts.text("next_steps.contact.web")
        if web:
            routes.append(f"Read our updates at {one_line(web)}")
        postal = facts.text("next_steps.contact.postal")
        if postal:
            address = ", ".join(one_line(line) for line in postal.splitlines() if line.strip())
            routes.append(f"Write to us at {address}")
        if not routes:
            routes.append("[HOW TO CONTACT US: PHONE, EMAIL, WEB PAGE OR POSTAL ADDRESS]")
        blocks = ["If you have questions, you can:\n\n" + "\n".join(f"- {r}" for r in routes)]
        reference = facts.text("next_steps.reference")
        quoted = one_line(reference) if reference else "[REFERENCE]"
        blocks.append(f"When you contact us, quote this reference: {quoted}.")
        blocks.append(f"We will send you an update by {self.update}.")
        blocks.append(self.company)
        return blocks

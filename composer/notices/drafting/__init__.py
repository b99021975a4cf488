"""The first draft of a notice to individuals, written from the incident's facts.

``draft_notice(facts)`` reads a facts document (``composer-facts/1``, docs/facts.md) and writes a
subject line and a Markdown body: facts first, in plain words, in the five sections California
requires and other laws expect (REGIMES.md, "What a notice to individuals must say"; the
headings are in ``checklists/notice_sections.yaml``):

    Dear {{ first_name }},

    <what happened and which information, in one or two sentences>

    ## What happened
    ## What information was involved
    ## What we are doing
    ## What you can do
    ## For more information

How it treats what the checklist does not know:

- A fact the author marked "Not yet known" (``status.unknown``), or a null the status does not
  explain, becomes an honest sentence: "We do not yet know X. We will tell you by <next update>."
  The date is ``next_steps.next_update`` when known, else a visible ``[DATE]`` slot.
- A fact that is ``missing`` or ``invalid`` (the author has not answered it, or the answer fails a
  check) becomes a visible ``[SLOT]`` for the author to fill in: a draft must not tell customers
  "we do not know" when the answer simply has not been typed yet.
- Text the author wrote for customers (the description, what else we did, what customers should
  do) is used as written.

The incident's reference number (``next_steps.reference``) is the one readers quote: the checklist
asks for it for that purpose. The only merge field the draft uses is ``{{ first_name }}``.

The draft passes the linter (``composer.lint``) with no errors or warnings for complete fact sets;
``tests/rendering`` checks that over several incidents. No Flask.

The package: ``draft`` (the draft and its file format), ``wording`` (phrases), ``sections`` (what
each part says), ``notice`` (the parts put together under the headings of
``checklists/notice_sections.yaml``). The facts are read through ``composer.facts``.
"""

from composer.notices.drafting.draft import Draft, DraftError, parse_markdown, to_markdown
from composer.notices.drafting.notice import (
    GREETING,
    HEADINGS,
    USED_MERGE_FIELDS,
    draft_notice,
    read_facts,
)
from composer.notices.drafting.wording import join, plain_advice

__all__ = [
    "GREETING",
    "HEADINGS",
    "USED_MERGE_FIELDS",
    "Draft",
    "DraftError",
    "draft_notice",
    "join",
    "parse_markdown",
    "plain_advice",
    "read_facts",
    "to_markdown",
]

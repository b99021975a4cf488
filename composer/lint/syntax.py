"""Parse-based checks: hedged impact and agentless passives about the incident.

They use spaCy's tags and dependencies so that "stolen data" (an adjective), "you may want to"
(advice) and "be assured" (a set phrase) are left alone. Each returns character spans relative
to the parsed text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from spacy.attrs import DEP, LOWER, POS
from spacy.tokens import Doc, Token

#: Verbs that describe what happened to the data; passives of other verbs are routine.
INCIDENT_VERBS = frozenset(
    {
        "access", "steal", "take", "compromise", "breach", "expose", "copy", "view", "download",
        "obtain", "acquire", "leak", "hack", "exfiltrate", "misuse", "disclose", "release",
        "publish", "sell", "lose", "extract", "scrape", "harvest", "infiltrate", "target",
        "attack", "dump", "post", "read", "see", "share", "transfer", "upload",
        "delete", "alter", "change", "intercept", "capture", "make",
    }
)  # fmt: skip
#: Verbs that, after a modal, speculate about the impact ("may include", "could affect").
IMPACT_VERBS = INCIDENT_VERBS | {
    "affect", "impact", "include", "involve", "contain", "relate", "result", "cause", "start",
    "begin", "occur", "happen",
}  # fmt: skip
HEDGING_MODALS = frozenset({"may", "might", "could"})
READER_SUBJECTS = frozenset({"you", "yourself"})

Span = tuple[int, int]


def positions(doc: Doc, attr: int, values: frozenset[str]) -> list[int]:
    """Indices of tokens whose ``attr`` is one of ``values``, without making Token objects
    for the rest (making them dominates the cost of a pass over a parsed paragraph)."""
    strings = doc.vocab.strings
    wanted = {strings.add(v) for v in values}
    column = doc.to_array([attr]).tolist()
    return [i for i, value in enumerate(column) if value in wanted]


def proper_names(doc: Doc) -> frozenset[str]:
    """Proper nouns in ``doc`` (not sentence-initial), for readability."""
    return frozenset(
        t.text
        for t in (doc[i] for i in positions(doc, POS, frozenset({"PROPN"})))
        if t.is_alpha and len(t.text) > 2 and not t.is_sent_start
    )


def _verb_after(doc: Doc, index: int) -> tuple[Token | None, bool, bool]:
    """The main verb after the modal at ``index``; whether it is perfect and passive."""
    perfect = passive = False
    for token in doc[index + 1 : index + 7]:
        lower = token.lower_
        if lower == "have":
            perfect = True
        elif lower in ("been", "be"):
            passive = passive or lower == "been" or perfect is False
        elif token.pos_ in ("ADV", "PART") or token.tag_ == "RB":
            continue
        elif token.pos_ in ("VERB", "AUX"):
            return token, perfect, passive and token.tag_ == "VBN"
        else:
            return None, perfect, passive
    return None, perfect, passive


def _subject(verb: Token) -> Token | None:
    for child in verb.children:
        if child.dep_ in ("nsubj", "nsubjpass", "csubj"):
            return child
    if verb.dep_ in ("xcomp", "conj") and verb.head is not verb:
        return _subject(verb.head)
    return None


def modal_hedges(doc: Doc) -> Iterator[Span]:
    """'may have been accessed', 'might include', 'could potentially impact'."""
    for index in positions(doc, LOWER, HEDGING_MODALS):
        token = doc[index]
        if token.tag_ != "MD":
            continue
        verb, perfect, passive = _verb_after(doc, token.i)
        if verb is None:
            continue
        subject = _subject(verb)
        reader = subject is not None and subject.lower_ in READER_SUBJECTS
        hedged_adverb = any(
            t.lower_ in ("potentially", "possibly") for t in doc[token.i + 1 : verb.i]
        )
        # "may have been ..." speculates about what happened, whoever the subject is (bar advice
        # to the reader such as "you may have seen"); other modals only about the impact.
        speculative = (
            (perfect and (not reader or verb.lemma_ in ("affect", "impact", "involve")))
            or (passive and verb.lemma_ in IMPACT_VERBS)
            or (not reader and (hedged_adverb or verb.lemma_ in IMPACT_VERBS))
        )
        if not speculative:
            continue
        end = verb
        if end.i + 1 < len(doc) and doc[end.i + 1].dep_ == "prt":
            end = doc[end.i + 1]
        yield token.idx, end.idx + len(end.text)


def agentless_passives(doc: Doc) -> Iterator[Span]:
    """'were compromised', 'was taken', 'have been breached' with no 'by ...' agent."""
    heads = {doc[i].head.i for i in positions(doc, DEP, frozenset({"auxpass"}))}
    for verb in (doc[i] for i in sorted(heads)):
        if verb.tag_ != "VBN" or verb.lemma_.lower() not in INCIDENT_VERBS:
            continue
        auxes = [c for c in verb.children if c.dep_ in ("auxpass", "aux") and c.i < verb.i]
        if not any(c.dep_ == "auxpass" for c in auxes):
            continue
        if any(c.dep_ == "agent" for c in verb.children):
            continue
        # "was [copied/viewed] by [WHO]": bracketed slots can hide the agent from the parse.
        if any(t.lower_ == "by" for t in doc[verb.i + 1 : verb.i + 6]):
            continue
        if any(c.tag_ == "MD" for c in auxes):
            continue  # "may have been taken" is a hedge, reported by modal_hedges
        subject = _subject(verb)
        if subject is not None and subject.lower_ in READER_SUBJECTS:
            continue
        if _identifying(verb, subject) or _conditional(verb):
            continue
        if verb.lemma_ == "make" and (subject is None or subject.lemma_ != "mistake"):
            continue
        start = min(c.idx for c in auxes)
        yield start, verb.idx + len(verb.text)


def _identifying(verb: Token, subject: Token | None) -> bool:
    """'the data that has been stolen', 'which information was taken': naming the data the
    sentence is about, not reporting the event."""
    if subject is not None and subject.lower_ in ("that", "which", "who", "what"):
        return True
    return subject is not None and any(
        c.dep_ == "det" and c.lower_ in ("which", "what") for c in subject.children
    )


def _conditional(verb: Token) -> bool:
    """'if your data has been stolen': a hypothetical, not a report."""
    node = verb
    for _ in range(3):
        if any(c.dep_ == "mark" and c.lower_ in ("if", "whether", "unless") for c in node.children):
            return True
        if node.head is node:
            break
        node = node.head
    return False


#: Nouns for whoever did it or holds the data; vague with an indefinite determiner.
AGENT_NOUNS = frozenset(
    {
        "party", "company", "vendor", "supplier", "provider", "entity", "organization",
        "organisation", "source", "contractor", "partner",
    }
)  # fmt: skip
#: People nouns are vague agents only with a vague modifier ("an unauthorised person").
PERSON_NOUNS = frozenset({"person", "individual", "actor", "group", "user", "people"})
VAGUE_MODIFIERS = frozenset(
    {"unauthorised", "unauthorized", "unknown", "unnamed", "malicious", "external", "outside"}
)
INDEFINITE = frozenset({"a", "an", "one", "another", "some"})
#: People and data nouns; a vague determiner over them with no number hides the scope.
SCOPE_NOUNS = frozenset(
    {
        "customer", "user", "member", "client", "guest", "patient", "people", "person",
        "individual", "employee", "cardholder", "account", "data", "information", "detail",
        "record", "file", "document", "name", "address", "number", "password",
    }
)  # fmt: skip
VAGUE_DETERMINERS = frozenset({"some", "certain", "several", "various", "many", "most"})


def _phrase_end(head: Token) -> Token:
    """The last token of the noun phrase headed by ``head`` (compounds and modifiers, not
    relative clauses or prepositional phrases)."""
    end = head
    for child in head.rights:
        if child.dep_ in ("compound", "amod", "nmod", "appos") and child.i == end.i + 1:
            end = child
    return end


def vague_agents(doc: Doc) -> Iterator[Span]:
    """'a third party had stolen', 'by an unauthorized person': an indefinite agent noun as
    the subject, or as the agent of a passive."""
    for index in positions(doc, DEP, frozenset({"nsubj", "nsubjpass", "pobj"})):
        head = doc[index]
        lemma = head.lemma_.lower()
        if lemma in PERSON_NOUNS:
            if not any(c.lower_ in VAGUE_MODIFIERS for c in head.lefts):
                continue
        elif lemma not in AGENT_NOUNS:
            continue
        if head.dep_ == "pobj" and head.head.lower_ != "by":
            continue
        det = next((c for c in head.lefts if c.dep_ in ("det", "quantmod")), None)
        if det is None or det.lower_ not in INDEFINITE:
            continue
        end = _phrase_end(head)
        yield det.idx, end.idx + len(end.text)


def vague_amounts(doc: Doc) -> Iterator[Span]:
    """'some customer names', 'certain information': a vague determiner over people or data,
    with no number in the phrase."""
    for index in positions(doc, LOWER, VAGUE_DETERMINERS):
        det = doc[index]
        head = det.head
        if det.dep_ not in ("det", "amod", "quantmod") or head.lemma_.lower() not in SCOPE_NOUNS:
            continue
        if any(c.dep_ == "nummod" or c.like_num for c in head.children):
            continue
        end = _phrase_end(head)
        yield det.idx, end.idx + len(end.text)


CHECKS: dict[str, Callable[[Doc], Iterator[Span]]] = {
    "modal-hedge": modal_hedges,
    "agentless-passive": agentless_passives,
    "vague-agent": vague_agents,
    "vague-amount": vague_amounts,
}

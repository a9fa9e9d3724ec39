"""Names a question asks about, and sentences that name another place of the same name.

"New France" is not France, nor "North Charleston" Charleston, nor "West Virginia" Virginia:
a compass point or "New" before a place's name makes it another place. A sentence that
mentions the question's name only that way is about that other place, so a span read in it
does not answer the question ("What is the capital of France?" is not answered by "New
France's capital, Quebec"; SQuAD 2.0 writes unanswerable questions by exactly such swaps).
Titles before a name ("King George", "Lake Geneva") are not in the list: those name the same
person or place, or one the question's reader would accept.
"""

from __future__ import annotations

import re

from core.text.words import STOPWORDS, words

# Words that, capitalised before a place's name, make it another place.
OTHER_PLACE_PREFIXES = (
    "New",
    "North",
    "South",
    "East",
    "West",
    "Northern",
    "Southern",
    "Eastern",
    "Western",
    "Upper",
    "Lower",
)
_PREFIX = "(?:" + "|".join(OTHER_PLACE_PREFIXES) + ")"
_PREFIX_BEFORE = re.compile(rf"(?<![\w-]){_PREFIX}\s+$")
_NAME = re.compile(r"[A-Z][\w-]*(?:\s+[A-Z][\w-]*)*")
_ARTICLES = frozenset(("a", "an", "the"))
# Questions that name one thing to ask for its peers or for a place inside it.
_PEER = re.compile(
    r"^\s*where\b|\b(?:other|others|along with|besides|apart from|aside from|as well as)\b",
    re.IGNORECASE,
)


def question_names(question: str) -> list[str]:
    """Runs of capitalised words in ``question``, but for the one that opens it (any first
    word is capitalised: "What", "Paris")."""
    return [m.group() for m in _name_matches(question)]


def _name_matches(question: str) -> list[re.Match[str]]:
    return [m for m in _NAME.finditer(question) if m.start() > 0]


def names_another_place(
    question: str, sentence: str, answer: tuple[int, int] | None = None
) -> bool:
    """True when ``sentence`` mentions one of the question's names, and only ever right after
    a word of :data:`OTHER_PLACE_PREFIXES` that the question does not put there.

    Mentions that overlap the ``answer`` span (offsets in ``sentence``) do not count: "Which
    city blocks Charleston?" may well be answered "North Charleston".
    """
    for name in question_names(question):
        if re.search(rf"(?<![\w-]){_PREFIX}\s+{re.escape(name)}", question):
            continue  # the question asks about "New France" itself
        mentions = []  # of each mention that counts: is it another place?
        for m in re.finditer(rf"(?<![\w-]){re.escape(name)}(?![\w-])", sentence):
            prefix = _PREFIX_BEFORE.search(sentence[: m.start()])
            start = prefix.start() if prefix else m.start()
            if answer is None or not (answer[0] < m.end() and start < answer[1]):
                mentions.append(prefix is not None)
        if mentions and all(mentions):
            return True
    return False


def _lead_in(text: str) -> list[str]:
    """The two words that end ``text``, articles aside ("capital of" for "the capital of the")."""
    return [w for w in words(text)[-4:] if w not in _ARTICLES][-2:]


def takes_the_names_place(question: str, sentence: str, answer: tuple[int, int]) -> bool:
    """True when the ``answer`` span (offsets in ``sentence``) follows the same two words as
    one of the question's names, and is not that name: it fills the question's own slot with
    another name ("What is the capital of France?" read in "... capital of the Grand Duchy of
    Warsaw": the span names what the place is the capital *of*). Only a name (capitalised, no
    digit) swaps for a name: "a base price of US$ 999" answers "What was the base price of the
    MacBook Air?".
    The two words must hold a content word ("of the" alone says nothing of the slot), and
    questions that ask for a peer of their name ("Along with X, what ...", "other") or a place
    inside it ("Where ... in Montana?") are left alone.
    """
    said_text = sentence[answer[0] : answer[1]]
    is_name = said_text[:1].isupper() and not any(c.isdigit() for c in said_text)
    if not is_name or _PEER.search(question):
        return False
    before = _lead_in(sentence[: answer[0]])
    said = " ".join(words(said_text))
    for m in _name_matches(question):
        lead = _lead_in(question[: m.start()])
        if len(lead) < 2 or all(w in STOPWORDS for w in lead) or lead != before:
            continue
        if " ".join(words(m.group())) not in said:
            return True
    return False


_THING_OF_NAME = re.compile(r"\b(\w+)\s+of\s+(?:the\s+)?([A-Z][\w-]*(?:\s+[A-Z][\w-]*)*)")
_POSSESSIVE_THING = re.compile(r"['’]s?\s+(\w+)")


def owns_what_is_asked(question: str, sentence: str, answer: tuple[int, int]) -> bool:
    """True when the ``answer`` span (offsets in ``sentence``) holds the name whose thing the
    question asks for, and the sentence gives the span that very thing: "What is the capital
    of France?" read in "an attack on New France's capital, Quebec" is not answered by "New
    France", the owner of the capital. (Questions asking for the owner, "Who led the Army of
    the North?" in "General Faidherbe's Army of the North", name no part of their answer.)
    """
    after = _POSSESSIVE_THING.match(sentence[answer[1] :])
    if after is None:
        return False
    span, thing = sentence[answer[0] : answer[1]], after.group(1).lower()
    return any(
        m.group(1).lower() == thing
        and re.search(rf"(?<![\w-]){re.escape(m.group(2))}(?![\w-])", span)
        for m in _THING_OF_NAME.finditer(question)
        if m.start(2) > 0
    )

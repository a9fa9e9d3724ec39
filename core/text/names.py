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


def question_names(question: str) -> list[str]:
    """Runs of capitalised words in ``question``, but for the one that opens it (any first
    word is capitalised: "What", "Paris")."""
    return [m.group() for m in _NAME.finditer(question) if m.start() > 0]


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

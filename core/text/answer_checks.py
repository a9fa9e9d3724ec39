"""Spans that cannot answer the question whatever the passage says.

- **Not a year** for "In which year ...?": an answer with no digit ("June", "October") names
  no year. The reader picks such a span when the passage has the event but not its year.
  **Not a month** for "In which month ...?": an answer with no month name ("1984"); a name
  of its own may be another calendar's month ("Ramadan").
- **The question's own words**: a span that the question already says ("... at the 2005 Paris
  Air Show. In which year did ...?" answered "2005") tells the asker nothing. Questions that
  offer a choice ("Denver or Carolina?") are answered by one of their own words, so they are
  left alone.
- **Reported before it happened**: a question about a year after the article was published
  ("... the earthquake that devastated Nepal in April 2015?" read in a 2011 article on another
  earthquake) is not answered by that article, unless the answer's sentence names that year
  itself (a plan or schedule: "deliveries are due in 2014").
- **Not the negation asked about**: a question that asks what did *not* happen ("not",
  "never", "n't", "no longer") is not answered by a sentence with no negation at all: that
  sentence says what did happen. (SQuAD 2.0 writes unanswerable questions by inserting a
  "not": 10.6 % of its unanswerable questions are negated, 2.0 % of its answerable ones, and
  those usually find their negation in the answer's sentence.)
- **The loser for the winner**: "Which team won ...?" (who, which/what ... won, beat,
  defeated, was the winner) is not answered by a side the answer's sentence says lost: "...
  beat Carolina", "a victory over Carolina", "Carolina, the favourite, lost".
- **Foretold, not reported**: "In which year did ...?" asks what happened, and a year after
  the article was published is what it expected ("plans to commence A380 operations in April
  2007", read in 2005): the article cannot say whether it came to pass. A question about
  what was expected ("due", "planned", "scheduled") is answered by the expected year.
"""

from __future__ import annotations

import re

from core.text.words import MONTH, normalize_answer

_YEAR_QUESTION = re.compile(r"\b(?:what|which)\s+year\b", re.IGNORECASE)
_PAST_YEAR_QUESTION = re.compile(r"\b(?:what|which)\s+year\s+(?:did|was|were|had)\b", re.IGNORECASE)
# ... unless it asks what was expected ("In which year was the plane due to be delivered?").
_EXPECTED = re.compile(
    r"\b(?:expect(?:s|ed|ing|ations?)?|due|plan(?:s|ned|ning)?|scheduled?|forecast(?:s|ed)?"
    r"|predict(?:s|ed|ions?)?|projected|target(?:s|ed)?|intend(?:s|ed)?|aim(?:s|ed)?)\b",
    re.IGNORECASE,
)
_MONTH_QUESTION = re.compile(r"\b(?:what|which)\s+month\b", re.IGNORECASE)
_MONTH = re.compile(rf"\b{MONTH}\b", re.IGNORECASE)
_CHOICE = re.compile(r"\bor\b", re.IGNORECASE)
# "n't" with a straight or a typographic apostrophe (news copy and phones type the latter)
_NEGATED_QUESTION = re.compile(r"\b(?:not|never|no\s+longer)\b|n['\u2019]t\b", re.IGNORECASE)
_NEGATION = re.compile(
    r"\b(?:not|no|never|none|neither|nor|without|cannot|unable|absent"
    r"|fail(?:s|ed)?|lack(?:s|ed)?|refuse[sd]?|den(?:y|ies|ied))\b|n['\u2019]t\b",
    re.IGNORECASE,
)
# A question that asks for the winner: the asked-for side is the subject of the win.
_WINNER_QUESTION = re.compile(
    r"^\s*(?:who|(?:which|what)(?:\s+(?!(?:did|does|do|had|has|have)\b)[\w'\u2019-]+){1,3}?)\s+"
    r"(?:won|wins|beat|defeated|was\s+the\s+winner|were\s+the\s+winners|"
    r"(?:was|were|emerged)\s+victorious)\b",
    re.IGNORECASE,
)
# A side that lost: what comes right after it, or right before it.
_LOST_AFTER = re.compile(
    r"^\s*(?:,[^,]*,\s*)?(?:lost|(?:was|were)\s+(?:defeated|beaten|eliminated)|fell\s+to)\b",
    re.IGNORECASE,
)
_LOST_BEFORE = re.compile(
    r"\b(?:defeated|defeating|beat|beating|(?:victory|win|won|triumph)\s+over)\s+(?:the\s+)?$",
    re.IGNORECASE,
)
# A year as a word of its own: not inside "$2015", "2015%", "1,2015" or "2015.5".
_YEAR = re.compile(r"(?<![\w$.,])(1[5-9]\d\d|20\d\d)(?![\w%])")


def not_a_year(question: str, answer: str) -> bool:
    """The question asks for a year and ``answer`` holds no digit."""
    return bool(_YEAR_QUESTION.search(question)) and not any(c.isdigit() for c in answer)


def not_a_month(question: str, answer: str) -> bool:
    """The question asks for a month and ``answer`` names none (no month name, and no name of
    its own such as "Ramadan")."""
    return (
        bool(_MONTH_QUESTION.search(question))
        and not _MONTH.search(answer)
        and not answer[:1].isupper()
    )


def repeats_the_question(question: str, answer: str) -> bool:
    """``answer`` is words the question already says (and the question offers no choice)."""
    if _CHOICE.search(question):
        return False
    said, asked = normalize_answer(answer), normalize_answer(question)
    return bool(said) and re.search(rf"(?<!\w){re.escape(said)}(?!\w)", asked) is not None


def misses_the_negation(question: str, sentence: str) -> bool:
    """The question is negated ("What did X not do?") and the answer's ``sentence`` holds no
    negation of any kind."""
    return bool(_NEGATED_QUESTION.search(question)) and not _NEGATION.search(sentence)


def names_the_loser(question: str, sentence: str, answer: tuple[int, int]) -> bool:
    """The question asks who won, and ``sentence`` says the ``answer`` span (offsets in it)
    lost: "beat Carolina", "victory over Carolina", "Carolina lost"."""
    start, end = answer
    return bool(_WINNER_QUESTION.search(question)) and bool(
        _LOST_AFTER.search(sentence[end:]) or _LOST_BEFORE.search(sentence[:start])
    )


def asks_for_a_year(question: str) -> bool:
    """Whether ``question`` names a year or asks for one: the articles' dates may rule out
    an answer (:func:`reported_before`, :func:`foretold`)."""
    return names_a_year(question) or _YEAR_QUESTION.search(question) is not None


def foretold(question: str, answer: str, published: str | None) -> bool:
    """The question asks in the past tense for a year ("In which year did ...?"), not for what
    was expected, and ``answer`` names one after ``published`` (the article's ISO date; None:
    unknown)."""
    if (
        not published
        or not published[:4].isdigit()
        or not _PAST_YEAR_QUESTION.search(question)
        or _EXPECTED.search(question)
    ):
        return False
    return any(int(year) > int(published[:4]) for year in _YEAR.findall(answer))


def names_a_year(text: str) -> bool:
    """Whether ``text`` holds a year (1500-2099) as a word of its own."""
    return _YEAR.search(text) is not None


def reported_before(question: str, sentence: str, published: str | None) -> bool:
    """The question names a year after ``published`` (the article's ISO date; None: unknown)
    that the answer's ``sentence`` does not name."""
    if not published or not published[:4].isdigit():
        return False
    named = set(_YEAR.findall(sentence))
    return any(
        int(year) > int(published[:4]) and year not in named for year in _YEAR.findall(question)
    )


def cannot_answer(question: str, answer: str) -> bool:
    """The span ``answer`` is no answer to ``question`` (see the module docstring)."""
    return (
        not_a_year(question, answer)
        or not_a_month(question, answer)
        or repeats_the_question(question, answer)
    )

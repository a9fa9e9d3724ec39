"""Block Kit for replies: the quote with the answer in bold, the article linked, the score.

>>> escape("AT&T <b>")
'AT&amp;T &lt;b&gt;'
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote as percent_encode

from qa.types import Answer, AskResult

Block = dict[str, Any]

NOT_FOUND = "I found nothing about that in the articles."
MAX_MORE = 2  # further sources shown under the best answer
QUOTE_CHARS = 2000  # section text is capped at 3000 characters by Slack, after escaping
MORE_QUOTE_CHARS = 300
TITLE_CHARS = 150
FALLBACK_CHARS = 1000
URL_SAFE = ":/?#[]@!$&'()*+,;=%~"  # percent-encode only what breaks <url|title>: | < > space
ZWSP = "\u200b"  # lets `*bold*` work next to letters, where Slack would not render it
FEEDBACK_HELPFUL = "feedback_helpful"  # action ids of the feedback buttons
FEEDBACK_NOT_HELPFUL = "feedback_not_helpful"
BUTTON_VALUE_CHARS = 2000  # Slack's limit on a button's value
# Slack's Block Kit limits: a section's text, a context's elements, a message's blocks.
SECTION_CHARS = 3000
CONTEXT_ELEMENTS = 10
MESSAGE_BLOCKS = 50
CONTINUED = "(continued)"


def escape(text: str) -> str:
    """Escape Slack's control characters ``&``, ``<`` and ``>`` (and nothing else)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(before: str, span: str, after: str, limit: int) -> tuple[str, str]:
    """Shorten the text around ``span`` to about ``limit`` characters, keeping the span whole."""
    room = max(limit - len(span), 0)
    if len(before) + len(after) <= room:
        return before, after
    keep_after = min(len(after), room // 2)
    keep_before = min(len(before), room - keep_after)
    keep_after = min(len(after), room - keep_before)
    before = before if keep_before >= len(before) else "…" + before[len(before) - keep_before :]
    after = after if keep_after >= len(after) else after[:keep_after] + "…"
    return before, after


def _bold(span: str, before: str, after: str) -> str:
    """``span`` (already escaped) in ``*bold*``, line by line; plain if Slack could not bold it."""
    if "*" in span or not span.strip():
        return span
    out = []
    for line in span.split("\n"):
        core = line.strip()
        if not core:
            out.append(line)
            continue
        lead, trail = line[: len(line) - len(line.lstrip())], line[len(line.rstrip()) :]
        out.append(f"{lead}*{core}*{trail}")
    bold = "\n".join(out)
    if before[-1:].isalnum() and not span[:1].isspace():
        bold = ZWSP + bold
    if after[:1].isalnum() and not span[-1:].isspace():
        bold += ZWSP
    return bold


def quote_mrkdwn(answer: Answer, limit: int = QUOTE_CHARS) -> str:
    """The verbatim quote as escaped mrkdwn with the answer span in bold.

    The quote is split at the span's offsets *before* escaping, so escaping cannot shift them.
    """
    quote = answer.quote
    rel_s, rel_e = answer.start - answer.quote_start, answer.end - answer.quote_start
    if not 0 <= rel_s <= rel_e <= len(quote):
        rel_s = rel_e = 0
    before, span, after = quote[:rel_s], quote[rel_s:rel_e], quote[rel_e:]
    while True:
        clipped_before, clipped_after = _clip(before, span, after, limit)
        text = escape(clipped_before) + _bold(escape(span), clipped_before, clipped_after)
        text += escape(clipped_after)
        if len(text) <= limit or limit <= len(span):
            return text
        limit = max(len(span), limit - (len(text) - limit) - 10)


def blockquote(mrkdwn: str) -> str:
    """Prefix every line with ``>`` so Slack shows it as a quote."""
    return "\n".join("> " + line for line in mrkdwn.split("\n"))


def source_link(answer: Answer) -> str:
    """The article title, linked to the quote in it (``answer.link``) or else to its URL,
    when it has a web URL."""
    title = answer.article.title or answer.article.id
    if len(title) > TITLE_CHARS:
        title = title[: TITLE_CHARS - 1] + "…"
    url = answer.link or answer.article.url or ""
    if url.startswith(("http://", "https://")):
        return f"<{percent_encode(url, safe=URL_SAFE)}|{escape(title)}>"
    return escape(title)


def published(answer: Answer) -> str:
    """`` · published 2016-09-08`` (the day of the article's date), or nothing when unknown."""
    date = answer.article.published
    return f" · published {escape(date[:10])}" if date else ""


def newer_note(best: Answer, others: list[Answer]) -> str | None:
    """The other answers that come from newer articles than the best one and differ."""
    newer = [a for a in others if best.article.id in a.newer_than]
    if not newer:
        return None
    items = "; ".join(
        f"“{escape(a.text[:MORE_QUOTE_CHARS])}” in {source_link(a)}{published(a)}" for a in newer
    )
    return f":calendar: *A newer article answers differently:* {items}"


def feedback_value(question: str, answer: Answer) -> str:
    """What a feedback button carries: the question and where the answer is (the answer
    text itself is read back from the index), as JSON under Slack's 2,000 characters."""
    where = {"a": answer.article.id, "s": answer.start, "e": answer.end, "f": answer.field}
    room = BUTTON_VALUE_CHARS - len(json.dumps({**where, "q": ""}))
    q = question
    while len(json.dumps(q)) - 2 > room:
        q = q[: max(0, len(q) - (len(json.dumps(q)) - 2 - room) - 1)]
    return json.dumps({**where, "q": q}, ensure_ascii=False)


def feedback_actions(question: str, answer: Answer) -> Block:
    """Helpful / not helpful buttons for ``answer`` (Slack sends them back, signed, as
    ``block_actions``)."""
    value = feedback_value(question, answer)
    return {
        "type": "actions",
        "block_id": "feedback",
        "elements": [
            {
                "type": "button",
                "action_id": action,
                "text": {"type": "plain_text", "text": label, "emoji": True},
                "value": value,
            }
            for action, label in (
                (FEEDBACK_HELPFUL, ":thumbsup: Helpful"),
                (FEEDBACK_NOT_HELPFUL, ":thumbsdown: Not helpful"),
            )
        ],
    }


def _section(mrkdwn: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": mrkdwn}}


def _context(*mrkdwn: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": t} for t in mrkdwn]}


def _asked(asked_by: str | None, question: str) -> list[Block]:
    if asked_by is None:
        return []
    return [_section(f"<@{asked_by}> asked: *{escape(question)}*")]


def answer_blocks(result: AskResult, *, asked_by: str | None = None) -> tuple[str, list[Block]]:
    """The reply to ``result``: ``(fallback text, blocks)``.

    Args:
        result: the engine's answer.
        asked_by: a Slack user id; when given (``/ask``), the question is shown first.

    Returns:
        The notification text and the Block Kit blocks of one message.
    """
    head = _asked(asked_by, result.question)
    if not result.found or not result.answers:
        return NOT_FOUND, fit_blocks([*head, _section(NOT_FOUND)])
    best, *more = result.answers
    blocks = [
        *head,
        _section(blockquote(quote_mrkdwn(best))),
        _context(f"{source_link(best)}{published(best)} · score {best.score:.2f}"),
    ]
    if note := newer_note(best, more):
        blocks.append(_context(note))
    extras = [
        f"“{quote_mrkdwn(a, MORE_QUOTE_CHARS)}” — {source_link(a)}{published(a)} · "
        f"score {a.score:.2f}"
        for a in more[:MAX_MORE]
    ]
    if extras:
        blocks.append(_context("*More sources*", *extras))
    blocks.append(feedback_actions(result.question, best))
    fallback = f"{best.text}: “{best.quote}” ({best.article.title})"
    return escape(fallback[:FALLBACK_CHARS]), fit_blocks(blocks)


def notice_blocks(text: str) -> tuple[str, list[Block]]:
    """A one-line reply (usage hint, "still starting", errors), already mrkdwn."""
    return text[:FALLBACK_CHARS], fit_blocks([_section(text)])


def split_mrkdwn(text: str, limit: int = SECTION_CHARS) -> list[str]:
    """``text`` in pieces of at most ``limit`` characters: at a line break, else a space,
    else anywhere but inside an escape (``&amp;``)."""
    pieces = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit + 1)
        if cut <= 0:
            cut = text.rfind(" ", 0, limit + 1)
        if cut <= 0:
            cut = limit
            amp = text.rfind("&", max(0, cut - 4), cut)
            if amp > 0 and ";" not in text[amp:cut]:
                cut = amp  # not inside &amp; / &lt; / &gt;
        pieces.append(text[:cut])
        text = text[cut + 1 :] if text[cut : cut + 1] in ("\n", " ") else text[cut:]
    pieces.append(text)
    return [p for p in pieces if p]


def fit_blocks(blocks: list[Block]) -> list[Block]:
    """``blocks`` within Slack's limits for blocks: a long section becomes several, a
    context's elements are cut to its limits (10, each at most 3,000 characters)."""
    fitted: list[Block] = []
    for block in blocks:
        if block["type"] == "section" and len(block["text"]["text"]) > SECTION_CHARS:
            fitted += [_section(piece) for piece in split_mrkdwn(block["text"]["text"])]
        elif block["type"] == "context":
            elements = [
                {**e, "text": split_mrkdwn(e["text"])[0]} if e.get("type") == "mrkdwn" else e
                for e in block["elements"]
            ]
            for lo in range(0, len(elements), CONTEXT_ELEMENTS):
                fitted.append({**block, "elements": elements[lo : lo + CONTEXT_ELEMENTS]})
        else:
            fitted.append(block)
    return fitted


def split_messages(text: str, blocks: list[Block]) -> list[tuple[str, list[Block]]]:
    """One reply as messages of at most 50 blocks each (the first keeps ``text``)."""
    groups = [blocks[lo : lo + MESSAGE_BLOCKS] for lo in range(0, len(blocks), MESSAGE_BLOCKS)]
    return [(text if n == 0 else CONTINUED, group) for n, group in enumerate(groups or [[]])]

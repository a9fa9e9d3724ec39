"""Slack polish: an "I'm looking" reaction while answering, replies kept under Block Kit's
limits (split when long), and no answers to bots, the bot itself or non-messages."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from qa.slack.blocks import (
    CONTINUED,
    MESSAGE_BLOCKS,
    SECTION_CHARS,
    answer_blocks,
    split_messages,
    split_mrkdwn,
)
from qa.slack.bot import LOOKING, LOOKING_REACTION
from qa.types import AskResult
from tests.slack.conftest import (
    BOT_ID,
    BOT_USER,
    HUMAN,
    SlackStandIn,
    SpyEngine,
    post_command,
    post_event,
)
from tests.slack.test_bot import QUESTION, TS, mention, message


def _blocks(body: dict) -> list[dict]:
    blocks = body["blocks"]
    return json.loads(blocks) if isinstance(blocks, str) else blocks


def test_a_question_wears_an_eyes_reaction_while_it_is_answered(
    client: TestClient, slack_api: SlackStandIn
) -> None:
    post_event(client, mention(), "Ev1")
    slack_api.wait_for(1, path="/api/reactions.remove")
    calls = [c["path"] for c in slack_api.calls if c["path"] != "/api/auth.test"]
    assert calls == ["/api/reactions.add", "/api/chat.postMessage", "/api/reactions.remove"]
    (added,) = slack_api.posts("/api/reactions.add")
    assert (added["channel"], added["timestamp"], added["name"]) == ("C1", TS, LOOKING_REACTION)


def test_without_the_reactions_scope_the_answer_still_comes(
    client: TestClient, slack_api: SlackStandIn
) -> None:
    slack_api.refuse["reactions.add"] = "missing_scope"
    post_event(client, mention(), "Ev1")
    (post,) = slack_api.wait_for(1)
    assert post["thread_ts"] == TS
    assert slack_api.posts("/api/reactions.remove") == []


def test_slash_command_says_it_is_looking_to_the_asker(
    client: TestClient, slack_api: SlackStandIn
) -> None:
    response = post_command(client, QUESTION, slack_api.url + "/commands/T1/1/secret")
    assert response.status_code == 200 and response.text == LOOKING
    slack_api.wait_for(1, path="/commands/")


def test_a_long_question_asked_by_slash_command_stays_under_the_section_limit(
    client: TestClient, slack_api: SlackStandIn
) -> None:
    question = "How many " + "& " * 990 + "arrested?"  # escaping makes it 5,000 characters
    post_command(client, question, slack_api.url + "/commands/T1/2/secret")
    (reply,) = slack_api.wait_for(1, path="/commands/")
    sections = [b for b in _blocks(reply) if b["type"] == "section"]
    assert len(sections) >= 3
    assert all(len(b["text"]["text"]) <= SECTION_CHARS for b in sections)
    assert "&amp;" in sections[1]["text"]["text"]


def test_split_mrkdwn_cuts_at_lines_then_spaces_never_inside_an_escape() -> None:
    lines = "\n".join(f"> line {n} " + "x" * 90 for n in range(100))
    pieces = split_mrkdwn(lines)
    assert all(len(p) <= SECTION_CHARS for p in pieces)
    assert "\n".join(pieces) == lines
    escaped = "&amp;" * 1000  # 5,000 characters, no space
    pieces = split_mrkdwn(escaped)
    assert "".join(pieces) == escaped and all(p.count("&") == p.count(";") for p in pieces)


def test_a_reply_over_50_blocks_is_split_into_messages() -> None:
    blocks = [{"type": "divider"}] * (MESSAGE_BLOCKS * 2 + 3)
    parts = split_messages("fallback", blocks)
    assert [len(b) for _, b in parts] == [50, 50, 3]
    assert [t for t, _ in parts] == ["fallback", CONTINUED, CONTINUED]
    result = AskResult(question="q?", found=False, took_ms=1.0)
    assert len(split_messages(*answer_blocks(result))) == 1


@pytest.mark.parametrize(
    "event",
    [
        mention(bot_id="B0OTHER"),  # another bot mentions us
        mention(user=BOT_USER),  # our own message
        {**mention(), "bot_profile": {"id": "B0OTHER"}},
        message(QUESTION, "1700000005.1", channel="D1", bot_id="B0OTHER", channel_type="im"),
        message(QUESTION, "1700000005.2", channel="D1", user=BOT_USER, channel_type="im"),
        message(QUESTION, "1700000005.3", channel="D1", subtype="bot_message", channel_type="im"),
        message(QUESTION, "1700000005.4", channel="D1", bot_id=BOT_ID, channel_type="im"),
    ],
)
def test_bots_and_the_bot_itself_are_ignored(
    client: TestClient, slack_api: SlackStandIn, spy: SpyEngine, event: dict
) -> None:
    assert post_event(client, event, "Ev9").status_code == 200
    slack_api.settle()
    assert slack_api.posts() == [] and spy.calls == []


def test_a_person_in_a_dm_is_still_answered(client: TestClient, slack_api: SlackStandIn) -> None:
    dm = message(QUESTION, "1700000006.1", channel="D1", user=HUMAN, channel_type="im")
    post_event(client, dm, "Ev10")
    assert slack_api.wait_for(1)[0]["channel"] == "D1"

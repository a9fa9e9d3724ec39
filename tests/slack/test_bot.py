"""The real bolt app inside the real FastAPI app, fed Slack-signed requests.

A stand-in Slack Web API (``SLACK_API_URL``) records what the bot posts.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from slack_bolt.request import BoltRequest
from typer.testing import CliRunner

from qa.api.app import create_app
from qa.slack.blocks import NOT_FOUND
from qa.slack.bot import STARTING, USAGE, make_bolt_app, plain_question
from tests.slack.conftest import (
    BOT_ID,
    BOT_USER,
    HUMAN,
    SlackStandIn,
    SpyEngine,
    event_body,
    post_command,
    post_event,
    signed,
    slack_settings,
)

QUESTION = "How many people has Pakistan arrested?"
QUOTE = (
    "Pakistani authorities have so far arrested 309 people associated with Islamic State (IS) "
    "on its territory, he said."
)
TS = "1700000000.000100"


def mention(text: str = QUESTION, ts: str = TS, **extra: str) -> dict:
    return {
        "type": "app_mention",
        "user": HUMAN,
        "text": f"<@{BOT_USER}> {text}",
        "ts": ts,
        "event_ts": ts,
        "channel": "C1",
        "channel_type": "channel",
        **extra,
    }


def message(text: str, ts: str, channel: str = "C1", **extra: str) -> dict:
    return {
        "type": "message",
        "user": HUMAN,
        "text": text,
        "ts": ts,
        "event_ts": ts,
        "channel": channel,
        "channel_type": "im" if channel.startswith("D") else "channel",
        **extra,
    }


def mrkdwn(post: dict) -> str:
    """All the mrkdwn text of a posted message's blocks."""
    texts = []
    for block in post["blocks"]:
        if "text" in block:
            texts.append(block["text"]["text"])
        for e in block.get("elements", []):  # mrkdwn, or a button's plain_text object
            texts.append(e["text"] if isinstance(e["text"], str) else e["text"]["text"])
    return "\n".join(texts)


def test_mention_is_answered_once_in_its_thread(client: TestClient, slack_api: SlackStandIn):
    response = post_event(client, mention(), "Ev1")
    assert response.status_code == 200
    (post,) = slack_api.wait_for(1)
    assert post["channel"] == "C1"
    assert post["thread_ts"] == TS
    text = mrkdwn(post)
    assert "*309*" in text
    assert QUOTE in text.replace("*", "")  # the verbatim quote, bold marks aside
    assert "<http://www.msn.com/en-in/news/world/pakistan-says-it-foiled" in text
    assert "score 0." in text
    assert "309" in post["text"]
    slack_api.settle()
    assert len(slack_api.posts()) == 1


def test_ack_comes_before_the_answer(client: TestClient, slack_api: SlackStandIn, spy):
    spy.gate.clear()  # the engine holds every answer until released
    started = time.monotonic()
    response = post_event(client, mention(), "Ev1")
    assert response.status_code == 200
    assert time.monotonic() - started < 3
    assert slack_api.posts() == []
    spy.gate.set()
    assert "*309*" in mrkdwn(slack_api.wait_for(1)[0])


def test_direct_message_is_answered_in_thread(client: TestClient, slack_api: SlackStandIn):
    assert post_event(client, message(QUESTION, TS, channel="D1"), "Ev1").status_code == 200
    (post,) = slack_api.wait_for(1)
    assert (post["channel"], post["thread_ts"]) == ("D1", TS)
    assert "*309*" in mrkdwn(post)


def test_follow_up_in_thread_uses_the_first_question(
    client: TestClient, slack_api: SlackStandIn, spy: SpyEngine
):
    post_event(client, mention(), "Ev1")
    slack_api.wait_for(1)
    follow_up = message("and how many were foreigners?", "1700000001.000200", thread_ts=TS)
    assert post_event(client, follow_up, "Ev2").status_code == 200
    _, post = slack_api.wait_for(2)
    assert post["thread_ts"] == TS
    assert "25" in mrkdwn(post)
    assert "foreigners" in mrkdwn(post)
    assert spy.calls[-1] == ("and how many were foreigners?", [QUESTION])


def test_each_follow_up_carries_the_questions_asked_before_it_in_the_thread(
    client: TestClient, slack_api: SlackStandIn, spy: SpyEngine
):
    post_event(client, mention(), "Ev1")
    slack_api.wait_for(1)
    first = message("and how many were foreigners?", "1700000001.000200", thread_ts=TS)
    post_event(client, first, "Ev2")
    slack_api.wait_for(2)
    second = message("where were they from?", "1700000002.000200", thread_ts=TS)
    post_event(client, second, "Ev3")
    slack_api.wait_for(3)
    assert spy.calls[-1] == ("where were they from?", [QUESTION, "and how many were foreigners?"])


def test_thread_chatter_and_other_threads_are_left_alone(
    client: TestClient, slack_api: SlackStandIn, spy: SpyEngine
):
    post_event(client, mention(), "Ev1")
    slack_api.wait_for(1)
    post_event(client, message("thanks, that helps", "1700000001.1", thread_ts=TS), "Ev2")
    post_event(client, message("how many?", "1700000002.1", thread_ts="1600000000.1"), "Ev3")
    post_event(client, message("a question in the channel?", "1700000003.1"), "Ev4")
    slack_api.settle()
    assert len(slack_api.posts()) == 1
    assert len(spy.calls) == 1


def test_follow_up_after_a_restart_asks_slack_for_the_thread(
    client: TestClient, slack_api: SlackStandIn, spy: SpyEngine
):
    slack_api.replies[TS] = [
        {"user": HUMAN, "ts": TS, "text": f"<@{BOT_USER}> {QUESTION}"},
        {"user": BOT_USER, "bot_id": BOT_ID, "ts": "1700000000.5", "text": "309: ..."},
    ]
    follow_up = message("and how many were foreigners?", "1700000001.000200", thread_ts=TS)
    post_event(client, follow_up, "Ev2")
    (post,) = slack_api.wait_for(1)
    assert post["thread_ts"] == TS
    assert spy.calls == [("and how many were foreigners?", [QUESTION])]
    # The thread, as Slack returns it, may hold the new message already: it is not history.
    slack_api.replies["1700000010.0"] = [
        {"user": HUMAN, "ts": "1700000010.0", "text": f"<@{BOT_USER}> {QUESTION}"},
        {"user": BOT_USER, "bot_id": BOT_ID, "ts": "1700000010.5", "text": "309: ..."},
        {"user": HUMAN, "ts": "1700000011.0", "text": "thanks!"},
        {"user": HUMAN, "ts": "1700000012.0", "text": "and how many were foreigners?"},
        {"bot_id": "B0OTHER", "ts": "1700000012.5", "text": "Another bot asks: why?"},
        {"user": HUMAN, "ts": "1700000013.0", "text": "where were they from?"},
    ]
    later = message("where were they from?", "1700000013.0", thread_ts="1700000010.0")
    post_event(client, later, "Ev3")
    slack_api.wait_for(2)
    assert spy.calls[-1] == ("where were they from?", [QUESTION, "and how many were foreigners?"])


def test_slash_command_answers_in_channel(client: TestClient, slack_api: SlackStandIn):
    response_url = slack_api.url + "/commands/T1/1/secret"
    response = post_command(client, QUESTION, response_url)
    assert response.status_code == 200
    (reply,) = slack_api.wait_for(1, path="/commands/")
    assert reply["response_type"] == "in_channel"
    text = mrkdwn(reply)
    assert f"<@{HUMAN}> asked: *{QUESTION}*" in text
    assert "*309*" in text
    assert slack_api.posts() == []  # no chat.postMessage: the response_url carries it


def test_slash_command_without_question_gets_usage(client: TestClient, slack_api: SlackStandIn):
    response = post_command(client, "  ", slack_api.url + "/commands/T1/1/secret")
    assert response.status_code == 200
    assert response.text == USAGE


def test_retried_delivery_is_acked_and_ignored(client: TestClient, slack_api: SlackStandIn):
    post_event(client, mention(), "Ev1")
    slack_api.wait_for(1)
    retry = post_event(client, mention(), "Ev1", **{"X-Slack-Retry-Num": "1"})
    assert retry.status_code == 200
    assert retry.headers["x-slack-no-retry"] == "1"
    only_retry = post_event(client, mention(ts="1700000009.1"), "Ev9", **{"X-Slack-Retry-Num": "2"})
    assert only_retry.status_code == 200
    slack_api.settle()
    assert len(slack_api.posts()) == 1


def test_one_question_is_answered_once(client: TestClient, slack_api: SlackStandIn):
    post_event(client, mention(), "Ev1")
    post_event(client, mention(), "Ev1")  # redelivered without the retry header
    post_event(client, message(f"<@{BOT_USER}> {QUESTION}", TS), "Ev2")  # its message event
    slack_api.wait_for(1)
    slack_api.settle()
    assert len(slack_api.posts()) == 1


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"secret": "forged-secret"}, id="forged"),
        pytest.param({"age": 6 * 60}, id="stale"),
    ],
)
def test_bad_signatures_are_rejected(client: TestClient, slack_api: SlackStandIn, headers):
    body = event_body(mention(), "Ev1")
    sent = signed(body, content_type="application/json", **headers)
    assert client.post("/slack/events", content=body, headers=sent).status_code == 401
    unsigned = client.post(
        "/slack/events", content=body, headers={"Content-Type": "application/json"}
    )
    assert unsigned.status_code == 401
    slack_api.settle(0.3)
    assert slack_api.posts() == []


def test_own_and_other_bots_messages_are_ignored(client: TestClient, slack_api: SlackStandIn):
    post_event(client, message(QUESTION, "1.1", channel="D1", user=BOT_USER), "Ev1")
    post_event(client, message(QUESTION, "1.2", channel="D1", bot_id="B2"), "Ev2")
    post_event(client, message(QUESTION, "1.3", channel="D1", subtype="bot_message"), "Ev3")
    post_event(client, mention(ts="1.4", bot_id="B2"), "Ev4")
    post_event(client, message(QUESTION, "1.5", channel="D1", subtype="message_changed"), "Ev5")
    slack_api.settle()
    assert slack_api.posts() == []


def test_nothing_found_says_so(client: TestClient, slack_api: SlackStandIn):
    post_event(client, mention("What is the recipe for banana bread?"), "Ev1")
    (post,) = slack_api.wait_for(1)
    assert mrkdwn(post) == NOT_FOUND
    assert post["thread_ts"] == TS


def test_bare_mention_gets_usage(client: TestClient, slack_api: SlackStandIn):
    post_event(client, mention(""), "Ev1")
    (post,) = slack_api.wait_for(1)
    assert mrkdwn(post) == USAGE


def test_rate_limited_post_backs_off_and_retries(client: TestClient, slack_api: SlackStandIn):
    slack_api.throttle = 1
    started = time.monotonic()
    post_event(client, mention(), "Ev1")
    (post,) = slack_api.wait_for(1)
    assert slack_api.throttled == 1
    assert time.monotonic() - started >= 1  # honoured Retry-After: 1
    assert "*309*" in mrkdwn(post)


def test_engine_not_ready_says_still_starting(slack_api: SlackStandIn, tmp_path: Path):
    app = create_app(slack_settings(slack_api, tmp_path))  # lifespan not run: no engine yet
    post_event(TestClient(app), mention(), "Ev1")
    (post,) = slack_api.wait_for(1)
    assert mrkdwn(post) == STARTING
    assert post["thread_ts"] == TS


def test_socket_mode_requests_need_no_signature(
    slack_api: SlackStandIn, spy: SpyEngine, tmp_path: Path
):
    """What SocketModeHandler does with each envelope: ``app.dispatch`` in socket mode."""
    settings = slack_settings(slack_api, tmp_path, slack_signing_secret=None)
    bolt = make_bolt_app(settings, lambda: spy, socket_mode=True)  # type: ignore[arg-type,return-value]
    retry = BoltRequest(
        body=event_body(mention(), "Ev1"), mode="socket_mode", headers={"x-slack-retry-num": "1"}
    )
    assert bolt.dispatch(retry).status == 200
    assert (
        bolt.dispatch(BoltRequest(body=event_body(mention(), "Ev1"), mode="socket_mode")).status
        == 200
    )
    (post,) = slack_api.wait_for(1)
    assert post["thread_ts"] == TS and "*309*" in mrkdwn(post)


def test_http_mode_needs_the_signing_secret(slack_api: SlackStandIn, tmp_path: Path):
    settings = slack_settings(slack_api, tmp_path, slack_signing_secret=None)
    with pytest.raises(ValueError, match="SLACK_SIGNING_SECRET"):
        make_bolt_app(settings, lambda: None)


def test_qa_slack_without_app_token_explains(monkeypatch: pytest.MonkeyPatch):
    import typer

    from qa.slack.socket import run

    for name in ("SLACK_APP_TOKEN", "QA_SLACK_APP_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    cli = typer.Typer()
    cli.command()(run)
    result = CliRunner().invoke(cli, [])
    assert result.exit_code == 2
    assert "SLACK_APP_TOKEN" in result.output
    assert "xapp-" in result.output


@pytest.mark.parametrize(
    ("text", "question"),
    [
        (f"<@{BOT_USER}> {QUESTION}", QUESTION),
        (f"<@{BOT_USER}|qa>   what about AT&amp;T &lt;3?", "what about AT&T <3?"),
        ("<!here> see <https://example.com|this> in <#C1|general>?", "see this in general?"),
        (f"<@{BOT_USER}>", ""),
    ],
)
def test_plain_question(text: str, question: str):
    assert plain_question(text) == question


def test_slack_route_only_with_token_and_secret(
    slack_api: SlackStandIn, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"):
        monkeypatch.delenv(name, raising=False)
    without = create_app(slack_settings(slack_api, tmp_path, slack_signing_secret=None))
    with_both = create_app(slack_settings(slack_api, tmp_path))
    assert TestClient(without).post("/slack/events", content="{}").status_code == 404
    assert TestClient(with_both).post("/slack/events", content="{}").status_code == 401


def test_url_verification_is_answered(client: TestClient):
    body = '{"token": "unused", "challenge": "c-123", "type": "url_verification"}'
    response = client.post(
        "/slack/events", content=body, headers=signed(body, content_type="application/json")
    )
    assert response.status_code == 200
    assert response.json() == {"challenge": "c-123"}

"""Feedback buttons under each answer: signed ``block_actions`` store it with the index."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

from fastapi.testclient import TestClient

from qa.slack.blocks import FEEDBACK_HELPFUL, FEEDBACK_NOT_HELPFUL
from tests.slack.conftest import HUMAN, SlackStandIn, SpyEngine, post_event, signed
from tests.slack.test_bot import QUESTION, mention


def _buttons(post: dict) -> dict[str, str]:
    blocks = post["blocks"] if isinstance(post["blocks"], list) else json.loads(post["blocks"])
    (actions,) = [b for b in blocks if b["type"] == "actions"]
    return {e["action_id"]: e["value"] for e in actions["elements"]}


def _click(client: TestClient, action_id: str, value: str, response_url: str, **headers: str):
    payload = {
        "type": "block_actions",
        "user": {"id": HUMAN, "username": "reader"},
        "api_app_id": "A1",
        "token": "unused",
        "team": {"id": "T1"},
        "channel": {"id": "C1"},
        "container": {"type": "message", "message_ts": "1700000000.5", "channel_id": "C1"},
        "trigger_id": "1.2.3",
        "response_url": response_url,
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": "feedback",
                "value": value,
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    body = urlencode({"payload": json.dumps(payload)})
    sent = signed(body, content_type="application/x-www-form-urlencoded") | headers
    return client.post("/slack/events", content=body, headers=sent)


def test_a_click_on_helpful_stores_the_answer_read_back_from_the_article(
    client: TestClient, slack_api: SlackStandIn, spy: SpyEngine
) -> None:
    post_event(client, mention(), "Ev1")
    (post,) = slack_api.wait_for(1)
    buttons = _buttons(post)
    assert set(buttons) == {FEEDBACK_HELPFUL, FEEDBACK_NOT_HELPFUL}
    before, _ = spy.engine.store.list_feedback()

    response_url = slack_api.url + "/actions/T1/1/secret"
    clicked = _click(client, FEEDBACK_HELPFUL, buttons[FEEDBACK_HELPFUL], response_url)
    assert clicked.status_code == 200
    (thanks,) = slack_api.wait_for(1, path="/actions/")
    assert thanks["text"] == "Thanks, noted as helpful."
    assert thanks["response_type"] == "ephemeral" and thanks["replace_original"] is False
    total, records = spy.engine.store.list_feedback()
    assert total == before + 1
    stored = records[-1]
    article = spy.engine.get_article(stored.article_id)
    assert (stored.question, stored.helpful, stored.channel) == (QUESTION, True, "slack")
    assert "309" in stored.answer_text
    assert article.text[stored.start : stored.start + len(stored.answer_text)] == stored.answer_text

    _click(client, FEEDBACK_NOT_HELPFUL, buttons[FEEDBACK_NOT_HELPFUL], response_url)
    assert slack_api.wait_for(2, path="/actions/")[-1]["text"] == "Thanks, noted as not helpful."
    assert spy.engine.store.list_feedback()[1][-1].helpful is False


def test_unsigned_or_forged_clicks_are_refused(
    client: TestClient, slack_api: SlackStandIn, spy: SpyEngine
) -> None:
    before, _ = spy.engine.store.list_feedback()
    value = json.dumps({"a": "msn-pakistan-islamic-state", "s": 0, "e": 8, "f": "text", "q": "x"})
    url = slack_api.url + "/actions/T1/2/secret"
    forged = _click(client, FEEDBACK_HELPFUL, value, url, **{"X-Slack-Signature": "v0=00"})
    assert forged.status_code == 401
    stale = _click(client, FEEDBACK_HELPFUL, value, url, **{"X-Slack-Request-Timestamp": "1"})
    assert stale.status_code == 401
    assert spy.engine.store.list_feedback()[0] == before


def test_a_click_on_an_answer_whose_article_is_gone_says_so(
    client: TestClient, slack_api: SlackStandIn, spy: SpyEngine
) -> None:
    before, _ = spy.engine.store.list_feedback()
    value = json.dumps({"a": "deleted-article", "s": 0, "e": 3, "f": "text", "q": "Who?"})
    _click(client, FEEDBACK_HELPFUL, value, slack_api.url + "/actions/T1/3/secret")
    (reply,) = slack_api.wait_for(1, path="/actions/")
    assert "no longer in the index" in reply["text"]
    assert spy.engine.store.list_feedback()[0] == before

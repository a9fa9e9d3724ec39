"""The Slack endpoint's edges: malformed signature headers, replayed commands, malformed
payloads, over the real app with the real bolt app inside."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

from tests.slack.conftest import (
    SECRET,
    SlackStandIn,
    SpyEngine,
    event_body,
    post_command,
    signed,
)
from tests.slack.test_bot import QUESTION, mention


def _signed_bytes(body: bytes, content_type: str) -> dict:
    ts = str(int(time.time()))
    digest = hmac.new(SECRET.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={digest}",
    }


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(
            {"X-Slack-Request-Timestamp": "abc", "X-Slack-Signature": "v0=" + "0" * 64},
            id="timestamp-not-a-number",
        ),
        pytest.param(
            {"X-Slack-Request-Timestamp": b"\xb2\xb3", "X-Slack-Signature": "v0=" + "0" * 64},
            id="timestamp-superscript-digits",
        ),
        pytest.param(
            {"X-Slack-Request-Timestamp": "9" * 40, "X-Slack-Signature": "v0=" + "0" * 64},
            id="timestamp-huge",
        ),
        pytest.param(
            {"X-Slack-Request-Timestamp": "1700000000", "X-Slack-Signature": "garbage"},
            id="signature-garbage",
        ),
        pytest.param({"X-Slack-Request-Timestamp": "1700000000"}, id="signature-missing"),
        pytest.param({"X-Slack-Signature": "v0=" + "0" * 64}, id="timestamp-missing"),
    ],
)
def test_malformed_signature_headers_get_401_json(
    client: TestClient, slack_api: SlackStandIn, spy: SpyEngine, headers: dict
) -> None:
    body = event_body(mention(), "Ev1")
    response = client.post(
        "/slack/events", content=body, headers={"Content-Type": "application/json", **headers}
    )
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/json")
    assert "signature" in response.json()["error"]
    slack_api.settle(0.3)
    assert slack_api.posts() == [] and spy.calls == []


def test_a_replayed_slash_command_is_answered_once(
    client: TestClient, slack_api: SlackStandIn, spy: SpyEngine
) -> None:
    body = urlencode(
        {
            "command": "/ask",
            "text": QUESTION,
            "user_id": "U1",
            "channel_id": "C1",
            "team_id": "T1",
            "response_url": slack_api.url + "/commands/T1/1/secret",
            "trigger_id": "1.2.3",
        }
    )
    headers = signed(body, content_type="application/x-www-form-urlencoded")
    first = client.post("/slack/events", content=body, headers=headers)
    replay = client.post("/slack/events", content=body, headers=headers)  # captured, resent
    assert first.status_code == replay.status_code == 200
    (reply,) = slack_api.wait_for(1, path="/commands/")
    assert "*309*" in json.dumps(reply)
    slack_api.settle()
    assert len(slack_api.posts("/commands/")) == 1
    assert spy.calls == [(QUESTION, [])]  # one ask, no earlier questions
    # The same question typed again is a new request (new timestamp, new trigger): answered.
    time.sleep(1.1)
    assert (
        post_command(client, QUESTION, slack_api.url + "/commands/T1/2/secret").status_code == 200
    )
    slack_api.wait_for(2, path="/commands/")


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        pytest.param(
            b"payload=%7Bnot+json", "application/x-www-form-urlencoded", id="payload-not-json"
        ),
        pytest.param(
            b"payload=%5B1%2C2%5D", "application/x-www-form-urlencoded", id="payload-a-list"
        ),
        pytest.param(
            b"payload=%22text%22", "application/x-www-form-urlencoded", id="payload-a-string"
        ),
        pytest.param(
            b"payload=" + urlencode({"": json.dumps({"type": "shortcut", "user": 5})})[1:].encode(),
            "application/x-www-form-urlencoded",
            id="payload-user-a-number",
        ),
        pytest.param(
            b"payload="
            + urlencode({"": json.dumps({"type": "view_submission", "view": "x"})})[1:].encode(),
            "application/x-www-form-urlencoded",
            id="payload-view-a-string",
        ),
        pytest.param(b"[1, 2]", "application/json", id="json-a-list"),
        pytest.param(b"{not json", "application/json", id="json-broken"),
        pytest.param(b"\xff\xfe{}", "application/json", id="not-utf8"),
        pytest.param(
            json.dumps({"type": "event_callback", "event_id": "E1", "event": "x"}).encode(),
            "application/json",
            id="event-a-string",
        ),
        pytest.param(
            json.dumps(
                {
                    "type": "event_callback",
                    "event_id": "E2",
                    "event": {"type": "app_mention", "channel": 5},
                }
            ).encode(),
            "application/json",
            id="event-channel-a-number",
        ),
        pytest.param(
            json.dumps(
                {
                    "type": "event_callback",
                    "event_id": "E3",
                    "event": {"type": "app_mention"},
                    "authorizations": ["x"],
                }
            ).encode(),
            "application/json",
            id="authorizations-not-objects",
        ),
        pytest.param(
            urlencode({"command": "/ask", "text": "hi?"}).encode(),
            "application/x-www-form-urlencoded",
            id="command-without-response-url",
        ),
    ],
)
def test_signed_malformed_payloads_get_400_json(
    client: TestClient, slack_api: SlackStandIn, spy: SpyEngine, body: bytes, content_type: str
) -> None:
    response = client.post("/slack/events", content=body, headers=_signed_bytes(body, content_type))
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"]
    slack_api.settle(0.3)
    assert slack_api.posts() == [] and spy.calls == []
    # The connection and the bot are fine: a good request right after is answered.
    assert post_command(client, QUESTION, slack_api.url + "/commands/T1/9/s").status_code == 200
    slack_api.wait_for(1, path="/commands/")

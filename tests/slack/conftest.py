"""Fixtures for the Slack tests: a real index, a stand-in Slack Web API, signed requests."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from fastapi.testclient import TestClient

from indexer.load import load_path
from qa.api.app import create_app
from qa.engine import Engine
from qa.settings import Settings
from qa.types import AskResult

REPO_ROOT = Path(__file__).resolve().parents[2]

SECRET = "test-signing-secret"
BOT_USER, BOT_ID, HUMAN = "UBOT", "BBOT", "UHUMAN"
ARTICLE = REPO_ROOT / "qa" / "demo_articles" / "msn-pakistan-islamic-state.txt"


class SlackStandIn(ThreadingHTTPServer):
    """Slack's Web API (``/api/<method>``) and ``response_url``s (``/commands/...``), recorded.

    ``throttle`` makes the next N ``chat.postMessage`` calls answer 429 with Retry-After: 1.
    ``replies`` is what ``conversations.replies`` returns, by thread ts.
    """

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.calls: list[dict[str, Any]] = []
        self.throttle = 0
        self.throttled = 0
        self.replies: dict[str, list[dict[str, Any]]] = {}
        self.refuse: dict[str, str] = {}  # Web API method -> the error it answers with
        self.changed = threading.Condition()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def record(self, path: str, body: dict[str, Any]) -> None:
        with self.changed:
            self.calls.append({"path": path, "body": body})
            self.changed.notify_all()

    def posts(self, path: str = "/api/chat.postMessage") -> list[dict[str, Any]]:
        with self.changed:
            return [c["body"] for c in self.calls if c["path"].startswith(path)]

    def wait_for(self, n: int, path: str = "/api/chat.postMessage", timeout: float = 30) -> list:
        """Wait until ``n`` calls to ``path`` were made; then return them all."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while len(self.posts(path)) < n:
                left = deadline - time.monotonic()
                assert left > 0, f"expected {n} calls to {path}, got {self.posts(path)}"
                self.changed.wait(left)
        return self.posts(path)

    def settle(self, seconds: float = 0.6) -> None:
        """Give a wrongly-started listener time to post (to assert that nothing was posted)."""
        time.sleep(seconds)


class _Handler(BaseHTTPRequestHandler):
    server: SlackStandIn

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        if "json" in (self.headers.get("Content-Type") or ""):
            body = json.loads(raw or "{}")
        else:
            body = dict(parse_qsl(raw))
        method = self.path.removeprefix("/api/")
        if method == "chat.postMessage" and self.server.throttle > 0:
            self.server.throttle -= 1
            self.server.throttled += 1
            self._send(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"})
            return
        self.server.record(self.path, body)
        if method in self.server.refuse:
            self._send(200, {"ok": False, "error": self.server.refuse[method]})
        elif self.path.startswith("/commands/"):
            self._send(200, None)
        elif method == "auth.test":
            self._send(200, {"ok": True, "user_id": BOT_USER, "bot_id": BOT_ID, "team_id": "T1"})
        elif method == "chat.postMessage":
            self._send(
                200, {"ok": True, "channel": body.get("channel"), "ts": f"{time.time():.6f}"}
            )
        elif method == "conversations.replies":
            self._send(200, {"ok": True, "messages": self.server.replies.get(body.get("ts"), [])})
        else:
            self._send(200, {"ok": True})

    def _send(self, status: int, payload: dict | None, headers: dict | None = None) -> None:
        data = b"ok" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain" if payload is None else "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)


class SpyEngine:
    """The real engine, recording each ``ask`` and able to hold answers until released."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.calls: list[tuple[str, list[str]]] = []  # (question, history)
        self.gate = threading.Event()
        self.gate.set()

    def ask(self, question: str, k: int = 3, *, history: Sequence[str] = ()) -> AskResult:
        self.calls.append((question, list(history)))
        assert self.gate.wait(30), "the test never released the engine"
        return self.engine.ask(question, k=k, history=history)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.engine, name)  # everything but ask: the engine itself


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    """A small real index of one article, read by the fast heuristic reader."""
    engine = Engine(Settings(index_dir=tmp_path_factory.mktemp("index"), reader="heuristic"))
    report = engine.add(load_path(ARTICLE))
    assert report.added and not report.errors
    return engine


@pytest.fixture
def slack_api() -> Iterator[SlackStandIn]:
    server = SlackStandIn()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def slack_settings(slack_api: SlackStandIn, index_dir: Path, **kw: Any) -> Settings:
    values: dict[str, Any] = {
        "index_dir": index_dir,
        "reader": "heuristic",
        "slack_bot_token": "xoxb-test",
        "slack_signing_secret": SECRET,
        "slack_api_url": slack_api.url + "/api/",
    }
    return Settings(**(values | kw))


@pytest.fixture
def spy(engine: Engine) -> SpyEngine:
    return SpyEngine(engine)


@pytest.fixture
def client(slack_api: SlackStandIn, spy: SpyEngine, tmp_path: Path) -> TestClient:
    """The real FastAPI app with the real bolt app inside, over the real engine (spied)."""
    app = create_app(slack_settings(slack_api, tmp_path), engine=spy)  # type: ignore[arg-type]
    return TestClient(app)


def signed(body: str, *, content_type: str, secret: str = SECRET, age: int = 0) -> dict:
    """Headers Slack would send: ``v0=HMAC-SHA256(secret, "v0:{ts}:{body}")``."""
    ts = str(int(time.time()) - age)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={digest}",
    }


def event_body(event: dict[str, Any], event_id: str) -> str:
    return json.dumps(
        {
            "token": "unused",
            "team_id": "T1",
            "api_app_id": "A1",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "event": event,
            "authorizations": [{"team_id": "T1", "user_id": BOT_USER, "is_bot": True}],
        }
    )


def post_event(client: TestClient, event: dict[str, Any], event_id: str, **headers: str):
    body = event_body(event, event_id)
    sent = signed(body, content_type="application/json") | headers
    return client.post("/slack/events", content=body, headers=sent)


def post_command(client: TestClient, text: str, response_url: str):
    body = urlencode(
        {
            "token": "unused",
            "team_id": "T1",
            "channel_id": "C1",
            "user_id": HUMAN,
            "command": "/ask",
            "text": text,
            "response_url": response_url,
            "trigger_id": "1.2.3",
        }
    )
    headers = signed(body, content_type="application/x-www-form-urlencoded")
    return client.post("/slack/events", content=body, headers=headers)

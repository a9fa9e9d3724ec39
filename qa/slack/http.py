"""``POST /slack/events``: Slack's Events API and the ``/ask`` command, on the FastAPI app.

Before bolt sees a request, the route settles what bolt would answer with a 500 or twice:

- signature headers that are missing or malformed (a timestamp that is not a number, a
  signature that is not ``v0=`` and 64 hex digits), or a signature that does not verify:
  ``401`` with a JSON body;
- a signed body that is not a Slack payload (not UTF-8, not a JSON object, a form whose
  ``payload`` is not a JSON object): ``400`` with a JSON body;
- a signed request seen before (the same timestamp and body: a replay within the five
  minutes its signature stays valid): acknowledged, not answered again. Events are also
  de-duplicated by event id (:mod:`qa.slack.bot`); this covers slash commands too.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections import OrderedDict

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from slack_bolt.request.internals import parse_body
from slack_sdk.signature import SignatureVerifier
from starlette.concurrency import run_in_threadpool

from qa.settings import Settings
from qa.slack.bot import make_bolt_app

REPLAY_WINDOW_SECONDS = 5 * 60  # how long Slack's signature verifier accepts a timestamp
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")


class ReplayGuard:
    """Hashes of the signed requests seen within the replay window (older ones fail the
    signature check anyway, so they are forgotten)."""

    def __init__(self, window: float = REPLAY_WINDOW_SECONDS) -> None:
        self.window = window
        self._seen: OrderedDict[bytes, float] = OrderedDict()
        self._lock = threading.Lock()

    def first_time(self, timestamp: str, body: bytes) -> bool:
        """Whether this signed request is new (and remember it)."""
        key = hashlib.sha256(timestamp.encode() + b":" + body).digest()
        now = time.monotonic()
        with self._lock:
            while self._seen and next(iter(self._seen.values())) < now - self.window:
                self._seen.popitem(last=False)
            if key in self._seen:
                return False
            self._seen[key] = now
            return True


# Fields bolt reads as objects when present, and fields it reads as an id or an object: it
# fails (500) on any other type.
_OBJECT_FIELDS = ("event", "view", "container", "message")
_ID_FIELDS = ("user", "team", "channel", "enterprise")


def _is_payload(body: bytes, content_type: str | None) -> bool:
    """Whether bolt can read ``body`` as a Slack payload: it parses with this very function,
    then reads the fields above."""
    try:
        payload = parse_body(body.decode("utf-8"), content_type)
    except (UnicodeDecodeError, ValueError):
        return False
    if not isinstance(payload, dict):
        return False
    parts = [payload, payload["event"]] if isinstance(payload.get("event"), dict) else [payload]
    for part in parts:
        if any(key in part and not isinstance(part[key], dict) for key in _OBJECT_FIELDS):
            return False
        if any(key in part and not isinstance(part[key], str | dict) for key in _ID_FIELDS):
            return False
    if "command" in payload and not isinstance(payload.get("response_url"), str):
        return False  # a slash command is answered at its response_url
    authorizations = payload.get("authorizations", [])
    return isinstance(authorizations, list) and all(isinstance(a, dict) for a in authorizations)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def make_router(app: FastAPI, settings: Settings) -> APIRouter:
    """The Slack endpoint. The engine is read from ``app.state.startup`` at each request.

    It does what ``slack_bolt.adapter.fastapi.SlackRequestHandler.handle`` does, but runs
    bolt's (blocking) dispatch in the thread pool instead of on the event loop: dispatch
    verifies the signature, calls ``auth.test`` once and waits for the listener's ack.
    """
    bolt = make_bolt_app(
        settings,
        get_engine=lambda: app.state.startup.engine,
        startup_error=lambda: app.state.startup.error,
    )
    secret = settings.slack_signing_secret.get_secret_value()  # type: ignore[union-attr]
    verifier = SignatureVerifier(secret)
    replays = ReplayGuard()
    router = APIRouter(tags=["slack"])

    @router.post("/slack/events", include_in_schema=False)
    async def slack_events(request: Request) -> Response:
        body = await request.body()
        timestamp = request.headers.get("x-slack-request-timestamp", "")
        signature = request.headers.get("x-slack-signature", "")
        if not _TIMESTAMP.fullmatch(timestamp) or not _SIGNATURE.fullmatch(signature):
            return _error(401, "missing or malformed Slack signature headers")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return _error(400, "the body is not UTF-8")
        if not verifier.is_valid(text, timestamp, signature):
            return _error(401, "invalid or expired Slack signature")
        if not _is_payload(body, request.headers.get("content-type")):
            return _error(400, "the body is not a Slack payload")
        if not replays.first_time(timestamp, body):
            return Response(status_code=200, headers={"x-slack-no-retry": "1"})
        try:
            bolt_request = to_bolt_request(request, body)
        except (TypeError, AttributeError, KeyError, ValueError):
            return _error(400, "the body is not a Slack payload")
        return to_starlette_response(await run_in_threadpool(bolt.dispatch, bolt_request))

    return router

"""The Slack bot: a bolt ``App`` whose listeners answer from the engine, in the question's thread.

One factory, :func:`make_bolt_app`, serves both modes: HTTP (``qa.slack.http``, under the
FastAPI app) and Socket Mode (``qa.slack.socket``). Slack gets its ack at once: bolt acks
events before the listeners run (``process_before_response=False``), ``/ask`` acks first
thing, and the answering itself runs in the bot's own thread pool.

>>> bolt = make_bolt_app(settings, get_engine=lambda: engine)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from slack_bolt import Ack, App, BoltContext, BoltResponse
from slack_bolt.request import BoltRequest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import RetryHandler
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
)
from slack_sdk.webhook import WebhookClient

from qa.engine import MAX_HISTORY, Engine, QuestionError
from qa.feedback import UnknownArticleError, record_feedback
from qa.settings import Settings
from qa.slack.blocks import (
    FEEDBACK_HELPFUL,
    FEEDBACK_NOT_HELPFUL,
    Block,
    answer_blocks,
    escape,
    notice_blocks,
    split_messages,
)

log = logging.getLogger(__name__)

STARTING = "I'm still starting up: try again in a minute."
BROKEN = "I can't answer right now: the service failed to start (its logs say why)."
FAILED = "Something went wrong while answering that. Try again in a minute."
LOOKING = "Looking through the articles…"
LOOKING_REACTION = "eyes"  # on the question while it is being answered
USAGE = (
    "Ask me about the articles: mention me with a question, "
    "e.g. `@qa How many people has Pakistan arrested?`, or type `/ask` and your question."
)

_USER_MENTION = re.compile(r"<@[UW][A-Z0-9]+(?:\|[^<>]*)?>")
_SPECIAL = re.compile(r"<![^<>]*>")  # <!here>, <!channel>, <!date^...>
_LINK = re.compile(r"<([^<>|]+)(?:\|([^<>]*))?>")  # <#C1|general>, <https://x|label>


def plain_question(text: str) -> str:
    """Slack message text → the question: mentions dropped, links to labels, entities unescaped.

    >>> plain_question("<@U0BOT> what is AT&amp;T&gt;?")
    'what is AT&T>?'
    """
    text = _SPECIAL.sub(" ", _USER_MENTION.sub(" ", text))
    text = _LINK.sub(lambda m: m.group(2) or m.group(1).lstrip("#"), text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return " ".join(text.split())


def _addressable(event: dict) -> bool:
    """An event the bot can answer: a channel and a timestamp to reply to, text if any."""
    return (
        isinstance(event.get("channel"), str)
        and isinstance(event.get("ts"), str)
        and isinstance(event.get("text") or "", str)
        and isinstance(event.get("thread_ts") or "", str)
    )


class BoundedMap:
    """A thread-safe dict that forgets its oldest keys past ``size`` entries."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any:
        with self._lock:
            return self._items.get(key)

    def put(self, key: Hashable, value: Any, *, replace: bool = True) -> None:
        with self._lock:
            if replace or key not in self._items:
                self._items[key] = value
            self._items.move_to_end(key)
            self._trim()

    def claim(self, keys: Iterable[Hashable]) -> bool:
        """Mark ``keys`` as seen; False if any of them was seen already."""
        keys = list(keys)
        with self._lock:
            if any(k in self._items for k in keys):
                return False
            for k in keys:
                self._items[k] = True
            self._trim()
            return True

    def _trim(self) -> None:
        while len(self._items) > self.size:
            self._items.popitem(last=False)


def retry_handlers() -> list[RetryHandler]:
    """Back off on HTTP 429 (honouring ``Retry-After``) and retry dropped connections."""
    return [RateLimitErrorRetryHandler(max_retry_count=3), ConnectionErrorRetryHandler()]


def web_client(settings: Settings) -> WebClient:
    """slack_sdk's WebClient with the bot token, ``SLACK_API_URL`` and the retry handlers."""
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    base_url = (settings.slack_api_url or WebClient.BASE_URL).rstrip("/") + "/"
    return WebClient(token=token, base_url=base_url, retry_handlers=retry_handlers())


def skip_retries(
    req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
) -> BoltResponse:
    """Answer Slack's retried deliveries (``X-Slack-Retry-Num``) with a bare 200."""
    if req.headers.get("x-slack-retry-num"):
        return BoltResponse(status=200, body="", headers={"x-slack-no-retry": "1"})
    return next()


class SlackBot:
    """The listeners, and what they remember: questions answered and what each thread is about.

    Listeners only filter (cheap, in bolt's pool, after the ack); answering runs in the
    bot's own pool, so a slow answer never delays the ack of the next request.

    Args:
        settings: the service settings (``default_k``).
        get_engine: returns the engine, or None while it is starting.
        startup_error: returns why the engine failed to start, if it did.
        memory: how many messages and threads to remember (oldest forgotten first).
        workers: how many questions are answered at once.
    """

    def __init__(
        self,
        settings: Settings,
        get_engine: Callable[[], Engine | None],
        startup_error: Callable[[], str | None] = lambda: None,
        memory: int = 10_000,
        workers: int = 4,
    ) -> None:
        self.settings = settings
        self.get_engine = get_engine
        self.startup_error = startup_error
        self.seen = BoundedMap(memory)  # event ids and (channel, ts) already answered
        self.threads = BoundedMap(memory)  # (channel, thread_ts) -> its questions, oldest first
        self.looked_up = BoundedMap(memory)  # threads asked of conversations.replies
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="slack-answer")

    def register(self, app: App) -> None:
        app.middleware(skip_retries)
        app.event("app_mention")(self.on_mention)
        app.event("message")(self.on_message)
        app.command("/ask")(self.on_ask)
        app.action(FEEDBACK_HELPFUL)(self.on_feedback)
        app.action(FEEDBACK_NOT_HELPFUL)(self.on_feedback)

    # ---- listeners (bolt acks events before they run) ------------------------------------
    @staticmethod
    def from_a_bot(event: dict, context: BoltContext) -> bool:
        """Whether an event comes from a bot (this one or another), or is not a person's new
        message (an edit, a deletion, a join): never answered, so bots never talk in loops."""
        mine = {context.bot_user_id, context.bot_id} - {None}
        return bool(
            event.get("bot_id")
            or event.get("bot_profile")
            or event.get("subtype")
            or not event.get("user")
            or event.get("user") in mine
        )

    def on_mention(self, body: dict, event: dict, client: WebClient, context: BoltContext) -> None:
        """``@qa question`` in a channel: answer in its thread (a follow-up if in one)."""
        if self.from_a_bot(event, context) or not _addressable(event):
            return
        if self._claim(body, event["channel"], event["ts"]):
            self._submit(self._reply, client, context, event, True)

    def on_message(self, body: dict, event: dict, client: WebClient, context: BoltContext) -> None:
        """DMs, and question replies in threads the bot answered (follow-ups)."""
        if self.from_a_bot(event, context) or not _addressable(event):
            return
        text = event.get("text") or ""
        if event.get("channel_type") != "im":
            if context.bot_user_id and f"<@{context.bot_user_id}" in text:
                return  # on_mention answers it
            if event.get("thread_ts", event["ts"]) == event["ts"] or "?" not in text:
                return  # only questions in threads can be follow-ups; chatter is left alone
        if self._claim(body, event["channel"], event["ts"]):
            self._submit(self._reply, client, context, event, event.get("channel_type") == "im")

    def on_ask(self, ack: Ack, command: dict) -> None:
        """``/ask question``: ack at once, then answer in the channel via ``response_url``."""
        question = plain_question(command.get("text", ""))
        if not question or self.get_engine() is None:
            ack(text=USAGE if not question else self._not_ready())
            return
        ack(text=LOOKING)  # only the asker sees it; the answer goes to the channel
        self._submit(self._reply_to_command, command["response_url"], question, command["user_id"])

    def on_feedback(self, ack: Ack, body: dict, action: dict, respond: Callable) -> None:
        """A feedback button (a signed ``block_actions`` request): stored with the index as
        the question, the answer read back from the article at its offsets, and helpful or
        not; the person who clicked is thanked, and no one else sees it."""
        ack()
        helpful = action.get("action_id") == FEEDBACK_HELPFUL
        engine = self.get_engine()
        if engine is None:
            respond(text=self._not_ready(), response_type="ephemeral", replace_original=False)
            return
        try:
            where = json.loads(action.get("value") or "{}")
            article = engine.get_article(str(where["a"]))
            if article is None:
                raise UnknownArticleError(str(where.get("a")))
            field = article.title if where.get("f") == "title" else article.text
            start, end = int(where["s"]), int(where["e"])
            if not field[start:end]:
                raise ValueError(f"no answer at [{start}, {end}) of {article.id!r}")
            record_feedback(
                engine,
                question=str(where["q"]) or "?",
                answer_text=field[start:end],
                article_id=article.id,
                helpful=helpful,
                start=start if where.get("f") != "title" else None,
                channel="slack",
            )
        except (ValueError, KeyError, TypeError, UnknownArticleError) as e:
            log.warning("feedback not recorded: %s", e)
            text = "I could not record that: the article is no longer in the index."
        else:
            text = "Thanks, noted as helpful." if helpful else "Thanks, noted as not helpful."
        respond(text=text, response_type="ephemeral", replace_original=False)

    # ---- answering (in the bot's pool) ---------------------------------------------------
    def _reply(self, client: WebClient, context: BoltContext, event: dict, always: bool) -> None:
        """Answer ``event`` in its thread; unless ``always``, only in threads the bot answered."""
        channel, ts = event["channel"], event["ts"]
        thread_ts = event.get("thread_ts") or ts
        history = None
        if thread_ts != ts:
            history = self._thread_history(client, context, channel, thread_ts, ts)
        if history is None and not always:
            return  # not a thread the bot answered
        question = plain_question(event.get("text") or "")
        with self._looking(client, channel, ts):
            self._answer(client, channel, thread_ts, question, history or [])

    def _reply_to_command(self, url: str, question: str, user: str) -> None:
        engine = self.get_engine()
        if engine is None:
            self._respond(url, *notice_blocks(self._not_ready()))
            return
        try:
            result = engine.ask(question, k=self.settings.default_k)
        except QuestionError as e:
            self._respond(url, *notice_blocks(f"I can't answer that: {escape(str(e))}."))
        except Exception:
            log.exception("answering /ask failed")
            self._respond(url, *notice_blocks(FAILED))
        else:
            self._respond(url, *answer_blocks(result, asked_by=user), in_channel=True)

    # ---- helpers -------------------------------------------------------------------------
    @contextmanager
    def _looking(self, client: WebClient, channel: str, ts: str) -> Iterator[None]:
        """An :eyes: reaction on the question while it is answered ("I'm looking"); taken
        off when the reply is posted. Without the reactions:write scope it is skipped."""
        shown = self._react(client.reactions_add, channel, ts)
        try:
            yield
        finally:
            if shown:
                self._react(client.reactions_remove, channel, ts)

    @staticmethod
    def _react(call: Callable[..., Any], channel: str, ts: str) -> bool:
        try:
            call(channel=channel, timestamp=ts, name=LOOKING_REACTION)
        except SlackApiError as e:
            log.info("no 'looking' reaction in %s: %s", channel, e.response.get("error"))
            return False
        except OSError as e:  # cosmetic: never in the way of the answer
            log.info("no 'looking' reaction in %s: %s", channel, e)
            return False
        return True

    def _submit(self, fn: Callable[..., None], *args: Any) -> None:
        """Run ``fn(*args)`` in the bot's pool; log what it raises."""

        def done(future: Future[None]) -> None:
            if future.exception() is not None:
                log.error("answering failed", exc_info=future.exception())

        self.pool.submit(fn, *args).add_done_callback(done)

    def _claim(self, body: dict, channel: str, ts: str) -> bool:
        """True the first time a message is seen: by event id and by (channel, ts)."""
        keys: list[Hashable] = [("msg", channel, ts)]
        if body.get("event_id"):
            keys.append(("event", body["event_id"]))
        if not self.seen.claim(keys):
            return False
        engine = self.get_engine()
        if engine is None:  # still starting: it answers with a notice, and only here
            return True
        # A retry may reach another process (qa-serve --workers, replicas on one database).
        try:
            return engine.store.claim_once([f"slack {k!r}" for k in keys])
        except Exception:  # the shared claim is a guard: never in the way of the answer
            log.exception("could not record the Slack event in the index; answering anyway")
            return True

    def _not_ready(self) -> str:
        return BROKEN if self.startup_error() else STARTING

    def _answer(
        self, client: WebClient, channel: str, thread_ts: str, question: str, history: list[str]
    ) -> None:
        """Ask the engine and post the reply in the thread; ``history`` holds the thread's
        earlier questions (the engine resolves a follow-up against them)."""
        engine = self.get_engine()
        if engine is None:
            self._post(client, channel, thread_ts, *notice_blocks(self._not_ready()))
            return
        if not question:
            self._post(client, channel, thread_ts, *notice_blocks(USAGE))
            return
        try:
            result = engine.ask(question, k=self.settings.default_k, history=history)
        except QuestionError as e:
            notice = f"I can't answer that: {escape(str(e))}."
            self._post(client, channel, thread_ts, *notice_blocks(notice))
            return
        except Exception:
            log.exception("answering in %s failed", channel)
            self._post(client, channel, thread_ts, *notice_blocks(FAILED))
            return
        self.threads.put((channel, thread_ts), [*history, question][-MAX_HISTORY:])
        self._post(client, channel, thread_ts, *answer_blocks(result))

    def _thread_history(
        self, client: WebClient, context: BoltContext, channel: str, thread_ts: str, ts: str
    ) -> list[str] | None:
        """The questions asked before ``ts`` in a thread the bot answered in, oldest first
        (None: not such a thread); after a restart, Slack is asked for them (once)."""
        key = (channel, thread_ts)
        history = self.threads.get(key)
        if history is not None or not self.looked_up.claim([key]):
            return history
        try:
            reply = client.conversations_replies(channel=channel, ts=thread_ts, limit=100)
        except SlackApiError as e:
            log.warning("conversations.replies for %s failed: %s", key, e.response.get("error"))
            return None
        messages = reply.get("messages") or []
        mine = {context.bot_user_id, context.bot_id} - {None}

        if not any(m.get("user") in mine or m.get("bot_id") in mine for m in messages[1:]):
            return None
        # The thread's first message, and the later questions people asked in it.
        history = [
            question
            for i, m in enumerate(messages)
            if not m.get("bot_id")
            and m.get("user") not in mine
            and float(m.get("ts") or 0) < float(ts)
            and (i == 0 or "?" in (m.get("text") or ""))
            and (question := plain_question(m.get("text") or ""))
        ][-MAX_HISTORY:]
        if history:
            self.threads.put(key, history, replace=False)
        return history or None

    def _post(
        self, client: WebClient, channel: str, thread_ts: str, text: str, blocks: list[Block]
    ) -> None:
        """Post a reply in the thread: one message, or several when it has over 50 blocks."""
        for part_text, part_blocks in split_messages(text, blocks):
            try:
                client.chat_postMessage(
                    channel=channel,
                    thread_ts=thread_ts,
                    text=part_text,
                    blocks=part_blocks,
                    unfurl_links=False,
                    unfurl_media=False,
                )
            except SlackApiError as e:
                log.error("chat.postMessage to %s failed: %s", channel, e.response.get("error"))
                return

    def _respond(
        self, url: str, text: str, blocks: list[Block], *, in_channel: bool = False
    ) -> None:
        webhook = WebhookClient(url, retry_handlers=retry_handlers())
        kind = "in_channel" if in_channel else "ephemeral"
        for part_text, part_blocks in split_messages(text, blocks):
            response = webhook.send(response_type=kind, text=part_text, blocks=part_blocks)
            if response.status_code != 200:
                log.error("response_url answered %s: %s", response.status_code, response.body)
                return


def make_bolt_app(
    settings: Settings,
    get_engine: Callable[[], Engine | None],
    startup_error: Callable[[], str | None] = lambda: None,
    *,
    socket_mode: bool = False,
) -> App:
    """The bolt App with the bot's listeners.

    No network call at start-up: ``auth.test`` (the bot's own user id) runs on the first
    event. Over HTTP every request must carry a valid Slack signature.

    Args:
        settings: needs ``slack_bot_token``; ``slack_signing_secret`` unless ``socket_mode``.
        get_engine: returns the engine, or None while it is starting.
        startup_error: returns why the engine failed to start, if it did.
        socket_mode: for Socket Mode, where requests arrive unsigned over a websocket.

    Raises:
        ValueError: a needed Slack setting is missing.
    """
    if not settings.slack_bot_token:
        raise ValueError("SLACK_BOT_TOKEN is not set")
    secret = (
        settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""
    )
    if not secret and not socket_mode:
        raise ValueError("SLACK_SIGNING_SECRET is not set: it is needed to verify Slack's requests")
    app = App(
        client=web_client(settings),
        signing_secret=secret,
        token_verification_enabled=False,
        process_before_response=False,
        logger=logging.getLogger("qa.slack.bolt"),
    )
    SlackBot(settings, get_engine, startup_error).register(app)
    return app

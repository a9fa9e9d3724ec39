"""``POST /slack/events``: Slack's Events API and the ``/ask`` command, on the FastAPI app."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request, Response
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from starlette.concurrency import run_in_threadpool

from qa.settings import Settings
from qa.slack.bot import make_bolt_app


def make_router(app: FastAPI, settings: Settings) -> APIRouter:
    """The Slack endpoint. The engine is read from ``app.state.engine`` at each request.

    It does what ``slack_bolt.adapter.fastapi.SlackRequestHandler.handle`` does, but runs
    bolt's (blocking) dispatch in the thread pool instead of on the event loop: dispatch
    verifies the signature, calls ``auth.test`` once and waits for the listener's ack.
    """
    bolt = make_bolt_app(
        settings,
        get_engine=lambda: app.state.engine,
        startup_error=lambda: app.state.startup_error,
    )
    router = APIRouter(tags=["slack"])

    @router.post("/slack/events", include_in_schema=False)
    async def slack_events(request: Request) -> Response:
        bolt_request = to_bolt_request(request, await request.body())
        return to_starlette_response(await run_in_threadpool(bolt.dispatch, bolt_request))

    return router

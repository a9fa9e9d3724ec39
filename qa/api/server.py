"""uvicorn's HTTP protocol with a deadline for receiving each request.

uvicorn times out only idle keep-alive connections: a client that opens a connection and
sends nothing, or half a request (headers or body) and then stalls, holds it for ever. Here
each request must arrive whole, headers and body, within ``QA_REQUEST_TIMEOUT_SECONDS`` of
its first byte (or of the connection, for the first request); else the client gets ``408``
with a JSON body and the connection is closed. The time the app takes to answer is not
counted.
"""

from __future__ import annotations

import asyncio
import json
import logging
from asyncio import TimerHandle

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from qa.settings import get_settings

log = logging.getLogger(__name__)


class RequestTimeoutProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` (uvicorn's default) plus the request deadline; pass it as
    ``uvicorn.run(..., http=RequestTimeoutProtocol)``."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.request_timeout = get_settings().request_timeout_seconds
        self._deadline: TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()  # a connection that never sends a request is closed too

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm()

    def _arm(self) -> None:
        if self._deadline is None:
            self._deadline = self.loop.call_later(self.request_timeout, self._timed_out)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _timed_out(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            if cycle.response_started:  # a pipelined request stalled behind a response
                self.transport.close()
                return
            # The app waits for the rest of the body: it now reads a disconnect, and whatever
            # it answers is dropped.
            cycle.disconnected = True
            cycle.message_event.set()
        log.info("closing a connection whose request did not arrive in %s s", self.request_timeout)
        body = json.dumps(
            {"detail": f"the request was not received within {self.request_timeout:g} s"}
        ).encode()
        head = [STATUS_LINE[408]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [
            b"content-type: application/json\r\n",
            b"content-length: " + str(len(body)).encode() + b"\r\n",
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        self.transport.close()

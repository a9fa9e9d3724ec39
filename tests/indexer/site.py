"""A real local web site on 127.0.0.1 for the web-source tests: pages, feeds, sitemaps,
robots.txt, redirects, validators (ETag / Last-Modified answering 304), slow and huge
bodies. It records every request it gets (path, headers, when)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    """What the site answers for one path."""

    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None  # answered with 304 to a matching If-None-Match
    last_modified: str | None = None  # answered with 304 to an equal If-Modified-Since
    delay_s: float = 0.0  # before the status line
    drip_s: float = 0.0  # between chunks of the body (sent in 10 pieces, no Content-Length)
    length: bool = True  # send Content-Length (else the body is streamed, chunked)


@dataclass(frozen=True)
class Seen:
    path: str
    headers: dict[str, str]
    at: float  # time.monotonic()
    status: int


class LocalSite(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.routes: dict[str, Route] = {}
        self.seen: list[Seen] = []
        self._lock = threading.Lock()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base + path

    def requests(self, path: str | None = None) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if path is None or s.path == path]

    def record(self, seen: Seen) -> None:
        with self._lock:
            self.seen.append(seen)


class _Handler(BaseHTTPRequestHandler):
    server: LocalSite
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        route = self.server.routes.get(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        if route is None:
            route = Route(body=b"not found", content_type="text/plain", status=404)
        status = route.status
        not_modified = (route.etag and headers.get("if-none-match") == route.etag) or (
            route.last_modified and headers.get("if-modified-since") == route.last_modified
        )
        if not_modified:
            status = 304
        self.server.record(Seen(self.path, headers, time.monotonic(), status))
        if route.delay_s:
            time.sleep(route.delay_s)
        # The client may give up (a timeout, a size limit): that is the test.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._answer(route, status)

    def _answer(self, route: Route, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Type", route.content_type)
        for name, value in route.headers.items():
            self.send_header(name, value)
        if route.etag:
            self.send_header("ETag", route.etag)
        if route.last_modified:
            self.send_header("Last-Modified", route.last_modified)
        body = b"" if status == 304 else route.body
        if route.length or status == 304:
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body:
                self.wfile.write(body)
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for piece in _pieces(body, 10):
            if route.drip_s:
                time.sleep(route.drip_s)
            self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")


def _pieces(body: bytes, n: int) -> Iterator[bytes]:
    size = max(1, -(-len(body) // n))
    for i in range(0, len(body), size):
        yield body[i : i + size]


def serve() -> LocalSite:
    """Start a site; ``site.shutdown()`` and ``site.server_close()`` stop it."""
    site = LocalSite()
    threading.Thread(target=site.serve_forever, daemon=True).start()
    return site


def article_page(
    title: str,
    paragraphs: list[str],
    *,
    published: str | None = None,
    canonical: str | None = None,
) -> bytes:
    """A news page with the usual chrome (navigation, related links, footer) around it."""
    meta = f'<meta property="article:published_time" content="{published}">' if published else ""
    link = f'<link rel="canonical" href="{canonical}">' if canonical else ""
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>{title} | Example News</title>{meta}{link}</head><body>
<header><nav><ul><li><a href="/">Home</a></li><li><a href="/world">World</a></li>
<li><a href="/sport">Sport</a></li><li><a href="/weather">Weather</a></li></ul></nav></header>
<main><article><h1>{title}</h1>{body}</article></main>
<aside><h3>Most read</h3><ul><li><a href="/x">Council approves the harbour budget</a></li></ul>
</aside><footer><p>Copyright 2016 Example News. All rights reserved.</p>
<p><a href="/privacy">Privacy</a> · <a href="/terms">Terms</a></p></footer></body></html>
""".encode()


def rss(items: list[tuple[str, str, str]]) -> bytes:
    """An RSS 2.0 feed of (title, link, RFC 822 date) items."""
    entries = "".join(
        f"<item><title>{t}</title><link>{link}</link><pubDate>{d}</pubDate></item>"
        for t, link, d in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Example News</title><link>/</link><description>News</description>{entries}"
        "</channel></rss>"
    ).encode()

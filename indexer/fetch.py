"""Polite, bounded HTTP fetching for web sources (httpx + protego).

Every request carries our User-Agent and waits its turn per host (``host_interval_s``, or
the site's ``Crawl-delay`` when longer); robots.txt is read once per site and honoured
(RFC 9309: a 4xx means no rules, a 5xx or no answer means "do not crawl"). Bodies are
capped at ``max_bytes`` (after decompression), whole requests at ``timeout_s``, redirects at
``max_redirects``, each hop checked like the first. Conditional requests (``If-None-Match``
/ ``If-Modified-Since``) let an unchanged page answer 304.

With ``allow_private=False`` no request goes to a loopback, private, link-local or other
non-public address: the host's addresses are checked before connecting, and the address
actually connected to is checked again (a DNS answer that changed in between is refused too).

>>> with Fetcher(FetchPolicy(allow_private=False)) as fetcher:  # doctest: +SKIP
...     fetcher.get("http://127.0.0.1/feed.xml")
Traceback (most recent call last):
FetchError: http://127.0.0.1/feed.xml: refused: 127.0.0.1 is a loopback address ...
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import Message
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx
from protego import Protego

log = logging.getLogger(__name__)

DEFAULT_USER_AGENT = "article-qa/0.1 (indexes articles for question answering; honours robots.txt)"
ROBOTS_MAX_BYTES = 500_000
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True)
class FetchPolicy:
    """How a :class:`Fetcher` behaves (the ``QA_FETCH_*`` settings)."""

    user_agent: str = DEFAULT_USER_AGENT
    timeout_s: float = 15.0  # connect, each read, and the whole request
    max_bytes: int = 5_000_000  # per body, decompressed
    max_redirects: int = 5
    host_interval_s: float = 1.0  # between two requests to one host
    allow_private: bool = True  # False: refuse loopback and private addresses


class FetchError(Exception):
    """A URL that could not (or may not) be fetched, with a message for humans."""

    def __init__(self, url: str, message: str) -> None:
        super().__init__(f"{url}: {message}")
        self.url = url
        self.message = message


@dataclass(frozen=True)
class Fetched:
    """A response: the final URL (after redirects), status 200 or 304, and the body."""

    url: str
    status: int
    media_type: str  # lower case, without parameters ("" when the server sent none)
    charset: str | None
    body: bytes
    etag: str | None
    last_modified: str | None

    @property
    def not_modified(self) -> bool:
        return self.status == 304


def address_problem(address: str) -> str | None:
    """Why ``address`` (an IP) is not a public one, or None when it is."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for kind, flag in (  # the most telling name first: 169.254.x.x is private too
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("unspecified", ip.is_unspecified),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
    ):
        if flag:
            return f"{ip} is {'an' if kind[0] in 'aeiou' else 'a'} {kind} address"
    if not ip.is_global:
        return f"{ip} is not a public address"
    return None


def _refusal(problem: str) -> str:
    return (
        f"refused: {problem} (a server fetches public addresses only; set "
        "QA_ALLOW_PRIVATE_URLS=true to allow private ones)"
    )


class _PublicOnlyBackend(httpcore.SyncBackend):
    """Connects as usual, then refuses the connection if its peer is not a public address:
    the check that holds even when a host's DNS answer changes after it was looked up."""

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        stream = super().connect_tcp(host, port, timeout, local_address, socket_options)
        sock = stream.get_extra_info("socket")
        peer = sock.getpeername()[0] if sock is not None else None
        problem = address_problem(peer) if peer else None
        if problem:
            stream.close()
            raise httpcore.ConnectError(_refusal(problem))
        return stream


class Fetcher:
    """Fetches URLs by :class:`FetchPolicy`. Thread-safe; use as a context manager."""

    def __init__(self, policy: FetchPolicy | None = None) -> None:
        self.policy = policy or FetchPolicy()
        transport = httpx.HTTPTransport(retries=0)
        if not self.policy.allow_private and hasattr(transport, "_pool"):
            # httpx builds its pool without a way to pass a network backend.
            transport._pool = httpcore.ConnectionPool(
                ssl_context=httpx.create_ssl_context(),
                network_backend=_PublicOnlyBackend(),
            )
        self.client = httpx.Client(
            transport=transport,
            headers={"User-Agent": self.policy.user_agent},
            timeout=httpx.Timeout(self.policy.timeout_s),
            follow_redirects=False,
        )
        self._robots: dict[str, Protego | None] = {}
        self._next_at: dict[str, float] = {}  # host -> when its next request may start
        self._lock = threading.Lock()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.client.close()

    # ---- one URL -------------------------------------------------------------------------
    def get(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> Fetched:
        """GET ``url`` (conditionally when ``etag`` / ``last_modified`` are given).

        Raises:
            FetchError: not http(s), refused (address, robots.txt), too big, too slow, too
                many redirects, or an HTTP error status.
        """
        conditional = {}
        if etag:
            conditional["If-None-Match"] = etag
        if last_modified:
            conditional["If-Modified-Since"] = last_modified
        current = url
        for _ in range(self.policy.max_redirects + 1):
            self.check_url(current, origin=url)
            if not self._allowed_by_robots(current, origin=url):
                raise FetchError(url, f"disallowed by robots.txt ({_site(current)}/robots.txt)")
            result = self._request(current, conditional, origin=url)
            if isinstance(result, Fetched):
                return result
            current = result  # a redirect, checked like the first URL on the next turn
        raise FetchError(url, f"more than {self.policy.max_redirects} redirects")

    def _request(self, url: str, headers: dict[str, str], origin: str) -> Fetched | str:
        """The response, or where a redirect points."""
        try:
            with self._turn(url), self.client.stream("GET", url, headers=headers) as response:
                started = time.monotonic()  # the body must be read within the timeout too
                if response.status_code in _REDIRECTS:
                    location = response.headers.get("location")
                    if not location:
                        raise FetchError(origin, f"HTTP {response.status_code} without Location")
                    return urljoin(url, location)
                if response.status_code == 304:
                    return _fetched(url, response, b"")
                if response.status_code >= 400:
                    raise FetchError(
                        origin,
                        f"HTTP {response.status_code} {response.reason_phrase}".rstrip()
                        + (f" (from {url})" if url != origin else ""),
                    )
                body = self._read_capped(response, origin, started)
                return _fetched(url, response, body)
        except httpx.TimeoutException:
            raise FetchError(origin, f"no answer within {self.policy.timeout_s:g} s") from None
        except httpx.ConnectError as e:
            message = str(e)
            if message.startswith("refused:"):
                raise FetchError(origin, message) from None
            raise FetchError(origin, f"could not connect: {message or type(e).__name__}") from None
        except httpx.HTTPError as e:
            raise FetchError(origin, f"{type(e).__name__}: {e}") from None

    def _read_capped(self, response: httpx.Response, origin: str, started: float) -> bytes:
        limit = self.policy.max_bytes
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise FetchError(origin, _too_big(int(declared), limit))
        chunks, size = [], 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > limit:
                raise FetchError(origin, _too_big(size, limit, at_least=True))
            if time.monotonic() - started > self.policy.timeout_s:
                raise FetchError(origin, f"not read within {self.policy.timeout_s:g} s")
            chunks.append(chunk)
        return b"".join(chunks)

    # ---- safety and politeness -----------------------------------------------------------
    def check_url(self, url: str, origin: str | None = None) -> None:
        """Raise :class:`FetchError` unless ``url`` is http(s) and, with ``allow_private``
        off, its host resolves to public addresses only."""
        origin = origin or url
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FetchError(origin, f"not an http(s) URL: {url}")
        if self.policy.allow_private:
            return
        try:
            infos = socket.getaddrinfo(parts.hostname, parts.port or 80, type=socket.SOCK_STREAM)
        except OSError as e:
            raise FetchError(
                origin, f"cannot resolve {parts.hostname}: {e.strerror or e}"
            ) from None
        for info in infos:
            problem = address_problem(str(info[4][0]))
            if problem:
                raise FetchError(origin, _refusal(problem))

    @contextmanager
    def _turn(self, url: str) -> Iterator[None]:
        """Sleep until this host may be asked again; the next turn is booked from when the
        request ends (a slow answer must not shorten the pause the host gets)."""
        host = urlsplit(url).netloc.lower()
        interval = max(self.policy.host_interval_s, self._crawl_delay(url))
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next_at.get(host, now))
            self._next_at[host] = start + interval
        if start > now:
            time.sleep(start - now)
        try:
            yield
        finally:
            with self._lock:
                ended = time.monotonic() + interval
                self._next_at[host] = max(self._next_at[host], ended)

    def _crawl_delay(self, url: str) -> float:
        robots = self._robots.get(_site(url))
        delay = robots.crawl_delay(self.policy.user_agent) if robots is not None else None
        return float(delay or 0.0)

    def _allowed_by_robots(self, url: str, origin: str) -> bool:
        site = _site(url)
        if site not in self._robots:
            self._robots[site] = self._read_robots(site, origin)
        robots = self._robots[site]
        return robots is None or robots.can_fetch(url, self.policy.user_agent)

    def _read_robots(self, site: str, origin: str) -> Protego | None:
        """The site's rules; None when it has none (4xx). Raises FetchError when robots.txt
        cannot be read (5xx, no answer): RFC 9309 says not to crawl then."""
        url = f"{site}/robots.txt"
        for _ in range(self.policy.max_redirects + 1):
            self.check_url(url, origin)
            try:
                with self._turn(url), self.client.stream("GET", url) as response:
                    if response.status_code in _REDIRECTS and response.headers.get("location"):
                        url = urljoin(url, response.headers["location"])
                        continue
                    if 400 <= response.status_code < 500:
                        return None
                    if response.status_code >= 500:
                        raise FetchError(
                            origin,
                            f"robots.txt answered HTTP {response.status_code}: not fetching "
                            "from a site whose rules cannot be read",
                        )
                    body = b""
                    for chunk in response.iter_bytes():
                        body += chunk
                        if len(body) > ROBOTS_MAX_BYTES:
                            break  # the rules that fit are the rules (RFC 9309: 500 KiB)
                    return Protego.parse(body[:ROBOTS_MAX_BYTES].decode("utf-8", "replace"))
            except httpx.TimeoutException:
                raise FetchError(origin, "robots.txt did not answer: not fetching") from None
            except httpx.HTTPError as e:
                raise FetchError(origin, f"robots.txt could not be read: {e}") from None
        return None  # a redirect loop: no readable rules


def _site(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _too_big(size: int, limit: int, at_least: bool = False) -> str:
    return (
        f"the body is {'over ' if at_least else ''}{size:,} bytes; the limit is {limit:,} "
        "(QA_FETCH_MAX_BYTES)"
    )


def _fetched(url: str, response: httpx.Response, body: bytes) -> Fetched:
    message = Message()
    message["content-type"] = response.headers.get("content-type", "")
    media_type = message.get_content_type() if response.headers.get("content-type") else ""
    return Fetched(
        url=url,
        status=response.status_code,
        media_type=media_type.lower(),
        charset=message.get_content_charset(),
        body=body,
        etag=response.headers.get("etag"),
        last_modified=response.headers.get("last-modified"),
    )

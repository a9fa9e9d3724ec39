"""The polite, bounded fetcher against a real local web site on 127.0.0.1: User-Agent,
robots.txt, per-host turns, timeouts, size caps, redirects, conditional requests and the
refusal of private addresses."""

from __future__ import annotations

import gzip

import httpcore
import pytest

from indexer.fetch import (
    DEFAULT_USER_AGENT,
    Fetcher,
    FetchError,
    FetchPolicy,
    _PublicOnlyBackend,
    address_problem,
)
from tests.indexer.site import LocalSite, Route

PAGE = b"<html><body><p>Hello.</p></body></html>"


def fetcher(**kw: object) -> Fetcher:
    return Fetcher(FetchPolicy(**{"host_interval_s": 0.0, **kw}))  # type: ignore[arg-type]


def test_requests_carry_the_user_agent_and_robots_txt_is_read_once(site: LocalSite) -> None:
    site.routes["/a"] = Route(PAGE)
    site.routes["/b"] = Route(PAGE)
    with fetcher() as f:
        got = f.get(site.url("/a"))
        f.get(site.url("/b"))
    assert (got.status, got.media_type, got.charset, got.body) == (200, "text/html", "utf-8", PAGE)
    assert [s.path for s in site.requests()] == ["/robots.txt", "/a", "/b"]
    assert {s.headers["user-agent"] for s in site.requests()} == {DEFAULT_USER_AGENT}


@pytest.mark.parametrize(
    ("robots", "allowed", "disallowed"),
    [
        (b"User-agent: *\nDisallow: /private/\n", "/news/a", "/private/a"),
        # A group naming us is the one that applies (RFC 9309), not the "*" group.
        (
            b"User-agent: article-qa\nDisallow: /no-qa/\n\nUser-agent: *\nDisallow: /\n",
            "/news/a",
            "/no-qa/a",
        ),
    ],
)
def test_robots_txt_is_honoured(
    site: LocalSite, robots: bytes, allowed: str, disallowed: str
) -> None:
    site.routes["/robots.txt"] = Route(robots, content_type="text/plain")
    site.routes[allowed] = Route(PAGE)
    site.routes[disallowed] = Route(PAGE)
    with fetcher() as f:
        assert f.get(site.url(allowed)).status == 200
        with pytest.raises(FetchError, match="disallowed by robots.txt"):
            f.get(site.url(disallowed))
    assert not site.requests(disallowed)


def test_a_site_whose_robots_txt_fails_is_not_crawled(site: LocalSite) -> None:
    site.routes["/robots.txt"] = Route(b"down", content_type="text/plain", status=503)
    site.routes["/a"] = Route(PAGE)
    with fetcher() as f, pytest.raises(FetchError, match="robots.txt answered HTTP 503"):
        f.get(site.url("/a"))
    assert not site.requests("/a")


def test_each_host_gets_its_turn(site: LocalSite) -> None:
    for path in ("/1", "/2", "/3"):
        site.routes[path] = Route(PAGE)
    with fetcher(host_interval_s=0.5) as f:
        for path in ("/1", "/2", "/3"):
            f.get(site.url(path))
    times = [s.at for s in site.requests()]  # robots.txt, /1, /2, /3
    assert len(times) == 4
    # Seen by the server, so with its thread's scheduling jitter on a busy machine; without
    # turns the gaps are about a millisecond.
    assert all(b - a >= 0.35 for a, b in zip(times, times[1:], strict=False)), times


def test_robots_crawl_delay_lengthens_the_turn(site: LocalSite) -> None:
    site.routes["/robots.txt"] = Route(b"User-agent: *\nCrawl-delay: 0.5\n", "text/plain")
    site.routes["/1"] = Route(PAGE)
    site.routes["/2"] = Route(PAGE)
    with fetcher(host_interval_s=0.0) as f:
        f.get(site.url("/1"))
        f.get(site.url("/2"))
    first, second = site.requests("/1")[0].at, site.requests("/2")[0].at
    assert second - first >= 0.35  # 0.5 s, less the server's scheduling jitter


def test_redirects_are_followed_checked_and_bounded(site: LocalSite) -> None:
    site.routes["/robots.txt"] = Route(b"User-agent: *\nDisallow: /private/\n", "text/plain")
    site.routes["/old"] = Route(status=301, headers={"Location": "/new"})
    site.routes["/new"] = Route(PAGE)
    site.routes["/sneaky"] = Route(status=302, headers={"Location": "/private/x"})
    site.routes["/private/x"] = Route(PAGE)
    for n in range(10):
        site.routes[f"/loop{n}"] = Route(status=307, headers={"Location": f"/loop{n + 1}"})
    with fetcher(max_redirects=3) as f:
        moved = f.get(site.url("/old"))
        assert moved.url == site.url("/new") and moved.body == PAGE
        with pytest.raises(FetchError, match="disallowed by robots.txt"):
            f.get(site.url("/sneaky"))
        with pytest.raises(FetchError, match="more than 3 redirects"):
            f.get(site.url("/loop0"))
    assert not site.requests("/private/x")
    assert len([s for s in site.requests() if s.path.startswith("/loop")]) == 4


def test_slow_servers_time_out(site: LocalSite) -> None:
    site.routes["/silent"] = Route(PAGE, delay_s=3)
    site.routes["/dribble"] = Route(PAGE * 20, drip_s=0.4, length=False)
    with fetcher(timeout_s=1.0) as f:
        with pytest.raises(FetchError, match="no answer within 1 s"):
            f.get(site.url("/silent"))
        # Each piece comes within the read timeout, the whole body does not.
        with pytest.raises(FetchError, match="not read within 1 s"):
            f.get(site.url("/dribble"))


def test_huge_bodies_are_refused_declared_or_streamed(site: LocalSite) -> None:
    big = b"<html><body>" + b"x" * 50_000 + b"</body></html>"
    site.routes["/declared"] = Route(big)
    site.routes["/streamed"] = Route(big, length=False)
    bomb = gzip.compress(b"<html>" + b" " * 2_000_000 + b"</html>")
    site.routes["/bomb"] = Route(bomb, headers={"Content-Encoding": "gzip"})
    with fetcher(max_bytes=20_000) as f:
        with pytest.raises(
            FetchError, match=f"the body is {len(big):,} bytes; the limit is 20,000"
        ):
            f.get(site.url("/declared"))
        with pytest.raises(FetchError, match=r"the body is over [\d,]+ bytes; the limit is 20,000"):
            f.get(site.url("/streamed"))
        # 2 MB unpacked from a few KB sent: the cap counts what is unpacked.
        assert len(bomb) < 20_000
        with pytest.raises(FetchError, match="the limit is 20,000"):
            f.get(site.url("/bomb"))


def test_error_statuses_are_reported(site: LocalSite) -> None:
    with fetcher() as f, pytest.raises(FetchError, match="HTTP 404 Not Found"):
        f.get(site.url("/missing"))
    with fetcher() as f, pytest.raises(FetchError, match="not an http"):
        f.get("ftp://127.0.0.1/file")


def test_conditional_requests_get_a_304(site: LocalSite) -> None:
    site.routes["/etag"] = Route(PAGE, etag='"v1"')
    site.routes["/dated"] = Route(PAGE, last_modified="Thu, 08 Sep 2016 10:00:00 GMT")
    with fetcher() as f:
        first = f.get(site.url("/etag"))
        assert first.etag == '"v1"' and first.status == 200
        again = f.get(site.url("/etag"), etag=first.etag)
        assert again.not_modified and again.body == b""
        dated = f.get(site.url("/dated"))
        assert f.get(site.url("/dated"), last_modified=dated.last_modified).not_modified
        assert f.get(site.url("/etag"), etag='"old"').status == 200
    assert site.requests("/etag")[1].headers["if-none-match"] == '"v1"'


@pytest.mark.parametrize(
    ("host", "problem"),
    [
        ("127.0.0.1", "127.0.0.1 is a loopback address"),
        ("localhost", "is a loopback address"),
        ("[::1]", "::1 is a loopback address"),
        ("10.1.2.3", "10.1.2.3 is a private address"),
        ("192.168.0.10", "192.168.0.10 is a private address"),
        ("169.254.169.254", "169.254.169.254 is a link-local address"),
        ("0.0.0.0", "0.0.0.0 is an? unspecified address"),
    ],
)
def test_private_addresses_are_refused_when_not_allowed(
    site: LocalSite, host: str, problem: str
) -> None:
    port = site.server_address[1]
    site.routes["/a"] = Route(PAGE)
    with fetcher(allow_private=False) as f, pytest.raises(FetchError, match=problem):
        f.get(f"http://{host}:{port}/a")
    assert site.requests() == []  # refused before any byte was sent


def test_the_connected_address_is_checked_again(site: LocalSite) -> None:
    # What holds when a name resolved to a public address, then to a private one: the
    # connection itself is refused once its peer is known.
    backend = _PublicOnlyBackend()
    with pytest.raises(httpcore.ConnectError, match="refused: 127.0.0.1 is a loopback"):
        backend.connect_tcp("127.0.0.1", site.server_address[1], timeout=5)


def test_public_addresses_pass() -> None:
    assert address_problem("93.184.215.14") is None
    assert address_problem("2606:4700::6810:84e5") is None
    assert address_problem("::ffff:127.0.0.1") == "127.0.0.1 is a loopback address"

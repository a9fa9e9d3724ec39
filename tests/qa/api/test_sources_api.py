"""``POST /api/sources`` fetches URLs for the index: key required, private and loopback
addresses refused unless ``QA_ALLOW_PRIVATE_URLS=true``."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from qa.api.app import create_app
from qa.engine import Engine
from qa.settings import Settings
from tests.indexer.site import LocalSite, Route, article_page

KEY = "s3cret-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
FERRY = ["The harbour ferry carried 4,812 passengers on Sunday, the port said."]


@pytest.fixture
def site(site: LocalSite) -> LocalSite:
    site.routes["/ferry.html"] = Route(article_page("Ferry record", FERRY), etag='"1"')
    return site


def client_for(directory: Path, **settings: object) -> TestClient:
    values = Settings(
        index_dir=directory,
        api_key=KEY,
        reader="heuristic",
        fetch_host_interval_s=0.0,
        **settings,  # type: ignore[arg-type]
    )
    return TestClient(create_app(values, engine=Engine(values)))


def test_loopback_and_private_urls_are_refused_by_default(site: LocalSite, tmp_path: Path) -> None:
    with client_for(tmp_path) as client:
        for url in (
            site.url("/ferry.html"),
            f"http://localhost:{site.server_address[1]}/ferry.html",
            "http://10.0.0.7/feed.xml",
            "http://169.254.169.254/latest/meta-data/",
        ):
            r = client.post("/api/sources", json={"urls": [url]}, headers=AUTH)
            assert r.status_code == 422, url
            assert "refused" in r.json()["detail"] and "QA_ALLOW_PRIVATE_URLS" in r.json()["detail"]
        assert client.get("/healthz").json()["articles"] == 0
    assert site.requests() == []  # nothing was fetched, not even robots.txt


def test_sources_need_the_key_and_http_urls(site: LocalSite, tmp_path: Path) -> None:
    with client_for(tmp_path, allow_private_urls=True) as client:
        body = {"urls": [site.url("/ferry.html")]}
        assert client.post("/api/sources", json=body).status_code == 401
        bad = client.post("/api/sources", json={"urls": ["file:///etc/passwd"]}, headers=AUTH)
        assert bad.status_code == 422 and "not an http(s) URL" in bad.json()["detail"]
        assert client.post("/api/sources", json={"urls": []}, headers=AUTH).status_code == 422
    assert site.requests() == []


def test_with_private_urls_allowed_the_api_indexes_them(site: LocalSite, tmp_path: Path) -> None:
    with client_for(tmp_path, allow_private_urls=True) as client:
        body = {"urls": [site.url("/ferry.html"), site.url("/missing.html")]}
        r = client.post("/api/sources", json=body, headers=AUTH)
        assert r.status_code == 200
        result = r.json()
        assert len(result["added"]) == 1 and result["passages_embedded"] == 1
        assert result["errors"] == [
            {"url": site.url("/missing.html"), "message": "HTTP 404 Not Found"}
        ]
        again = client.post("/api/sources", json=body, headers=AUTH).json()
        assert again["not_modified"] == [site.url("/ferry.html")] and again["added"] == []
        answer = client.post(
            "/api/ask",
            json={"question": "How many passengers did the harbour ferry carry on Sunday?"},
        ).json()
        assert answer["answers"][0]["article"]["url"] == site.url("/ferry.html")

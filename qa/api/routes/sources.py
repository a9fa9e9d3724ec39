"""``POST /api/sources``: index pages, feeds and sitemaps by URL (public addresses only,
unless ``QA_ALLOW_PRIVATE_URLS=true``)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from indexer.fetch import Fetcher, FetchError
from indexer.sources import fetch_policy
from qa.api.deps import EngineDep, SettingsDep, WriteAccess
from qa.api.schemas import SourceError, SourcesIn, SourcesResult, error_responses

router = APIRouter(prefix="/api/sources", tags=["sources"])


@router.post(
    "",
    response_model=SourcesResult,
    dependencies=[WriteAccess],
    responses=error_responses(400, 401, 403, 413, 415, 422, 503),
    summary="Index the pages of URLs: pages, RSS/Atom feeds, sitemaps",
)
def add_sources(body: SourcesIn, engine: EngineDep, settings: SettingsDep) -> SourcesResult:
    """Fetches now (politely: robots.txt, a turn per host) and answers when the pages are
    indexed; `qa-index refresh` and `QA_REFRESH_MINUTES` re-read these URLs later. A URL on
    a loopback or private address is a 422 unless `QA_ALLOW_PRIVATE_URLS=true` (so are
    such pages listed by a feed or sitemap: they are reported in `errors`)."""
    allow_private = settings.allow_private_urls
    with Fetcher(fetch_policy(settings, allow_private=allow_private)) as checker:
        for url in body.urls:
            try:
                checker.check_url(url)
            except FetchError as e:
                raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(e)) from None
    report = engine.add_urls(body.urls, allow_private=allow_private, update_bm25="background")
    return SourcesResult(
        added=report.add.added,
        updated=report.add.updated,
        unchanged=report.add.unchanged,
        not_modified=report.not_modified,
        errors=[SourceError(url=e.path, message=e.message) for e in report.errors],
        passages_embedded=report.add.passages_embedded,
    )

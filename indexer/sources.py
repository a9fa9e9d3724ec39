"""URL sources of an index: what ``qa-index add URL``, ``qa-index refresh``,
``POST /api/sources`` and ``qa-serve``'s schedule (``QA_REFRESH_MINUTES``) call.

The fetching itself is :mod:`indexer.web`; here the settings become a fetch policy, and the
rule on private addresses is applied: the CLI (the operator) may fetch any URL, the HTTP API
only public ones unless ``QA_ALLOW_PRIVATE_URLS=true``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from core.settings import Settings
from indexer.fetch import DEFAULT_USER_AGENT, Fetcher, FetchPolicy
from indexer.pipeline import Indexer, Progress
from indexer.web import WebReport, index_urls, url_roots


def is_url(text: str) -> bool:
    """Whether a ``qa-index add`` argument is a web URL rather than a path."""
    return text.lower().startswith(("http://", "https://"))


def fetch_policy(settings: Settings, *, allow_private: bool) -> FetchPolicy:
    return FetchPolicy(
        user_agent=settings.fetch_user_agent or DEFAULT_USER_AGENT,
        timeout_s=settings.fetch_timeout_s,
        max_bytes=settings.fetch_max_bytes,
        max_redirects=settings.fetch_max_redirects,
        host_interval_s=settings.fetch_host_interval_s,
        allow_private=allow_private,
    )


@contextmanager
def _fetchers(settings: Settings) -> Iterator[Callable[[bool], Fetcher]]:
    """Fetchers by address rule, made when first needed and closed after; they share the
    per-host turns only within a rule (a run rarely mixes the two)."""
    made: dict[bool, Fetcher] = {}

    def fetcher_for(allow_private: bool) -> Fetcher:
        if allow_private not in made:
            made[allow_private] = Fetcher(fetch_policy(settings, allow_private=allow_private))
        return made[allow_private]

    try:
        yield fetcher_for
    finally:
        for fetcher in made.values():
            fetcher.close()


def add_urls(
    indexer: Indexer,
    settings: Settings,
    urls: Sequence[str],
    *,
    allow_private: bool,
    on_planned: Callable[[int], None] | None = None,
    progress: Progress | None = None,
    update_bm25: bool = True,
) -> WebReport:
    """Index the pages of ``urls`` (pages, feeds, sitemaps) into ``indexer``'s index; a
    refresh re-reads them later. ``on_planned``, ``progress``, ``update_bm25``: as for
    :meth:`Indexer.add`."""
    sources = [(url, allow_private) for url in urls]
    return _read(indexer, settings, sources, on_planned, progress, update_bm25)


def refresh(
    indexer: Indexer,
    settings: Settings,
    *,
    on_planned: Callable[[int], None] | None = None,
    progress: Progress | None = None,
    update_bm25: bool = True,
) -> WebReport:
    """Re-read every URL source of ``indexer``'s index, each under the address rule it was
    added with; index what is new or changed."""
    return _read(indexer, settings, url_roots(indexer.store), on_planned, progress, update_bm25)


def _read(
    indexer: Indexer,
    settings: Settings,
    sources: Sequence[tuple[str, bool]],
    on_planned: Callable[[int], None] | None,
    progress: Progress | None,
    update_bm25: bool,
) -> WebReport:
    with _fetchers(settings) as fetcher_for:
        return index_urls(
            indexer,
            sources,
            fetcher_for,
            max_pages=settings.fetch_max_pages,
            max_bytes=settings.fetch_max_bytes,
            on_planned=on_planned,
            progress=progress,
            update_bm25=update_bm25,
        )

"""URL sources for the engine's index: what ``qa-index add URL``, ``qa-index refresh``,
``POST /api/sources`` and ``qa-serve``'s schedule (``QA_REFRESH_MINUTES``) call.

The fetching itself is :mod:`indexer.web`; here the settings become a fetch policy, and the
rule on private addresses is applied: the CLI (the operator) may fetch any URL, the HTTP API
only public ones unless ``QA_ALLOW_PRIVATE_URLS=true``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from indexer.fetch import DEFAULT_USER_AGENT, Fetcher, FetchPolicy
from indexer.pipeline import Progress
from indexer.web import WebReport, index_urls, url_roots
from qa.settings import Settings

if TYPE_CHECKING:
    from qa.engine import Engine

log = logging.getLogger(__name__)


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
    engine: Engine,
    urls: Sequence[str],
    *,
    allow_private: bool,
    on_planned: Callable[[int], None] | None = None,
    progress: Progress | None = None,
    update_bm25: bool = True,
) -> WebReport:
    """Index the pages of ``urls`` (pages, feeds, sitemaps) into ``engine``'s index; a
    refresh re-reads them later. ``on_planned``, ``progress``, ``update_bm25``: as for
    :meth:`Engine.add`."""
    sources = [(url, allow_private) for url in urls]
    return _read(engine, sources, on_planned, progress, update_bm25)


def refresh(
    engine: Engine,
    *,
    on_planned: Callable[[int], None] | None = None,
    progress: Progress | None = None,
    update_bm25: bool = True,
) -> WebReport:
    """Re-read every URL source of ``engine``'s index, each under the address rule it was
    added with; index what is new or changed."""
    return _read(engine, url_roots(engine.store), on_planned, progress, update_bm25)


def _read(
    engine: Engine,
    sources: Sequence[tuple[str, bool]],
    on_planned: Callable[[int], None] | None,
    progress: Progress | None,
    update_bm25: bool,
) -> WebReport:
    with _fetchers(engine.settings) as fetcher_for:
        return index_urls(
            engine.indexer,
            sources,
            fetcher_for,
            max_pages=engine.settings.fetch_max_pages,
            max_bytes=engine.settings.fetch_max_bytes,
            on_planned=on_planned,
            progress=progress,
            update_bm25=update_bm25,
        )


class RefreshSchedule:
    """Re-reads the URL sources every ``minutes`` on a daemon thread (``qa-serve`` with
    ``QA_REFRESH_MINUTES``); a failed run is logged, and the next one comes on time."""

    def __init__(self, get_engine: Callable[[], Engine | None], minutes: float) -> None:
        self.get_engine = get_engine
        self.interval_s = minutes * 60
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="refresh-sources", daemon=True)
        self.runs = 0

    def start(self) -> RefreshSchedule:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            engine = self.get_engine()
            if engine is None:
                continue  # still starting
            try:
                report = refresh(engine, update_bm25=False)
                engine.update_bm25(background=True)
                self.runs += 1
                log.info(
                    "sources refreshed: %d added, %d updated, %d not modified, %d errors",
                    len(report.add.added),
                    len(report.add.updated),
                    len(report.not_modified),
                    len(report.errors),
                )
                for error in report.errors:
                    log.warning("refresh: %s", error)
            except Exception:  # a background thread has no caller to raise to
                log.exception("refreshing the URL sources failed")

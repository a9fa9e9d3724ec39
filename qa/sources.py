"""``qa-serve``'s schedule of URL-source refreshes (``QA_REFRESH_MINUTES``); the reading
itself is :mod:`indexer.sources`."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qa.engine import Engine

log = logging.getLogger(__name__)


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
                report = engine.refresh_sources(update_bm25="background")
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

"""The bundled demo corpus, indexed by ``qa-serve`` when the index is empty."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from indexer.load import load_path
from qa.engine import Engine

log = logging.getLogger(__name__)

# Package data: found the same way in an editable install, a wheel and the Docker image.
DEMO_ARTICLES = Path(__file__).resolve().parent / "demo_articles"


def ensure_demo_index(
    engine: Engine,
    on_planned: Callable[[int], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> bool:
    """Index the demo articles if the index holds none. Returns True if it indexed."""
    articles, _ = engine.counts()
    demo_dir = engine.settings.demo_dir or DEMO_ARTICLES
    if articles or not demo_dir.exists():
        return False
    log.info("the index is empty: indexing the demo articles in %s", demo_dir)
    report = engine.add(load_path(demo_dir), on_planned=on_planned, progress=progress)
    for error in report.errors:
        log.warning("demo: %s", error)
    log.info("demo indexed: %d articles, %d passages", len(report.added), report.passages_total)
    return True

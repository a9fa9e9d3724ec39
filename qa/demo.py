"""The start-up of a serving engine (``qa-serve`` and ``qa-slack``), and the bundled demo
corpus it indexes when the index is empty."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from indexer.load import load_path
from qa.engine import Engine, public_reason
from qa.settings import Settings

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


class EngineStartup:
    """The engine a server answers with, built on a background thread so that the server can
    say "still starting" meanwhile: the index opened (the demo articles indexed when it is
    empty) and every model loaded and tried (:meth:`Engine.warm_up`). ``engine`` is None
    until it is ready; ``error`` says why it failed to start (no paths), if it did."""

    def __init__(self, settings: Settings, engine: Engine | None = None) -> None:
        self.settings = settings
        self.engine = engine
        self.error: str | None = None

    def start(self) -> EngineStartup:
        """Start building the engine, unless one was given."""
        if self.engine is None:
            threading.Thread(target=self._build, name="engine-startup", daemon=True).start()
        return self

    def _build(self) -> None:
        try:
            engine = Engine(self.settings, preload=True)
            ensure_demo_index(engine)
            self.engine = engine.warm_up()
            log.info("ready: %d articles, %d passages", *engine.counts())
        except Exception as e:  # reported by /healthz and the bot, not raised into the server
            log.exception("the engine failed to start")
            self.error = f"the engine failed to start: {public_reason(e)}"

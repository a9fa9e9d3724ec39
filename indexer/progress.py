"""A rich progress bar for embedding passages (qa-index add)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


@dataclass
class EmbedProgress:
    """Callbacks for :meth:`qa.engine.Engine.add`: ``on_planned`` then ``advance``."""

    progress: Progress
    task: TaskID

    def on_planned(self, total: int, description: str = "embedding passages") -> None:
        self.progress.update(self.task, total=total, description=description)

    def advance(self, n: int) -> None:
        self.progress.advance(self.task, n)


@contextmanager
def embed_progress(console: Console | None = None) -> Iterator[EmbedProgress]:
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console or Console(stderr=True),
        transient=False,
    ) as progress:
        task = progress.add_task("loading and splitting articles", total=None)
        yield EmbedProgress(progress, task)

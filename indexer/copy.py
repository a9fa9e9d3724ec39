"""Copy one index into another store with its vectors, nothing embedded again: an index
folder into a shared PostgreSQL database when a team outgrows one machine (or back).

Articles go over in batches, each in one transaction on the target. An article the target
already holds as it is (same text hash and metadata) is skipped, so a copy that was stopped
is finished by running it again. The URLs the index fetched come along (``qa-index refresh``
keeps working); feedback stays where it was given.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from indexer.pipeline import is_stored
from indexer.stores.base import Store


@dataclass
class CopyReport:
    copied: int = 0  # articles written to the target
    passages: int = 0  # their passages
    unchanged: int = 0  # articles the target held as they are
    url_sources: int = 0


def copy_index(
    source: Store,
    target: Store,
    *,
    batch: int = 200,
    progress: Callable[[int], None] | None = None,
) -> CopyReport:
    """Copy every readable article of ``source`` (passages and vectors) into ``target``.

    Args:
        source: the index to read; it must hold vectors of the target's model.
        target: the index to write.
        batch: articles per transaction.
        progress: called with the number of articles done after each batch.
    """
    if (source.model, source.dim) != (target.model, target.dim):
        raise ValueError(
            f"the source holds vectors of {source.model} ({source.dim} wide), the target "
            f"{target.model} ({target.dim} wide)"
        )
    report = CopyReport()
    for upserts in source.export(batch=batch):
        with target.writing():
            stored = target.stored_versions([article.id for article, _, _ in upserts])
            new = [u for u in upserts if not is_stored(stored.get(u[0].id), u[0])]
            if new:
                target.apply(new)
        report.copied += len(new)
        report.passages += sum(len(passages) for _, passages, _ in new)
        report.unchanged += len(upserts) - len(new)
        if progress is not None:
            progress(len(upserts))
    sources = source.url_sources()
    target.save_url_sources(sources)
    report.url_sources = len(sources)
    return report

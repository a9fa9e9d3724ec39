"""Bulk indexing on Ray (``qa-index add PATH... --ray``): load -> clean -> split -> embed as a
Ray Data pipeline, written to the store in idempotent batches.

Files are loaded (and cleaned, by their loaders) by Ray tasks, one file each; articles
already stored as they are skipped before any work; the rest are split by tasks and
embedded by a pool of actors that each load the embedding model once. The driver writes what
comes out, about ``index_chunk_passages`` passages per transaction, through
:meth:`indexer.pipeline.Indexer.write`: an article is written whole or not at all, and a
re-run after a crash skips what was written and finishes the rest, with no duplicates.

Ray's own convention picks the cluster: ``RAY_ADDRESS`` (e.g. ``ray://head:10001`` or
``auto``), else a local Ray on this machine. Worker machines need this package installed
(the ``docker-compose.yml`` image has it); only the driver opens the store.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache, partial
from pathlib import Path
from typing import Any

import numpy as np

from core.settings import Settings
from core.types import Article, Passage
from indexer.embed import Embedder, TokenCounter
from indexer.load import LoadError, article_files, load_file
from indexer.pipeline import AddReport, Indexer, is_stored
from indexer.split import split_passages
from indexer.stores.base import Upsert

log = logging.getLogger(__name__)

EMBED_ARTICLES = 8  # articles per embedding call (their passages go in the model's batches)
# Loading and splitting are light next to embedding: their tasks take this share of a CPU,
# and each embedding actor the rest of one, so one actor per CPU never starves them (whole
# CPUs would: the actors would hold every CPU and the tasks that feed them would wait).
LIGHT_CPUS = 0.25
BLOCK_BYTES = 64 * 1024  # an encyclopedia article or two, or a few news articles, with passages


@cache
def _token_counter() -> TokenCounter:
    return TokenCounter()  # once per worker process


@dataclass
class BulkReport(AddReport):
    """An add's report, with the passages each Ray node embedded (by node id)."""

    embedded_on: dict[str, int] = field(default_factory=dict)


def _load(
    row: dict[str, Any], max_article_bytes: int, stored: dict[str, tuple[str, str]]
) -> list[dict[str, Any]]:
    """The file's articles, each marked stored (as it is: no more work) or not."""
    out = []
    for item in load_file(Path(row["path"]), row["doc_id"], max_article_bytes=max_article_bytes):
        if isinstance(item, LoadError):
            error = json.dumps([item.path, item.message, item.line])
            out.append({"article": "", "error": error, "stored": False})
        else:
            done = is_stored(stored.get(item.id), item)
            out.append({"article": item.model_dump_json(), "error": "", "stored": done})
    return out


def _split(batch: dict[str, np.ndarray], max_tokens: int, overlap: int) -> dict[str, np.ndarray]:
    passages = []
    for article_json, done in zip(batch["article"], batch["stored"], strict=True):
        if not article_json or done:
            passages.append("[]")
            continue
        article = Article.model_validate_json(article_json)
        split = split_passages(
            article.id,
            article.text,
            max_tokens=max_tokens,
            overlap_sentences=overlap,
            count_tokens=_token_counter(),
        )
        passages.append(json.dumps([p.model_dump() for p in split]))
    return {**batch, "passages": np.array(passages, dtype=object)}


class _Embed:
    """One actor of the pool: loads the model once, then embeds batch after batch."""

    def __init__(self, backend: str, batch_size: int | None) -> None:
        # One core per actor: more threads would only contend.
        import ray

        self.embedder = Embedder(
            batch_size=batch_size,
            threads=1,
            workers=1,
            backend=backend,  # type: ignore[arg-type]  # checked by Settings
        )
        self.embedder.load()
        self.node = ray.get_runtime_context().get_node_id()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        lists = [json.loads(p) for p in batch["passages"]]
        texts = [p["text"] for passages in lists for p in passages]
        vectors = self.embedder.encode(texts) if texts else np.zeros((0, 1), np.float32)
        out, at = [], 0
        for passages in lists:
            out.append(np.ascontiguousarray(vectors[at : at + len(passages)], np.float32).tobytes())
            at += len(passages)
        nodes = np.array([self.node] * len(out), dtype=object)
        return {**batch, "vectors": np.array(out, dtype=object), "node": nodes}


def start_ray() -> None:
    """Connect to the cluster ``RAY_ADDRESS`` names, else start a local Ray (once)."""
    import ray

    if not ray.is_initialized():
        ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # the CLI shows its own
    context.print_on_execution_start = False
    # Start once every embedding actor has its model loaded, or the first one ready takes
    # the early batches of all of them (minutes: a node may still be starting).
    context.wait_for_min_actors_s = 600
    # A map task's output rows are gathered into blocks of up to this size, and a block is
    # what one embedding actor takes: at Ray's default (128 MiB) one JSONL file of many
    # articles stays one block, embedded by one actor while the others wait.
    context.target_max_block_size = BLOCK_BYTES
    logging.getLogger("ray.data").setLevel(logging.WARNING)


def add_with_ray(
    indexer: Indexer,
    settings: Settings,
    paths: Sequence[Path],
    *,
    embed_actors: int | None = None,
    embed_articles: int = EMBED_ARTICLES,
    progress: Callable[[int], None] | None = None,
) -> BulkReport:
    """Index the files and folders ``paths`` on Ray (see the module docstring).

    Args:
        indexer: the pipeline over the store to write to (its writes run on this process).
        settings: passage sizes, the embedding backend, the article size limit.
        embed_actors: embedding actors (default: one per CPU of the cluster).
        embed_articles: articles per embedding call.
        progress: called with the number of passages written after each write.
    """
    import ray

    start_ray()
    report = BulkReport()
    store = indexer.store
    stored = store.stored_versions(list(store.article_hashes()))
    files = [
        {"path": str(f), "doc_id": doc_id} for path in paths for f, doc_id in article_files(path)
    ]
    if not files:
        return report
    actors = embed_actors or max(1, int(ray.cluster_resources().get("CPU", 1)))
    max_bytes = settings.max_article_bytes

    dataset = (
        ray.data.from_items(files, override_num_blocks=len(files))
        .flat_map(partial(_load, max_article_bytes=max_bytes, stored=stored), num_cpus=LIGHT_CPUS)
        .map_batches(
            partial(
                _split,
                max_tokens=settings.passage_max_tokens,
                overlap=settings.passage_overlap_sentences,
            ),
            # The blocks it makes are what the actors share out: one embedding batch each.
            batch_size=embed_articles,
            num_cpus=LIGHT_CPUS,
        )
        .map_batches(
            _Embed,
            batch_size=embed_articles,
            # A batch at a time per actor: the next goes to whichever actor is free.
            compute=ray.data.ActorPoolStrategy(size=actors, max_tasks_in_flight_per_actor=1),
            num_cpus=1 - LIGHT_CPUS,
            fn_constructor_kwargs={
                "backend": settings.embed_backend,
                "batch_size": settings.embed_batch_size,
            },
        )
    )
    seen: set[str] = set()
    items: list[Upsert] = []

    def write() -> None:
        written = indexer.write(items, report)
        count = sum(len(p) for _, p, _ in written)
        report.passages_embedded += count
        report.passages_total += count
        items.clear()
        if progress:
            progress(count)

    for batch in dataset.iter_batches(batch_size=embed_articles, batch_format="numpy"):
        for item, done, node in zip(
            _decode(batch, indexer.embedder.dim), batch["stored"], batch["node"], strict=True
        ):
            if isinstance(item, LoadError):
                report.errors.append(item)
                continue
            article, passages, vectors = item
            if done:
                report.unchanged.append(article.id)
                continue
            if passages:
                report.embedded_on[node] = report.embedded_on.get(node, 0) + len(passages)
            if article.id in seen:
                report.duplicates.append(article.id)
                log.warning("duplicate article id %r in this batch: the last one wins", article.id)
            seen.add(article.id)
            items.append((article, passages, vectors))
            if sum(len(p) for _, p, _ in items) >= settings.index_chunk_passages:
                write()
    if items:
        write()
    return report


def _decode(
    batch: dict[str, np.ndarray], dim: int
) -> Iterator[LoadError | tuple[Article, list[Passage], np.ndarray]]:
    for article_json, error, passages_json, vectors in zip(
        batch["article"], batch["error"], batch["passages"], batch["vectors"], strict=True
    ):
        if error:
            path, message, line = json.loads(error)
            yield LoadError(path, message, line=line)
            continue
        passages = [Passage.model_validate(p) for p in json.loads(passages_json)]
        matrix = np.frombuffer(vectors, dtype=np.float32).reshape(len(passages), dim)
        yield Article.model_validate_json(article_json), passages, matrix

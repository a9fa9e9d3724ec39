"""The indexing pipeline: load → clean → split → embed → store, incremental and chunked.

Unchanged articles (same id, same content hash, same meta) are skipped; changed ones (same
id, or same URL under a new id) replace their old passages; passages whose id is already
stored reuse their stored vector, so only new text is embedded. Work is committed in chunks:
a crash loses at most the chunk in flight, and re-running finishes the job.

Splitting and embedding run outside the writer lock; each chunk takes it only to check what
is stored now and write, so one large article never holds other writers back while it is
being embedded.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from core.settings import Settings
from core.types import Article, Passage
from indexer.embed import Embedder, TokenCounter
from indexer.load import LoadError
from indexer.split import split_passages
from indexer.stores import make_store
from indexer.stores.base import Store, Upsert

log = logging.getLogger(__name__)

Progress = Callable[[int], None]


@dataclass
class AddReport:
    """What an add did, for the CLI summary and the API response."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    errors: list[LoadError] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    passages_embedded: int = 0
    passages_reused: int = 0
    passages_total: int = 0


@dataclass
class _Planned:
    article: Article
    passages: list[Passage]


def _same_meta(stored: str, article: Article) -> bool:
    return json.loads(stored) == json.loads(json.dumps(article.meta, ensure_ascii=False))


def is_stored(version: tuple[str, str] | None, article: Article) -> bool:
    """Whether ``article`` is stored as it is (``version``: its stored_versions entry)."""
    return (
        version is not None
        and version[0] == article.content_hash
        and _same_meta(version[1], article)
    )


class Indexer:
    """Adds and removes articles in a :class:`~indexer.stores.base.Store`.

    Args:
        store: the index to write to.
        embedder: turns passage texts into vectors.
        count_tokens: the embedder's tokenizer, to size passages under its window.
        max_tokens: passage token budget.
        overlap_sentences: sentences shared by neighbouring passages.
        chunk_passages: passages embedded and committed per transaction.
    """

    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        count_tokens: TokenCounter | None = None,
        *,
        max_tokens: int = 200,
        overlap_sentences: int = 1,
        chunk_passages: int = 512,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.count_tokens = count_tokens or TokenCounter()
        self.max_tokens = max_tokens
        self.overlap_sentences = overlap_sentences
        self.chunk_passages = chunk_passages

    @classmethod
    def from_settings(cls, settings: Settings, *, preload: bool = False) -> Indexer:
        """The configured embedder and passage sizes over the configured store (created if
        missing: ``settings.database_url``, else ``settings.index_dir``). ``preload``: load
        the embedding model in the background while the index opens."""
        embedder = Embedder(
            batch_size=settings.embed_batch_size,
            backend=settings.embed_backend,
            query_precision=settings.query_precision,
        )
        if preload:
            embedder.preload()
        return cls(
            make_store(settings, embedder.name, embedder.dim),
            embedder,
            TokenCounter(),
            max_tokens=settings.passage_max_tokens,
            overlap_sentences=settings.passage_overlap_sentences,
            chunk_passages=settings.index_chunk_passages,
        )

    def split(self, article: Article) -> list[Passage]:
        return split_passages(
            article.id,
            article.text,
            max_tokens=self.max_tokens,
            overlap_sentences=self.overlap_sentences,
            count_tokens=self.count_tokens,
        )

    def add(
        self,
        items: Iterable[Article | LoadError],
        *,
        on_planned: Callable[[int], None] | None = None,
        progress: Progress | None = None,
        update_bm25: bool = True,
    ) -> AddReport:
        """Index ``items`` (articles, or load errors that are only reported).

        Args:
            items: what the loaders yielded.
            on_planned: called once with the number of passages that need embedding.
            progress: called with the number of passages embedded after each batch.
            update_bm25: rebuild the BM25 index before returning (else the caller does it,
                e.g. in the background; FTS5 answers meanwhile).
        """
        report = AddReport()
        batch: dict[str, Article] = {}
        for item in items:
            if isinstance(item, LoadError):
                report.errors.append(item)
                continue
            if item.id in batch:
                report.duplicates.append(item.id)
                log.warning("duplicate article id %r in this batch: the last one wins", item.id)
            batch[item.id] = item

        plan = self._plan(batch.values(), report)
        vectors_known = self.store.existing_vectors([p.id for x in plan for p in x.passages])
        to_embed = sum(1 for x in plan for p in x.passages if p.id not in vectors_known)
        if on_planned:
            on_planned(to_embed)
        self._write_in_chunks(plan, vectors_known, report, progress)
        if update_bm25:
            self.store.update_lexical()
        return report

    def _plan(self, articles: Iterable[Article], report: AddReport) -> list[_Planned]:
        """Split the articles that differ from what is stored now (read without the lock:
        each chunk checks again under it)."""
        articles = list(articles)
        stored = self.store.stored_versions([a.id for a in articles])
        plan: list[_Planned] = []
        for article in articles:
            if is_stored(stored.get(article.id), article):
                report.unchanged.append(article.id)
                continue
            plan.append(_Planned(article, self.split(article)))
        return plan

    def _write_in_chunks(
        self,
        plan: Sequence[_Planned],
        vectors_known: dict[str, np.ndarray],
        report: AddReport,
        progress: Progress | None,
    ) -> None:
        chunk: list[_Planned] = []
        pending = 0
        for item in plan:
            chunk.append(item)
            pending += sum(1 for p in item.passages if p.id not in vectors_known)
            if pending >= self.chunk_passages:
                self._write_chunk(chunk, vectors_known, report, progress)
                chunk, pending = [], 0
        if chunk:
            self._write_chunk(chunk, vectors_known, report, progress)

    def _write_chunk(
        self,
        chunk: Sequence[_Planned],
        vectors_known: dict[str, np.ndarray],
        report: AddReport,
        progress: Progress | None,
    ) -> None:
        new = [p for item in chunk for p in item.passages if p.id not in vectors_known]
        fresh = self.embedder.encode([p.text for p in new], progress=progress) if new else None
        vectors = dict(vectors_known)
        if fresh is not None:
            vectors.update({p.id: v for p, v in zip(new, fresh, strict=True)})
        items = [
            (
                item.article,
                item.passages,
                np.vstack([vectors[p.id] for p in item.passages])
                if item.passages
                else np.zeros((0, self.embedder.dim), np.float32),
            )
            for item in chunk
        ]
        written = [p for _, passages, _ in self.write(items, report) for p in passages]
        embedded = {p.id for p in new}
        report.passages_embedded += len(new)
        report.passages_total += len(written)
        report.passages_reused += sum(1 for p in written if p.id not in embedded)

    def write(self, items: Sequence[Upsert], report: AddReport) -> list[Upsert]:
        """Write articles already split and embedded (here, or by :mod:`indexer.bulk`) in one
        transaction, as their stored state asks: unchanged ones are skipped, changed ones (or
        the same URL under a new id) replaced. Returns what was written."""
        with self.store.writing():
            # What is stored now: another writer may have written since the plan.
            articles = [article for article, _, _ in items]
            stored = self.store.stored_versions([a.id for a in articles])
            by_url = self.store.articles_by_url([a.url for a in articles if a.url])
            upserts: list[Upsert] = []
            deletes: list[str] = []
            for article, passages, matrix in items:
                version = stored.get(article.id)
                if is_stored(version, article):
                    report.unchanged.append(article.id)
                    continue
                if version:
                    report.updated.append(article.id)
                elif article.url and by_url.get(article.url, article.id) != article.id:
                    deletes.append(by_url[article.url])  # the same URL under another id
                    report.updated.append(article.id)
                else:
                    report.added.append(article.id)
                upserts.append((article, passages, matrix))
            self.store.apply(upserts, deletes)
        return upserts

    def remove(
        self, article_ids: Sequence[str], *, update_bm25: bool = True
    ) -> tuple[list[str], list[str]]:
        """Delete articles with their passages. Returns (removed, not_found)."""
        with self.store.writing():
            stored = self.store.article_hashes()
            removed = [a for a in article_ids if a in stored]
            missing = [a for a in article_ids if a not in stored]
            if removed:
                self.store.apply([], removed)
        if update_bm25:
            self.store.update_lexical()
        return removed, missing

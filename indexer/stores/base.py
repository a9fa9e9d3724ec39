"""The store interface: what the indexer, retriever, reranker, engine and shells may ask of an
index, whatever keeps it (the embedded SQLite + FAISS + BM25 folder, or PostgreSQL).

Passages are named by an integer *key* the backend assigns when it stores them (unique in
one index, never reused by the backend for another passage while the first exists); callers
pass keys back (``passages``, ``within``, ``flag_passage``) and never interpret them.
"""

from __future__ import annotations

import errno
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from core.types import Article, Passage

# One write: (article, its passages, their vectors as rows of a float32 matrix).
Upsert = tuple[Article, Sequence[Passage], np.ndarray]


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` is a write refused for want of space (SQLite's or the file system's)."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return isinstance(exc, sqlite3.OperationalError) and (
        getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "disk is full" in str(exc)
    )


class IndexMismatchError(RuntimeError):
    """The index was built with another model or schema.

    ``reason`` says so without the index's location (for /healthz)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class IndexDamagedError(RuntimeError):
    """The index cannot be read, or a stored row failed its checksum (``qa-index check``
    reports it, ``repair`` fixes what can be re-derived). The message has no location."""


@dataclass(frozen=True)
class StoredPassage:
    rowid: int  # the passage key (see the module docstring)
    article_id: str
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class ArticleSummary:
    id: str
    title: str
    url: str | None
    passages: int
    chars: int


@dataclass(frozen=True)
class UrlSource:
    """What the index remembers of a URL it fetched (see :mod:`indexer.web`)."""

    url: str
    kind: str  # "page", "feed" or "sitemap"
    root: bool  # given to `qa-index add` (or POST /api/sources): `refresh` re-reads it
    parent: str | None  # the feed or sitemap it was found in
    allow_private: bool  # whether it may be fetched from a private or loopback address
    etag: str | None
    last_modified: str | None
    content_hash: str | None  # of the body, to skip an unchanged one without a 304
    article_id: str | None  # the article a page became
    checked_at: float  # Unix time of the last fetch


@dataclass(frozen=True)
class FeedbackRecord:
    """What a reader said of one answer: helpful or not, with an optional comment."""

    id: int
    created_at: float  # Unix time
    question: str
    answer_text: str
    article_id: str
    start: int | None  # the answer's offset in the article, when the client sent it
    helpful: bool
    comment: str | None
    channel: str  # where it was given: "web", "slack" or "api"


@runtime_checkable
class Store(Protocol):
    """An index of articles, passages and vectors. Thread-safe.

    The first group is the index itself; the rest serve incremental indexing, the answer
    path's checks and the side tables (URL sources, feedback) kept with the index.
    """

    model: str  # the embedding model the vectors come from
    dim: int

    # ---- the index ------------------------------------------------------------------------
    def writing(self) -> AbstractContextManager[None]:
        """Hold the writer lock: reads made inside see no other writer's changes before
        :meth:`apply` (one writer per index at a time, across processes and machines)."""
        ...

    def apply(self, upserts: Sequence[Upsert], deletes: Sequence[str] = ()) -> None:
        """Atomically replace articles (with their passages and vectors) and delete others."""
        ...

    def read_articles(self, article_ids: Iterable[str]) -> dict[str, Article]:
        """The readable articles among these ids (a damaged one is flagged and left out)."""
        ...

    def get_article(self, article_id: str) -> Article | None: ...

    def list_articles(
        self, offset: int = 0, limit: int = 50, query: str | None = None
    ) -> tuple[int, list[ArticleSummary]]:
        """(how many match, a page of them by title); ``query``: a substring of title or id."""
        ...

    def counts(self) -> tuple[int, int]:
        """(articles, passages)."""
        ...

    def search_dense(
        self, query: np.ndarray, n: int, within: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """(passage key, cosine) of the ``n`` passages nearest the normalised ``query``,
        best first; only keys in ``within`` when given."""
        ...

    def search_bm25(
        self, words: list[str], n: int, within: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """(passage key, score) of the ``n`` passages that best match ``words`` (higher is
        better), best first; only keys in ``within`` when given."""
        ...

    def passages(self, keys: Sequence[int]) -> dict[int, StoredPassage]:
        """The readable passages with these keys."""
        ...

    def stats(self) -> dict[str, object]:
        """What ``qa-index stats`` prints: counts, index kinds, the model."""
        ...

    def export(self, batch: int = 500) -> Iterator[list[Upsert]]:
        """Every readable article with its passages and their stored vectors, ``batch``
        articles at a time in id order: to copy an index into another store (``apply``)
        without embedding it again."""
        ...

    # ---- incremental indexing -------------------------------------------------------------
    def stored_versions(self, article_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
        """id -> (content hash, meta JSON) of the stored articles among ``article_ids``."""
        ...

    def articles_by_url(self, urls: Sequence[str]) -> dict[str, str]:
        """url -> id of the stored articles with these URLs."""
        ...

    def existing_vectors(self, passage_ids: Sequence[str]) -> dict[str, np.ndarray]:
        """Stored vectors of the passages with these ids (reused, not embedded again)."""
        ...

    def article_hashes(self) -> dict[str, tuple[str, str | None]]:
        """id -> (content hash, url) of every stored article."""
        ...

    # ---- the answer path ------------------------------------------------------------------
    @property
    def generation(self) -> int:
        """Changes with every write this store has seen (see :meth:`refresh`)."""
        ...

    def refresh(self) -> bool:
        """Catch up with writes made elsewhere; True when there were some."""
        ...

    def article_refs(self, article_ids: Iterable[str]) -> dict[str, tuple[str, str | None]]:
        """(title, url) of these articles."""
        ...

    def article_dates(self, article_ids: Iterable[str]) -> dict[str, str | None]:
        """id -> published (None when unknown) of the stored articles among these."""
        ...

    def rowids_published(self, low: str | None, high: str | None) -> np.ndarray:
        """Keys of the passages of articles published in ``[low, high)`` (None: open)."""
        ...

    def document_frequency(self, word: str) -> tuple[int, int]:
        """(passages holding ``word``, all passages), for the reranker's IDF."""
        ...

    def probe_passage(self, *, newest: bool) -> StoredPassage | None:
        """A passage for the engine's self-test: the newest, or one from anywhere."""
        ...

    def flag_passage(self, rowid: int, problem: str) -> None:
        """Leave this passage out of answers until the index changes (it proved wrong)."""
        ...

    def flagged(self) -> tuple[int, int]:
        """(passages, articles) left out of answers as damaged since the index changed."""
        ...

    def lexical_current(self) -> bool:
        """Whether the lexical index answers for the latest write (else a slower one does)."""
        ...

    def update_lexical(self) -> object:
        """Bring the lexical index up to the latest write (what it returns is the backend's)."""
        ...

    def update_lexical_in_background(self) -> None: ...

    # ---- side tables, never part of the index's generation --------------------------------
    def claim_once(self, keys: Sequence[str], window_seconds: float = 3600.0) -> bool:
        """True if none of ``keys`` was claimed in the last ``window_seconds`` by a replica
        over this store (a Slack event answered once, whichever replica it reaches); the
        keys are claimed either way. A store no replicas share may always say True."""
        ...

    def url_sources(
        self, *, roots_only: bool = False, parent: str | None = None
    ) -> list[UrlSource]: ...

    def url_source(self, url: str) -> UrlSource | None: ...

    def save_url_sources(self, sources: Iterable[UrlSource]) -> None: ...

    def add_feedback(
        self,
        *,
        question: str,
        answer_text: str,
        article_id: str,
        helpful: bool,
        comment: str | None = None,
        start: int | None = None,
        channel: str = "api",
    ) -> FeedbackRecord: ...

    def list_feedback(
        self, offset: int = 0, limit: int = 100, helpful: bool | None = None
    ) -> tuple[int, list[FeedbackRecord]]: ...

    def close(self) -> None: ...

"""The embedded store (the default): one index directory with SQLite records
(:mod:`.records`), a FAISS vector file (:mod:`.vectors`) and BM25 generations (:mod:`.bm25`),
composed by :class:`~indexer.stores.embedded.store.EmbeddedStore`; ``qa-index check`` and
``repair`` (:mod:`.integrity`, :mod:`.repair`) work on it."""

from indexer.stores.embedded.store import EmbeddedStore

__all__ = ["EmbeddedStore"]

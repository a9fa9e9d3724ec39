"""Index backends behind one interface (:class:`~indexer.stores.base.Store`): the embedded
SQLite + FAISS + BM25 folder (:mod:`indexer.store`, the default) and PostgreSQL with pgvector
(:mod:`indexer.stores.postgres`), chosen by ``QA_DATABASE_URL``."""

from __future__ import annotations

from core.settings import Settings
from indexer.stores.base import Store


def uses_database(settings: Settings) -> bool:
    return settings.database_url is not None and bool(settings.database_url.get_secret_value())


def index_exists(settings: Settings) -> bool:
    """Whether there is an index to open (a CLI that only reads never creates one). A
    database is taken to exist: connecting says if it does not."""
    from indexer.store import DB_NAME

    return uses_database(settings) or (settings.index_dir / DB_NAME).is_file()


def index_location(settings: Settings) -> str:
    """Where the index is, for messages (a database URL without its password)."""
    if uses_database(settings):
        return "the database at QA_DATABASE_URL"
    return str(settings.index_dir)


def make_store(settings: Settings, model: str, dim: int) -> Store:
    """The configured store for vectors of ``model`` (``dim`` wide)."""
    if uses_database(settings):
        raise ValueError("QA_DATABASE_URL is set, but this build has no PostgreSQL backend")
    from indexer.store import IndexStore

    return IndexStore(settings.index_dir, model, dim)

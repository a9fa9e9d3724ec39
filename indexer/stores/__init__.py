"""Index backends behind one interface (:class:`~indexer.stores.base.Store`): the embedded
SQLite + FAISS + BM25 folder (:mod:`indexer.stores.embedded`, the default) and PostgreSQL
with pgvector (:mod:`indexer.stores.postgres`), chosen by ``QA_DATABASE_URL``."""

from __future__ import annotations

from core.settings import Settings
from indexer.stores.base import Store


def uses_database(settings: Settings) -> bool:
    return settings.database_url is not None and bool(settings.database_url.get_secret_value())


def index_exists(settings: Settings) -> bool:
    """Whether there is an index to open (a CLI that only reads never creates one). A
    database is taken to exist: connecting says if it does not."""
    from indexer.stores.embedded.records import DB_NAME

    return uses_database(settings) or (settings.index_dir / DB_NAME).is_file()


def index_location(settings: Settings) -> str:
    """Where the index is, for messages (a database URL without its password)."""
    if uses_database(settings):
        from indexer.stores.postgres import public_url

        assert settings.database_url is not None
        return public_url(settings.database_url.get_secret_value())
    return str(settings.index_dir)


def make_store(settings: Settings, model: str, dim: int) -> Store:
    """The configured store for vectors of ``model`` (``dim`` wide)."""
    if uses_database(settings):
        from indexer.stores.postgres import PostgresStore

        assert settings.database_url is not None
        return PostgresStore(
            settings.database_url.get_secret_value(),
            model,
            dim,
            ef_search=settings.pg_ef_search,
        )
    from indexer.stores.embedded import EmbeddedStore

    return EmbeddedStore(settings.index_dir, model, dim)

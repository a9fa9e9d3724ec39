"""What both stores must do alike, through the store interface (PostgreSQL on a real server)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from core.types import Article, Passage
from indexer.stores import make_store
from indexer.stores.base import IndexMismatchError, Store
from tests.conftest import STORES, store_settings

DIM = 8


def _vector(i: int) -> np.ndarray:
    v = np.zeros(DIM, np.float32)
    v[i % DIM] = 1.0
    return v


def _article(n: int, published: str | None = None) -> tuple[Article, list[Passage], np.ndarray]:
    text = f"Article {n} tells of the lighthouse keeper number {n}. The keeper counted gulls."
    article = Article(id=f"a{n}", title=f"Title {n}", url=f"https://x.org/{n}", text=text)
    article = article.model_copy(update={"published": published})
    cut = text.index(" The keeper")
    passages = [
        Passage(article_id=article.id, start=0, end=cut, text=text[:cut]),
        Passage(article_id=article.id, start=cut + 1, end=len(text), text=text[cut + 1 :]),
    ]
    return article, passages, np.vstack([_vector(2 * n), _vector(2 * n + 1)])


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    url = request.getfixturevalue("database_url") if request.param == "postgresql" else None
    store = make_store(store_settings(request.param, tmp_path / "index", url), "test-model", DIM)
    yield store
    store.close()


def test_writes_reads_and_searches(store: Store) -> None:
    with store.writing():
        store.apply([_article(1, "2024-05-01"), _article(2)])
    assert store.counts() == (2, 4)
    assert set(store.article_hashes()) == {"a1", "a2"}
    assert store.articles_by_url(["https://x.org/2"]) == {"https://x.org/2": "a2"}
    (key, score), *_ = store.search_dense(_vector(5), 2)
    passage = store.passages([key])[key]
    assert (passage.article_id, passage.text) == ("a2", "The keeper counted gulls.")
    assert score == pytest.approx(1.0)
    assert store.search_bm25(["lighthouse"], 5)
    assert store.document_frequency("gulls") == (2, 4)
    dated = store.rowids_published("2024-01-01", None)
    assert {store.passages(dated.tolist())[int(k)].article_id for k in dated} == {"a1"}
    assert [k for k, _ in store.search_dense(_vector(5), 4, dated)] != [key]
    total, page = store.list_articles(query="title 2")
    assert (total, [a.id for a in page], page[0].passages) == (1, ["a2"], 2)
    assert store.get_article("a1").published == "2024-05-01"  # type: ignore[union-attr]
    assert store.stats()["passages"] == 4


def test_replacing_and_deleting_keeps_counts_and_generation_moves(store: Store) -> None:
    with store.writing():
        store.apply([_article(1), _article(2)])
    generation = store.generation
    article, passages, vectors = _article(1)
    changed = article.model_copy(update={"text": article.text[: passages[0].end]})
    with store.writing():
        store.apply([(changed, passages[:1], vectors[:1])], deletes=["a2"])
    assert store.generation != generation
    assert store.counts() == (1, 1)
    assert store.get_article("a2") is None
    assert store.existing_vectors([passages[0].id])[passages[0].id] == pytest.approx(vectors[0])


def test_claims_hold_once_across_replicas(database_url: str, tmp_path: Path) -> None:
    settings = store_settings("postgresql", tmp_path, database_url)
    store, replica = (make_store(settings, "test-model", DIM) for _ in range(2))
    try:
        assert store.claim_once(["slack event Ev1", "slack msg C1 1.0"])
        assert not replica.claim_once(["slack event Ev1"])
        assert not replica.claim_once(["slack msg C1 1.0", "slack event Ev2"])
        assert store.claim_once(["slack event Ev3"])
    finally:
        store.close()
        replica.close()


@pytest.mark.parametrize("kind", STORES)
def test_another_model_is_refused(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("database_url") if kind == "postgresql" else None
    settings = store_settings(kind, tmp_path / "index", url)
    make_store(settings, "test-model", DIM).close()
    with pytest.raises(IndexMismatchError, match="model"):
        make_store(settings, "other-model", DIM)

"""``qa-index copy``: an index folder into PostgreSQL and back, vectors and all, nothing
embedded again; a second run copies nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import indexer.cli
from core.text.words import content_words
from indexer.pipeline import Indexer
from indexer.stores.base import Store
from tests.conftest import store_settings


def _open(store: str, index_dir: Path, url: str | None) -> Store:
    return Indexer.from_settings(store_settings(store, index_dir, url)).store


def _contents(store: Store) -> dict[str, tuple]:
    """Each article's text, title and meta with its passages and their vectors."""
    found = {}
    for upserts in store.export():
        for article, passages, vectors in upserts:
            found[article.id] = (
                article.text,
                article.title,
                article.meta,
                [(p.start, p.end, p.text) for p in passages],
                vectors,
            )
    return found


def _assert_same_index(a: Store, b: Store) -> None:
    assert a.counts() == b.counts()
    first, second = _contents(a), _contents(b)
    assert first.keys() == second.keys()
    for article_id, (*fields, vectors) in first.items():
        *other_fields, other_vectors = second[article_id]
        assert fields == other_fields
        np.testing.assert_array_equal(vectors, other_vectors)
    words = content_words("Which NFL team represented the AFC at Super Bowl 50?")
    ranked = []
    for store in (a, b):
        found = store.search_bm25(words, 5)
        passages = store.passages([k for k, _ in found])
        ranked.append([(passages[k].article_id, passages[k].start) for k, _ in found])
    assert ranked[0] == ranked[1]


def test_copy_a_folder_into_postgresql_and_back(
    demo_index: Path, database_url: str, tmp_path: Path
) -> None:
    runner = CliRunner()
    copied = runner.invoke(
        indexer.cli.app, ["copy", str(demo_index), "--database-url", database_url]
    )
    assert copied.exit_code == 0, copied.output
    assert "copied 13 articles" in copied.stdout
    again = runner.invoke(
        indexer.cli.app, ["copy", str(demo_index), "--database-url", database_url]
    )
    assert again.exit_code == 0, again.output
    assert "copied 0 articles (0 passages), 13 already there" in again.stdout
    back = tmp_path / "back"
    returned = runner.invoke(indexer.cli.app, ["copy", database_url, "--index", str(back)])
    assert returned.exit_code == 0, returned.output
    stores = [
        _open("embedded", demo_index, None),
        _open("postgresql", tmp_path / "unused", database_url),
        _open("embedded", back, None),
    ]
    try:
        _assert_same_index(stores[0], stores[1])
        _assert_same_index(stores[0], stores[2])
    finally:
        for store in stores:
            store.close()


@pytest.mark.parametrize("source", ["same", "missing"])
def test_copy_refuses_itself_and_a_missing_source(
    demo_index_copy: Path, tmp_path: Path, source: str
) -> None:
    given = demo_index_copy if source == "same" else tmp_path / "missing"
    result = CliRunner().invoke(
        indexer.cli.app, ["copy", str(given), "--index", str(demo_index_copy)]
    )
    assert result.exit_code == 2
    assert ("the source is this index" if source == "same" else "no index at") in result.output

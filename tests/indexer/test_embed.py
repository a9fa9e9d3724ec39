"""The embedding backends give the same vectors; the ONNX query path needs no torch; the FAISS
index type follows the index size, and add / remove / reconcile keep working with it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import faiss
import numpy as np
import pytest

from indexer.embed import Embedder, TokenCounter
from indexer.load import load_path
from indexer.split import split_passages
from indexer.stores.embedded import EmbeddedStore
from indexer.stores.embedded.vectors import (
    FAISS_NAME,
    describe_faiss,
    faiss_ids,
    is_hnsw,
    new_faiss_index,
)
from qa.types import Article

REPO = Path(__file__).resolve().parents[2]
DEV_ARTICLES = REPO / "qa" / "demo_articles" / "squad-dev.jsonl"
QUESTIONS = [
    "What was Maria Curie the first female recipient of?",
    "Which NFL team represented the AFC at Super Bowl 50?",
    "How many people has Pakistan arrested?",
    "x",
]


@pytest.fixture(scope="module")
def passages() -> list[str]:
    """36 real passages (3 per dev article) and one text far over the 256-token window."""
    counter = TokenCounter()
    texts = []
    for article in load_path(DEV_ARTICLES):
        split = split_passages(article.id, article.text, count_tokens=counter)
        texts += [p.text for p in split[:3]]
    return [*texts, " ".join(texts[:4])]


@pytest.fixture(scope="module")
def onnx_embedder() -> Embedder:
    embedder = Embedder(backend="onnx").load()
    assert embedder.backend == "onnx"  # no silent fallback to torch here
    return embedder


@pytest.fixture(scope="module")
def torch_embedder() -> Embedder:
    return Embedder(backend="torch").load()


@pytest.mark.slow
def test_onnx_vectors_match_torch(
    passages: list[str], onnx_embedder: Embedder, torch_embedder: Embedder
) -> None:
    texts = [*passages, *QUESTIONS]
    a, b = onnx_embedder.encode(texts), torch_embedder.encode(texts)
    assert a.shape == b.shape == (len(texts), 384)
    cosine = (a * b).sum(axis=1)
    assert cosine.mean() >= 0.999 and cosine.min() >= 0.995
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-4)
    queries = np.vstack([onnx_embedder.encode_query(q) for q in QUESTIONS])
    assert ((queries * b[-len(QUESTIONS) :]).sum(axis=1) >= 0.999).all()


def test_a_vector_does_not_depend_on_its_batch(passages: list[str], onnx_embedder: Embedder):
    """Dynamic padding: a short text batched with long ones gets its own vector."""
    alone = onnx_embedder.encode_query(QUESTIONS[0])
    batched = onnx_embedder.encode([passages[0], QUESTIONS[0], passages[-1]])[1]
    assert float(alone @ batched) > 0.9999


@pytest.mark.slow
def test_int8_queries_stay_close_and_passages_stay_exact(
    passages: list[str], onnx_embedder: Embedder
) -> None:
    int8 = Embedder(query_precision="int8").load()
    for question in QUESTIONS[:3]:
        cosine = float(int8.encode_query(question) @ onnx_embedder.encode_query(question))
        assert 0.98 <= cosine < 1.0  # quantised (not the fp32 graph), yet close
    # Passages are always embedded in fp32: an index does not depend on the query setting.
    np.testing.assert_allclose(int8.encode(passages[:5]), onnx_embedder.encode(passages[:5]))
    with pytest.raises(ValueError, match="query precision"):
        Embedder(query_precision="fp16")  # type: ignore[arg-type]


@pytest.mark.slow
def test_parallel_sessions_give_the_vectors_of_one(passages: list[str]) -> None:
    """Passages go to one single-threaded session per core; each vector lands in its row."""
    parallel = Embedder(threads=2)  # two sessions, whatever this machine's core count
    one = Embedder(workers=1, batch_size=8)
    texts = [*passages, *QUESTIONS] * 2
    np.testing.assert_allclose(parallel.encode(texts), one.encode(texts), atol=1e-5)
    assert parallel._passage_sessions.qsize() == 2 and one._passage_sessions.qsize() == 1
    assert parallel.batch_size == 1  # the ONNX default: one text per pass, no padding
    assert Embedder(backend="torch").batch_size == 8


def test_empty_input_and_progress(onnx_embedder: Embedder) -> None:
    assert onnx_embedder.encode([]).shape == (0, 384)
    seen: list[int] = []
    Embedder(batch_size=2).encode(["a", "b", "c"], progress=seen.append)
    assert sum(seen) == 3


def test_unknown_backend_is_refused() -> None:
    with pytest.raises(ValueError, match="backend"):
        Embedder(backend="tensorflow")  # type: ignore[arg-type]


@pytest.mark.slow
def test_answering_with_onnx_imports_no_torch(onnx_embedder: Embedder, tmp_path: Path) -> None:
    """Build an index, then answer from a fresh process: neither torch nor transformers load."""
    from qa.engine import Engine
    from qa.settings import Settings

    engine = Engine(Settings(index_dir=tmp_path, reader="heuristic", embed_backend="onnx"))
    engine.add([Article(id="w", title="Warsaw", text="Warsaw is the capital of Poland.")])
    engine.store.close()
    script = f"""
import json, sys
from qa.api.app import create_app
from qa.engine import Engine
from qa.settings import Settings
engine = Engine(Settings(index_dir={str(tmp_path)!r}, reader="heuristic")).warm_up()
hits = engine.retriever.retrieve("What is the capital of Poland?", 3)
print(json.dumps({{"hits": len(hits), "backend": engine.embedder.backend,
                  "heavy": [m for m in ("torch", "transformers", "sentence_transformers")
                            if m in sys.modules]}}))
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=300
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result == {"hits": 1, "backend": "onnx", "heavy": []}


@pytest.mark.slow
def test_question_answering_export_matches_torch(tmp_path: Path) -> None:
    """The ONNX helper also exports a BertForQuestionAnswering folder (a future ONNX reader)."""
    import torch
    from transformers import BertConfig, BertForQuestionAnswering

    from core.onnx import export, open_session

    config = BertConfig(
        vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=64,
    )  # fmt: skip
    torch.manual_seed(0)
    model = BertForQuestionAnswering(config).eval()
    model.save_pretrained(tmp_path / "qa")
    export(tmp_path / "qa", tmp_path / "qa.onnx", "question-answering")
    session = open_session(tmp_path / "qa.onnx", threads=1)
    ids = np.random.default_rng(0).integers(1, 100, size=(3, 21))
    mask = np.ones_like(ids)
    mask[0, 15:] = 0
    types = np.zeros_like(ids)
    types[:, 8:] = 1
    start, end = session.run(
        ["start_logits", "end_logits"],
        {"input_ids": ids, "attention_mask": mask, "token_type_ids": types},
    )
    with torch.no_grad():
        ref = model(
            input_ids=torch.from_numpy(ids),
            attention_mask=torch.from_numpy(mask),
            token_type_ids=torch.from_numpy(types),
        )
    np.testing.assert_allclose(start, ref.start_logits.numpy(), atol=1e-4)
    np.testing.assert_allclose(end, ref.end_logits.numpy(), atol=1e-4)


# ---- the FAISS index type --------------------------------------------------------------------
def _unit(n: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, 384)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_factory_picks_exact_then_hnsw_then_ivf() -> None:
    flat = new_faiss_index(384, 10, exact_max=100, hnsw_max=500)
    assert isinstance(flat, faiss.IndexIDMap2) and not is_hnsw(flat)
    assert describe_faiss(flat) == "flat fp16 (exact)"
    graph = new_faiss_index(384, 300, exact_max=100, hnsw_max=500)
    assert is_hnsw(graph) and describe_faiss(graph).startswith("HNSW fp16")
    vectors = _unit(300, seed=2)
    graph.add_with_ids(vectors, np.arange(300) * 2 + 1)
    assert sorted(faiss_ids(graph).tolist()) == list(range(1, 600, 2))
    _, found = graph.search(vectors[:20], 1)
    assert found[:, 0].tolist() == list(range(1, 40, 2))
    with pytest.raises(ValueError, match="training"):
        new_faiss_index(384, 1000, exact_max=100, hnsw_max=500)
    index = new_faiss_index(384, 1000, exact_max=100, train=_unit(2000), hnsw_max=500)
    assert isinstance(index, faiss.IndexIVFScalarQuantizer)
    vectors = _unit(1000, seed=1)
    index.add_with_ids(vectors, np.arange(5000, 6000))
    assert sorted(faiss_ids(index).tolist()) == list(range(5000, 6000))
    index.nprobe = index.nlist
    _, found = index.search(vectors[:20], 1)
    assert found[:, 0].tolist() == list(range(5000, 5020))


def test_flat_index_holds_fp16_codes_and_scores_exactly(
    onnx_embedder: Embedder, tmp_path: Path
) -> None:
    from indexer.pipeline import Indexer

    store = EmbeddedStore(tmp_path, onnx_embedder.name, onnx_embedder.dim)
    Indexer(store, onnx_embedder).add(_articles(0, 12))
    assert isinstance(faiss.downcast_index(store.vectors.index.index), faiss.IndexScalarQuantizer)
    query = onnx_embedder.encode_query("Which article is about topic number 4?")
    rowids, vectors = store.records.vectors(
        [r[0] for r in store.records.db.execute("SELECT rowid FROM passages")]
    )
    brute = sorted(zip((vectors @ query).tolist(), rowids.tolist(), strict=True), reverse=True)[:5]
    hits = store.search_dense(query, 5)
    assert [r for r, _ in hits] == [r for _, r in brute]
    assert [s for _, s in hits] == pytest.approx([s for s, _ in brute], abs=1e-6)
    store.close()


def _articles(first: int, count: int) -> list[Article]:
    return [
        Article(
            id=f"a{i}",
            title=f"Article {i}",
            text=f"Article {i} is about topic number {i}. It says {i * 7} twice: {i * 7}.",
        )
        for i in range(first, first + count)
    ]


def _check(store: EmbeddedStore, kind: type, hnsw: bool = False) -> None:
    """The store's FAISS index, in memory and on disk, is of ``kind`` and holds exactly the
    passages in SQLite."""
    rowids = sorted(r[0] for r in store.records.db.execute("SELECT rowid FROM passages"))
    assert isinstance(store.vectors.index, kind) and is_hnsw(store.vectors.index) == hnsw
    assert sorted(store.vectors.ids().tolist()) == rowids
    on_disk = faiss.read_index(str(store.vectors.path))
    assert isinstance(on_disk, kind) and sorted(faiss_ids(on_disk).tolist()) == rowids


def _best_article(store: EmbeddedStore, embedder: Embedder, question: str, n: int = 1) -> list[str]:
    hits = store.search_dense(embedder.encode_query(question), n)
    found = store.passages([r for r, _ in hits])
    return [found[r].article_id for r, _ in hits]


def _small_store(directory: Path, embedder: Embedder, hnsw_max: int) -> EmbeddedStore:
    """A store whose FAISS type changes at small sizes: flat up to 10 passages."""
    return EmbeddedStore(directory, embedder.name, embedder.dim, exact_max=10, hnsw_max=hnsw_max)


def test_store_goes_flat_then_hnsw_then_ivf_as_it_grows_and_keeps_working(
    onnx_embedder: Embedder, tmp_path: Path
) -> None:
    from indexer.pipeline import Indexer

    def open_store() -> EmbeddedStore:
        return _small_store(tmp_path, onnx_embedder, hnsw_max=30)

    store = open_store()
    indexer = Indexer(store, onnx_embedder)
    indexer.add(_articles(0, 8))
    _check(store, faiss.IndexIDMap2)
    indexer.add(_articles(8, 12))  # 20 passages > 10: rebuilt as HNSW from SQLite
    _check(store, faiss.IndexIDMap2, hnsw=True)
    assert _best_article(store, onnx_embedder, "Which article is about topic number 17?") == ["a17"]
    indexer.add(_articles(20, 30))  # 50 passages > 30: rebuilt as IVF
    _check(store, faiss.IndexIVFScalarQuantizer)
    assert _best_article(store, onnx_embedder, "Which article is about topic number 42?") == ["a42"]

    removed, _ = indexer.remove(["a42", "a3"])
    assert removed == ["a42", "a3"]
    indexer.add([Article(id="a7", title="Article 7", text="Article 7 was rewritten today.")])
    _check(store, faiss.IndexIVFScalarQuantizer)
    store.close()

    # A lost FAISS file is rebuilt from SQLite with the type that fits the size.
    (tmp_path / FAISS_NAME).unlink()
    reopened = open_store()
    _check(reopened, faiss.IndexIVFScalarQuantizer)
    # A stale file (one passage too many, one missing) is reconciled on open.
    stale = faiss.read_index(str(tmp_path / FAISS_NAME))
    first = int(faiss_ids(stale)[0])
    stale.remove_ids(np.array([first], dtype=np.int64))
    stale.add_with_ids(_unit(1), np.array([10**6], dtype=np.int64))
    faiss.write_index(stale, str(tmp_path / FAISS_NAME))
    reopened.close()
    again = open_store()
    _check(again, faiss.IndexIVFScalarQuantizer)
    # Below the threshold the same data stays exact.
    again.close()
    (tmp_path / FAISS_NAME).unlink()
    exact = EmbeddedStore(tmp_path, onnx_embedder.name, onnx_embedder.dim)
    _check(exact, faiss.IndexIDMap2)
    exact.close()


def test_hnsw_keeps_deleted_passages_stale_never_returns_them_and_is_rebuilt_when_too_many(
    onnx_embedder: Embedder, tmp_path: Path
) -> None:
    from indexer.pipeline import Indexer

    def open_store() -> EmbeddedStore:
        return _small_store(tmp_path, onnx_embedder, hnsw_max=1000)

    store = open_store()
    indexer = Indexer(store, onnx_embedder)
    indexer.add(_articles(0, 40))
    _check(store, faiss.IndexIDMap2, hnsw=True)
    question = "Which article is about topic number 12?"
    assert _best_article(store, onnx_embedder, question) == ["a12"]
    reader = open_store()  # another process's view, e.g. qa-serve's

    # One passage of 40 deleted (and one rewritten): under the stale share, the graph keeps
    # their vectors, but no search returns them.
    indexer.remove(["a12"])
    indexer.add([Article(id="a5", title="Article 5", text="Article 5 was rewritten today.")])
    assert store.vectors.index.ntotal == 41 and store.vectors.stale == 2
    assert not store.refit_due()
    for view in (store, reader):
        view.refresh()
        found = _best_article(view, onnx_embedder, question, n=50)
        assert len(found) == 39 and "a12" not in found
    assert reader.vectors.stale == 2
    store.close()
    reopened = open_store()  # the stale vectors are counted again on open, and skipped
    assert reopened.vectors.stale == 2
    assert len(_best_article(reopened, onnx_embedder, question, n=50)) == 39
    reopened.close()

    # Past a tenth stale, the next write rebuilds the graph from SQLite.
    store = open_store()
    indexer = Indexer(store, onnx_embedder)
    indexer.remove([f"a{i}" for i in range(20, 23)])
    _check(store, faiss.IndexIDMap2, hnsw=True)
    assert store.vectors.stale == 0 and store.vectors.index.ntotal == 36
    reader.refresh()
    assert reader.vectors.stale == 0 and reader.vectors.index.ntotal == 36
    assert _best_article(reader, onnx_embedder, "Which article is about topic number 30?") == [
        "a30"
    ]
    reader.close()
    store.close()


def test_the_onnx_cache_key_follows_the_weights_content(tmp_path: Path) -> None:
    from core.onnx import weights_fingerprint

    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    weights = folder / "model.safetensors"
    weights.write_bytes(b"\x00" * 3_000_000)
    before = weights_fingerprint(folder)
    assert weights_fingerprint(folder) == before
    # A retrained model of the same shape: same size, other bytes.
    weights.write_bytes(b"\x00" * 1_500_000 + b"\x01" + b"\x00" * 1_499_999)
    assert weights_fingerprint(folder) != before

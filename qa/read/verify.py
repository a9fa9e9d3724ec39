"""The answer verifier: does this sentence answer the question with this span?

A 6-layer MiniLM classifier (``qa/models/verifier``, trained by ``qa-train verifier``) reads
``[CLS] question [SEP] answer [SEP] sentence [SEP]`` and gives one logit: high when the span
answers the question, low when the sentence only looks as if it did. It was trained on SQuAD
2.0's answerable questions (gold answer and its sentence) against its unanswerable ones (the
span a crowd worker found plausible, and its sentence), so it learns what the reader's own
no-answer output barely does: questions written to look answerable. The answer gate uses its
logit (:mod:`qa.confidence`).

It runs in ONNX Runtime (int8; :mod:`core.onnx`), fed by the ``tokenizers`` library.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

DEFAULT_PATH = Path(__file__).resolve().parents[1] / "models" / "verifier"
MAX_TOKENS = 128  # as trained: questions and sentences are short


def verifier_input(answer: str, sentence: str) -> str:
    """The second segment the verifier reads: the answer, then its sentence."""
    return f"{answer} [SEP] {sentence}"


def logit_bound(path: Path) -> float:
    """A bound on the logit's size: the head reads BERT's pooled output, a tanh (each entry
    in [-1, 1]), so |logit| <= |W|_1 + |b|; 5 % more covers int8's rounding of the head."""
    from safetensors import safe_open

    with safe_open(str(path / "model.safetensors"), "np") as f:
        weight = np.abs(f.get_tensor("classifier.weight").astype(np.float64)).sum()
        bias = np.abs(f.get_tensor("classifier.bias").astype(np.float64)).sum()
    return float(1.05 * (weight + bias))


class AnswerVerifier:
    """Logits of ``(question, answer, sentence)`` triples (see the module docstring)."""

    def __init__(self, path: Path = DEFAULT_PATH, threads: int | None = 1) -> None:
        from tokenizers import Tokenizer

        from core.onnx import ensure_onnx, open_session

        self.path = Path(path)
        self.tokenizer = Tokenizer.from_file(str(self.path / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_TOKENS, strategy="longest_first")
        self.session = open_session(
            ensure_onnx(self.path, "sequence-classification", "int8"), threads
        )
        self.logit_bound = logit_bound(self.path)

    def logits(self, question: str, answers: Sequence[tuple[str, str]]) -> list[float]:
        """One logit per ``(answer, sentence)`` of ``question``, each run alone: int8 scales
        its activations by the batch's range, so a padded batch would shift the logits the
        gate was fitted on."""
        out = []
        for answer, sentence in answers:
            e = self.tokenizer.encode(question, verifier_input(answer, sentence))
            feed = {
                "input_ids": np.array([e.ids], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask], dtype=np.int64),
                "token_type_ids": np.array([e.type_ids], dtype=np.int64),
            }
            (logits,) = self.session.run(["logits"], feed)  # thread-safe in ONNX Runtime
            out.append(float(logits[0, 0]))
        return out

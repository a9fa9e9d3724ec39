"""Answer confidence: one calibrated probability from retrieval and reader signals.

The reader alone is over-confident on questions whose answer is not in the articles at all
(it still finds the "best" span of a loosely related passage). A small logistic model over
three signals separates the two cases:

- ``log(reader score)``: the reader's span probability (trained to put mass on [CLS] when a
  window holds no answer);
- the passage's dense cosine to the question;
- the reranker's coverage: the share of the question's IDF mass found in one sentence pair.

It is fitted on the dev split (``python -m qa.train.calibration``: half of the dev articles
indexed, questions about the other half must abstain) and stored per reader as
``qa/models/calibration-<Reader>.json``. Without that file the reader's own score is used.

The same run fits the answer order: a span-level logistic over the span's reader score, its
passage's cosine and coverage, and the reader's no-answer probability in that passage
(label: the span matches a gold answer, F1 ≥ 0.5), so a confident span in a loosely related
passage does not outrank the answer in the right one.
Run it again whenever the reader's weights or the read settings change (the collected
features are cached per reader fingerprint and settings in ``--work``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.read.base import Span
from qa.retrieve import Hit

MODELS = Path(__file__).parent / "models"


def calibration_path(reader: str) -> Path:
    return MODELS / f"calibration-{reader}.json"


FEATURES = ("log_reader_score", "dense_cosine", "coverage")


def features(spans: Sequence[Span], hits: Sequence[Hit]) -> list[float]:
    """Question-level evidence: the reader's best span, the best passage cosine and the best
    reranker coverage among the passages read."""
    best = max((s.score for s in spans), default=0.0)
    return [
        math.log(max(best, 1e-6)),
        max((h.dense_score for h in hits if h.dense_score is not None), default=0.0),
        max((h.coverage for h in hits), default=0.0),
    ]


@dataclass
class Calibration:
    """``p = sigmoid(weights · features + bias)``, fitted for one reader."""

    weights: list[float]
    bias: float
    reader: str
    threshold: float
    rank_weights: list[float] | None = None

    @classmethod
    def load(cls, path: Path) -> Calibration | None:
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        rank_weights = data.get("rank_weights")
        if rank_weights is not None and len(rank_weights) != len(SPAN_FEATURES):
            rank_weights = None  # fitted on other span features: the reader's order is safer
        return cls(data["weights"], data["bias"], data["reader"], data["threshold"], rank_weights)

    def save(self, path: Path, **extra: object) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "features": FEATURES,
            "weights": self.weights,
            "bias": self.bias,
            "reader": self.reader,
            "threshold": self.threshold,
            "rank_weights": self.rank_weights,
            "rank_features": SPAN_FEATURES,
            **extra,
        }
        path.write_text(json.dumps(payload, indent=2) + "\n")

    def answerable(self, spans: Sequence[Span], hits: Sequence[Hit]) -> float:
        """Probability that the articles answer the question at all."""
        x = np.array(features(spans, hits))
        return float(1 / (1 + np.exp(-(x @ np.array(self.weights) + self.bias))))


SPAN_FEATURES = ("log_reader_score", "dense_cosine", "coverage", "neg_log_no_answer")


def span_features(span: Span, hit: Hit) -> list[float]:
    """Span-level evidence: the span's reader score, its own passage's cosine and coverage,
    and how surely the reader finds any answer in that passage (``-log P(no answer)``: the
    span probability alone cannot tell a passage with one clear answer from a passage where
    the reader would rather answer nothing)."""
    return [
        math.log(max(span.score, 1e-6)),
        hit.dense_score if hit.dense_score is not None else 0.0,
        hit.coverage,
        -math.log(max(span.no_answer, 1e-6)),
    ]


def answer_scores(
    answerable: float,
    spans: Sequence[Span],
    hits: Sequence[Hit],
    rank_weights: Sequence[float] | None = None,
) -> list[float]:
    """Each span's score: the question's answerability for the best span, less for the others.

    Spans are ordered by ``rank_weights · span_features`` (a span-level logistic fitted on dev:
    the reader alone is over-confident in loosely related passages, so its passage's
    retrieval evidence counts too), or by the reader's score without weights.
    """
    if not spans:
        return []
    if rank_weights is None:
        keys = np.log(np.maximum([s.score for s in spans], 1e-6))
    else:
        x = np.array([span_features(s, hits[s.passage_index]) for s in spans])
        keys = x @ np.asarray(rank_weights)
    return (answerable * np.exp(keys - keys.max())).tolist()

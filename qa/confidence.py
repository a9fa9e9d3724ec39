"""Answer confidence: the probability that an answer is right, from reader and retrieval signals.

Each candidate span has four signals (:data:`SPAN_FEATURES`): the reader's span probability,
its passage's dense cosine to the question, the reranker's coverage (the share of the
question's IDF mass found in one sentence pair) and how surely the reader finds any answer in
that passage (``-log P(no answer)``). Two small logistic models use them:

- the **order** (``rank_weights``): which span is the best answer (fitted on every span of
  answerable questions, label: F1 >= 0.5 to a gold answer);
- the **confidence** (``weights``, ``bias``): the probability that the best answer is right,
  fitted on the best answers of questions about the articles and about other articles alike
  (an answer to a question the articles cannot answer is wrong). ``score`` is this
  probability: among answers shown at 0.9, about nine in ten are right.
- the **gate** (``gate_weights``, ``gate_bias``, ``gate_threshold``): whether the question
  gets an answer at all. It adds the answer verifier's logit (:data:`GATE_FEATURES`) and is
  fitted on SQuAD 2.0's unanswerable questions too, which the confidence leaves out (written
  to look answerable, their share in the sample would pull every score down). The best
  answer is shown when the gate passes it; the others when their score reaches
  ``threshold``.

Both are fitted by ``qa-train calibrate`` on SQuAD train articles held out of the reader's
training, and stored beside the reader's weights (``calibration-<precision>.json``), keyed by
their fingerprint: weights it was not fitted on never use it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.onnx import weights_fingerprint
from qa.read.base import Reader, Span
from qa.retrieve import Hit

SPAN_FEATURES = ("log_reader_score", "dense_cosine", "coverage", "neg_log_no_answer")
# The gate reads the best span's features and the answer verifier's logit (qa.read.verify).
GATE_FEATURES = (*SPAN_FEATURES, "verifier_logit")


def span_features(span: Span, hit: Hit) -> list[float]:
    """The signals of one span in its passage (see the module docstring)."""
    return [
        math.log(max(span.score, 1e-6)),
        hit.dense_score if hit.dense_score is not None else 0.0,
        hit.coverage,
        -math.log(max(span.no_answer, 1e-6)),
    ]


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-np.clip(z, -50, 50)))


@dataclass
class Confidence:
    """The fitted order and confidence models of one reader's weights and precision."""

    rank_weights: list[float]
    weights: list[float]
    bias: float
    threshold: float
    fingerprint: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    gate_weights: list[float] = field(default_factory=list)
    gate_bias: float = 0.0
    gate_threshold: float = 0.0
    verifier: str = ""  # the verifier weights' fingerprint the gate was fitted with

    @classmethod
    def load(cls, path: Path, fingerprint: str | None = None) -> Confidence | None:
        """The model at ``path``; None when missing, for other features, or (given a
        ``fingerprint``) fitted on other weights."""
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        if data.get("features") != list(SPAN_FEATURES):
            return None
        if fingerprint is not None and data.get("fingerprint") != fingerprint:
            return None
        return cls(
            data["rank_weights"],
            data["weights"],
            data["bias"],
            data["threshold"],
            data.get("fingerprint", ""),
            data.get("meta", {}),
            data.get("gate_weights", []),
            data.get("gate_bias", 0.0),
            data.get("gate_threshold", 0.0),
            data.get("verifier", ""),
        )

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"features": list(SPAN_FEATURES), **asdict(self)}
        path.write_text(json.dumps(payload, indent=2) + "\n")

    def probability(self, x: np.ndarray) -> np.ndarray:
        """P(right) of answers with span features ``x`` (rows)."""
        return _sigmoid(np.asarray(x) @ np.asarray(self.weights) + self.bias)

    def gate_passes(
        self, features: Sequence[float], verifier_logit: Callable[[], float], bound: float
    ) -> bool:
        """Whether the gate shows the best answer, given its span ``features``.

        ``verifier_logit`` is called only when it can change the outcome: the verifier's
        logit lies within ``[-bound, bound]``, and for most answers the four signals alone
        put the gate's log-odds beyond that reach of the threshold.
        """
        if self.gate_threshold <= 0:
            return True
        threshold = math.log(self.gate_threshold / (1 - self.gate_threshold))
        *weights, weight = self.gate_weights
        z = float(np.dot(features, weights)) + self.gate_bias
        reach = abs(weight) * bound
        if z - reach >= threshold or z + reach < threshold:
            return z - reach >= threshold
        return z + weight * verifier_logit() >= threshold

    def gate_probability(self, x: np.ndarray) -> np.ndarray:
        """The gate's P(right) of answers with :data:`GATE_FEATURES` ``x`` (rows)."""
        return _sigmoid(np.asarray(x) @ np.asarray(self.gate_weights) + self.gate_bias)

    def scores(self, spans: Sequence[Span], hits: Sequence[Hit], rank: bool = True) -> list[float]:
        """Each span's score: its probability of being right, never above a span the order
        puts before it (so the answers come best first). ``rank=False`` orders by the
        reader's own score (a follow-up, whose passages were retrieved for the earlier
        question too)."""
        if not spans:
            return []
        x = np.array([span_features(s, hits[s.passage_index]) for s in spans])
        keys = x @ np.asarray(self.rank_weights) if rank else x[:, 0]
        p = self.probability(x)
        order = np.argsort(-keys, kind="stable")
        out = np.empty(len(spans))
        ceiling = 1.0
        for i in order:
            # the best-ranked span carries the confidence; later ones are capped below it
            ceiling = min(ceiling, float(p[i]))
            out[i] = ceiling
            ceiling = np.nextafter(ceiling, 0.0)
        return out.tolist()


def reliability(
    scores: Sequence[float], right: Sequence[bool], bins: int = 10
) -> tuple[float, list[dict[str, float]]]:
    """Expected calibration error and the reliability table of shown answers' scores.

    ``bins`` equal-width score bins; each row: the bin's range, how many answers, their mean
    score and the share that is right. ECE is the answer-weighted mean |score - right share|.
    """
    s = np.asarray(scores, dtype=float)
    r = np.asarray(right, dtype=float)
    rows: list[dict[str, float]] = []
    if not len(s):
        return 0.0, rows
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(s, edges[1:-1]), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        inside = which == b
        n = int(inside.sum())
        if not n:
            continue
        mean, acc = float(s[inside].mean()), float(r[inside].mean())
        ece += n / len(s) * abs(mean - acc)
        rows.append(
            {
                "low": float(edges[b]),
                "high": float(edges[b + 1]),
                "n": n,
                "score": mean,
                "right": acc,
            }
        )
    return float(ece), rows


MODELS = Path(__file__).parent / "models"


def confidence_file(reader: Reader) -> tuple[Path, str]:
    """Where a reader's confidence model lives and the fingerprint it must carry: beside a
    trained reader's weights (one per precision), in ``qa/models`` for weight-less readers."""
    path: Path | None = getattr(reader, "path", None)
    if path is None:
        return MODELS / f"calibration-{reader.name}.json", reader.name
    precision = getattr(reader, "precision", "fp32")
    return Path(path) / f"calibration-{precision}.json", weights_fingerprint(path)


def load_confidence(reader: Reader) -> Confidence | None:
    """The reader's confidence model, or None (then its own span score is used)."""
    path, fingerprint = confidence_file(reader)
    return Confidence.load(path, fingerprint)

"""Fitting the answer confidence of :mod:`qa.calibrate` on the dev split (offline).

``python -m qa.train.calibration --dev DIR``: half of the dev articles indexed, questions
about the other half must abstain; writes ``qa/models/calibration-<Reader>.json``, which the
engine loads at run time. Run it again whenever the reader's weights or the read settings
change (the collected features are cached per reader fingerprint and settings in ``--work``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from qa.calibrate import (
    FEATURES,
    SPAN_FEATURES,
    Calibration,
    calibration_path,
    features,
    span_features,
)


def fit_logistic(
    x: np.ndarray, y: np.ndarray, l2: float = 1e-3, steps: int = 50
) -> tuple[np.ndarray, float]:
    """Logistic regression by Newton's method (a handful of features: no library needed).

    Every feature must count positively (more evidence never lowers confidence: answers
    within one passage stay in the reader's order); one that fits negative is dropped.
    """
    keep = np.ones(x.shape[1], dtype=bool)
    while True:
        weights, bias = _newton(x[:, keep], y, l2, steps)
        if (weights >= 0).all():
            full = np.zeros(x.shape[1])
            full[keep] = weights
            return full, bias
        keep[np.flatnonzero(keep)[weights < 0]] = False


def _newton(x: np.ndarray, y: np.ndarray, l2: float, steps: int) -> tuple[np.ndarray, float]:
    mean, std = x.mean(0), x.std(0) + 1e-9
    z = np.hstack([(x - mean) / std, np.ones((len(x), 1))])
    w = np.zeros(z.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(z @ w)))
        grad = z.T @ (p - y) + l2 * np.r_[w[:-1], 0]
        hess = (z * (p * (1 - p))[:, None]).T @ z + l2 * np.eye(len(w))
        w -= np.linalg.solve(hess, grad)
    weights = w[:-1] / std
    return weights, float(w[-1] - (weights * mean).sum())


def _collect(
    engine,  # noqa: ANN001 - qa.engine.Engine
    questions: list[str],
    golds: list[list[str]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Question-level features for each question; span-level features and labels (the span
    matches a gold answer with F1 ≥ 0.5) for the spans of the questions that have golds."""
    from qa.evaluate import f1_score

    rows, span_rows, span_labels = [], [], []
    for question, gold in zip(questions, golds, strict=True):
        _, read, spans = engine.read_candidates(question)
        rows.append(features(spans, read))
        for span in spans if gold else []:
            if span.field == "title":
                continue  # ranked by the reader alone; the gold answers are in the text
            text = read[span.passage_index].text[span.start : span.end]
            span_rows.append(span_features(span, read[span.passage_index]))
            span_labels.append(float(max(f1_score(text, g) for g in gold) >= 0.5))
    return (
        np.array(rows),
        np.array(span_rows).reshape(-1, len(SPAN_FEATURES)),
        np.array(span_labels),
    )


def _cache_key(engine) -> str:  # noqa: ANN001 - qa.engine.Engine
    """What the collected features depend on: the reader's weights and how it reads."""
    import hashlib

    reader = engine.reader
    parts = [reader.name, *SPAN_FEATURES]
    if hasattr(reader, "path"):
        from indexer.onnx_export import weights_fingerprint

        parts += [weights_fingerprint(reader.path), getattr(reader, "precision", "")]
    if getattr(reader, "onnx_file", None) is not None:  # e.g. int8 with or without smoothing
        parts.append(reader.onnx_file.name)
    s = engine.settings
    parts += [
        str(v)
        for v in (
            s.rerank_passages,
            s.read_more_below,
            s.read_more_no_answer,
            s.hybrid_alpha,
            s.fusion,
        )
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:12]


FALSE_ABSTAIN_COST = 2.0


def choose_threshold(
    p: np.ndarray,
    y: np.ndarray,
    max_false_abstain: float,
    false_abstain_cost: float = FALSE_ABSTAIN_COST,
) -> float:
    """The threshold with the lowest error cost (max of abstention minus
    ``false_abstain_cost`` × false abstains), among those that keep false abstains at most
    ``max_false_abstain``.

    A false abstain costs twice an answer to an out-of-corpus question: it withholds an
    answer the articles hold, while a wrong answer still shows its source and its low score
    for the reader to judge. (A fixed false-abstain quantile instead would keep abstaining on
    answerable questions where hardly any out-of-corpus question is left to catch.)
    """
    candidates = np.unique(p)
    abstain = (p[y == 0][None, :] < candidates[:, None]).mean(1)
    false_abstain = (p[y == 1][None, :] < candidates[:, None]).mean(1)
    gain = abstain - false_abstain_cost * false_abstain
    gain = np.where(false_abstain <= max_false_abstain, gain, -np.inf)
    return float(candidates[int(np.argmax(gain))])


def _rates(p: np.ndarray, y: np.ndarray, threshold: float) -> tuple[float, float]:
    """(out-of-corpus abstention, false-abstain rate) at ``threshold``."""
    return float((p[y == 0] < threshold).mean()), float((p[y == 1] < threshold).mean())


def main(
    dev: Path | None = None,
    work: Path = Path(".calibration"),
    out: Path | None = None,
    max_false_abstain: float = 0.05,
    every: int = 1,
) -> None:
    """Fit the confidence model on the dev split and pick the abstention threshold.

    Each half of the dev articles is indexed on its own; its questions are answerable, the
    other half's are not. The model is fitted on one half and tested on the other (both
    ways, reported), then fitted on both; the threshold (:func:`choose_threshold`) maximises
    abstention minus twice the false abstains on the dev data, false abstains at most
    ``max_false_abstain``. ``every`` > 1 uses every n-th question only.
    """
    if dev is None:
        raise SystemExit("--dev DIR is required: a folder with articles.jsonl + questions.jsonl")
    from indexer.load import load_path
    from qa.engine import Engine
    from qa.settings import Settings

    articles = [json.loads(line) for line in (dev / "articles.jsonl").open(encoding="utf-8")]
    questions = [json.loads(line) for line in (dev / "questions.jsonl").open(encoding="utf-8")]
    questions = questions[::every]  # a spread subsample, when reading is slow
    halves = [[a["id"] for a in articles[0::2]], [a["id"] for a in articles[1::2]]]
    data = []
    span_data = []
    for n, half in enumerate(halves):
        directory = work / f"half{n}"
        source = work / f"half{n}.jsonl"
        work.mkdir(parents=True, exist_ok=True)
        source.write_text("".join(json.dumps(a) + "\n" for a in articles if a["id"] in half))
        engine = Engine(Settings(index_dir=directory, answer_threshold=0.0))
        engine.add(load_path(source))
        engine.warm_up()
        inside = [q for q in questions if q["article_id"] in half]
        outside = [q for q in questions if q["article_id"] not in half]
        reader = engine.reader.name
        cache = work / f"features-{reader}-{_cache_key(engine)}-half{n}-every{every}.npz"
        if cache.exists():
            saved = np.load(cache)
            x, y, xs, ys = saved["x"], saved["y"], saved["xs"], saved["ys"]
        else:
            x, xs, ys = _collect(
                engine,
                [q["question"] for q in inside + outside],
                [q["answers"] for q in inside] + [[] for _ in outside],
            )
            y = np.r_[np.ones(len(inside)), np.zeros(len(outside))]
            np.savez(cache, x=x, y=y, xs=xs, ys=ys)
        data.append((x, y))
        span_data.append((xs, ys))
        print(f"half {n}: {len(inside)} answerable, {len(outside)} out-of-corpus questions")

    def cross_fit(mask: np.ndarray) -> tuple[float, float]:
        """Mean (abstention, false abstains) fitting on one half, testing on the other."""
        results = []
        for train, test in ((0, 1), (1, 0)):
            w, b = fit_logistic(data[train][0][:, mask], data[train][1])
            p_train = 1 / (1 + np.exp(-(data[train][0][:, mask] @ w + b)))
            t = choose_threshold(p_train, data[train][1], max_false_abstain)
            p_test = 1 / (1 + np.exp(-(data[test][0][:, mask] @ w + b)))
            results.append(_rates(p_test, data[test][1], t))
        return float(np.mean([r[0] for r in results])), float(np.mean([r[1] for r in results]))

    # Model selection on dev: the feature subset with the lowest error cost on the held-out
    # half.
    subsets = [np.array([(i >> j) & 1 for j in range(len(FEATURES))], bool) for i in range(1, 8)]
    scored = [(cross_fit(m), m) for m in subsets]
    for (abstain, false_abstain), m in scored:
        names = ", ".join(f for f, keep in zip(FEATURES, m, strict=True) if keep)
        print(
            f"[{names}]: cross-fitted abstention {abstain:.3f}, false abstains {false_abstain:.3f}"
        )
    (_, _), mask = max(scored, key=lambda r: r[0][0] - FALSE_ABSTAIN_COST * r[0][1])
    x = np.vstack([d[0] for d in data])
    y = np.concatenate([d[1] for d in data])
    w_sub, b = fit_logistic(x[:, mask], y)
    w = np.zeros(len(FEATURES))
    w[mask] = w_sub
    p = 1 / (1 + np.exp(-(x @ w + b)))
    t = choose_threshold(p, y, max_false_abstain)
    abstain, false_abstain = _rates(p, y, t)
    print(
        f"fit on both: threshold {t:.3f}, abstention {abstain:.3f}, "
        f"false abstains {false_abstain:.3f}"
    )
    # Answer order: a span-level logistic over (log reader score, passage cosine, coverage).
    xs = np.vstack([d[0] for d in span_data])
    ys = np.concatenate([d[1] for d in span_data])
    rank_weights, _ = fit_logistic(xs, ys)
    print(f"answer order: {len(ys)} spans ({int(ys.sum())} right), weights {rank_weights.round(3)}")
    out = out or calibration_path(reader)
    Calibration(w.tolist(), b, reader, round(t, 4), rank_weights.tolist()).save(
        out,
        fitted_on="SQuAD v1.1 dev, half-index split",
        in_sample_abstention=round(abstain, 4),
        in_sample_false_abstain=round(false_abstain, 4),
        rank_weights_note="span-level logistic (label: F1 >= 0.5 to a gold answer) fitted on "
        "the same dev split; orders the answers",
    )
    print(f"written to {out}")


if __name__ == "__main__":
    import typer

    typer.run(main)

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np

from qa.train.calibrate import (
    Asked,
    choose_threshold,
    fit,
    fit_logistic,
    holdout_articles,
    score,
    split_holdout,
    write_test_split,
)
from qa.train.reader import is_holdout_title


def test_fit_logistic_recovers_the_direction_of_each_feature() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 3))
    logits = 2.0 * x[:, 0] + 1.0 * x[:, 1] + 0.5
    y = (rng.random(2000) < 1 / (1 + np.exp(-logits))).astype(float)
    weights, bias = fit_logistic(x, y)
    assert weights[0] > 1.5 and weights[1] > 0.7 and abs(weights[2]) < 0.3
    assert 0.2 < bias < 0.8


def test_a_feature_that_fits_negative_is_dropped() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2000, 2))
    y = (rng.random(2000) < 1 / (1 + np.exp(-(2.0 * x[:, 0] - 1.5 * x[:, 1])))).astype(float)
    weights, _ = fit_logistic(x, y)
    assert weights[0] > 1.0 and weights[1] == 0.0


def test_threshold_gets_the_most_decisions_right_within_the_false_abstain_cap() -> None:
    # Answerable questions score 0.3-0.9, out-of-corpus ones 0.1-0.35: abstaining below 0.4
    # catches every out-of-corpus question for one false abstain out of ten.
    answerable = np.array([0.3, 0.4, 0.5, 0.55, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9])
    outside = np.array([0.1, 0.15, 0.2, 0.25, 0.35])
    p = np.r_[answerable, outside]
    y = np.r_[np.ones(10), np.zeros(5)]
    assert choose_threshold(p, y, max_false_abstain=0.5, false_abstain_cost=1.0) == 0.4
    # When a false abstain costs more, or under a tighter cap, it keeps answering instead.
    assert choose_threshold(p, y, max_false_abstain=0.5, false_abstain_cost=3.0) == 0.3
    assert choose_threshold(p, y, max_false_abstain=0.0, false_abstain_cost=1.0) == 0.3


def _simulated(n: int, seed: int) -> list[Asked]:
    """Questions whose best span is right with the probability its features say."""
    rng = np.random.default_rng(seed)
    asked = []
    for i in range(n):
        kind = ("answerable", "unanswerable", "out_of_corpus")[i % 3]
        x = rng.normal(size=(3, 4)) + (1.0 if kind == "answerable" else -1.0)
        p = 1 / (1 + np.exp(-(x @ np.array([1.0, 0.5, 0.5, 0.5]))))
        right = (rng.random(3) < p) & (kind == "answerable")
        asked.append(Asked(kind, x, right))
    return asked


def test_the_fitted_confidence_is_calibrated_on_questions_it_was_not_fitted_on() -> None:
    model = fit(_simulated(3000, 0), max_false_abstain=0.05)
    report = score(_simulated(3000, 1), model)
    assert report["false_abstain"] <= 0.08
    assert report["ece"] <= 0.05
    assert report["unanswerable_abstention"] > 0.3 and report["out_of_corpus_abstention"] > 0.3
    # The answers shown at 0.9 and above are right about nine times in ten or more.
    top = [r for r in report["reliability"] if r["low"] >= 0.9 - 1e-9]
    assert top and all(r["right"] >= r["score"] - 0.1 for r in top)


def _train_file(tmp_path: Path) -> tuple[Path, list[str]]:
    titles = [f"Article_{i}" for i in range(60)]
    held = [t for t in titles if is_holdout_title(t, 10)]
    data = {
        "data": [
            {
                "title": t,
                "paragraphs": [
                    {
                        "context": f"{t} was founded in 1900.",
                        "qas": [
                            {
                                "question": f"When was {t} founded?",
                                "answers": [{"text": "1900", "answer_start": len(t) + 16}],
                                "is_impossible": False,
                            },
                            {"question": f"Who closed {t}?", "answers": [], "is_impossible": True},
                        ],
                    },
                    {"context": "It grew.", "qas": []},
                ],
            }
            for t in titles
        ]
    }
    path = tmp_path / "train.json.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        json.dump(data, f)
    return path, held


def test_the_test_split_is_held_out_and_never_fitted_on(tmp_path: Path) -> None:
    path, held = _train_file(tmp_path)
    articles = holdout_articles(path, 10)
    assert [a.id for a in articles] == sorted(held) and len(held) >= 3
    fit0, fit1, test = split_holdout(articles)
    ids = [{a.id for a in part} for part in (fit0, fit1, test)]
    assert not (ids[0] & ids[1]) and not ((ids[0] | ids[1]) & ids[2])
    assert len(ids[0] | ids[1] | ids[2]) == len(held)
    counts = write_test_split(path, 10, tmp_path / "split")
    assert counts["articles"] == len(test)
    texts = {
        json.loads(line)["id"]: json.loads(line)["text"]
        for line in (tmp_path / "split" / "articles.jsonl").open()
    }
    assert set(texts) == ids[2]
    for line in (tmp_path / "split" / "questions.jsonl").open():
        q = json.loads(line)
        start = q["answer_starts"][0]
        assert texts[q["article_id"]][start : start + len(q["answers"][0])] == "1900"
    elsewhere = [json.loads(line) for line in (tmp_path / "split" / "out_of_corpus.jsonl").open()]
    assert elsewhere and all(q["article_id"] in ids[0] | ids[1] for q in elsewhere)


def _with_verifier(asked: list[Asked], seed: int) -> list[Asked]:
    """The same questions with a verifier logit per span: high for answerable questions, low
    for SQuAD-style unanswerable ones (which the four signals barely tell apart from them)."""
    rng = np.random.default_rng(seed)
    out = []
    for a in asked:
        x = a.x.copy()
        if a.kind == "unanswerable":
            x[:, :4] = rng.normal(size=x[:, :4].shape) + 1.0  # looks answerable
        logit = rng.normal(size=(len(x), 1)) + (2.0 if a.kind == "answerable" else -2.0)
        out.append(Asked(a.kind, np.hstack([x, logit]), a.right))
    return out


def test_the_gate_learns_from_the_verifier_what_the_score_leaves_out() -> None:
    fitted = _with_verifier(_simulated(3000, 0), 0)
    unseen = _with_verifier(_simulated(3000, 1), 1)
    without = score(
        [Asked(a.kind, a.x[:, :4], a.right) for a in unseen],
        fit([Asked(a.kind, a.x[:, :4], a.right) for a in fitted], 0.05),
    )
    model = fit(fitted, max_false_abstain=0.05)
    report = score(unseen, model)
    # the score still reads the four signals only; the gate weighs the verifier
    assert len(model.weights) == 4 and len(model.gate_weights) == 5
    assert model.gate_weights[4] > 0
    assert report["false_abstain"] <= 0.08
    assert report["unanswerable_abstention"] > without["unanswerable_abstention"] + 0.2

from __future__ import annotations

from pathlib import Path

import numpy as np

from qa.calibrate import Calibration, answer_scores
from qa.read.base import Span
from qa.retrieve import Hit
from qa.train.calibration import choose_threshold, fit_logistic


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


def test_calibration_round_trips_and_scores_in_unit_interval(tmp_path: Path) -> None:
    calibration = Calibration([1.0, 2.0, 3.0], -1.0, "TrainedReader", 0.4)
    calibration.save(tmp_path / "c.json")
    loaded = Calibration.load(tmp_path / "c.json")
    assert loaded == calibration
    strong_hit = Hit(1, "a", 0, 10, "0123456789", 0.5, 0.6, 0, 0, coverage=0.8)
    weak_hit = Hit(2, "a", 0, 10, "0123456789", 0.1, 0.1, 5, 5, coverage=0.1)
    strong, weak = Span(0, 0, 3, 0.9, 5.0), Span(0, 4, 6, 0.3, -2.0)
    high = loaded.answerable([strong, weak], [strong_hit])
    low = loaded.answerable([weak], [weak_hit])
    assert 0 < low < high < 1
    scores = answer_scores(high, [strong, weak], [strong_hit])
    assert scores[0] == high and 0 < scores[1] < scores[0]
    # With span weights, a weaker reader score in a much better passage can rank first.
    spans = [Span(0, 0, 3, 0.5, 0.0), Span(1, 0, 3, 0.4, 0.0)]
    ranked = answer_scores(high, spans, [weak_hit, strong_hit], rank_weights=[0.4, 13.0, 7.0, 0.0])
    assert ranked[1] == high and ranked[0] < ranked[1]
    assert answer_scores(0.5, [], []) == []
    assert Calibration.load(tmp_path / "missing.json") is None


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


def test_a_span_where_the_reader_is_sure_of_an_answer_ranks_first() -> None:
    hit = Hit(1, "a", 0, 10, "0123456789", 0.5, 0.5, 0, 0, coverage=0.5)
    other = Hit(2, "a", 20, 30, "0123456789", 0.5, 0.5, 1, 1, coverage=0.5)
    # Same span score, but the reader put most of the second passage's mass on "no answer".
    sure, unsure = Span(0, 0, 3, 0.4, 0.0, no_answer=0.001), Span(1, 0, 3, 0.4, 0.0, no_answer=0.5)
    scores = answer_scores(0.9, [unsure, sure], [hit, other], rank_weights=[0.5, 1.0, 1.0, 0.3])
    assert scores[1] == 0.9 and scores[0] < 0.9


def test_rank_weights_for_other_span_features_are_not_used(tmp_path: Path) -> None:
    Calibration([1.0, 2.0, 3.0], -1.0, "TrainedReader", 0.4, [0.4, 13.0, 7.0]).save(
        tmp_path / "old.json"
    )
    assert Calibration.load(tmp_path / "old.json").rank_weights is None

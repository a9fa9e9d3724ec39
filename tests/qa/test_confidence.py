from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qa.confidence import Confidence, reliability
from qa.read.base import Span
from qa.retrieve import Hit

MODEL = Confidence(
    rank_weights=[0.5, 1.0, 1.0, 0.3],
    weights=[1.0, 2.0, 1.0, 0.1],
    bias=-1.0,
    threshold=0.3,
)


def test_round_trips_and_refuses_other_weights(tmp_path: Path) -> None:
    model = Confidence(**{**MODEL.__dict__, "fingerprint": "abc"})
    model.save(tmp_path / "c.json")
    assert Confidence.load(tmp_path / "c.json", "abc") == model
    assert Confidence.load(tmp_path / "c.json", "other") is None
    assert Confidence.load(tmp_path / "missing.json") is None


def test_a_span_where_the_reader_is_sure_of_an_answer_ranks_first() -> None:
    hit = Hit(1, "a", 0, 10, "0123456789", 0.5, 0.5, 0, 0, coverage=0.5)
    other = Hit(2, "a", 20, 30, "0123456789", 0.5, 0.5, 1, 1, coverage=0.5)
    # Same span score, but the reader put most of the first passage's mass on "no answer".
    unsure, sure = Span(0, 0, 3, 0.4, 0.0, no_answer=0.5), Span(1, 0, 3, 0.4, 0.0, no_answer=0.001)
    scores = MODEL.scores([unsure, sure], [hit, other])
    assert scores[1] > scores[0] > 0
    # The best span carries its probability of being right; later ones stay below it.
    x = np.array([[np.log(0.4), 0.5, 0.5, -np.log(0.001)]])
    assert scores[1] == pytest.approx(float(MODEL.probability(x)[0]))
    # Without the order (a follow-up), the reader's own score orders them: a tie keeps input order.
    assert MODEL.scores([unsure, sure], [hit, other], rank=False)[0] >= scores[0]
    assert MODEL.scores([], []) == []


def test_reliability_bins_and_error() -> None:
    ece, rows = reliability([0.95, 0.95, 0.15, 0.55], [True, False, False, True])
    assert [(r["n"], r["right"]) for r in rows] == [(1, 0.0), (1, 1.0), (2, 0.5)]
    assert ece == pytest.approx((0.15 + 0.45 + 2 * 0.45) / 4)
    assert reliability([], []) == (0.0, [])


# ---- the bundled reader's confidence on the demo articles -----------------------------------
DATA = Path(__file__).parents[1] / "data"
# The bounds of a 120-question sample (80 answerable, 40 unanswerable): ECE on SQuAD train
# articles the reader never saw is about 0.05 (cross-fitted), and sampling adds about 0.04.
ECE_BOUND = 0.15
UNANSWERABLE_BOUND = 0.05


@pytest.mark.slow
@pytest.mark.parametrize(
    "question",
    [
        "What is the capital of France?",
        "What is the capital of Germany?",
        "Who is the president of the United States?",
    ],
)
def test_a_topical_question_the_articles_do_not_answer_is_never_shown_as_likely(
    demo_engine,  # noqa: ANN001
    question: str,
) -> None:
    # "New France's capital, Quebec" holds every word of the first question: the reader's own
    # span score put it at 0.99, the fitted confidence at 0.64-0.72. It is no answer about
    # France (test below); the others the fitted confidence puts at 0.42-0.57: shown, but never
    # as a likely answer.
    result = demo_engine.ask(question)
    assert not result.found or result.answers[0].score < 0.7


@pytest.mark.slow
def test_the_capital_of_france_is_not_found_in_the_demo_articles(
    demo_engine,  # noqa: ANN001
) -> None:
    # Nor does "the capital of the Grand Duchy of Warsaw, a puppet state of the First French
    # Empire": the question's own slot, filled with another name.
    result = demo_engine.ask("What is the capital of France?", k=5)
    assert not result.found
    # asked about New France itself, the same sentence answers
    about = demo_engine.ask("What was the capital of New France?")
    assert about.found and about.answers[0].text == "Quebec"


@pytest.mark.slow
def test_the_shown_score_is_calibrated_on_a_seeded_sample(demo_engine) -> None:  # noqa: ANN001
    import json
    import random

    from qa.evaluate import f1_score

    rng = random.Random(19)
    answerable = rng.sample(
        [json.loads(line) for line in (DATA / "squad-dev-questions.jsonl").open()], 80
    )
    unanswerable = rng.sample(
        [json.loads(line) for line in (DATA / "squad2-dev-unanswerable.jsonl").open()], 40
    )
    scores, right, abstained = [], [], {"answerable": 0, "unanswerable": 0}
    for kind, rows in (("answerable", answerable), ("unanswerable", unanswerable)):
        for row in rows:
            result = demo_engine.ask(row["question"])
            if not result.found:
                abstained[kind] += 1
                continue
            best = result.answers[0]
            scores.append(best.score)
            golds = row.get("answers", [])
            right.append(bool(golds) and max(f1_score(best.text, g) for g in golds) >= 0.5)
    ece, _ = reliability(scores, right)
    assert ece <= ECE_BOUND
    assert abstained["answerable"] / len(answerable) <= 0.1
    assert abstained["unanswerable"] / len(unanswerable) >= UNANSWERABLE_BOUND


def test_the_gate_asks_the_verifier_only_when_its_logit_can_change_the_outcome() -> None:
    gate = Confidence(**{**MODEL.__dict__, "gate_weights": [1.0, 1.0, 1.0, 0.1, 0.5]})
    gate.gate_bias, gate.gate_threshold = -2.0, 0.3
    rng = np.random.default_rng(0)
    asked = 0
    for features in rng.normal(size=(300, 4)) * 2:
        logit = float(rng.uniform(-3, 3))
        calls: list[float] = []

        def verifier_logit(value: float = logit, calls: list[float] = calls) -> float:
            calls.append(value)
            return value

        shown = gate.gate_passes(features, verifier_logit, bound=3.0)
        expected = gate.gate_probability(np.array([[*features, logit]]))[0] >= 0.3
        assert shown == expected
        asked += len(calls)
    assert 0 < asked < 300  # far from the threshold, the four signals decide alone

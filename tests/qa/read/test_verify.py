from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from core.text.sentences import split_sentences
from qa.read.verify import DEFAULT_PATH, AnswerVerifier

REPO = Path(__file__).parents[3]
DATA = REPO / "tests" / "data"
DEV_ARTICLES = REPO / "qa" / "demo_articles" / "squad-dev.jsonl"


@pytest.fixture(scope="module")
def verifier() -> AnswerVerifier:
    return AnswerVerifier()


def _sentence_holding(text: str, start: int, end: int) -> str:
    inside = [s for s in split_sentences(text) if s.start < end and s.end > start]
    return text[inside[0].start : inside[-1].end]


def test_loads_offline_from_the_bundled_folder(verifier: AnswerVerifier) -> None:
    assert verifier.path == DEFAULT_PATH
    assert verifier.logits("Who?", []) == []
    # one logit per answer, each the logit it gets alone (what the gate was fitted on)
    pairs = [("1998", "The museum opened in 1998."), ("Paris", "The museum is in Paris.")]
    both = verifier.logits("When did the museum open?", pairs)
    alone = [verifier.logits("When did the museum open?", [p])[0] for p in pairs]
    assert both == pytest.approx(alone, abs=1e-3)
    # a question and sentence far over its 128 tokens are cut, not refused
    assert len(verifier.logits("Why? " * 200, [("x", "y " * 500)])) == 1


@pytest.mark.slow
def test_tells_answers_from_plausible_spans_of_unanswerable_questions(
    verifier: AnswerVerifier,
) -> None:
    """Dev articles (never trained on): the gold answer in its sentence against the span a
    crowd worker found plausible for a SQuAD 2.0 unanswerable question, in its sentence."""
    from sklearn.metrics import roc_auc_score

    articles = {a["id"]: a for a in map(json.loads, DEV_ARTICLES.open())}
    rng = random.Random(3)
    answerable = rng.sample(
        [json.loads(x) for x in (DATA / "squad-dev-questions.jsonl").open()], 150
    )
    unanswerable = rng.sample(
        [json.loads(x) for x in (DATA / "squad2-dev-unanswerable.jsonl").open()], 150
    )
    logits, labels = [], []
    for row in answerable:
        art = articles[row["article_id"]]
        answer = row["answers"][0]
        start = art["text"].find(answer, art["paragraph_spans"][row["paragraph_index"]][0])
        if start < 0:
            continue
        sentence = _sentence_holding(art["text"], start, start + len(answer))
        logits += verifier.logits(row["question"], [(answer, sentence)])
        labels.append(1)
    for row in unanswerable:
        text, span = articles[row["article_id"]]["text"], row["plausible_answers"][0]
        start = text.find(span)
        if start < 0:
            continue
        sentence = _sentence_holding(text, start, start + len(span))
        logits += verifier.logits(row["question"], [(span, sentence)])
        labels.append(0)
    # the gate relies on this bound to skip the verifier
    assert max(map(abs, logits)) <= verifier.logit_bound
    # 0.86 on held-out SQuAD train articles; the reader's own no-answer output ranks the
    # reader's best spans at 0.82.
    assert roc_auc_score(labels, logits) >= 0.78

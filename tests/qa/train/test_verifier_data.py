from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from qa.train.reader import is_holdout_title
from qa.train.verifier import VerifierConfig, train_verifier, verifier_examples


def _train_file(tmp_path: Path) -> tuple[Path, list[str]]:
    titles = [f"Article_{i}" for i in range(60)]
    context = "It opened in 1900. It was sold in 1950 to a bank."
    data = {
        "data": [
            {
                "title": t,
                "paragraphs": [
                    {
                        "context": context,
                        "qas": [
                            {
                                "question": f"When did {t} open?",
                                "answers": [{"text": "1900", "answer_start": 13}],
                                "is_impossible": False,
                            },
                            {
                                "question": f"When did {t} close?",
                                "answers": [],
                                "plausible_answers": [{"text": "1950", "answer_start": 35}],
                                "is_impossible": True,
                            },
                            {"question": "Who?", "answers": [], "is_impossible": True},
                        ],
                    }
                ],
            }
            for t in titles
        ]
    }
    path = tmp_path / "train.json.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        json.dump(data, f)
    return path, [t for t in titles if is_holdout_title(t, 10)]


def test_examples_pair_gold_and_plausible_answers_with_their_sentences(tmp_path: Path) -> None:
    path, held = _train_file(tmp_path)
    examples = verifier_examples(path, 10, answerable_per_unanswerable=1.0, seed=0)
    kept = 60 - len(held)
    assert held and len(examples) == 2 * kept  # no plausible answer: no example
    assert not {q.split()[2] for q, *_ in examples} & set(held)  # held-out articles stay out
    for question, answer, sentence, label in examples:
        if label:
            assert (answer, sentence) == ("1900", "It opened in 1900.")
        else:
            assert (answer, sentence) == ("1950", "It was sold in 1950 to a bank.")
            assert question.endswith("close?")
    assert len(verifier_examples(path, 10, 0.5, 0)) == kept + kept // 2


@pytest.mark.slow
def test_training_resumes_from_its_checkpoint_and_exports(tmp_path: Path) -> None:
    from qa.read.trained import DEFAULT_PATH as READER
    from qa.read.verify import AnswerVerifier

    path, _ = _train_file(tmp_path)
    config = VerifierConfig(
        train_file=path,
        init_from=READER,
        out=tmp_path / "v",
        checkpoint_dir=tmp_path / "c",
        epochs=1.0,
        batch_size=16,
        threads=1,
    )
    train_verifier(config)
    assert (tmp_path / "c" / "verifier-last.pt").exists()
    verifier = AnswerVerifier(tmp_path / "v")
    assert len(verifier.logits("When did it open?", [("1900", "It opened in 1900.")])) == 1
    # a rerun finds the finished run's checkpoint and only exports again
    assert train_verifier(config) == tmp_path / "v"
    with pytest.raises(SystemExit):  # another plan never resumes this one
        train_verifier(VerifierConfig(**{**config.__dict__, "seed": 9}))

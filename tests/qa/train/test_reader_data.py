"""The reader's training data: negatives that never hold the answer, labels on the answer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa.train.reader import TrainConfig, build_features, load_examples

PARAGRAPHS = [
    # the answering paragraph
    "The Orinoco river rises in the Parima mountains and flows 2,140 km to the Atlantic.",
    # shares "Orinoco", "river", "flows" with the question but not the answer
    "The Orinoco river flows through Venezuela; its delta is home to the Warao people.",
    # shares nothing
    "Caracas is the capital of Venezuela and its largest city.",
    # contains the answer text, so it can never be a negative
    "Measured again in 1990, the course was found to be 2,140 km long.",
]


def _write_squad(path: Path) -> Path:
    qas = [
        {
            "id": f"q{i}",
            "question": "How far does the Orinoco river flow?",
            "answers": [{"text": "2,140 km", "answer_start": PARAGRAPHS[0].index("2,140 km")}],
        }
        for i in range(20)
    ]
    data = {
        "data": [
            {
                "title": "Orinoco",
                "paragraphs": [
                    {"context": c, "qas": qas if i == 0 else []} for i, c in enumerate(PARAGRAPHS)
                ],
            }
        ]
    }
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _negatives(tmp_path: Path, mode: str, seed: int = 3) -> list[dict]:
    cfg = TrainConfig(
        train_file=_write_squad(tmp_path / "train.json"),
        ambiguous_ids=tmp_path / "none.txt",
        neg_ratio=1.0,
        negatives=mode,
        seed=seed,
    )
    examples, stats = load_examples(cfg)
    negs = [e for e in examples if e["answer_start"] < 0]
    assert stats["positives"] == 20
    assert stats["negatives"] == len(negs) == 20
    return negs


def test_similar_negatives_take_the_paragraph_sharing_most_question_words(tmp_path: Path) -> None:
    negs = _negatives(tmp_path, "similar")
    assert {n["context"] for n in negs} == {PARAGRAPHS[1]}
    assert all(n["answer_text"] == "" for n in negs)


def test_random_negatives_vary_but_never_hold_the_answer(tmp_path: Path) -> None:
    negs = _negatives(tmp_path, "random")
    contexts = {n["context"] for n in negs}
    assert contexts == {PARAGRAPHS[1], PARAGRAPHS[2]}
    assert _negatives(tmp_path, "random") == negs  # seeded


def test_unknown_negative_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="similar"):
        _negatives(tmp_path, "hardest")


def test_features_label_the_answer_tokens_and_negatives_cls(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    from qa.train.reader import base_model_path

    tokenizer = AutoTokenizer.from_pretrained(base_model_path())
    cfg = TrainConfig(
        train_file=_write_squad(tmp_path / "train.json"),
        ambiguous_ids=tmp_path / "none.txt",
        max_examples=2,
        neg_ratio=1.0,
        negatives="similar",
    )
    examples, _ = load_examples(cfg)
    feats, stats = build_features(tokenizer, examples, cfg)
    assert stats["features"] == 4 and stats["cls_features"] == 2
    labelled = [(ids, s, e) for ids, _types, s, e in feats if s > 0]
    assert len(labelled) == 2
    for ids, start, end in labelled:
        # word pieces decode with spaces around the comma; the pieces are the answer's
        assert tokenizer.decode(ids[start : end + 1]).replace(" ", "") == "2,140km"


def test_passage_contexts_are_indexer_passages_holding_the_answer(tmp_path: Path) -> None:
    from indexer.embed import TokenCounter
    from qa.train.reader import base_model_path

    cfg = TrainConfig(
        train_file=_write_squad(tmp_path / "train.json"),
        ambiguous_ids=tmp_path / "none.txt",
        neg_ratio=1.0,
        negatives="similar",
        contexts="passages",
        passage_max_tokens=30,  # about one paragraph each, so the article has several
    )
    examples, stats = load_examples(cfg)
    article = "\n\n".join(PARAGRAPHS)
    count = TokenCounter(base_model_path())
    positives = [e for e in examples if e["answer_start"] >= 0]
    negatives = [e for e in examples if e["answer_start"] < 0]
    assert len(positives) == stats["positives"] == 20 and stats["answer_cut_by_passages"] == 0
    for e in positives:
        start = e["answer_start"]
        assert e["context"][start : start + len(e["answer_text"])] == "2,140 km"
        assert e["context"] in article and e["context"] != article
        assert count([e["context"]])[0] <= 30
    assert len(negatives) == 20
    for e in negatives:
        assert "2,140 km" not in e["context"] and e["context"] in article
        # the passage sharing "Orinoco river flows" with the question, not the Caracas one
        assert PARAGRAPHS[1] in e["context"]


def test_unknown_context_mode_is_refused(tmp_path: Path) -> None:
    cfg = TrainConfig(
        train_file=_write_squad(tmp_path / "train.json"),
        ambiguous_ids=tmp_path / "none.txt",
        contexts="sentences",
    )
    with pytest.raises(ValueError, match="passages"):
        load_examples(cfg)


def _write_squad2(path: Path) -> Path:
    """Two articles in SQuAD 2.0 form: answerable and unanswerable questions on each."""
    articles = []
    for title, river, length in (
        ("Orinoco", "Orinoco", "2,140 km"),
        ("Danube", "Danube", "2,850 km"),
    ):
        context = (
            f"The {river} river rises in the mountains and flows {length} to the sea. "
            f"Fishermen on the {river} catch catfish every spring."
        )
        qas = [
            {
                "id": f"{title}-a{i}",
                "question": f"How far does the {river} river flow?",
                "is_impossible": False,
                "answers": [{"text": length, "answer_start": context.index(length)}],
            }
            for i in range(10)
        ] + [
            {
                "id": f"{title}-u{i}",
                "question": f"How far does the {river} canal flow?",
                "is_impossible": True,
                "answers": [],
                "plausible_answers": [{"text": length, "answer_start": context.index(length)}],
            }
            for i in range(10)
        ]
        articles.append({"title": title, "paragraphs": [{"context": context, "qas": qas}]})
    path.write_text(json.dumps({"version": "v2.0", "data": articles}), encoding="utf-8")
    return path


def _squad2_examples(tmp_path: Path, **options: object) -> tuple[list[dict], dict]:
    cfg = TrainConfig(train_file=_write_squad2(tmp_path / "train-v2.json"), seed=5, **options)
    return load_examples(cfg)


def test_squad2_unanswerables_topical_negatives_and_titles(tmp_path: Path) -> None:
    examples, stats = _squad2_examples(
        tmp_path, unanswerable_ratio=1.0, topical_ratio=1.0, neg_ratio=0.0, title_prefix=True
    )
    positives = [e for e in examples if e["answer_start"] >= 0]
    impossible = [e for e in examples if e["id"].endswith("-impossible")]
    topical = [e for e in examples if e["id"].endswith("-topical")]
    assert stats["positives"] == len(positives) == 20 and len(impossible) == 20
    for e in positives:  # the title is read first, and the label still points at the answer
        assert e["context"].startswith(("Orinoco\n\n", "Danube\n\n"))
        assert e["context"][e["answer_start"] :].startswith(e["answer_text"])
    for e in topical:  # another article's passage, which does not hold the answer
        own = e["id"].split("-")[0]
        assert not e["context"].startswith(own) and e["answer_start"] == -1
    assert topical and stats["topical_negatives"] == len(topical)


def test_held_out_articles_never_reach_training(tmp_path: Path) -> None:
    from qa.train.reader import is_holdout_title

    mod = next(m for m in range(2, 50) if is_holdout_title("Orinoco", m))
    assert not is_holdout_title("Danube", mod)
    examples, stats = _squad2_examples(tmp_path, holdout_mod=mod, unanswerable_ratio=1.0)
    assert stats["held_out_articles"] == 1 and stats["held_out_questions"] == 20
    assert examples and all("Orinoco" not in e["context"] for e in examples)


def test_long_questions_open_with_a_sentence_without_the_answer(tmp_path: Path) -> None:
    examples, stats = _squad2_examples(tmp_path, long_question_ratio=1.0)
    long = [e for e in examples if e["question"].startswith("Fishermen")]
    assert len(long) == stats["long_questions"] == 20
    assert all(e["answer_text"] not in e["question"] for e in long)

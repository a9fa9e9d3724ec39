"""Fit the answer order and the confidence (:mod:`qa.confidence`) on held-out SQuAD articles.

The data are the SQuAD 2.0 train articles held out of the reader's training
(``--holdout-mod``, the same hash rule as ``qa-train train``), in title order. Every third
one is kept apart as a **test split** (:func:`write_test_split` writes it for ``qa-eval``);
nothing is fitted on it. The others are the **fit split**, cut in two halves; each half is
indexed on its own and asked three kinds of questions:

- its own answerable questions (right when the best answer has F1 >= 0.5 to a gold answer);
- its own SQuAD 2.0 unanswerable questions, written to look answerable (every answer wrong);
- the other half's answerable questions: questions whose article is not indexed (every
  answer wrong), a random sample and the **topical** ones, those whose words the indexed half
  holds most of (by IDF mass), as "What is the capital of France?" over an article on New
  France: the words are there, the answer is not.

The order is a logistic over the span signals, fitted on every span of the answerable
questions; the confidence a logistic over the best span's signals, fitted on the best answers
of the answerable and out-of-corpus questions (see :func:`fit`); the gate a logistic over
those signals and the answer verifier's logit, fitted on the best answers of every kind. The
gate's threshold (and the score's, for the answers after the best) is the one with the most
decisions right (abstentions on the wrong kinds minus the false abstains), false abstains at
most ``max_false_abstain``.
Everything is reported cross-fitted (fit on one half, scored on the other) before the final
fit on both halves.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qa.answer import answer_and_sentence
from qa.confidence import (
    GATE_FEATURES,
    SPAN_FEATURES,
    Confidence,
    confidence_file,
    reliability,
    span_features,
)
from qa.evaluate import f1_score
from qa.train.reader import display_title, is_holdout_title

FALSE_ABSTAIN_COST = 1.0
KINDS = ("answerable", "unanswerable", "out_of_corpus", "topical")


def fit_logistic(
    x: np.ndarray, y: np.ndarray, l2: float = 1e-3, steps: int = 50
) -> tuple[np.ndarray, float]:
    """Logistic regression by Newton's method (a handful of features).

    Every feature must count positively (more evidence never lowers confidence); one that
    fits negative is dropped and the rest refitted.
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


def choose_threshold(
    p: np.ndarray,
    y: np.ndarray,
    max_false_abstain: float,
    false_abstain_cost: float = FALSE_ABSTAIN_COST,
) -> float:
    """The threshold with the most decisions right: abstentions on questions that should get
    none (``y == 0``) minus ``false_abstain_cost`` x false abstains (``y == 1`` under it),
    among those that keep false abstains at most ``max_false_abstain``.

    A false abstain costs as much as a wrong answer shown: one withholds an answer the
    articles hold, the other shows one they do not (with its source and its low score). The
    cap bounds the first, however many of the second it saves.
    """
    candidates = np.unique(np.r_[p, 0.0])
    abstain = (p[y == 0][None, :] < candidates[:, None]).mean(1)
    false_abstain = (p[y == 1][None, :] < candidates[:, None]).mean(1)
    gain = abstain - false_abstain_cost * false_abstain
    gain = np.where(false_abstain <= max_false_abstain, gain, -np.inf)
    return float(candidates[int(np.argmax(gain))])


@dataclass
class Asked:
    """One question's candidate spans: their features and whether each is right."""

    kind: str
    x: np.ndarray  # (spans, SPAN_FEATURES [+ the verifier's logit: GATE_FEATURES])
    right: np.ndarray  # (spans,)


SPAN = len(SPAN_FEATURES)  # x[:, :SPAN]: what the order and the confidence read


@dataclass
class HeldOutArticle:
    id: str
    title: str
    text: str
    # (question, gold answers, answer starts in ``text``)
    answerable: list[tuple[str, list[str], list[int]]]
    unanswerable: list[str]


def holdout_articles(train_file: Path, holdout_mod: int) -> list[HeldOutArticle]:
    """The held-out articles, in title order, paragraphs joined by a blank line."""
    with gzip.open(train_file, "rt", encoding="utf-8") as f:
        data = json.load(f)["data"]
    articles = []
    for art in sorted(data, key=lambda a: a["title"]):
        if not is_holdout_title(art["title"], holdout_mod):
            continue
        text, offset = [], 0
        answerable: list[tuple[str, list[str], list[int]]] = []
        unanswerable: list[str] = []
        for p in art["paragraphs"]:
            for qa in p["qas"]:
                if qa.get("is_impossible"):
                    unanswerable.append(qa["question"])
                else:
                    golds = [a["text"] for a in qa["answers"]]
                    starts = [offset + a["answer_start"] for a in qa["answers"]]
                    answerable.append((qa["question"], golds, starts))
            text.append(p["context"])
            offset += len(p["context"]) + 2
        articles.append(
            HeldOutArticle(
                art["title"],
                display_title(art["title"]),
                "\n\n".join(text),
                answerable,
                unanswerable,
            )
        )
    return articles


def split_holdout(articles: list[HeldOutArticle]) -> tuple[list[HeldOutArticle], ...]:
    """(fit half 0, fit half 1, test): every third article is the test split."""
    fit = [a for i, a in enumerate(articles) if i % 3 != 2]
    return fit[0::2], fit[1::2], articles[2::3]


def collect(
    engine: Any, questions: list[tuple[str, str, list[str]]], verifier: Any = None
) -> list[Asked]:
    """Ask each ``(kind, question, golds)`` and keep its spans' features and labels (with
    the ``verifier``'s logit of each span: :data:`GATE_FEATURES`)."""
    from rich.progress import track

    asked = []
    width = len(GATE_FEATURES if verifier else SPAN_FEATURES)
    for kind, question, golds in track(questions, description="asking"):
        _, read, spans = engine.read_candidates(question)
        refs = engine.store.article_refs(h.article_id for h in read)
        rows, right, texts = [], [], []
        for span in spans:
            hit = read[span.passage_index]
            text, sentence = answer_and_sentence(hit, span, refs[hit.article_id][0])
            texts.append((text, sentence))
            rows.append(span_features(span, hit))
            right.append(bool(golds) and max(f1_score(text, g) for g in golds) >= 0.5)
        if verifier:
            rows = [[*r, v] for r, v in zip(rows, verifier.logits(question, texts), strict=True)]
        asked.append(Asked(kind, np.array(rows).reshape(-1, width), np.array(right, bool)))
    return asked


def fit(asked: list[Asked], max_false_abstain: float) -> Confidence:
    """The order, the confidence and the threshold fitted on ``asked``."""
    answerable = [a for a in asked if a.kind == "answerable" and len(a.right)]
    rank_weights, _ = fit_logistic(
        np.vstack([a.x[:, :SPAN] for a in answerable]),
        np.concatenate([a.right for a in answerable]),
    )
    x, y = best_answers(asked, rank_weights)
    kinds = np.array([a.kind for a in asked if len(a.right)])
    # The probability is fitted on questions about the articles and about other articles, the
    # mix users ask; SQuAD 2.0's unanswerables (written to look answerable) would pull every
    # score down by their share in the sample, so only the gate learns from them.
    real = kinds != "unanswerable"
    weights, bias = fit_logistic(x[real][:, :SPAN], y[real])
    model = Confidence(rank_weights.tolist(), weights.tolist(), bias, 0.0)
    should_answer = (kinds == "answerable").astype(float)
    p = model.probability(x[:, :SPAN])
    model.threshold = round(choose_threshold(p, should_answer, max_false_abstain), 4)
    if x.shape[1] > SPAN:
        gate_weights, model.gate_bias = fit_logistic(x, y)
        model.gate_weights = gate_weights.tolist()
        gate = model.gate_probability(x)
        model.gate_threshold = round(choose_threshold(gate, should_answer, max_false_abstain), 4)
    return model


def best_answers(asked: list[Asked], rank_weights: Any) -> tuple[np.ndarray, np.ndarray]:
    """Per question with spans, the features of its best span (by the order) and whether
    that answer is right (never, for a question the articles do not answer)."""
    rows, right = [], []
    for a in asked:
        if not len(a.right):
            continue
        best = int(np.argmax(a.x[:, :SPAN] @ np.asarray(rank_weights)))
        rows.append(a.x[best])
        right.append(float(a.right[best] and a.kind == "answerable"))
    return np.array(rows), np.array(right)


def score(asked: list[Asked], model: Confidence) -> dict[str, Any]:
    """What ``model`` does on ``asked``: right-answer rate, abstention per kind, false
    abstains, calibration error of the shown answers and its reliability table."""
    shown, right, shown_kinds = [], [], []
    found: dict[str, list[bool]] = {k: [] for k in KINDS}
    correct = []
    for a in asked:
        p, ok = 0.0, False
        answered = False
        if len(a.right):
            best = int(np.argmax(a.x[:, :SPAN] @ np.asarray(model.rank_weights)))
            p = float(model.probability(a.x[best : best + 1, :SPAN])[0])
            ok = bool(a.right[best]) and a.kind == "answerable"
            if model.gate_weights:
                answered = model.gate_probability(a.x[best : best + 1])[0] >= model.gate_threshold
            else:
                answered = p >= model.threshold
        found[a.kind].append(answered)
        if a.kind == "answerable":
            correct.append(answered and ok)
        if answered:
            shown.append(p)
            right.append(ok)
            shown_kinds.append(a.kind)
    ece, table = reliability(shown, right)
    out: dict[str, Any] = {
        "questions": {k: len(v) for k, v in found.items()},
        "right_share": float(np.mean(correct)) if correct else 0.0,
        "false_abstain": 1 - float(np.mean(found["answerable"])) if found["answerable"] else 0.0,
        "ece": ece,
        "ece_without_unanswerable": reliability(
            [s for s, k in zip(shown, shown_kinds, strict=True) if k != "unanswerable"],
            [r for r, k in zip(right, shown_kinds, strict=True) if k != "unanswerable"],
        )[0],
        "reliability": table,
    }
    for kind in KINDS[1:]:
        if found[kind]:
            out[f"{kind}_abstention"] = 1 - float(np.mean(found[kind]))
    return out


def _questions(
    half: list[HeldOutArticle], other: list[HeldOutArticle], per_article: int, rng: random.Random
) -> list[tuple[str, str, list[str]]]:
    questions: list[tuple[str, str, list[str]]] = []
    for art in half:
        for q, golds, _ in rng.sample(art.answerable, min(per_article, len(art.answerable))):
            questions.append(("answerable", q, golds))
        k = min(per_article // 2, len(art.unanswerable))
        questions += [("unanswerable", q, []) for q in rng.sample(art.unanswerable, k)]
    elsewhere = [q for art in other for q, _, _ in art.answerable]
    k = min(per_article // 2 * len(other), len(elsewhere))
    sampled = rng.sample(elsewhere, k)
    questions += [("out_of_corpus", q, []) for q in sampled]
    chosen = set(sampled)
    rest = sorted({q for q in elsewhere if q not in chosen})  # one order in every process
    topical = sorted(rest, key=_overlap(half), reverse=True)[:k]
    return questions + [("topical", q, []) for q in topical]


def _overlap(articles: list[HeldOutArticle]) -> Callable[[str], float]:
    """A question's share of IDF mass (IDF over ``articles``) among words they hold."""
    from core.text.words import content_words

    frequency = Counter(w for a in articles for w in set(content_words(a.text)))
    n = len(articles)

    def share(question: str) -> float:
        words = content_words(question)
        idf = {w: math.log((n + 1) / (frequency.get(w, 0) + 0.5)) for w in words}
        total = sum(idf.values())
        return sum(v for w, v in idf.items() if frequency.get(w)) / total if total else 0.0

    return share


def _write_articles(articles: list[HeldOutArticle], path: Path) -> None:
    path.write_text(
        "".join(
            json.dumps({"id": a.id, "title": a.title, "text": a.text}, ensure_ascii=False) + "\n"
            for a in articles
        ),
        encoding="utf-8",
    )


def calibrate(
    reader_path: Path | None,
    precision: str,
    train_file: Path,
    holdout_mod: int,
    work: Path,
    per_article: int,
    max_false_abstain: float,
    seed: int = 0,
) -> tuple[Path, dict[str, Any]]:
    """Collect on both fit halves (cached in ``work``), report cross-fitted, fit on both,
    save beside the weights (``reader_path`` None: the heuristic reader)."""
    from core.onnx import weights_fingerprint
    from indexer.load import load_path
    from qa.engine import Engine, make_reader
    from qa.read.verify import AnswerVerifier
    from qa.settings import Settings

    halves = split_holdout(holdout_articles(train_file, holdout_mod))[:2]
    rng = random.Random(seed)
    settings = Settings(
        answer_threshold=0.0,
        reader="trained" if reader_path else "heuristic",
        reader_path=reader_path,
        reader_precision=precision,
    )
    reader = make_reader(settings)
    path, fingerprint = confidence_file(reader)
    # The verifier is the reader's partner only: the heuristic reader keeps its score alone.
    verifier = AnswerVerifier() if reader_path else None
    checked = weights_fingerprint(verifier.path) if verifier else ""
    features = list(GATE_FEATURES if verifier else SPAN_FEATURES)
    work.mkdir(parents=True, exist_ok=True)
    collected: list[list[Asked]] = []
    for n, half in enumerate(halves):
        questions = _questions(half, halves[1 - n], per_article, rng)
        engine = Engine(settings.model_copy(update={"index_dir": work / f"index-half{n}"}))
        engine.reader = reader  # one loaded reader for both halves
        reads = engine.cascade
        # the features and how much the reader reads are part of the key: a cache of other
        # features or of another cascade is collected again
        key = [
            features,
            checked,
            questions,
            reads.more_below,
            reads.more_no_answer,
            reads.window_tokens,
        ]
        asked_for = hashlib.sha256(json.dumps(key).encode()).hexdigest()[:8]
        cache = work / f"asked-{fingerprint}-{precision}-half{n}-{asked_for}.npz"
        if cache.exists():
            saved = np.load(cache, allow_pickle=True)
            collected.append([Asked(*row) for row in saved["asked"]])
            continue
        source = work / f"half{n}.jsonl"
        _write_articles(half, source)
        engine.add(load_path(source))
        engine.update_bm25()
        engine.warm_up()
        asked = collect(engine, questions, verifier)
        rows = np.empty(len(asked), dtype=object)
        rows[:] = [(a.kind, a.x, a.right) for a in asked]
        np.savez(cache, asked=rows)
        collected.append(asked)

    report: dict[str, Any] = {"cross_fitted": []}
    for train, test in ((0, 1), (1, 0)):
        model = fit(collected[train], max_false_abstain)
        report["cross_fitted"].append(score(collected[test], model))
    final = fit(collected[0] + collected[1], max_false_abstain)
    report["in_sample"] = score(collected[0] + collected[1], final)
    final.fingerprint = fingerprint
    final.verifier = checked
    final.meta = {
        "fitted_on": f"SQuAD 2.0 train articles held out of the reader's training (title sha1 "
        f"% {holdout_mod} == 0, every third kept apart as the test split): "
        f"{sum(map(len, halves))} articles in two halves, each indexed on its own",
        "questions": dict(Counter(a.kind for asked in collected for a in asked)),
        "cross_fitted": [
            {k: v for k, v in r.items() if k != "reliability"} for r in report["cross_fitted"]
        ],
    }
    final.save(path)
    return path, report


def write_test_split(
    train_file: Path, holdout_mod: int, out: Path, out_of_corpus: int = 200, seed: int = 0
) -> dict[str, int]:
    """The test split as a ``qa-eval`` folder: ``articles.jsonl``, ``questions.jsonl`` (its
    answerable questions with offsets into the joined text), ``unanswerable.jsonl`` (its
    SQuAD 2.0 unanswerables) and ``out_of_corpus.jsonl`` (questions about fit-split articles,
    which are not in it)."""
    fit0, fit1, test = split_holdout(holdout_articles(train_file, holdout_mod))
    out.mkdir(parents=True, exist_ok=True)
    _write_articles(test, out / "articles.jsonl")
    rng = random.Random(seed)

    def lines(rows: list[dict[str, Any]]) -> str:
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)

    answerable = [
        {"id": f"{a.id}-{i}", "question": q, "answers": g, "answer_starts": s, "article_id": a.id}
        for a in test
        for i, (q, g, s) in enumerate(a.answerable)
    ]
    unanswerable = [
        {"id": f"{a.id}-u{i}", "question": q, "article_id": a.id}
        for a in test
        for i, q in enumerate(a.unanswerable)
    ]
    elsewhere = [
        {"id": f"{a.id}-o{i}", "question": q, "answers": g, "article_id": a.id}
        for a in fit0 + fit1
        for i, (q, g, _) in enumerate(a.answerable)
    ]
    elsewhere = rng.sample(elsewhere, min(out_of_corpus, len(elsewhere)))
    (out / "questions.jsonl").write_text(lines(answerable), encoding="utf-8")
    (out / "unanswerable.jsonl").write_text(lines(unanswerable), encoding="utf-8")
    (out / "out_of_corpus.jsonl").write_text(lines(elsewhere), encoding="utf-8")
    return {
        "articles": len(test),
        "questions": len(answerable),
        "unanswerable": len(unanswerable),
        "out_of_corpus": len(elsewhere),
    }

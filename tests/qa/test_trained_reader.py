"""The trained extractive reader (qa/models/reader), loaded offline, on real dev paragraphs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
# QA_READER_TEST_PATH points the tests at another model folder (e.g. an exported checkpoint).
MODEL_DIR = Path(os.environ.get("QA_READER_TEST_PATH", REPO / "qa" / "models" / "reader"))
DEV_ARTICLES = REPO / "qa" / "demo_articles" / "squad-dev.jsonl"
DEV_QUESTIONS = REPO / "tests" / "data" / "squad-dev-questions.jsonl"

pytestmark = pytest.mark.skipif(
    not (MODEL_DIR / "model.safetensors").exists(),
    reason=f"no trained reader yet: {MODEL_DIR / 'model.safetensors'} is missing "
    "(run qa-train train)",
)


@pytest.fixture(scope="module")
def reader():  # noqa: ANN201
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    from qa.read.trained import TrainedReader

    return TrainedReader(MODEL_DIR, threads=2)


@pytest.fixture(scope="module")
def articles() -> dict[str, dict]:
    if not DEV_ARTICLES.exists():
        pytest.skip(f"dev articles missing: {DEV_ARTICLES}")
    with open(DEV_ARTICLES, encoding="utf-8") as f:
        return {a["id"]: a for a in map(json.loads, f)}


def paragraph(articles: dict[str, dict], article_id: str, index: int) -> str:
    art = articles[article_id]
    start, end = art["paragraph_spans"][index]
    return art["text"][start:end]


def test_loads_offline_from_the_bundled_folder(reader) -> None:  # noqa: ANN001
    assert reader.path == MODEL_DIR
    assert reader.backend == "onnx"
    for name in ("config.json", "tokenizer.json", "vocab.txt", "tokenizer_config.json"):
        assert (MODEL_DIR / name).exists(), name


@pytest.mark.parametrize(
    ("article_id", "index", "question", "gold"),
    [
        ("Warsaw", 0, "What year was Casimir Pulaski born in Warsaw?", "1745"),
        ("Warsaw", 0, "What was Maria Curie the first female recipient of?", "Nobel Prize"),
    ],
)
def test_simple_question_gets_the_gold_answer(  # noqa: ANN001
    reader, articles, article_id: str, index: int, question: str, gold: str
) -> None:
    text = paragraph(articles, article_id, index)
    spans = reader.read(question, [text])
    assert spans, "no span"
    best = spans[0]
    assert best.passage_index == 0
    assert text[best.start : best.end] == gold
    assert 0.0 <= best.score <= 1.0


@pytest.mark.slow
def test_spans_are_verbatim_sorted_and_distinct_on_many_dev_questions(reader, articles) -> None:  # noqa: ANN001
    if not DEV_QUESTIONS.exists():
        pytest.skip(f"dev questions missing: {DEV_QUESTIONS}")
    with open(DEV_QUESTIONS, encoding="utf-8") as f:
        questions = [json.loads(line) for line in f][::60]  # 32, spread over the 12 articles
    for q in questions:
        art = articles[q["article_id"]]
        n_par = len(art["paragraph_spans"])
        # the gold paragraph between two others, as retrieval would hand it over
        texts = [
            paragraph(articles, q["article_id"], (q["paragraph_index"] + 1) % n_par),
            paragraph(articles, q["article_id"], q["paragraph_index"]),
            paragraph(articles, q["article_id"], (q["paragraph_index"] + 2) % n_par),
        ]
        spans = reader.read(q["question"], texts, top_n=5)
        assert 1 <= len(spans) <= 5
        assert [s.score for s in spans] == sorted((s.score for s in spans), reverse=True)
        for s in spans:
            text = texts[s.passage_index]
            answer = text[s.start : s.end]
            assert 0 <= s.start < s.end <= len(text)
            assert answer == answer.strip() and answer[-1] not in ",;:"
            assert 0.0 <= s.score <= 1.0
        for a in spans:  # no two spans overlap inside the same passage
            for b in spans:
                if a is not b and a.passage_index == b.passage_index:
                    assert a.end <= b.start or b.end <= a.start


def test_long_text_windows_map_back_to_the_right_offsets(reader, articles) -> None:  # noqa: ANN001
    # 3 paragraphs in one text: longer than one 256-token window, so it overflows
    art = articles["Warsaw"]
    s0 = art["paragraph_spans"][3][0]
    e0 = art["paragraph_spans"][0][1]
    text = art["text"][s0 : art["paragraph_spans"][5][1]] + "\n\n" + art["text"][:e0]
    spans = reader.read("What year was Casimir Pulaski born in Warsaw?", ["", text])
    assert spans and all(s.passage_index == 1 for s in spans)
    assert text[spans[0].start : spans[0].end] == "1745"


def test_no_answer_is_likelier_in_a_passage_that_does_not_answer(reader, articles) -> None:  # noqa: ANN001
    question = "What year was Casimir Pulaski born in Warsaw?"
    answering = paragraph(articles, "Warsaw", 0)
    unrelated = "The orchestra tuned its instruments before the evening concert began."
    spans = reader.read(question, [answering, unrelated], top_n=20)
    no_answer = {s.passage_index: s.no_answer for s in spans}
    assert set(no_answer) == {0, 1}
    assert 0.0 <= no_answer[0] < no_answer[1] <= 1.0


def test_empty_inputs_give_no_spans(reader) -> None:  # noqa: ANN001
    assert reader.read("Who won?", []) == []
    assert reader.read("Who won?", ["", "   "]) == []
    assert reader.read("", ["Some text here."]) == []


@pytest.mark.slow
def test_onnx_and_torch_backends_agree(reader, articles) -> None:  # noqa: ANN001
    from qa.read.trained import TrainedReader

    torch_reader = TrainedReader(MODEL_DIR, backend="torch")
    texts = [paragraph(articles, "Warsaw", i) for i in range(3)]
    for question in ("Who was born in Warsaw?", "What year was Casimir Pulaski born in Warsaw?"):
        a, b = reader.read(question, texts, top_n=3), torch_reader.read(question, texts, top_n=3)
        assert [(s.passage_index, s.start, s.end) for s in a][:1] == [
            (s.passage_index, s.start, s.end) for s in b
        ][:1]
        assert abs(a[0].score - b[0].score) < 1e-3


@pytest.mark.slow
def test_int8_reader_is_verbatim_and_mostly_agrees_with_fp32(reader, articles) -> None:  # noqa: ANN001
    from qa.read.trained import TrainedReader

    int8 = TrainedReader(MODEL_DIR, threads=2, precision="int8")
    questions = [json.loads(line) for line in DEV_QUESTIONS.open(encoding="utf-8")][:40]
    same = 0
    for q in questions:
        text = paragraph(articles, q["article_id"], q["paragraph_index"])
        a, b = reader.read(q["question"], [text], top_n=1), int8.read(q["question"], [text], 1)
        assert b and text[b[0].start : b[0].end].strip() == text[b[0].start : b[0].end]
        same += (a[0].start, a[0].end) == (b[0].start, b[0].end)
    # Quantisation moves the logits a little: the best span may change on close calls only.
    assert same >= 0.8 * len(questions)


def test_int8_needs_the_onnx_backend() -> None:
    from qa.read.trained import TrainedReader

    with pytest.raises(ValueError, match="precision"):
        TrainedReader(MODEL_DIR, backend="torch", precision="int8")


def test_answer_candidates_are_every_short_forward_pair() -> None:
    from qa.read.trained import _band

    starts, ends = _band(40, 30)
    pairs = set(zip(starts.tolist(), ends.tolist(), strict=True))
    expected = {(i, j) for i in range(40) for j in range(40) if 0 <= j - i < 30}
    assert pairs == expected and len(pairs) == len(starts)
    # Row-major order, as in the full matrix, so ties rank the same way.
    assert list(zip(starts.tolist(), ends.tolist(), strict=True)) == sorted(pairs)
    assert len(_band(0, 30)[0]) == 0


def test_each_precision_has_its_own_calibration_beside_the_weights(reader) -> None:  # noqa: ANN001
    from qa.confidence import confidence_file, load_confidence
    from qa.read.trained import TrainedReader

    int8 = TrainedReader(MODEL_DIR, precision="int8")
    assert (reader.name, int8.name) == ("TrainedReader", "TrainedReader-int8")
    (fp32_file, fingerprint), (int8_file, same) = confidence_file(reader), confidence_file(int8)
    assert fp32_file != int8_file and fp32_file.parent == int8_file.parent == MODEL_DIR
    assert fingerprint == same
    # The default precision ships a confidence model fitted on these very weights.
    assert load_confidence(int8) is not None


# ---- int8 smoothing --------------------------------------------------------------------------
def _windows(reader, articles, count: int) -> list[dict]:  # noqa: ANN001
    questions = [json.loads(line) for line in DEV_QUESTIONS.open(encoding="utf-8")][:count]
    return [
        reader.model_inputs(
            q["question"], [paragraph(articles, q["article_id"], q["paragraph_index"])]
        )[0]
        for q in questions
    ]


@pytest.mark.slow
def test_smoothing_keeps_fp32_exact_and_brings_int8_closer(reader, articles, tmp_path) -> None:  # noqa: ANN001
    from core.onnx import (
        load_smoothing,
        open_session,
        quantize_int8,
        smooth_for_int8,
    )
    from qa.read.trained import TrainedReader

    smoothing = load_smoothing(MODEL_DIR)
    assert smoothing is not None  # the bundled ranges fit the bundled weights
    int8 = TrainedReader(MODEL_DIR, threads=2, precision="int8")
    assert "-int8-smoothed-" in int8.onnx_file.name
    smooth_for_int8(reader.onnx_file, tmp_path / "smoothed.onnx", smoothing["ranges"])
    quantize_int8(reader.onnx_file, tmp_path / "plain-int8.onnx")
    sessions = {
        "fp32": _a_session(reader),
        "smoothed fp32": open_session(tmp_path / "smoothed.onnx", 2),
        "plain int8": open_session(tmp_path / "plain-int8.onnx", 2),
        "smoothed int8": _a_session(int8),
    }
    error = {name: [] for name in sessions}
    for feeds in _windows(reader, articles, 30):
        logits = {
            name: np.concatenate(s.run(["start_logits", "end_logits"], feeds))
            for name, s in sessions.items()
        }
        for name in sessions:
            error[name].append(float(np.abs(logits[name] - logits["fp32"]).mean()))
    # x @ W == (x / s) @ (s * W): in fp32 the rescaled graph computes the same logits.
    assert max(error["smoothed fp32"]) < 1e-4
    # In int8 it loses less: the outlier channels no longer set every channel's scale.
    assert np.mean(error["smoothed int8"]) < 0.9 * np.mean(error["plain int8"])


def _a_session(reader):  # noqa: ANN001, ANN202 - onnxruntime.InferenceSession
    """One of the reader's ONNX sessions (ONNX Runtime sessions may run concurrently)."""
    return reader._sessions[0]


def test_ranges_of_other_weights_are_ignored(tmp_path, caplog) -> None:  # noqa: ANN001
    import logging

    from core.onnx import SMOOTHING_NAME, load_smoothing, onnx_path

    folder = tmp_path / "reader"
    folder.mkdir()
    for f in ("config.json", "model.safetensors", "tokenizer.json"):
        (folder / f).symlink_to(MODEL_DIR / f)
    assert "smoothed" not in onnx_path(folder, "question-answering", "int8").name
    stale = json.loads((MODEL_DIR / SMOOTHING_NAME).read_text()) | {"weights": "0123456789ab"}
    (folder / SMOOTHING_NAME).write_text(json.dumps(stale))
    with caplog.at_level(logging.WARNING, logger="core.onnx"):
        assert load_smoothing(folder) is None
        assert "smoothed" not in onnx_path(folder, "question-answering", "int8").name
    assert "measured on other weights" in caplog.text
    (folder / SMOOTHING_NAME).write_text('{"weights": ')  # torn by a crash
    with caplog.at_level(logging.WARNING, logger="core.onnx"):
        assert load_smoothing(folder) is None
    assert "not valid JSON" in caplog.text
    (folder / SMOOTHING_NAME).write_text((MODEL_DIR / SMOOTHING_NAME).read_text())
    assert "-int8-smoothed-" in onnx_path(folder, "question-answering", "int8").name


@pytest.mark.slow
def test_qa_train_measures_the_ranges_of_every_weight_multiplication(reader, tmp_path) -> None:  # noqa: ANN001
    import onnx
    from typer.testing import CliRunner

    from core.onnx import weights_fingerprint
    from qa.train.cli import app

    paragraphs = [
        {"context": text, "qas": [{"id": str(i), "question": question, "answers": []}]}
        for i, (question, text) in enumerate(
            [
                ("Where does the Orinoco rise?", "The Orinoco rises in the Parima mountains."),
                ("What is the capital of Venezuela?", "Caracas is the capital of Venezuela."),
            ]
        )
    ]
    train = tmp_path / "train.json"
    train.write_text(json.dumps({"data": [{"title": "T", "paragraphs": paragraphs}]}))
    out = tmp_path / "ranges.json"
    args = ["int8-ranges", "--model", str(MODEL_DIR), "--train-file", str(train), "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    record = json.loads(out.read_text())
    assert record["weights"] == weights_fingerprint(MODEL_DIR)
    assert record["measured_on"].startswith("2 questions of train.json")
    graph = onnx.load(str(reader.onnx_file)).graph
    weights = {i.name: i.dims for i in graph.initializer}
    targets = {
        n.name: weights[n.input[1]][0]
        for n in graph.node
        if n.op_type in ("MatMul", "Attention") and n.input[1] in weights
    }
    assert {name: len(r) for name, r in record["ranges"].items()} == targets
    assert all(v >= 0 for r in record["ranges"].values() for v in r)
    missing = CliRunner().invoke(
        app, ["int8-ranges", "--train-file", str(tmp_path / "no.json")], env={"COLUMNS": "300"}
    )
    assert missing.exit_code != 0 and "not found" in missing.output


def test_the_default_reader_precision_follows_the_backend(monkeypatch) -> None:  # noqa: ANN001
    from qa.settings import Settings

    for name in ("QA_READER_BACKEND", "QA_READER_PRECISION"):
        monkeypatch.delenv(name, raising=False)
    assert Settings().reader_precision == "int8"
    assert Settings(reader_backend="torch").reader_precision == "fp32"  # int8 is ONNX-only
    monkeypatch.setenv("QA_READER_BACKEND", "torch")
    assert Settings().reader_precision == "fp32"
    # Asked for explicitly, it is kept, and the reader refuses it (see above).
    monkeypatch.setenv("QA_READER_PRECISION", "int8")
    assert Settings().reader_precision == "int8"


def _dev_reads(articles: dict[str, dict], limit: int) -> list[tuple[str, list[str]]]:
    """(question, texts) pairs: the gold paragraph, a long stretch of the article (several
    windows) and another paragraph, as retrieval would hand them over."""
    with open(DEV_QUESTIONS, encoding="utf-8") as f:
        questions = [json.loads(line) for line in f][:: 1884 // limit][:limit]
    reads = []
    for q in questions:
        art = articles[q["article_id"]]
        n_par = len(art["paragraph_spans"])
        reads.append(
            (
                q["question"],
                [
                    paragraph(articles, q["article_id"], q["paragraph_index"]),
                    art["text"][:3000],
                    paragraph(articles, q["article_id"], (q["paragraph_index"] + 1) % n_par),
                ],
            )
        )
    return reads


def test_concurrent_reads_find_the_same_spans_as_one_read_at_a_time(articles) -> None:  # noqa: ANN001
    from concurrent.futures import ThreadPoolExecutor

    from qa.read.trained import TrainedReader

    reads = _dev_reads(articles, 24)
    # The product's reader: one single-threaded session per slot, no lock around them.
    pooled = TrainedReader(MODEL_DIR, sessions=2, threads=1, precision="int8")
    assert (pooled.sessions, pooled.threads) == (2, 1)
    # One session spreading each op over two threads, reading one window at a time.
    serial = TrainedReader(MODEL_DIR, sessions=1, threads=2, precision="int8")
    expected = [serial.read(question, texts, top_n=10) for question, texts in reads]
    assert all(expected)
    with ThreadPoolExecutor(8) as pool:
        concurrent = list(pool.map(lambda r: pooled.read(r[0], r[1], top_n=10), reads * 2))
    # Bit for bit: scores and all (the thread count changes no sum's order here).
    assert concurrent == expected * 2


def test_a_lone_window_runs_on_all_the_cores_with_the_same_spans(articles) -> None:  # noqa: ANN001
    from qa.read.trained import TrainedReader

    pooled = TrainedReader(MODEL_DIR, sessions=2, threads=1, precision="int8")
    narrow = TrainedReader(MODEL_DIR, sessions=1, threads=1, precision="int8")
    assert narrow._wide is None  # one core: nothing to spread over
    wide_runs = []
    run = pooled._wide.run
    pooled._wide.run = lambda *a: wide_runs.append(1) or run(*a)
    reads = [(question, texts[0]) for question, texts in _dev_reads(articles, 12)]
    for question, text in reads:  # one paragraph: one window
        assert pooled.read(question, [text], top_n=10) == narrow.read(question, [text], top_n=10)
    assert len(wide_runs) == len(reads)
    # Several windows go to the runners, side by side.
    question, texts = _dev_reads(articles, 1)[0]
    assert pooled.read(question, texts, top_n=10) == narrow.read(question, texts, top_n=10)
    assert len(wide_runs) == len(reads) and pooled._queued == 0


def test_sessions_and_threads_share_out_the_cores() -> None:
    from qa.read.trained import TrainedReader
    from qa.settings import available_cores

    cores = available_cores()
    default = TrainedReader(MODEL_DIR, precision="int8")
    assert (default.sessions, default.threads) == (cores, 1)
    assert len(default._sessions) == cores
    wide = TrainedReader(MODEL_DIR, threads=cores, precision="int8")
    assert (wide.sessions, wide.threads) == (1, cores)
    with pytest.raises(ValueError, match="at least 1"):
        TrainedReader(MODEL_DIR, sessions=0)

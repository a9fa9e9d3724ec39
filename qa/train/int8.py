"""Activation ranges for the reader's int8 graph (``qa-train int8-ranges``).

Dynamic int8 quantisation gives each activation tensor one scale; the reader's activations
have a few channels ~15x larger than the others. :func:`core.onnx.smooth_for_int8`
rescales them into the weights before quantising, which needs each multiplication's input
range per channel. They are measured once, on SQuAD *train* questions through the fp32 graph,
and stored beside the weights (``int8-smoothing.json``), so exporting the int8 graph later
needs neither the training data nor torch.
"""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

from core.onnx import SMOOTHING_NAME, activation_ranges, weights_fingerprint
from qa.read.trained import TrainedReader


def sample_questions(train_file: Path, count: int, seed: int) -> list[tuple[str, str]]:
    """``count`` seeded (question, paragraph) pairs from a SQuAD v1.1 JSON file, one question
    per paragraph."""
    opener = gzip.open if str(train_file).endswith(".gz") else open
    with opener(train_file, "rt", encoding="utf-8") as f:
        data = json.load(f)["data"]
    pairs = [
        (para["qas"][0]["question"], para["context"])
        for article in data
        for para in article["paragraphs"]
        if para["qas"]
    ]
    return random.Random(seed).sample(pairs, min(count, len(pairs)))


def write_ranges(
    model_dir: Path, train_file: Path, count: int = 200, seed: int = 0, out: Path | None = None
) -> Path:
    """Measure the reader's activation ranges on ``count`` train questions and write them to
    ``out`` (default ``model_dir / SMOOTHING_NAME``, where the int8 export looks); returns
    the path written."""
    reader = TrainedReader(model_dir, precision="fp32")
    pairs = sample_questions(train_file, count, seed)
    feeds = [feed for question, text in pairs for feed in reader.model_inputs(question, [text])]
    out = out or Path(model_dir) / SMOOTHING_NAME
    record = {
        "weights": weights_fingerprint(model_dir),
        "measured_on": f"{len(pairs)} questions of {Path(train_file).name} (seed {seed}), "
        f"{len(feeds)} windows, the fp32 graph",
        "ranges": activation_ranges(_onnx_file(reader), feeds),
    }
    out.write_text(json.dumps(record) + "\n", encoding="utf-8")
    return out


def _onnx_file(reader: TrainedReader) -> Path:
    if reader.onnx_file is None:  # only the torch backend has none
        raise ValueError("activation ranges are measured on the reader's ONNX graph")
    return reader.onnx_file

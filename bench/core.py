"""Index the dev corpus into a fresh index, then ask dev questions through the engine.

    python -m bench.core [--questions 200]

Prints passages/s indexed, ask latency p50/p95 and peak memory; writes bench/results/core.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from bench.common import DEV_ARTICLES, DEV_QUESTIONS, machine, peak_rss_mb, percentiles, write


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--questions", type=int, default=200)
    args = parser.parse_args()

    from indexer.load import load_path
    from qa.engine import Engine
    from qa.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine(Settings(index_dir=Path(tmp)))
        engine.embedder.load()
        started = time.perf_counter()
        report = engine.add(load_path(DEV_ARTICLES))
        index_s = time.perf_counter() - started

        engine.warm_up()
        questions = [json.loads(line)["question"] for line in DEV_QUESTIONS.open()]
        questions = questions[:: max(1, len(questions) // args.questions)][: args.questions]
        took = []
        for q in questions:
            t = time.perf_counter()
            engine.ask(q)
            took.append((time.perf_counter() - t) * 1000)

    result = {
        "articles": len(report.added),
        "passages": report.passages_total,
        "index_seconds": round(index_s, 2),
        "passages_per_s": round(report.passages_total / index_s, 1),
        "questions": len(questions),
        "reader": engine.reader.name,
        **{k: round(v, 1) for k, v in percentiles(took).items()},
        "peak_rss_mb": round(peak_rss_mb()),
    }
    print(machine())
    print(f"{'metric':<18}value")
    for key, value in result.items():
        print(f"{key:<18}{value}")
    print(f"written to {write('core', result)}")


if __name__ == "__main__":
    main()

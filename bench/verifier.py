"""What the answer verifier costs per ask, and how often it changes the answer.

    python -m bench.verifier [--index DIR] [--questions 300]

Two engines over the same index (default: the dev corpus, indexed into
``bench/results/index-dev`` on first use): one with the verifier (the default: the gate reads
it when it can change the outcome), one with ``QA_VERIFY_ANSWERS=false`` (the score alone).
Each dev question is asked of both in turn, alternating which goes first, after both warmed
up. Per engine: ask p50/p95 (wall), CPU per ask (this process's CPU time, all threads), the
verifier runs per ask and the share of asks that ran it at all; and the share of questions
whose best answer (or "not found") differs between the two.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from bench.common import REPO, RESULTS, dev_questions, header, percentiles, table, write


def _engine(index: Path, verify: bool):  # noqa: ANN202 - qa imported lazily
    from qa.engine import Engine
    from qa.settings import Settings

    engine = Engine(Settings(index_dir=index, verify_answers=verify))
    if engine.counts()[0] == 0:
        from indexer.load import load_path

        engine.add(load_path(REPO / "qa" / "demo_articles" / "squad-dev.jsonl"))
        engine.update_bm25()
    return engine.warm_up()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, default=RESULTS / "index-dev")
    parser.add_argument("--questions", type=int, default=300)
    args = parser.parse_args()
    print(header("the answer verifier's cost per ask"))
    engines = {"verifier": _engine(args.index, True), "no verifier": _engine(args.index, False)}
    verifier = engines["verifier"].verifier
    if verifier is None:
        raise SystemExit("the calibration has no gate for this verifier: nothing to compare")
    runs = {"n": 0}
    logits = verifier.logits

    def counted(question, answers):  # noqa: ANN001, ANN202
        runs["n"] += len(answers)
        return logits(question, answers)

    verifier.logits = counted
    took: dict[str, list[float]] = {name: [] for name in engines}
    cpu: dict[str, list[float]] = {name: [] for name in engines}
    calls: list[int] = []
    best: dict[str, list[str | None]] = {name: [] for name in engines}
    questions = [q["question"] for q in dev_questions(args.questions)]
    for i, question in enumerate(questions):
        names = list(engines) if i % 2 == 0 else list(reversed(engines))
        for name in names:
            before, wall, runs["n"] = time.process_time(), time.perf_counter(), 0
            result = engines[name].ask(question)
            took[name].append((time.perf_counter() - wall) * 1000)
            cpu[name].append((time.process_time() - before) * 1000)
            best[name].append(result.answers[0].text if result.found else None)
            if name == "verifier":
                calls.append(runs["n"])
    rows = []
    for name in engines:
        row = {"engine": name, **percentiles(took[name]), "cpu_ms": statistics.mean(cpu[name])}
        if name == "verifier":
            row["runs_per_ask"] = statistics.mean(calls)
            row["asks_verified"] = sum(1 for c in calls if c) / len(calls)
        rows.append(row)
    changed = sum(a != b for a, b in zip(*best.values(), strict=True)) / len(questions)
    print(table(rows))
    on, off = (percentiles(took[name])["p50_ms"] for name in engines)
    cpu_on, cpu_off = (statistics.mean(cpu[name]) for name in engines)
    print(
        f"verifier / no verifier: p50 {on / off:.2f}x, CPU per ask {cpu_on / cpu_off:.2f}x; "
        f"best answer changed on {changed:.1%} of {len(questions)} questions"
    )
    write("verifier", {"rows": rows, "changed": changed, "questions": len(questions)})


if __name__ == "__main__":
    main()

"""What the integrity checks cost: opening the index and answering, against a baseline tree.

    python -m bench.integrity --baseline DIR [--index DIR] [--rounds 4] [--questions 100]

``DIR`` is a checkout of the version to compare with (``git archive <commit> | tar -x -C
DIR``); the index (default: the 100k benchmark index of :mod:`bench.corpus`) is opened by
each version in its own fresh process, alternately, round after round, on the same files
(page cache equally warm). Each process times

- **open**: ``Engine(settings)`` - SQLite, the FAISS file, the BM25 index (here their
  checksums are checked on a thread of their own, while the models load);
- **ready**: open and ``warm_up`` - the models loaded, one question answered (here also the
  files' check finished and the self-test asked);
- **ask p50 / p95**: ``engine.ask`` over dev questions after ``warm_up`` (answers verified
  against the stored articles here, passage rows checked when read).

Before timing, this version opens the index once (an index written before checksums gets them
then) and rebuilds its BM25 index (one saved without checksums is rebuilt). The checksum
speed of this machine (SHA-256, MB/s) and the derived files' sizes give the per-MB cost.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.common import REPO, dev_questions, header, load_average, write

_CHILD = """
import json, sys, time
started = time.perf_counter()
from qa.engine import Engine
from qa.settings import Settings
imported = time.perf_counter()
engine = Engine(Settings(index_dir=sys.argv[1]))
opened = time.perf_counter()
engine.warm_up()
ready = time.perf_counter()
questions = json.loads(sys.argv[2])
for q in questions[:5]:
    engine.ask(q)
took = []
for q in questions:
    t = time.perf_counter()
    engine.ask(q)
    took.append((time.perf_counter() - t) * 1000)
print(json.dumps({"open_s": opened - imported, "ready_s": ready - imported, "asks_ms": took}))
"""


def _run(tree: Path, index: Path, questions: list[str]) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(index), json.dumps(questions)],
        env=env,
        cwd=tree,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _prepare(index: Path) -> None:
    """This version's first open: checksums recorded, the BM25 index rebuilt with them."""
    from qa.engine import Engine
    from qa.settings import Settings

    started = time.perf_counter()
    engine = Engine(Settings(index_dir=index))
    print(f"first open (checksums recorded if missing): {time.perf_counter() - started:.1f} s")
    if not engine.store.lexical_current():
        started = time.perf_counter()
        engine.update_bm25()
        print(f"BM25 index rebuilt with checksums: {time.perf_counter() - started:.1f} s")
    engine.store.close()


def _sha256_mb_per_s() -> float:
    data = os.urandom(256 * 2**20)
    started = time.perf_counter()
    hashlib.sha256(data).digest()
    return 256 / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--baseline", type=Path, required=True, help="the tree to compare with")
    parser.add_argument("--index", type=Path, default=None, help="default: the 100k index")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--questions", type=int, default=100)
    args = parser.parse_args()
    if args.index is None:
        from bench.corpus import ensure

        args.index = ensure(100_000)
    print(header("integrity: open time and ask latency against a baseline tree"), flush=True)
    _prepare(args.index)
    questions = [q["question"] for q in dev_questions(args.questions)]
    trees = {"baseline": args.baseline.resolve(), "this": REPO}
    runs: dict[str, list[dict]] = {name: [] for name in trees}
    for n in range(args.rounds):
        order = list(trees) if n % 2 == 0 else list(reversed(trees))
        for name in order:
            runs[name].append(_run(trees[name], args.index, questions))
            last = runs[name][-1]
            p50 = statistics.median(last["asks_ms"])
            print(
                f"round {n + 1} {name:8} open {last['open_s']:.2f} s, "
                f"ready {last['ready_s']:.2f} s, ask p50 {p50:.1f} ms"
            )
    rows = {}
    for name, results in runs.items():
        asks = [ms for r in results for ms in r["asks_ms"]]
        rows[name] = {
            "open_s_median": statistics.median(r["open_s"] for r in results),
            "ready_s_median": statistics.median(r["ready_s"] for r in results),
            "ask_p50_ms": statistics.median(asks),
            "ask_p95_ms": sorted(asks)[int(0.95 * (len(asks) - 1))],
        }
    base, this = rows["baseline"], rows["this"]
    sizes = {
        "faiss_mb": (args.index / "vectors.faiss").stat().st_size / 2**20,
        "bm25_mb": sum(p.stat().st_size for p in (args.index / "bm25").rglob("*") if p.is_file())
        / 2**20,
    }
    speed = _sha256_mb_per_s()
    print(f"load average {load_average()}")
    columns = ("open_s_median", "ready_s_median", "ask_p50_ms", "ask_p95_ms")
    print(f"{'':10} {'open s':>8} {'ready s':>8} {'ask p50 ms':>11} {'ask p95 ms':>11}")
    for name, row in rows.items():
        print(f"{name:10} " + " ".join(f"{row[c]:>{11 if 'ask' in c else 8}.2f}" for c in columns))
    print(
        "ratio      "
        + " ".join(f"{this[c] / base[c]:>{11 if 'ask' in c else 8}.2f}" for c in columns)
    )
    print(
        f"SHA-256 {speed:.0f} MB/s: {1000 / speed:.2f} ms per MB; FAISS file "
        f"{sizes['faiss_mb']:.0f} MB, BM25 files {sizes['bm25_mb']:.0f} MB checked on open"
    )
    path = write(
        "integrity",
        {
            "index": str(args.index),
            "rounds": args.rounds,
            "questions": len(questions),
            "load_average": load_average(),
            "versions": rows,
            "sha256_mb_per_s": speed,
            **sizes,
        },
    )
    print(f"-> {path}")


if __name__ == "__main__":
    main()

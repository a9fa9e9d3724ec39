"""``qa-serve`` at 100k passages: time to ready, and ask latency end to end through HTTP.

    python -m bench.ask [--passages 100000] [--questions 200] [--starts 3] [--backends onnx,torch]
                        [--precisions int8,fp32]

For each embedding backend and trained-reader precision (in the same run, so the ratios are
meaningful on a noisy machine):
start ``qa-serve`` on the benchmark index (built once by :mod:`bench.corpus`, see there what
is real and what is derived), time spawn → first ``/healthz`` 200 (``--starts`` times, median),
then POST ``/api/ask`` for dev questions one after the other and time each on the client.
Also reported: the server's resident memory and whether torch got loaded into it
(``libtorch`` in its memory map). The reader is whatever ``Settings.reader`` gives (the trained
one when ``qa/models/reader`` exists, else the heuristic one); ``--reader`` overrides it.
Writes bench/results/ask.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bench.common import (
    REPO,
    dev_questions,
    free_port,
    header,
    percentiles,
    rss_mb,
    stop_process,
    table,
    write,
)


def _start(
    index: Path, backend: str, reader: str | None, precision: str | None
) -> tuple[subprocess.Popen, str, float]:
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "QA_EMBED_BACKEND": backend}
    if precision:
        env["QA_READER_PRECISION"] = precision
    if reader:
        env["QA_READER"] = reader
    serve = Path(sys.executable).parent / "qa-serve"
    started = time.perf_counter()
    proc = subprocess.Popen(
        [str(serve), "--index", str(index), "--port", str(port)],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    with httpx.Client(timeout=2) as client:
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"qa-serve exited: {proc.stderr.read() if proc.stderr else ''}")
            try:
                if client.get(f"{url}/healthz").status_code == 200:
                    return proc, url, time.perf_counter() - started
            except httpx.TransportError:
                pass
            if time.perf_counter() - started > 600:
                proc.kill()
                raise SystemExit("qa-serve not ready after 600 s")
            time.sleep(0.02)


def _torch_loaded(pid: int) -> bool:
    return "libtorch" in Path(f"/proc/{pid}/maps").read_text()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--starts", type=int, default=3)
    parser.add_argument("--backends", default="onnx,torch")
    parser.add_argument("--reader", choices=["trained", "heuristic"], default=None)
    parser.add_argument(
        "--precisions",
        default="int8",
        help="trained reader weights, comma-separated: int8 (the product default), fp32",
    )
    args = parser.parse_args()

    from bench.corpus import ensure

    index = ensure(args.passages)
    questions = [q["question"] for q in dev_questions(args.questions)]
    reader_dir = REPO / "qa" / "models" / "reader" / "model.safetensors"
    reader = args.reader or ("trained" if reader_dir.exists() else "heuristic")
    print(header(f"qa-serve at {args.passages} passages: ready time and HTTP ask latency"))
    print(f"index {index}; {len(questions)} dev questions, sequential; reader: {reader}")
    rows = []
    precisions: list[str | None] = [None]  # the heuristic reader has no precision
    if reader == "trained":
        precisions = list(args.precisions.split(","))
    for backend, precision in ((b, p) for b in args.backends.split(",") for p in precisions):
        ready = []
        for _ in range(args.starts):
            proc, url, seconds = _start(index, backend, args.reader, precision)
            ready.append(seconds)
            if len(ready) < args.starts:
                stop_process(proc)
        took, server_ms = [], []
        with httpx.Client(base_url=url, timeout=60) as client:
            for q in questions[:5]:  # warm-up, not timed
                client.post("/api/ask", json={"question": q, "k": 3}).raise_for_status()
            for q in questions:
                t = time.perf_counter()
                response = client.post("/api/ask", json={"question": q, "k": 3})
                took.append((time.perf_counter() - t) * 1000)
                response.raise_for_status()
                server_ms.append(response.json()["took_ms"])
            passages = client.get("/healthz").json()["passages"]
        row = {
            "backend": backend,
            "reader_precision": precision or "n/a",
            "passages": passages,
            "ready_s": round(statistics.median(ready), 2),
            "ready_s_all": [round(r, 2) for r in ready],
            **{f"http_{k}": round(v, 1) for k, v in percentiles(took).items()},
            **{f"server_{k}": round(v, 1) for k, v in percentiles(server_ms).items()},
            "rss_mb": round(rss_mb(proc.pid)),
            "torch_loaded": _torch_loaded(proc.pid),
        }
        stop_process(proc)
        rows.append(row)
        print(f"  {backend}: {row}", flush=True)
    columns = ["backend", "reader_precision", "passages", "ready_s", "http_p50_ms", "http_p95_ms"]
    columns += ["server_p50_ms", "server_p95_ms", "rss_mb", "torch_loaded"]
    print()
    print(table(rows, columns))
    print("goals: ready <= 3 s; HTTP ask p50 <= 50 ms, p95 <= 150 ms (2 cores, shared)")
    print(
        f"written to {write('ask', {'reader': reader, 'questions': len(questions), 'rows': rows})}"
    )


if __name__ == "__main__":
    main()

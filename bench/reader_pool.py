"""How concurrent reads should share the cores: session pool, one shared session, a lock, or
micro-batching, in process, on the trained reader's real windows.

    python -m bench.reader_pool [--windows 240] [--clients 1,4,16] [--precision int8]

The windows are the reader's inputs for dev questions over their gold paragraph (what the
engine reads first). ``clients`` threads read them one window per call, back to back, in
each of these ways (interleaved, same windows):

- ``lock``: one session with an intra-op thread per core behind a lock (the reader before);
- ``shared``: one session with an intra-op thread per core, run concurrently (ONNX Runtime
  allows it; its thread pool is then shared by the runs);
- ``queue``: one single-threaded session per core, each run on an idle one taken from a
  plain queue (waiting threads race for a freed session);
- ``pool``: the same sessions, each owned by a runner thread that takes windows first come,
  first served (the reader now);
- ``batch``: micro-batching: a thread gathers the windows that arrive within ``--wait-ms``
  (at most ``--max-batch``), pads them to the longest and runs them as one batch on a
  session with a thread per core.

Prints windows/s, latency p50/p95 and CPU per window (this process's user + system time),
and for ``batch`` how far its logits move from the window read alone (int8 activations are
quantised with one scale per batch, and padding changes the shapes) and how often the best
span changes. Writes bench/results/reader_pool.json.
"""

from __future__ import annotations

import argparse
import json
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from bench.common import DEV_ARTICLES, dev_questions, header, table, write

OUTPUTS = ["start_logits", "end_logits"]
Feeds = dict[str, np.ndarray]


class Batcher:
    """Gathers single windows into padded batches for one session."""

    def __init__(self, session, wait_ms: float, max_batch: int) -> None:  # noqa: ANN001
        self.session, self.wait_s, self.max_batch = session, wait_ms / 1000, max_batch
        self.inbox: queue.SimpleQueue[tuple[Feeds, Future]] = queue.SimpleQueue()
        self.sizes: list[int] = []
        threading.Thread(target=self._loop, daemon=True).start()

    def run(self, feeds: Feeds) -> list[np.ndarray]:
        future: Future = Future()
        self.inbox.put((feeds, future))
        return future.result()

    def _loop(self) -> None:
        while True:
            batch = [self.inbox.get()]
            deadline = time.perf_counter() + self.wait_s
            while len(batch) < self.max_batch:
                left = deadline - time.perf_counter()
                try:
                    batch.append(
                        self.inbox.get(timeout=left) if left > 0 else self.inbox.get_nowait()
                    )
                except queue.Empty:
                    break
            self.sizes.append(len(batch))
            width = max(f["input_ids"].shape[1] for f, _ in batch)
            padded = {
                name: np.zeros((len(batch), width), dtype=np.int64)
                for name in ("input_ids", "attention_mask", "token_type_ids")
            }
            for row, (f, _) in enumerate(batch):
                n = f["input_ids"].shape[1]
                for name in padded:
                    padded[name][row, :n] = f[name][0]
            start, end = self.session.run(OUTPUTS, padded)
            for row, (f, future) in enumerate(batch):
                n = f["input_ids"].shape[1]
                future.set_result([start[row : row + 1, :n], end[row : row + 1, :n]])


def windows(reader, count: int) -> list[Feeds]:  # noqa: ANN001
    articles = {a["id"]: a for a in map(json.loads, DEV_ARTICLES.open())}
    out = []
    for q in dev_questions(count):
        art = articles[q["article_id"]]
        start, end = art["paragraph_spans"][q["paragraph_index"]]
        out += reader.model_inputs(q["question"], [art["text"][start:end]])[:1]
    return out[:count]


def measure(run: Callable[[Feeds], list[np.ndarray]], feeds: list[Feeds], clients: int) -> dict:
    took: list[float] = []
    todo = iter(feeds)
    lock = threading.Lock()

    def client() -> None:
        while True:
            with lock:
                f = next(todo, None)
            if f is None:
                return
            t = time.perf_counter()
            run(f)
            took.append((time.perf_counter() - t) * 1000)

    cpu, wall = time.process_time(), time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        for future in [pool.submit(client) for _ in range(clients)]:
            future.result()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    p50, p95 = np.percentile(took, [50, 95])
    return {
        "windows_per_s": round(len(feeds) / wall, 1),
        "p50_ms": round(float(p50), 1),
        "p95_ms": round(float(p95), 1),
        "cpu_ms_per_window": round(1000 * cpu / len(feeds), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--windows", type=int, default=240)
    parser.add_argument("--clients", default="1,4,16")
    parser.add_argument("--precision", default="int8", choices=["int8", "fp32"])
    parser.add_argument("--wait-ms", type=float, default=3.0)
    parser.add_argument("--max-batch", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    from core.onnx import open_session
    from qa.read.trained import TrainedReader
    from qa.settings import available_cores

    cores = available_cores()
    reader = TrainedReader(sessions=cores, threads=1, precision=args.precision)
    feeds = windows(reader, args.windows)
    wide = open_session(reader.onnx_file, cores)
    narrow: queue.SimpleQueue = queue.SimpleQueue()
    for _ in range(cores):
        narrow.put(open_session(reader.onnx_file, 1))
    lock = threading.Lock()

    def locked(f: Feeds) -> list[np.ndarray]:
        with lock:
            return wide.run(OUTPUTS, f)

    def queued(f: Feeds) -> list[np.ndarray]:
        session = narrow.get()
        try:
            return session.run(OUTPUTS, f)
        finally:
            narrow.put(session)

    def pooled(f: Feeds) -> list[np.ndarray]:
        return reader._runners.submit(reader._run, f).result()

    batcher = Batcher(open_session(reader.onnx_file, cores), args.wait_ms, args.max_batch)
    ways: dict[str, Callable[[Feeds], list[np.ndarray]]] = {
        "lock": locked,
        "shared": lambda f: wide.run(OUTPUTS, f),
        "queue": queued,
        "pool": pooled,
        "batch": batcher.run,
    }
    print(header(f"reader concurrency, {len(feeds)} dev windows, {args.precision}, in process"))
    for run in ways.values():  # warm-up
        for f in feeds[:8]:
            run(f)
    results: dict[tuple[str, int], list[dict]] = {}
    for round_ in range(args.rounds):
        for clients in map(int, args.clients.split(",")):
            names = list(ways) if round_ % 2 == 0 else list(ways)[::-1]
            for name in names:
                results.setdefault((name, clients), []).append(measure(ways[name], feeds, clients))
    rows = []
    for (name, clients), runs in results.items():
        row = {"way": name, "clients": clients}
        for key in runs[0]:
            row[key] = round(float(np.median([r[key] for r in runs])), 1)
        rows.append(row)
    rows.sort(key=lambda r: (r["clients"], r["way"]))
    print(table(rows))
    print(f"batch sizes: mean {np.mean(batcher.sizes):.2f}, max {max(batcher.sizes)}")

    # What batching does to the answers: logits against the window read alone.
    gaps, moved = [], 0
    with ThreadPoolExecutor(8) as pool:
        batched = list(pool.map(batcher.run, feeds))
    for f, (bs, be) in zip(feeds, batched, strict=True):
        s, e = wide.run(OUTPUTS, f)
        gaps.append(float(max(np.abs(s - bs).max(), np.abs(e - be).max())))
        moved += (int(s.argmax()), int(e.argmax())) != (int(bs.argmax()), int(be.argmax()))
    print(
        f"batch vs alone: max |logit gap| median {np.median(gaps):.4f}, max {max(gaps):.4f}; "
        f"best start/end token moved on {moved} of {len(feeds)} windows"
    )
    payload = {"precision": args.precision, "rows": rows, "batch_logit_gap_max": max(gaps)}
    payload["batch_moved"] = moved
    print(f"written to {write('reader_pool', payload)}")


if __name__ == "__main__":
    main()

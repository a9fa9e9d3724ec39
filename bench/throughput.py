"""Throughput under concurrent askers: this tree against a base commit, side by side.

    python -m bench.throughput [--base HEAD~1] [--corpora dev,100k] [--clients 1,4,16]
                               [--requests 150,300,480] [--rounds 2] [--workers 1]
                               [--variant LABEL:QA_SETTING=VALUE,...]...

Starts ``qa-serve`` twice on 127.0.0.1 over the same index: once from the files of
``--base`` (``git archive`` into bench/results/, git-ignored) and once from this tree (once per
``--workers`` value, and once per ``--variant``: this tree with those settings), all with
default settings otherwise, the same Python and the same packages. Then,
for each corpus (``dev``: the bundled demo articles, the 12 SQuAD dev articles and the seed
article; ``100k``: the benchmark index of :mod:`bench.corpus`), each round and each client
count, every server answers the very same dev questions, ``clients`` at a time, back to
back. The order of the servers alternates from round to round, so drift on a shared machine
hits both alike.

Per server and client count it prints requests/s, latency p50/p95/p99 on the client
(through HTTP), errors, and the server's CPU per request (user + system time of the server
process and its workers, from /proc, over the phase). It also compares the answers the two
versions gave to each question (text, offsets, quote, score) and prints how many are
identical, and the servers' resident memory (RSS of the process tree) at the end.
Writes bench/results/throughput.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

from bench.common import (
    REPO,
    RESULTS,
    dev_questions,
    free_port,
    header,
    stop_process,
    table,
    write,
)

TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Server:
    label: str
    commit: str
    url: str
    process: subprocess.Popen
    log: Path

    def tree(self) -> list[int]:
        """The server's process and its descendants (workers)."""
        pids, todo = [], [self.process.pid]
        while todo:
            pid = todo.pop()
            pids.append(pid)
            for task in Path(f"/proc/{pid}/task").glob("*"):
                with contextlib.suppress(OSError):  # the task ended meanwhile
                    todo += [int(c) for c in (task / "children").read_text().split()]
        return pids

    def cpu_s(self) -> float:
        """User + system CPU seconds of the process tree so far (exited workers excluded)."""
        total = 0
        for pid in self.tree():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / TICKS

    def rss_mb(self) -> float:
        total = 0
        for pid in self.tree():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            total += next(int(x.split()[1]) for x in status.splitlines() if x.startswith("VmRSS"))
        return total / 1024


@dataclass
class Phase:
    took_ms: list[float] = field(default_factory=list)
    errors: int = 0
    elapsed_s: float = 0.0
    cpu_s: float = 0.0
    answers: dict[str, str] = field(default_factory=dict)


def _git(*args: str, cwd: Path = REPO) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


def base_tree(ref: str) -> tuple[Path, str]:
    """The files of commit ``ref`` in bench/results/ (``git archive``, once per commit), and
    the commit."""
    commit = _git("rev-parse", "--verify", f"{ref}^{{commit}}")
    tree = RESULTS / f"base-{commit[:12]}"
    if not (tree / "done").exists():
        shutil.rmtree(tree, ignore_errors=True)
        tree.mkdir(parents=True)
        archive = subprocess.Popen(["git", "archive", commit], cwd=REPO, stdout=subprocess.PIPE)
        subprocess.run(["tar", "-x", "-C", str(tree)], stdin=archive.stdout, check=True)
        if archive.wait() != 0:
            raise SystemExit(f"git archive {commit} failed")
        (tree / "done").write_text("")
    return tree, commit


def dev_index() -> Path:
    """An index of the bundled demo articles in bench/results/index-dev (built once)."""
    out = RESULTS / "index-dev"
    if not (out / "done").exists():
        from indexer.load import load_path
        from qa.engine import Engine
        from qa.settings import Settings

        shutil.rmtree(out, ignore_errors=True)
        engine = Engine(Settings(index_dir=out, reader="heuristic"))
        report = engine.add(load_path(REPO / "qa" / "demo_articles"))
        if report.errors:
            raise SystemExit(f"indexing the demo articles failed: {report.errors}")
        engine.store.close()
        (out / "done").write_text("")
    return out


@dataclass
class Version:
    label: str
    tree: Path
    commit: str
    workers: int = 1
    settings: dict[str, str] = field(default_factory=dict)  # QA_* environment variables


def start(version: Version, index: Path, logs: Path) -> Server:
    label, tree, workers = version.label, version.tree, version.workers
    port = free_port()
    # Default settings: no QA_* from the caller's environment.
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": str(tree)})
    env.update(version.settings)
    args = ["--index", str(index), "--host", "127.0.0.1", "--port", str(port)]
    if workers > 1:
        args += ["--workers", str(workers)]
    log = logs / f"{label}.log"
    process = subprocess.Popen(
        [sys.executable, "-c", "from qa.cli import serve_main; serve_main()", *args],
        cwd=tree,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    return Server(label, version.commit, f"http://127.0.0.1:{port}", process, log)


def wait_ready(server: Server, workers: int) -> None:
    """``/healthz`` 200 on 10 fresh connections in a row (with workers, each may land on any)."""
    deadline, streak = time.monotonic() + 900, 0
    while streak < 10 * workers:
        if server.process.poll() is not None:
            raise SystemExit(f"{server.label} exited:\n{server.log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            raise SystemExit(f"{server.label} not ready after 900 s")
        try:
            ok = httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200
        except httpx.HTTPError:
            ok = False
        streak = streak + 1 if ok else 0
        if not ok:
            time.sleep(0.5)


def _digest(payload: dict) -> str:
    """What must not change between versions: found, and each answer's text, offsets, quote
    and score (not took_ms)."""
    answers = [
        (a["text"], a["start"], a["end"], a["quote_start"], a["quote_end"], a["score"],
         a["article"]["id"])
        for a in payload["answers"]
    ]  # fmt: skip
    return json.dumps([payload["found"], answers])


async def _phase(server: Server, questions: list[str], clients: int) -> Phase:
    phase = Phase()
    todo = iter(questions)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def asker(client: httpx.AsyncClient) -> None:
        for question in todo:  # a shared iterator: each question is asked once
            started = time.perf_counter()
            try:
                r = await client.post("/api/ask", json={"question": question, "k": 3})
            except httpx.HTTPError:
                phase.errors += 1
                continue
            if r.status_code != 200:
                phase.errors += 1
                continue
            phase.took_ms.append((time.perf_counter() - started) * 1000)
            phase.answers[question] = _digest(r.json())

    async with httpx.AsyncClient(base_url=server.url, timeout=120, limits=limits) as client:
        cpu, started = server.cpu_s(), time.perf_counter()
        await asyncio.gather(*(asker(client) for _ in range(clients)))
        phase.elapsed_s = time.perf_counter() - started
        phase.cpu_s = server.cpu_s() - cpu
    return phase


def _row(corpus: str, server: Server, clients: int, phases: list[Phase]) -> dict:
    took = np.concatenate([p.took_ms for p in phases]) if phases else np.zeros(0)
    done = sum(len(p.took_ms) + p.errors for p in phases)
    p50, p95, p99 = np.percentile(took, [50, 95, 99]) if len(took) else (np.nan,) * 3
    return {
        "corpus": corpus,
        "server": server.label,
        "clients": clients,
        "requests": done,
        "errors": sum(p.errors for p in phases),
        "req_per_s": round(done / sum(p.elapsed_s for p in phases), 2),
        "p50_ms": round(float(p50), 1),
        "p95_ms": round(float(p95), 1),
        "p99_ms": round(float(p99), 1),
        "cpu_ms_per_req": round(1000 * sum(p.cpu_s for p in phases) / done, 1),
    }


def run_corpus(
    corpus: str, index: Path, versions: list[Version], args: argparse.Namespace
) -> tuple[list[dict], dict]:
    """Every version served over ``index``, interleaved; the rows and the answer comparison."""
    logs = RESULTS / "throughput-logs"
    logs.mkdir(parents=True, exist_ok=True)
    servers = [start(v, index, logs) for v in versions]
    try:
        for server, version in zip(servers, versions, strict=True):
            wait_ready(server, version.workers)
        questions = [q["question"] for q in dev_questions()]
        warm, questions = questions[:20], questions[20:]
        for server in servers:
            asyncio.run(_phase(server, warm, 2))
        clients = [int(c) for c in args.clients.split(",")]
        counts = [int(n) for n in args.requests.split(",")]
        phases: dict[tuple[str, int], list[Phase]] = {}
        offset = 0
        for round_ in range(args.rounds):
            for c, n in zip(clients, counts, strict=True):
                asked = questions[offset : offset + n]
                offset = (offset + n) % max(1, len(questions) - n)
                order = servers if round_ % 2 == 0 else servers[::-1]
                for server in order:
                    phase = asyncio.run(_phase(server, asked, c))
                    phases.setdefault((server.label, c), []).append(phase)
                    print(
                        f"  {corpus} round {round_ + 1} {server.label:<10} {c:>2} clients: "
                        f"{(len(phase.took_ms) + phase.errors) / phase.elapsed_s:6.2f} req/s, "
                        f"{1000 * phase.cpu_s / max(1, len(phase.took_ms)):5.1f} ms CPU/req",
                        flush=True,
                    )
        rows = [_row(corpus, s, c, phases[(s.label, c)]) for s in servers for c in clients]
        for s in servers:
            for row in rows:
                if row["server"] == s.label:
                    row["rss_mb"] = round(s.rss_mb())
        # Each question's answers from the base against each other server's.
        same: dict[str, list[int]] = {}
        base = servers[0].label
        for s in servers[1:]:
            for c in clients:
                for mine, theirs in zip(phases[(s.label, c)], phases[(base, c)], strict=True):
                    shared = mine.answers.keys() & theirs.answers.keys()
                    hits = sum(mine.answers[q] == theirs.answers[q] for q in shared)
                    tally = same.setdefault(s.label, [0, 0])
                    tally[0] += hits
                    tally[1] += len(shared)
        return rows, same
    finally:
        for server in servers:
            stop_process(server.process)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base", default="HEAD~1", help="commit to compare with [HEAD~1]")
    parser.add_argument("--corpora", default="dev,100k", help="dev and/or 100k [dev,100k]")
    parser.add_argument("--clients", default="1,4,16", help="concurrent askers [1,4,16]")
    parser.add_argument(
        "--requests", default="150,300,480", help="questions per phase, per client count"
    )
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds [2]")
    parser.add_argument(
        "--workers", default="1", help="qa-serve --workers of this tree, comma-separated [1]"
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        help="this tree with other settings, e.g. wide:QA_READER_SESSIONS=1,QA_READER_THREADS=2",
    )
    args = parser.parse_args()
    if len(args.clients.split(",")) != len(args.requests.split(",")):
        parser.error("--clients and --requests need as many values")

    tree, commit = base_tree(args.base)
    head = _git("rev-parse", "HEAD") + ("+changes" if _git("status", "--porcelain", "-uno") else "")
    versions = [Version("base", tree, commit)]
    versions += [
        Version("new" if w == "1" else f"new-w{w}", REPO, head, int(w))
        for w in args.workers.split(",")
    ]
    for variant in args.variant:
        label, _, pairs = variant.partition(":")
        settings = dict(pair.split("=", 1) for pair in pairs.split(",") if pair)
        versions.append(Version(label, REPO, head, settings=settings))
    print(header("throughput: concurrent askers over HTTP, this tree against a base commit"))
    print(f"base {commit[:12]} ({args.base}), new {head[:12]} (this tree); default settings")
    all_rows, identical = [], {}
    for corpus in args.corpora.split(","):
        if corpus == "dev":
            index = dev_index()
        else:
            from bench.corpus import ensure

            index = ensure(int(corpus.rstrip("k")) * 1000)
        rows, same = run_corpus(corpus, index, versions, args)
        all_rows += rows
        identical[corpus] = same
    print()
    print(table(all_rows))
    for corpus, same in identical.items():
        for label, (hits, total) in same.items():
            print(f"{corpus}: {label} answers identical to base on {hits} of {total} questions")
    print()
    for corpus in args.corpora.split(","):
        for label in [v.label for v in versions]:
            by = {
                r["clients"]: r for r in all_rows if r["corpus"] == corpus and r["server"] == label
            }
            if {1, 4, 16} <= by.keys():
                speedup = by[4]["req_per_s"] / by[1]["req_per_s"]
                print(
                    f"{corpus} {label}: req/s 4 vs 1 client {speedup:.2f}x (goal >= 1.6); "
                    f"p95 4 vs 1 {by[4]['p95_ms'] / by[1]['p95_ms']:.2f}x (<= 3); "
                    f"p95 16 vs 1 {by[16]['p95_ms'] / by[1]['p95_ms']:.2f}x (<= 4); "
                    f"errors at 16: {by[16]['errors']}"
                )
        base = {
            r["clients"]: r for r in all_rows if r["corpus"] == corpus and r["server"] == "base"
        }
        new = {r["clients"]: r for r in all_rows if r["corpus"] == corpus and r["server"] == "new"}
        if 1 in base and 1 in new:
            print(
                f"{corpus}: CPU per request at 1 client, new vs base: "
                f"{new[1]['cpu_ms_per_req'] / base[1]['cpu_ms_per_req']:.2f}x (goal <= 0.70)"
            )
    print("goal at 100k, new, 1 client: p50 <= 30 ms, p95 <= 80 ms over HTTP")
    payload = {"base": commit, "new": head, "rows": all_rows, "identical": identical}
    payload["variants"] = {v.label: v.settings for v in versions if v.settings}
    print(f"written to {write('throughput', payload)}")


if __name__ == "__main__":
    main()

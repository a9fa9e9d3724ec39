"""Shared bits of the benchmarks: the machine line, percentiles, peak memory, JSON output."""

from __future__ import annotations

import json
import os
import platform
import resource
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results"
REPO = Path(__file__).resolve().parent.parent
DEV_ARTICLES = REPO / "examples" / "articles" / "squad-dev.jsonl"
DEV_QUESTIONS = REPO.parent / "shared" / "eval" / "dev" / "questions.jsonl"


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

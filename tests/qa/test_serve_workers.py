"""``qa-serve --workers``: several server processes over one index on disk."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.indexer.test_store import assert_consistent
from tests.reliability.conftest import AUTH, start_server, stop_server

WORKERS = 2


def _children(pid: int) -> set[int]:
    children: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        children.update(int(c) for c in (task / "children").read_text().split())
    return children


def _all_ready(url: str, times: int) -> bool:
    """``/healthz`` is 200 on ``times`` fresh connections in a row (each may land on any
    worker: they share the listening socket)."""
    deadline = time.monotonic() + 180
    streak = 0
    while time.monotonic() < deadline and streak < times:
        try:
            ok = httpx.get(f"{url}/healthz", timeout=5).status_code == 200
        except httpx.HTTPError:
            ok = False
        streak = streak + 1 if ok else 0
        if not ok:
            time.sleep(0.3)
    return streak >= times


@pytest.mark.slow
def test_workers_share_one_index_and_see_each_others_writes(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    demo.mkdir()
    (demo / "ferry.txt").write_text(
        "Ferry timetable changes\n\nThe island ferry now leaves at 7:40 every morning.\n"
    )
    (demo / "library.txt").write_text(
        "Library reopens\n\nThe town library reopened with 18,000 new books.\n"
    )
    index = tmp_path / "index"  # empty: every worker races to index the demo articles
    server = start_server(
        index,
        tmp_path / "qa-serve.log",
        "--workers",
        str(WORKERS),
        env={"QA_DEMO_DIR": str(demo)},
    )
    try:
        assert len(_children(server.process.pid)) >= WORKERS
        assert _all_ready(server.url, 20), server.log()
        health = httpx.get(f"{server.url}/healthz", timeout=5).json()
        assert (health["articles"], health["status"]) == (2, "ok")  # indexed once

        # A write through one worker is seen by asks through the others.
        article = {
            "id": "harbour",
            "title": "Harbour news",
            "text": "The harbour master counted 57 sailing boats on Sunday.",
        }
        r = httpx.post(f"{server.url}/api/articles", json=article, headers=AUTH, timeout=60)
        assert r.status_code in (200, 201), r.text
        for _ in range(3 * WORKERS):  # fresh connections: spread over the workers
            r = httpx.post(
                f"{server.url}/api/ask",
                json={"question": "How many sailing boats did the harbour master count?"},
                timeout=60,
            )
            assert r.status_code == 200
            answers = r.json()["answers"]
            assert answers and answers[0]["article"]["id"] == "harbour"
            assert "57" in answers[0]["quote"]
    finally:
        stop_server(server)
    assert assert_consistent(index) == (3, 3)

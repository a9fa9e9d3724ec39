"""A real full disk under a real ``qa-serve``: the index lives on a small tmpfs in the
server's own mount namespace (``unshare -m``, needs root), filled up from outside through
``/proc/<pid>/root``."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.reliability.conftest import AUTH, QUESTION_309, start_server, stop_server

pytestmark = pytest.mark.slow

MOUNT = "/mnt/qa-disk-full-test"


@pytest.mark.skipif(
    os.geteuid() != 0 or not (shutil.which("unshare") and shutil.which("nsenter")),
    reason="needs root, unshare and nsenter to mount a private tmpfs",
)
def test_a_full_disk_is_507_and_nothing_is_lost(small_index: Path, tmp_path: Path) -> None:
    size_kb = sum(p.stat().st_size for p in small_index.rglob("*") if p.is_file()) // 1024

    def on_a_small_disk(argv: list[str]) -> list[str]:
        script = (
            f"mkdir -p {MOUNT} && mount -t tmpfs -o size={size_kb + 4096}k tmpfs {MOUNT} && "
            f"cp -r {shlex.quote(str(small_index))} {MOUNT}/index && exec {shlex.join(argv)}"
        )
        return ["unshare", "-m", "--propagation", "private", "sh", "-c", script]

    server = start_server(Path(MOUNT) / "index", tmp_path / "server.log", wrap=on_a_small_disk)
    try:
        disk = Path(f"/proc/{server.process.pid}/root{MOUNT}")
        filler = disk / "filler"
        with open(filler, "wb") as f:  # fill the disk up to the last few KB
            try:
                while True:
                    f.write(bytes(64 * 1024))
                    f.flush()
            except OSError:
                pass
        os.truncate(filler, filler.stat().st_size - 16 * 1024)
        with httpx.Client(base_url=server.url, timeout=60) as client:
            before = client.get("/api/articles?limit=500").json()
            text = " ".join(f"Line {i} of a long report on the harbour works." for i in range(3000))
            article = {"id": "report", "title": "Harbour report", "text": text}
            full = client.post("/api/articles", json=article, headers=AUTH)
            assert full.status_code == 507, full.text
            assert "insufficient storage" in full.json()["detail"]
            # The same connection goes on; nothing was written; asks still work.
            assert client.get("/api/articles?limit=500").json() == before
            assert client.get("/api/articles/report").status_code == 404
            assert client.post("/api/ask", json={"question": QUESTION_309}).json()["found"]
            filler.unlink()
            again = client.post("/api/articles", json=article, headers=AUTH)
            assert again.status_code == 201, again.text
            assert client.get("/healthz").status_code == 200
        # In the server's mount namespace (SQLite resolves /proc/<pid>/root to our /mnt).
        check = subprocess.run(
            ["nsenter", "-t", str(server.process.pid), "-m", sys.executable, "-c"]
            + ["from indexer.cli import main; main()", "check", "--index", f"{MOUNT}/index"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert check.returncode == 0, check.stdout + check.stderr
    finally:
        stop_server(server)

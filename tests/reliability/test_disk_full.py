"""A real full disk under a real ``qa-serve``: the index lives on a small tmpfs in the
server's own mount namespace (``unshare -m``, needs root), filled up from outside through
``/proc/<pid>/root``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.reliability.conftest import AUTH, KEY, QUESTION_309, free_port

pytestmark = pytest.mark.slow

MOUNT = "/mnt/qa-disk-full-test"


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None,
    reason="needs root and unshare to mount a private tmpfs",
)
def test_a_full_disk_is_507_and_nothing_is_lost(small_index: Path, tmp_path: Path) -> None:
    size_kb = sum(p.stat().st_size for p in small_index.rglob("*") if p.is_file()) // 1024
    port = free_port()
    script = (
        f"mkdir -p {MOUNT} && mount -t tmpfs -o size={size_kb + 4096}k tmpfs {MOUNT} && "
        f"cp -r {small_index} {MOUNT}/index && exec {sys.executable} -c "
        f"'from qa.cli import serve_main; serve_main()' --index {MOUNT}/index --port {port}"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "QA_READER": "heuristic", "QA_API_KEY": KEY}
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert server.poll() is None, (tmp_path / "server.log").read_text()
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "server.log").read_text()
            time.sleep(0.3)
        disk = Path(f"/proc/{server.pid}/root{MOUNT}")
        index = disk / "index"
        filler = disk / "filler"
        with open(filler, "wb") as f:  # fill the disk up to the last few KB
            try:
                while True:
                    f.write(bytes(64 * 1024))
                    f.flush()
            except OSError:
                pass
        os.truncate(filler, filler.stat().st_size - 16 * 1024)
        with httpx.Client(base_url=url, timeout=60) as client:
            before = client.get("/api/articles?limit=500").json()
            text = " ".join(
                f"Line {i} of a long report about the harbour works." for i in range(3000)
            )
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
        check = subprocess.run(
            [
                sys.executable,
                "-c",
                "from indexer.cli import main; main()",
                "check",
                "--index",
                str(index),
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert check.returncode == 0, check.stdout + check.stderr
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()

"""Fixtures for the reliability tests: a small real index, apps over it, a real server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from qa.api.app import create_app
from qa.engine import Engine
from qa.settings import Settings
from qa.types import Article

REPO_ROOT = Path(__file__).resolve().parents[2]

KEY = "rel-test-key-8c1f"
AUTH = {"Authorization": f"Bearer {KEY}"}
SEED = REPO_ROOT / "qa" / "demo_articles" / "msn-pakistan-islamic-state.txt"
QUESTION_309 = "How many people associated with Islamic State has Pakistan arrested?"

# Short articles: cheap to embed, each with one fact a question can find.
SMALL_ARTICLES = [
    Article(
        id="zoo",
        title="Zoo news",
        url="https://example.org/zoo",
        text="The zoo in Springfield got three new capybaras on Monday. "
        "The keepers named them Tom, Ann and Bo.",
    ),
    Article(
        id="bridge",
        title="Harbour bridge reopens",
        url="https://example.org/bridge",
        text="The harbour bridge reopened on Monday after eight months of repairs. "
        "Engineers replaced 212 steel cables.",
    ),
]


@pytest.fixture(scope="session")
def small_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An index of the seed article and two short articles, built once per session."""
    from indexer.load import load_path

    directory = tmp_path_factory.mktemp("small-index")
    engine = Engine(Settings(index_dir=directory, reader="heuristic"))
    report = engine.add([*load_path(SEED), *SMALL_ARTICLES])
    assert not report.errors and len(report.added) == 3
    engine.store.close()
    return directory


@pytest.fixture
def small_index_copy(small_index: Path, tmp_path: Path) -> Path:
    target = tmp_path / "index"
    shutil.copytree(small_index, target)
    return target


def make_settings(index_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {"index_dir": index_dir, "reader": "heuristic", "api_key": KEY}
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def client(small_index_copy: Path) -> Iterator[TestClient]:
    """The real app over a private copy of the small index; server errors become 500s."""
    settings = make_settings(small_index_copy)
    app = create_app(settings, engine=Engine(settings))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_server(
    index_dir: Path,
    log_path: Path,
    *extra: str,
    env: dict[str, str] | None = None,
    wrap: Callable[[list[str]], list[str]] = lambda argv: argv,
) -> Server:
    """A real ``qa-serve`` on a free port of 127.0.0.1, ready to answer (or fail the test).
    ``wrap`` turns its command line into the one to run (e.g. inside a namespace)."""
    port = free_port()
    environment = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "QA_READER": "heuristic",
        "QA_API_KEY": KEY,
        **(env or {}),
    }
    log = log_path.open("wb")
    process = subprocess.Popen(
        wrap(
            [
                sys.executable,
                "-c",
                "from qa.cli import serve_main; serve_main()",
                "--index",
                str(index_dir),
                "--port",
                str(port),
                *extra,
            ]
        ),
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = Server(f"http://127.0.0.1:{port}", process, log_path)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"qa-serve exited with {process.returncode}:\n{server.log()}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    stop_server(server)
    pytest.fail(f"qa-serve did not become ready:\n{server.log()}")


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()

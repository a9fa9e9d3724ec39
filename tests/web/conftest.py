"""Fixtures for the chat page tests: a real ``qa-serve`` over a small real index, and a
headless Debian Chromium driven by Playwright (never ``playwright install``)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.web.corpus import REPO, write_corpus

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
ARTIFACTS = REPO / "tests" / "artifacts"
READY_TIMEOUT_S = 120


def _script(name: str) -> str:
    """A console script of this venv (``qa-index``, ``qa-serve``)."""
    local = Path(sys.executable).parent / name
    found = str(local) if local.exists() else shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed: run pip install -e '.[test]'")
    return found


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "QA_READER": "heuristic",
            # Read all three passages: answers from several sources must fold on the page.
            "QA_READ_MORE_BELOW": "1.0",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "OMP_NUM_THREADS": "1",
        }
    )
    env.pop("QA_API_KEY", None)
    env.pop("SLACK_BOT_TOKEN", None)
    return env


@pytest.fixture(scope="session")
def chat_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real index of the test corpus, built with ``qa-index add``."""
    root = tmp_path_factory.mktemp("chat")
    corpus = write_corpus(root / "articles")
    index = root / "index"
    done = subprocess.run(
        [_script("qa-index"), "add", str(corpus), "--index", str(index)],
        env=_server_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"qa-index add failed:\n{done.stdout}\n{done.stderr}"
    return index


@contextmanager
def running_qa_serve(index: Path, env: dict[str, str], log_path: Path) -> Iterator[str]:
    """``qa-serve --index INDEX`` on a free localhost port; yields its base URL once
    /healthz is 200, and stops it after."""
    port = _free_port()
    command = [_script("qa-serve"), "--index", str(index), "--host", "127.0.0.1"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*command, "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"qa-serve exited with {process.returncode}:\n{log_path.read_text()[-4000:]}"
                )
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"qa-serve not ready in {READY_TIMEOUT_S}s:\n{log_path.read_text()[-4000:]}"
                )
            time.sleep(0.5)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


@pytest.fixture(scope="session")
def chat_server(chat_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``qa-serve`` on a free localhost port; yields its base URL once /healthz is 200."""
    log_path = tmp_path_factory.mktemp("chat-server") / "qa-serve.log"
    with running_qa_serve(chat_index, _server_env(), log_path) as base:
        yield base


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Debian's Chromium, headless. Skipped (with the reason) only when it is not installed."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium (CI installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()


@dataclass
class PageEvents:
    """What the page did that a test may want to assert never happened."""

    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@pytest.fixture
def page_events() -> PageEvents:
    return PageEvents()


def open_page(browser, base: str, events: PageEvents, width: int = 1100, height: int = 800):  # noqa: ANN001, ANN201
    """A fresh browser context (own localStorage) with the chat page loaded and wired up."""
    context = browser.new_context(viewport={"width": width, "height": height}, base_url=base)
    context.set_default_timeout(30_000)
    page = context.new_page()

    def on_dialog(dialog) -> None:  # noqa: ANN001
        events.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("pageerror", lambda error: events.errors.append(f"page error: {error}"))
    page.on(
        "console",
        lambda msg: (
            events.errors.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None
        ),
    )
    page.goto("/")
    page.locator("html[data-ready=true]").wait_for(state="attached")
    return page


@pytest.fixture
def page(browser, chat_server: str, page_events: PageEvents) -> Iterator[object]:  # noqa: ANN001
    """The chat page at desktop width, in a fresh context."""
    page = open_page(browser, chat_server, page_events)
    yield page
    page.context.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS

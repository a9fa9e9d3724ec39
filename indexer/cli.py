"""``qa-index``: add, remove, list and count the articles of an index."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from qa.settings import Settings

if TYPE_CHECKING:
    from indexer.load import LoadError
    from qa.types import Article

app = typer.Typer(
    help=(
        "Build and manage the article index that qa-serve and qa-ask answer from.\n\n"
        "Example: qa-index add examples/articles/ --index ./qa-index"
    ),
    no_args_is_help=True,
    add_completion=False,
)
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


def _engine(index: Path | None):  # noqa: ANN202 - Engine import is slow; keep --help fast
    from indexer.store import IndexMismatchError
    from qa.engine import Engine

    settings = Settings(**({"index_dir": index} if index else {}))
    try:
        return Engine(settings)
    except IndexMismatchError as e:
        err.print(f"[red]error:[/] {e}")
        raise typer.Exit(2) from None


@app.command()
def add(
    sources: Annotated[
        list[str],
        typer.Argument(
            help="Files or folders (.txt incl. the URL-first seed format, .md, .html, .jsonl), "
            "or http(s) URLs of pages, RSS/Atom feeds (each item's page is fetched) and "
            "sitemaps (index files followed).",
            show_default=False,
        ),
    ],
    index: IndexOption = None,
) -> None:
    """Index articles. Unchanged articles are skipped; changed ones are updated.

    Bad files and URLs are reported with their name (and line, for JSONL) and skipped; the
    good ones are indexed. The exit code is 1 if any could not be loaded. URLs are fetched
    politely (User-Agent, robots.txt, a turn per host) and remembered: `qa-index refresh`
    re-reads them, and an unchanged page (304, or the same bytes) is not indexed again.
    """
    from indexer.load import load_paths
    from qa.progress import embed_progress
    from qa.sources import add_urls, is_url

    engine = _engine(index)
    urls = [s for s in sources if is_url(s)]
    paths = [Path(s) for s in sources if not is_url(s)]
    notes: list[str] = []
    errors: list[LoadError] = []
    duplicates: list[str] = []
    if paths:
        items = _noting_encodings(
            load_paths(paths, max_article_bytes=engine.settings.max_article_bytes), notes
        )
        with embed_progress(err) as bar:
            report = engine.add(
                items, on_planned=bar.on_planned, progress=bar.advance, update_bm25=False
            )
        _print_summary(report)
        errors += report.errors
        duplicates += report.duplicates
    if urls:
        # The operator's own command: any address may be fetched (the HTTP API may not).
        with embed_progress(err) as bar:
            web = add_urls(
                engine,
                urls,
                allow_private=True,
                on_planned=bar.on_planned,
                progress=bar.advance,
                update_bm25=False,
            )
        _print_summary(web.add, not_modified=len(web.not_modified), what="from the web: ")
        errors += web.errors
        duplicates += web.add.duplicates
    _update_bm25(engine)
    for note in notes:
        err.print(f"[yellow]note:[/] {note}", highlight=False)
    if duplicates:
        err.print(
            f"[yellow]warning:[/] duplicate ids in this batch (the last one was kept): "
            f"{escape(', '.join(sorted(set(duplicates))))}",
            highlight=False,
        )
    _exit_on_errors(errors)


@app.command()
def refresh(index: IndexOption = None) -> None:
    """Re-read every URL given to `qa-index add`: new or changed pages are indexed, unchanged
    ones (304, or the same bytes) are not. The exit code is 1 if any could not be read."""
    from qa.progress import embed_progress
    from qa.sources import refresh as refresh_sources

    engine = _engine(index)
    with embed_progress(err) as bar:
        web = refresh_sources(
            engine, on_planned=bar.on_planned, progress=bar.advance, update_bm25=False
        )
    _update_bm25(engine)
    _print_summary(web.add, not_modified=len(web.not_modified), what="from the web: ")
    _exit_on_errors(web.errors)


def _print_summary(report, not_modified: int | None = None, what: str = "") -> None:  # noqa: ANN001
    """One line: what an add did (``report``: an AddReport)."""
    fresh = f", {not_modified} not modified" if not_modified is not None else ""
    console.print(
        f"{what}[green]{len(report.added)} added[/], [cyan]{len(report.updated)} updated[/], "
        f"{len(report.unchanged)} unchanged{fresh}; "
        f"embedded {report.passages_embedded} passages"
        + (f" (reused {report.passages_reused} already embedded)" if report.passages_reused else "")
    )


def _exit_on_errors(errors: list[LoadError]) -> None:
    if errors:
        err.print(f"[red]{len(errors)} could not be loaded:[/]")
        for error in errors:
            err.print(f"  {error}", markup=False, highlight=False)
        raise typer.Exit(1)


def _noting_encodings(
    items: Iterable[Article | LoadError], notes: list[str]
) -> Iterator[Article | LoadError]:
    """Pass ``items`` through, noting the files that were not clean UTF-8 (still indexed)."""
    for item in items:
        encoding = getattr(item, "meta", {}).get("encoding")
        source = getattr(item, "source", None) or ""
        if encoding and not source.lower().endswith(".jsonl"):
            notes.append(f"{escape(source)}: not clean UTF-8; read as {escape(str(encoding))}")
        yield item


def _update_bm25(engine) -> None:  # noqa: ANN001 - see _engine
    """Rebuild the BM25 index after a write (seconds on a large index: show that it runs)."""
    with err.status("Building the BM25 index…"):
        engine.update_bm25()


@app.command()
def remove(
    ids: Annotated[list[str], typer.Argument(help="Article ids (see qa-index list).")],
    index: IndexOption = None,
) -> None:
    """Delete articles and their passages from the index."""
    engine = _engine(index)
    removed, missing = engine.remove(ids, update_bm25=False)
    _update_bm25(engine)
    if removed:
        console.print(f"removed {len(removed)}: {', '.join(removed)}", highlight=False)
    if missing:
        err.print(f"[yellow]not in the index:[/] {', '.join(missing)}", highlight=False)
        raise typer.Exit(1)


@app.command("list")
def list_articles(
    index: IndexOption = None,
    query: Annotated[
        str | None, typer.Option("--query", "-q", help="Filter by title or id.")
    ] = None,
    limit: Annotated[int, typer.Option(help="How many to show.")] = 100,
    offset: Annotated[int, typer.Option(help="How many to skip.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
) -> None:
    """List the indexed articles (id, title, passages, URL)."""
    total, rows = _engine(index).list_articles(offset, limit, query)
    if as_json:
        for r in rows:
            print(json.dumps({"id": r.id, "title": r.title, "url": r.url, "passages": r.passages}))
        return
    table = Table(title=f"{total} articles")
    for column in ("id", "title", "passages", "url"):
        table.add_column(column, overflow="fold")
    for r in rows:
        table.add_row(r.id, r.title, str(r.passages), r.url or "")
    console.print(table)


@app.command()
def feedback(
    index: IndexOption = None,
    export: Annotated[
        Path | None,
        typer.Option(
            help="Write the answers found helpful here as a qa-eval test set (JSONL).",
            dir_okay=False,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
) -> None:
    """List what readers said of answers (web page, Slack, API), or export it for qa-eval."""
    from qa.feedback import export_test_set

    engine = _engine(index)
    if export is not None:
        count = export_test_set(engine, export)
        console.print(f"wrote {count} questions to {escape(str(export))}", highlight=False)
        return
    total, records = engine.store.list_feedback(0, 2**31 - 1)
    if as_json:
        for r in records:
            print(json.dumps(r.__dict__, ensure_ascii=False))
        return
    table = Table(title=f"{total} pieces of feedback")
    for column in ("id", "helpful", "question", "answer", "article", "comment", "from"):
        table.add_column(column, overflow="fold")
    for r in records:
        cells = (r.question, r.answer_text, r.article_id, r.comment or "", r.channel)
        table.add_row(str(r.id), "yes" if r.helpful else "no", *map(escape, cells))
    console.print(table)


@app.command()
def stats(index: IndexOption = None) -> None:
    """Counts of articles, passages and vectors, the index types and the model."""
    engine = _engine(index)
    articles, passages = engine.counts()
    vectors, stale = engine.store.vector_counts()
    print(
        json.dumps(
            {
                "index_dir": str(engine.settings.index_dir),
                "articles": articles,
                "passages": passages,
                "vectors": vectors,
                # HNSW cannot delete: deleted passages' vectors wait, never returned, for the
                # rebuild that comes once they are a tenth of the graph.
                "stale_vectors": stale,
                "faiss": engine.store.faiss_kind(),
                # False after a crash or with an older version's index: FTS5 answers BM25
                # queries until the next add, or qa-serve, rebuilds it.
                "bm25_current": engine.store.lexical() is not None,
                "model": engine.embedder.name,
                "dim": engine.embedder.dim,
            },
            indent=2,
        )
    )


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app()

"""``qa-index``: add, remove, list and count the articles of an index."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from core.cli import DatabaseOption, IndexOption, console, err, settings_for, setup_logging
from core.settings import Settings

if TYPE_CHECKING:
    from core.types import Article
    from indexer.load import LoadError
    from indexer.pipeline import Indexer

app = typer.Typer(
    help=(
        "Build and manage the article index that qa-serve and qa-ask answer from.\n\n"
        "Example: qa-index add ~/news/ --index ./qa-index"
    ),
    no_args_is_help=True,
    add_completion=False,
)


def _indexer(settings: Settings, *, create: bool = False) -> Indexer:
    """The indexing pipeline over the index; only ``add`` (``create``) may start a new one.
    (Imported here, not at the top: the models' libraries are slow to import; --help is not.)"""
    from indexer.pipeline import Indexer
    from indexer.stores import index_exists
    from indexer.stores.base import IndexDamagedError, IndexMismatchError

    if not create and not index_exists(settings):
        err.print(f"[red]error:[/] no index at {escape(str(settings.index_dir))}")
        raise typer.Exit(2)
    try:
        return Indexer.from_settings(settings)
    except (IndexMismatchError, IndexDamagedError) as e:
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
    database_url: DatabaseOption = None,
    use_ray: Annotated[
        bool,
        typer.Option(
            "--ray",
            help="Load, split and embed files on Ray ($RAY_ADDRESS, else a local Ray), "
            "written in batches: a re-run after a crash finishes the job.",
        ),
    ] = False,
) -> None:
    """Index articles. Unchanged articles are skipped; changed ones are updated.

    Bad files and URLs are reported with their name (and line, for JSONL) and skipped; the
    good ones are indexed. The exit code is 1 if any could not be loaded. URLs are fetched
    politely (User-Agent, robots.txt, a turn per host) and remembered: `qa-index refresh`
    re-reads them, and an unchanged page (304, or the same bytes) is not indexed again.
    """
    from indexer.load import load_paths
    from indexer.progress import embed_progress
    from indexer.sources import add_urls, is_url

    settings = settings_for(index, database_url=database_url)
    indexer = _indexer(settings, create=True)
    urls = [s for s in sources if is_url(s)]
    paths = [Path(s) for s in sources if not is_url(s)]
    notes: list[str] = []
    errors: list[LoadError] = []
    duplicates: list[str] = []
    if paths and use_ray:
        from indexer.bulk import add_with_ray

        with embed_progress(err) as bar:
            bulk = add_with_ray(indexer, settings, paths, progress=bar.advance)
        _print_summary(bulk)
        errors += bulk.errors
        duplicates += bulk.duplicates
    elif paths:
        items = _noting_encodings(
            load_paths(paths, max_article_bytes=settings.max_article_bytes), notes
        )
        with embed_progress(err) as bar:
            report = indexer.add(
                items, on_planned=bar.on_planned, progress=bar.advance, update_bm25=False
            )
        _print_summary(report)
        errors += report.errors
        duplicates += report.duplicates
    if urls:
        # The operator's own command: any address may be fetched (the HTTP API may not).
        with embed_progress(err) as bar:
            web = add_urls(
                indexer,
                settings,
                urls,
                allow_private=True,
                on_planned=bar.on_planned,
                progress=bar.advance,
                update_bm25=False,
            )
        _print_summary(web.add, not_modified=len(web.not_modified), what="from the web: ")
        errors += web.errors
        duplicates += web.add.duplicates
    _update_bm25(indexer)
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
def refresh(index: IndexOption = None, database_url: DatabaseOption = None) -> None:
    """Re-read every URL given to `qa-index add`: new or changed pages are indexed, unchanged
    ones (304, or the same bytes) are not. The exit code is 1 if any could not be read."""
    from indexer.progress import embed_progress
    from indexer.sources import refresh as refresh_sources

    settings = settings_for(index, database_url=database_url)
    indexer = _indexer(settings)
    with embed_progress(err) as bar:
        web = refresh_sources(
            indexer, settings, on_planned=bar.on_planned, progress=bar.advance, update_bm25=False
        )
    _update_bm25(indexer)
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


@app.command("copy")
def copy_index_command(
    source: Annotated[
        str,
        typer.Argument(
            help="The index to copy: an index directory, or a postgresql:// URL.",
            show_default=False,
        ),
    ],
    index: IndexOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Copy another index into this one with its vectors: nothing is embedded again.

    Example, an index folder into a shared database:
    qa-index copy ./qa-index --database-url postgresql://qa@db.internal/qa

    Articles this index already holds as they are are skipped, so a copy that was stopped
    is finished by running it again. The fetched URLs come along (qa-index refresh keeps
    working); feedback stays in the source.
    """
    from indexer.copy import copy_index
    from indexer.progress import embed_progress
    from indexer.stores import index_exists, index_location, make_store
    from indexer.stores.base import IndexDamagedError, IndexMismatchError

    if source.startswith(("postgresql://", "postgres://")):
        source_settings = settings_for(None, database_url=source)
    else:
        source_settings = settings_for(Path(source), database_url="")
    if not index_exists(source_settings):
        err.print(f"[red]error:[/] no index at {escape(source)}")
        raise typer.Exit(2)
    settings = settings_for(index, database_url=database_url)
    if index_location(source_settings) == index_location(settings):
        err.print("[red]error:[/] the source is this index")
        raise typer.Exit(2)
    indexer = _indexer(settings, create=True)
    try:
        from_store = make_store(source_settings, indexer.store.model, indexer.store.dim)
    except (IndexMismatchError, IndexDamagedError) as e:
        err.print(f"[red]error:[/] {escape(source)}: {e}")
        raise typer.Exit(2) from None
    try:
        with embed_progress(err) as bar:
            bar.on_planned(from_store.counts()[0], "copying articles")
            report = copy_index(from_store, indexer.store, progress=bar.advance)
    finally:
        from_store.close()
    _update_bm25(indexer)
    console.print(
        f"copied {report.copied} articles ({report.passages} passages), "
        f"{report.unchanged} already there, {report.url_sources} fetched URLs",
        highlight=False,
    )


def _update_bm25(indexer: Indexer) -> None:
    """Rebuild the BM25 index after a write (seconds on a large index: show that it runs)."""
    with err.status("Building the BM25 index…"):
        indexer.store.update_lexical()


@app.command()
def remove(
    ids: Annotated[list[str], typer.Argument(help="Article ids (see qa-index list).")],
    index: IndexOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Delete articles and their passages from the index."""
    indexer = _indexer(settings_for(index, database_url=database_url))
    removed, missing = indexer.remove(ids, update_bm25=False)
    _update_bm25(indexer)
    if removed:
        console.print(f"removed {len(removed)}: {', '.join(removed)}", highlight=False)
    if missing:
        err.print(f"[yellow]not in the index:[/] {', '.join(missing)}", highlight=False)
        raise typer.Exit(1)


@app.command("list")
def list_articles(
    index: IndexOption = None,
    database_url: DatabaseOption = None,
    query: Annotated[
        str | None, typer.Option("--query", "-q", metavar="TEXT", help="Filter by title or id.")
    ] = None,
    limit: Annotated[int, typer.Option(metavar="N", help="How many to show.")] = 100,
    offset: Annotated[int, typer.Option(metavar="N", help="How many to skip.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
) -> None:
    """List the indexed articles (id, title, passages, URL)."""
    store = _indexer(settings_for(index, database_url=database_url)).store
    total, rows = store.list_articles(offset, limit, query)
    if as_json:
        for r in rows:
            print(json.dumps({"id": r.id, "title": r.title, "url": r.url, "passages": r.passages}))
        return
    if not sys.stdout.isatty():  # tab-separated lines, whole, for cut/grep
        for r in rows:
            print("\t".join((r.id, r.title, str(r.passages), r.url or "")))
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
    database_url: DatabaseOption = None,
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
    from indexer.feedback import export_test_set

    store = _indexer(settings_for(index, database_url=database_url)).store
    if export is not None:
        count = export_test_set(store, export)
        console.print(f"wrote {count} questions to {escape(str(export))}", highlight=False)
        return
    total, records = store.list_feedback(0, 2**31 - 1)
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
def stats(index: IndexOption = None, database_url: DatabaseOption = None) -> None:
    """Counts of articles, passages and vectors, the index types and the model (JSON)."""
    print(
        json.dumps(_indexer(settings_for(index, database_url=database_url)).store.stats(), indent=2)
    )


def _existing_index(index: Path | None) -> Path:
    from indexer.stores import uses_database
    from indexer.stores.embedded.records import DB_NAME

    settings = settings_for(index)
    if uses_database(settings):
        err.print(
            "[red]error:[/] check and repair work on an index directory; PostgreSQL keeps "
            "its own consistency (unset QA_DATABASE_URL to check a directory)"
        )
        raise typer.Exit(2)
    directory = settings.index_dir

    if not (directory / DB_NAME).is_file():
        err.print(f"[red]error:[/] no index at {escape(str(directory))}")
        raise typer.Exit(2)
    return directory


def _print_check(report, as_json: bool) -> None:  # noqa: ANN001 - CheckReport, imported late
    if as_json:
        print(json.dumps(report.to_json(), indent=2))
        return
    console.print(f"{report.articles} articles, {report.passages} passages", soft_wrap=True)
    for finding in report.findings:
        fix = "repairable" if finding.repairable else "not repairable"
        what = f"{finding.kind} {finding.id}" if finding.id else finding.kind
        console.print(
            f"  [red]{escape(what)}[/]: {escape(finding.problem)} [dim]({fix})[/]", soft_wrap=True
        )
    shown = len(report.findings)
    total = sum(report.counts.values())
    if total > shown:
        console.print(f"  … and {total - shown} more")
    for note in report.notes:
        console.print(f"  [dim]note: {escape(note)}[/]", soft_wrap=True)
    if report.ok:
        console.print("[green]ok[/]: every row and file matches its checksum")
    else:
        repairable = sum(f.repairable for f in report.findings)
        console.print(
            f"[red]{total} problem{'s' if total != 1 else ''}[/] ({repairable} repairable): "
            "qa-index repair re-derives what it can"
        )


@app.command()
def check(
    index: IndexOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Verify the whole index, changing nothing: SQLite's integrity check, the full-text
    index against the passages, every article and passage against its checksum (and each
    passage against its article's text), the vector file against its checksum and SQLite's
    vectors, the BM25 files against theirs. Exit code 1 when anything is damaged."""
    from indexer.embed import MODEL_DIM
    from indexer.stores.embedded.integrity import check_index

    report = check_index(_existing_index(index), MODEL_DIM)
    _print_check(report, as_json)
    raise typer.Exit(0 if report.ok else 1)


@app.command()
def repair(
    index: IndexOption = None,
    remove_damaged: Annotated[
        bool,
        typer.Option(
            "--remove-damaged", help="Delete damaged articles (they cannot be re-derived)."
        ),
    ] = False,
) -> None:
    """Re-derive what is damaged and can be re-derived: SQLite's indexes and the full-text
    index, the vector file and the BM25 index, damaged passages of intact articles (split and
    embedded again), missing checksums. A damaged article is listed, to be added again from
    its source (or deleted with --remove-damaged). Exit code 1 when damage remains."""
    from indexer.embed import MODEL_DIM
    from indexer.stores.embedded.integrity import check_index
    from indexer.stores.embedded.repair import repair_index

    directory = _existing_index(index)
    before = check_index(directory, MODEL_DIM)
    if before.ok:
        console.print("[green]ok[/]: nothing to repair")
        return
    result = repair_index(_indexer(settings_for(index)), before, remove_damaged=remove_damaged)
    for line in result.done:
        console.print(f"[green]done[/]: {escape(line)}", soft_wrap=True)
    for line in result.not_repaired:
        err.print(f"[yellow]not repaired[/]: {escape(line)}", soft_wrap=True)
    assert result.after is not None
    _print_check(result.after, as_json=False)
    raise typer.Exit(0 if result.after.ok else 1)


def main() -> None:
    setup_logging(timestamps=False)
    app()

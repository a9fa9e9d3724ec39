"""What the command-line tools share (``qa-index``, ``qa-ask``, ``qa-serve``, ``qa-eval``,
``qa-slack``): the ``--index`` option, the settings it makes, consoles that keep piped lines
whole, and logging."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from core.settings import Settings

# Piped output keeps its lines whole: a URL wrapped at 80 columns is no longer a URL.
console = Console(soft_wrap=not sys.stdout.isatty())
err = Console(stderr=True, soft_wrap=not sys.stderr.isatty())

IndexOption = Annotated[
    Path | None,
    typer.Option(
        "--index",
        metavar="DIR",
        help="Index directory (default: $QA_INDEX_DIR, else ./qa-index)",
        show_default=False,
    ),
]

DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        metavar="URL",
        help="postgresql://... : the index in PostgreSQL instead of the index directory "
        "(default: $QA_DATABASE_URL)",
        show_default=False,
    ),
]


def settings_for(index: Path | None, **overrides: Any) -> Settings:
    """The settings from the environment, with ``--index`` and the options given (None:
    not given) over them."""
    values: dict[str, Any] = {k: v for k, v in overrides.items() if v is not None}
    if index:
        values["index_dir"] = index
    return Settings(**values)


def setup_logging(level: int = logging.WARNING, *, timestamps: bool = True) -> None:
    """Log records at ``level`` and above to stderr (with their time: servers and long runs)."""
    when = "%(asctime)s " if timestamps else ""
    logging.basicConfig(level=level, format=when + "%(levelname)s %(name)s: %(message)s")

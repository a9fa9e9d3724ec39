"""Load articles from files and folders: the first step of the indexer.

Formats, chosen by suffix, one module each, registered in :data:`indexer.load.base.LOADERS`:

- :mod:`indexer.load.text`: ``.txt``, ``.md``, ``.markdown`` (plain text, Markdown);
- :mod:`indexer.load.seed`: ``.txt`` in the seed format (a URL line, numbers, a byline, body);
- :mod:`indexer.load.html`: ``.html``, ``.htm`` (main text by trafilatura);
- :mod:`indexer.load.jsonl`: ``.jsonl`` (one article a line).

A record (a JSONL line, or an article posted to the API) becomes an article by
:func:`~indexer.load.record.article_from_record`: its text is only repaired, never reflowed.
Every other text (files, web pages) is cleaned with :func:`~core.text.clean.clean_text`
before the :class:`~core.types.Article` is made, because all later offsets refer to the
stored text.

Bad input never raises: each problem is yielded as a :class:`LoadError` naming the file (and
the line, for JSONL), and the good articles next to it are still yielded.

>>> from pathlib import Path
>>> for item in load_path(Path("qa/demo_articles")):  # doctest: +SKIP
...     print(item if isinstance(item, LoadError) else item.id)
msn-pakistan-islamic-state
Warsaw
...
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from core.types import Article
from indexer.load.base import LOADERS, LoadError, LoadProblem, decode_text

# isort: off
# Each format registers its loader on import; this order is the order of SUPPORTED_SUFFIXES.
from indexer.load import text, html, jsonl  # noqa: F401

# isort: on
from indexer.load.html import load_html
from indexer.load.record import article_from_record, article_id_for_url

__all__ = [
    "DEFAULT_MAX_ARTICLE_BYTES",
    "SUPPORTED_SUFFIXES",
    "LoadError",
    "LoadProblem",
    "article_from_record",
    "article_files",
    "article_id_for_url",
    "decode_text",
    "load_file",
    "load_html",
    "load_path",
    "load_paths",
]

SUPPORTED_SUFFIXES = tuple(LOADERS)
DEFAULT_MAX_ARTICLE_BYTES = 20_000_000

# Files skipped in folder walks (not when named explicitly): README*, LICENSE*, LICENCE*.
_SKIPPED_IN_FOLDERS = re.compile(r"^(readme|licen[cs]e)([._-].*)?$", re.IGNORECASE)


def load_paths(paths: Iterable[Path | str], **kw: Any) -> Iterator[Article | LoadError]:
    """Load several files/folders in order; see :func:`load_path` for the keyword arguments."""
    for path in paths:
        yield from load_path(Path(path), **kw)


def load_path(
    path: Path | str, *, max_article_bytes: int = DEFAULT_MAX_ARTICLE_BYTES
) -> Iterator[Article | LoadError]:
    """Load the articles in a file or folder.

    Folders are walked recursively, files in order of their relative path. Hidden files and
    folders, unsupported suffixes and files named ``README*`` / ``LICENSE*`` are skipped
    silently there; a file named explicitly is always loaded (or reported).

    Article ids: a single file's stem; for files in a folder, the path relative to that
    folder without suffix (``news/2024/foo``); for JSONL, the ``"id"`` field, else
    ``<file id>-<line>``. ``source`` is the file path.

    Args:
        path: A file or a folder.
        max_article_bytes: Files (for JSONL: lines) larger than this are reported, not loaded.

    Yields:
        An :class:`Article` per article and a :class:`LoadError` per problem; never raises
        for bad input.
    """
    path = Path(path)
    try:
        if path.is_dir():
            files = sorted(_walk(path), key=lambda f: f.relative_to(path).as_posix())
            if not files:
                kinds = ", ".join(SUPPORTED_SUFFIXES)
                yield LoadError(str(path), f"folder has no article files ({kinds})")
            for file in files:
                doc_id = file.relative_to(path).with_suffix("").as_posix()
                yield from _load_file(file, doc_id, max_article_bytes)
        elif path.is_file():
            yield from _load_file(path, path.stem, max_article_bytes)
        elif path.exists():
            yield LoadError(str(path), "not a regular file or folder")
        else:
            yield LoadError(str(path), "path does not exist")
    except OSError as e:
        yield LoadError(str(path), f"cannot read: {e.strerror or e}")


def article_files(path: Path | str) -> list[tuple[Path, str]]:
    """(file, article id) of each file :func:`load_path` reads for ``path``, in its order
    (bulk indexing loads them side by side, :func:`load_file` each)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(_walk(path), key=lambda f: f.relative_to(path).as_posix())
        return [(f, f.relative_to(path).with_suffix("").as_posix()) for f in files]
    return [(path, path.stem)]


def load_file(
    path: Path, doc_id: str, *, max_article_bytes: int = DEFAULT_MAX_ARTICLE_BYTES
) -> Iterator[Article | LoadError]:
    """The articles of one file of :func:`article_files` (never raises for bad input)."""
    if not path.is_file():
        yield from load_path(path, max_article_bytes=max_article_bytes)  # says what is wrong
        return
    yield from _load_file(path, doc_id, max_article_bytes)


def _walk(folder: Path) -> Iterator[Path]:
    for root, dirs, names in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in names:
            if name.startswith(".") or _SKIPPED_IN_FOLDERS.match(name):
                continue
            if Path(name).suffix.lower() in SUPPORTED_SUFFIXES:
                yield Path(root) / name


def _load_file(path: Path, doc_id: str, max_bytes: int) -> Iterator[Article | LoadError]:
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        kinds = ", ".join(SUPPORTED_SUFFIXES)
        yield LoadError(str(path), f"unsupported file type {suffix!r} (supported: {kinds})")
        return
    try:
        yield from LOADERS[suffix](path, doc_id, max_bytes)
    except LoadProblem as e:
        yield LoadError(str(path), str(e))
    except OSError as e:
        yield LoadError(str(path), f"cannot read: {e.strerror or e}")
    except Exception as e:  # last line of defence: a bad file must not stop the others
        yield LoadError(str(path), f"unexpected error: {type(e).__name__}: {e}")

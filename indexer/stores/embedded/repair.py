"""``qa-index repair``: re-derive what :func:`~indexer.stores.embedded.integrity.check_index`
found damaged and can be re-derived from what is intact.

- SQLite's indexes (REINDEX) and the FTS5 index, from the tables;
- the FAISS file and the BM25 index, from SQLite (the store rebuilds a file that fails its
  checksum when it opens it; repair also rebuilds one whose vectors differ from SQLite's);
- damaged passages of intact articles: the article is split and embedded again;
- passages whose article is gone: deleted;
- rows without a checksum (written by an older version): checksums recorded.

An article row that fails cannot be re-derived (the index holds no other copy): it is listed
with where it came from, to be added again, or deleted with ``remove_damaged``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from indexer.pipeline import Indexer
from indexer.stores.embedded.integrity import CheckReport, check_index
from indexer.stores.embedded.store import EmbeddedStore

log = logging.getLogger(__name__)


@dataclass
class RepairReport:
    done: list[str] = field(default_factory=list)
    not_repaired: list[str] = field(default_factory=list)
    after: CheckReport | None = None


def repair_index(indexer: Indexer, before: CheckReport, *, remove_damaged: bool) -> RepairReport:
    """Repair the index of ``indexer.store`` from ``before`` (a check made just before).

    Args:
        indexer: the pipeline over the opened store (it splits and embeds again).
        before: what the check found.
        remove_damaged: delete damaged articles (with their passages) instead of listing them.
    """
    store = indexer.store
    if not isinstance(store, EmbeddedStore):
        raise TypeError("repair works on an index directory (the embedded store)")
    report = RepairReport()
    kinds = {f.kind for f in before.findings}
    rederive: set[str] = set()
    orphans: list[int] = []
    damaged_articles: list[str] = []
    for finding in before.findings:
        if finding.kind == "passage" and finding.id and finding.id.isdigit():
            if finding.repairable and finding.article and "not in the index" not in finding.problem:
                rederive.add(finding.article)
            elif "not in the index" in finding.problem:
                orphans.append(int(finding.id))
        elif finding.kind == "article" and finding.id:
            damaged_articles.append(finding.id)
    # An article without a checksum is not damaged: it gets one below.
    unverified = {
        f.id for f in before.findings if f.kind == "article" and "no checksum" in f.problem
    }
    damaged_articles = [a for a in damaged_articles if a not in unverified]

    with store.writing():
        if kinds & {"sqlite", "fts"}:
            store.rebuild_sqlite_indexes()
            report.done.append("rebuilt SQLite's indexes and the full-text index")
        if any("no checksum" in f.problem for f in before.findings):
            store.record_checksums()
            report.done.append("recorded the missing row checksums")
        if orphans:
            store.delete_rows([], orphans)
            report.done.append(f"deleted {len(orphans)} passages whose article is gone")
    if rederive:
        articles = store.read_articles(sorted(rederive))
        with store.writing():
            for article in articles.values():
                passages = indexer.split(article)
                vectors = (
                    indexer.embedder.encode([p.text for p in passages])
                    if passages
                    else np.zeros((0, indexer.embedder.dim), np.float32)
                )
                store.apply([(article, passages, vectors)])
        report.done.append(
            f"split and embedded again the damaged passages of {len(articles)} articles"
        )
    if damaged_articles:
        if remove_damaged:
            rowids = [
                int(a.removeprefix("rowid ")) if a.startswith("rowid ") else store.article_rowid(a)
                for a in damaged_articles
            ]
            with store.writing():
                store.delete_rows([r for r in rowids if r is not None], [])
            report.done.append(f"deleted {len(damaged_articles)} damaged articles")
        else:
            report.not_repaired += [
                f"article {a}: damaged; add it again from its source, or run qa-index repair "
                "--remove-damaged to delete it"
                for a in damaged_articles
            ]
    if "faiss" in kinds or rederive or orphans:
        with store.writing():
            store.rebuild_faiss()
        report.done.append("rebuilt the vector file from SQLite")
    store.update_lexical()
    if "bm25" in kinds:
        report.done.append("rebuilt the BM25 index from SQLite")
    report.after = check_index(store.directory, store.dim)
    return report

"""``qa-index add URL`` and ``qa-index refresh`` through the real CLI (typer's CliRunner)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

import indexer.cli
from tests.indexer.site import LocalSite, Route, article_page
from tests.indexer.test_web import FERRY, ZOO


def qa_index(*args: str):  # noqa: ANN201
    env = {"QA_READER": "heuristic", "QA_FETCH_HOST_INTERVAL_S": "0", "HF_HUB_OFFLINE": "1"}
    return CliRunner().invoke(indexer.cli.app, list(args), env=env, catch_exceptions=False)


def test_add_takes_urls_and_paths_and_refresh_rereads_the_urls(
    site: LocalSite, tmp_path: Path
) -> None:
    site.routes["/ferry.html"] = Route(article_page("Ferry", FERRY), etag='"f1"')
    local = tmp_path / "zoo.txt"
    local.write_text("Zoo news\n\n" + ZOO[0], encoding="utf-8")
    index = str(tmp_path / "index")
    added = qa_index(
        "add", str(local), site.url("/ferry.html"), site.url("/gone"), "--index", index
    )
    assert added.exit_code == 1  # one URL could not be read: named, the rest indexed
    assert "1 added, 0 updated, 0 unchanged; embedded 1 passages" in added.stdout
    assert "from the web: 1 added, 0 updated, 0 unchanged, 0 not modified" in added.stdout
    assert f"{site.url('/gone')}: HTTP 404 Not Found" in added.stderr

    refreshed = qa_index("refresh", "--index", index)
    assert refreshed.exit_code == 1  # /gone was given too, and is still gone
    assert "from the web: 0 added, 0 updated, 0 unchanged, 1 not modified" in refreshed.stdout

    site.routes["/gone"] = Route(article_page("Back", ["The ferry is back in service today."]))
    site.routes["/ferry.html"] = Route(article_page("Ferry", [*FERRY, "More ferries soon."]))
    refreshed = qa_index("refresh", "--index", index)
    assert refreshed.exit_code == 0, refreshed.stderr
    assert "from the web: 1 added, 1 updated, 0 unchanged, 0 not modified" in refreshed.stdout

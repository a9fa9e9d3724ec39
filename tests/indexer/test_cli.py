"""``qa-index``: only ``add`` starts an index; piped ``list`` prints whole lines."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import indexer.cli

SEED = (
    Path(__file__).resolve().parents[2] / "qa" / "demo_articles" / "msn-pakistan-islamic-state.txt"
)


@pytest.mark.parametrize("command", [["list"], ["stats"], ["remove", "some-id"]])
def test_commands_other_than_add_refuse_a_missing_index(tmp_path: Path, command: list[str]) -> None:
    missing = tmp_path / "missing"
    result = CliRunner().invoke(indexer.cli.app, [*command, "--index", str(missing)])
    assert result.exit_code != 0
    assert "no index at" in result.output
    assert not missing.exists()


@pytest.mark.slow
def test_piped_list_prints_one_whole_line_per_article(tmp_path: Path) -> None:
    index = tmp_path / "index"
    runner = CliRunner()
    added = runner.invoke(indexer.cli.app, ["add", str(SEED), "--index", str(index)])
    assert added.exit_code == 0, added.output
    listed = runner.invoke(indexer.cli.app, ["list", "--index", str(index)])
    assert listed.exit_code == 0, listed.output
    rows = [line.split("\t") for line in listed.stdout.splitlines()]
    assert len(rows) == 1
    article_id, title, passages, url = rows[0]
    assert article_id == "msn-pakistan-islamic-state"
    assert title.startswith("Pakistan says it foiled")
    assert int(passages) >= 1
    assert url.endswith("/pakistan-says-it-foiled-islamic-state-expansion-into-country/ar-AAimxWF")

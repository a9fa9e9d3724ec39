"""``qa-ask``: a missing index is an error, not a new folder; piped output keeps URLs whole."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import qa.cli


def _ask_app() -> typer.Typer:
    app = typer.Typer(add_completion=False)
    app.command()(qa.cli.ask)
    return app


def test_ask_refuses_a_missing_index_and_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "dir"
    result = CliRunner().invoke(_ask_app(), ["--index", str(missing), "x"])
    assert result.exit_code != 0
    assert "no index at" in result.output
    assert not (tmp_path / "no").exists()


def test_ask_refuses_a_folder_without_an_index(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not an index")
    result = CliRunner().invoke(_ask_app(), ["--index", str(tmp_path), "x"])
    assert result.exit_code != 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


@pytest.mark.slow
def test_piped_answer_keeps_the_url_on_one_line(demo_index: Path) -> None:
    qa_ask = Path(sys.executable).parent / "qa-ask"
    done = subprocess.run(
        [str(qa_ask), "How many people has Pakistan arrested?", "--index", str(demo_index)],
        env={**os.environ, "QA_READER": "heuristic", "COLUMNS": "80"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    url = (
        "http://www.msn.com/en-in/news/world/"
        "pakistan-says-it-foiled-islamic-state-expansion-into-country/ar-AAimxWF"
    )
    assert any(url in line for line in done.stdout.splitlines()), done.stdout

"""Every command's --help reads as plain words: no type labels like <bool> or <list[Path]>."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
import typer
from typer.testing import CliRunner

import indexer.cli
import qa.cli
import qa.evaluate
import qa.slack.socket
import qa.train.cli

# What typer 0.27+ prints after options and arguments: "<bool>", "<int>", "<list[Path]>"...
TYPE_LABEL = re.compile(r"<(?:bool|int|float|str|path|file|list\[[^>]*\])>", re.IGNORECASE)


def _app(command: Callable[..., object]) -> typer.Typer:
    """What ``typer.run`` builds for a console script's function."""
    app = typer.Typer(add_completion=False)
    app.command()(command)
    return app


COMMANDS = {
    "qa-index add": (indexer.cli.app, ["add"]),
    "qa-index remove": (indexer.cli.app, ["remove"]),
    "qa-index list": (indexer.cli.app, ["list"]),
    "qa-index stats": (indexer.cli.app, ["stats"]),
    "qa-ask": (_app(qa.cli.ask), []),
    "qa-serve": (_app(qa.cli.serve), []),
    "qa-slack": (_app(qa.slack.socket.run), []),
    "qa-eval": (qa.evaluate.app, []),
    "qa-train train": (qa.train.cli.app, ["train"]),
    "qa-train export": (qa.train.cli.app, ["export"]),
    "qa-train eval": (qa.train.cli.app, ["eval"]),
    "qa-train int8-ranges": (qa.train.cli.app, ["int8-ranges"]),
}


@pytest.mark.parametrize("name", COMMANDS)
def test_help_has_no_type_labels(name: str) -> None:
    app, args = COMMANDS[name]
    result = CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    assert "--help" in result.output and "Show this message" in result.output
    assert not TYPE_LABEL.findall(result.output), result.output

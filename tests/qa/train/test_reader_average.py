"""Averaging readers' weights ("model soup"): the mean of every weight, in the stored dtype."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

from qa.train.cli import app
from qa.train.reader import average_models


def _model(folder: Path, weights: dict[str, torch.Tensor]) -> Path:
    folder.mkdir()
    save_file(weights, folder / "model.safetensors")
    (folder / "config.json").write_text(json.dumps({"name": folder.name}))
    (folder / "vocab.txt").write_text("[PAD]\n")
    return folder


def test_the_average_is_each_weights_mean_in_the_stored_dtype(tmp_path: Path) -> None:
    a = _model(
        tmp_path / "a",
        {"w": torch.tensor([1.0, 2.0], dtype=torch.float16), "b": torch.tensor([0.5])},
    )
    b = _model(
        tmp_path / "b",
        {"w": torch.tensor([3.0, -2.0], dtype=torch.float16), "b": torch.tensor([1.5])},
    )
    out = average_models([a, b], tmp_path / "soup")

    averaged = load_file(out / "model.safetensors")
    assert averaged["w"].dtype == torch.float16
    assert averaged["w"].tolist() == [2.0, 0.0]
    assert averaged["b"].tolist() == [1.0]
    # the first model's config and tokenizer go with it; the sources are named
    assert json.loads((out / "config.json").read_text()) == {"name": "a"}
    assert (out / "vocab.txt").exists()
    sources = json.loads((out / "averaged.json").read_text())["averaged"]
    assert [s["model"] for s in sources] == [str(a), str(b)]


def test_models_of_other_shapes_are_refused(tmp_path: Path) -> None:
    a = _model(tmp_path / "a", {"w": torch.zeros(2)})
    b = _model(tmp_path / "b", {"w": torch.zeros(3)})
    c = _model(tmp_path / "c", {"v": torch.zeros(2)})
    for other in (b, c):
        with pytest.raises(ValueError, match="does not have the weights"):
            average_models([a, other], tmp_path / "soup")
    with pytest.raises(ValueError, match="at least two"):
        average_models([a], tmp_path / "soup")


def test_the_command_says_which_folder_holds_no_model(tmp_path: Path) -> None:
    a = _model(tmp_path / "a", {"w": torch.zeros(2)})
    result = CliRunner().invoke(
        app,
        ["average", "--model", str(a), "--model", str(tmp_path), "--out", str(tmp_path / "o")],
        env={"COLUMNS": "400"},  # the message on one line
    )
    assert result.exit_code != 0
    assert "holds no model.safetensors" in result.output
    assert not (tmp_path / "o").exists()

"""The README's example answer is a real answer: the same JSON the engine gives today."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _example_module():  # noqa: ANN202 - a script, loaded by path
    spec = importlib.util.spec_from_file_location(
        "readme_example", REPO / "scripts" / "readme_example.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_readme_example_is_todays_answer(demo_engine) -> None:  # noqa: ANN001
    example = _example_module()
    shown = example.readme_reply()
    reply = json.loads(
        example.render(json.loads(demo_engine.ask(example.QUESTION, k=example.K).model_dump_json()))
    )
    hint = "the README's example is stale: run python scripts/readme_example.py"
    assert shown["question"] == example.QUESTION
    assert isinstance(shown["took_ms"], float)
    # Scores may move in the last digits from one CPU to another; everything else is exact.
    shown_scores = [a.pop("score") for a in shown["answers"]]
    scores = [a.pop("score") for a in reply["answers"]]
    assert shown_scores == pytest.approx(scores, abs=0.01), hint
    assert {**shown, "took_ms": 0} == {**reply, "took_ms": 0}, hint


def test_readme_has_the_example_block() -> None:
    shown = _example_module().readme_reply()
    assert shown["found"] is True and shown["answers"][0]["text"] == "309"

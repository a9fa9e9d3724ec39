"""Regenerate the README's example answer from a real answer of the engine.

    python scripts/readme_example.py            # rewrite the block in README.md
    python scripts/readme_example.py --check    # exit 1 if the README's block is out of date

It indexes the bundled demo articles into a temporary folder (about a minute; ``--index DIR``
reuses an index of them) and asks the README's question with the default settings, as
``POST /api/ask`` would. ``tests/test_readme.py`` checks the README against the same answer.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parent.parent / "README.md"
QUESTION = "How many people associated with Islamic State has Pakistan arrested?"
K = 1
BEGIN = "<!-- example answer: written by scripts/readme_example.py -->"
END = "<!-- end of example answer -->"
_BLOCK = re.compile(re.escape(BEGIN) + r"\n```json\n(.*?)\n```\n" + re.escape(END), re.S)


def render(reply: dict[str, Any]) -> str:
    """The README's rendering of an ``/api/ask`` reply: rounded timing and scores."""
    reply = dict(reply, took_ms=round(reply["took_ms"], 1))
    reply["answers"] = [dict(a, score=round(a["score"], 4)) for a in reply["answers"]]
    return json.dumps(reply, indent=2, ensure_ascii=False)


def readme_reply(text: str | None = None) -> dict[str, Any]:
    """The example reply as the README shows it."""
    match = _BLOCK.search(README.read_text(encoding="utf-8") if text is None else text)
    if not match:
        raise ValueError(f"README.md has no block between {BEGIN!r} and {END!r}")
    return json.loads(match.group(1))


def _ask(index: Path) -> dict[str, Any]:
    from qa.demo import ensure_demo_index
    from qa.engine import Engine
    from qa.settings import Settings

    engine = Engine(Settings(index_dir=index))
    ensure_demo_index(engine)
    engine.warm_up()
    return json.loads(engine.ask(QUESTION, k=K).model_dump_json())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 if stale")
    parser.add_argument("--index", type=Path, help="an index of the demo articles to reuse")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        reply = _ask(args.index or Path(tmp) / "index")
    text = README.read_text(encoding="utf-8")
    block = f"{BEGIN}\n```json\n{render(reply)}\n```\n{END}"
    if args.check:
        shown = readme_reply(text)
        same = {**shown, "took_ms": 0} == {**json.loads(render(reply)), "took_ms": 0}
        print("README example is up to date" if same else "README example is stale")
        return 0 if same else 1
    README.write_text(_BLOCK.sub(lambda _: block, text, count=1), encoding="utf-8")
    print(block)
    return 0


if __name__ == "__main__":
    sys.exit(main())

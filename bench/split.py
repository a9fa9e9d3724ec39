"""Passage splitting of text without sentence breaks: the time must grow linearly.

    python -m bench.split [--sizes 100,400] [--rounds 5]

Each size is a single line of real dev-article words with no sentence punctuation, split by
``split_passages`` with the embedder's own tokenizer and the product's passage budget, as
``qa-index add`` does. Sizes are timed interleaved, round after round; the table gives each
size's median and its ratio to the smallest size's (linear: the ratio of the sizes).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import time

from bench.common import DEV_ARTICLES, header, load_average, write


def unbroken_text(chars: int, seed: int = 0) -> str:
    """``chars`` characters of dev-article words, one line, no sentence ends."""
    words = [
        w
        for line in DEV_ARTICLES.open(encoding="utf-8")
        for w in re.findall(r"[A-Za-z0-9']+", json.loads(line)["text"])
    ]
    rng = random.Random(seed)
    out: list[str] = []
    size = 0
    while size < chars:
        word = rng.choice(words)
        out.append(word)
        size += len(word) + 1
    return " ".join(out)[:chars]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="100,400", help="KB of text, comma-separated")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    from indexer.embed import TokenCounter
    from indexer.split import split_passages
    from qa.settings import Settings

    settings = Settings()
    counter = TokenCounter()
    sizes = [int(s) for s in args.sizes.split(",")]
    texts = {kb: unbroken_text(kb * 1000) for kb in sizes}
    split_passages("warm", texts[sizes[0]][:5000], count_tokens=counter)
    times: dict[int, list[float]] = {kb: [] for kb in sizes}
    passages: dict[int, int] = {}
    for _ in range(args.rounds):
        for kb in sizes:
            started = time.perf_counter()
            result = split_passages(
                "bench",
                texts[kb],
                max_tokens=settings.passage_max_tokens,
                overlap_sentences=settings.passage_overlap_sentences,
                count_tokens=counter,
            )
            times[kb].append(time.perf_counter() - started)
            passages[kb] = len(result)
    print(header("split: text without sentence breaks"))
    print(f"load average {load_average()}")
    base = statistics.median(times[sizes[0]])
    rows = {}
    print(f"{'KB':>6} {'passages':>9} {'median s':>9} {'ratio':>6} {'size ratio':>10}")
    for kb in sizes:
        median = statistics.median(times[kb])
        rows[kb] = {"passages": passages[kb], "median_s": median, "ratio": median / base}
        print(
            f"{kb:>6} {passages[kb]:>9} {median:>9.3f} {median / base:>6.2f} {kb / sizes[0]:>10.1f}"
        )
    path = write("split", {"load_average": load_average(), "sizes_kb": rows})
    print(f"-> {path}")


if __name__ == "__main__":
    main()

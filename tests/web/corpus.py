"""The small real corpus the browser tests index: the seed article, an XSS article, an
article with emoji before its answer (offsets are code points) and enough filler to page."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SEED_ARTICLE = REPO / "qa" / "demo_articles" / "msn-pakistan-islamic-state.txt"

SEED_ID = "news/msn-pakistan-islamic-state"  # the folder makes an id with a "/"
SEED_URL = (
    "http://www.msn.com/en-in/news/world/"
    "pakistan-says-it-foiled-islamic-state-expansion-into-country/ar-AAimxWF"
)
SEED_QUESTION = "How many people associated with Islamic State have Pakistani authorities arrested?"

XSS_ID = "safety/kestrel-payloads"
XSS_TITLE = "Kestrel browser test <img src=x onerror=alert(3)>"
XSS_SCRIPT = "<script>alert(1)</script>"
XSS_IMG = "<img src=x onerror=alert(2)>"
XSS_QUESTION = "In what year did the Kestrel security team write the payload?"
XSS_TEXT = (
    "The Kestrel browser project keeps a page of hostile strings for its testers.\n\n"
    f"The Kestrel security team wrote the payload {XSS_SCRIPT} in 2019 and the image "
    f"payload {XSS_IMG} a year later. Both must show up as plain text.\n\n"
    "Testers paste them into every field they find."
)

EMOJI_ID = "fun/harbor fair?#1%"  # an id that needs URL encoding
EMOJI_TITLE = "Harbor fair 🎡 opening day"
EMOJI_QUESTION = "How many visitors did the Harbor Fair welcome on opening day?"
EMOJI_ANSWER = "4,812"
EMOJI_PUBLISHED = "2023-08-01T09:00:00Z"
EMOJI_TEXT = (
    "🎉🎈🎆 Fireworks opened the season at the waterfront.\n\n"
    "🎡🎠 The Harbor Fair welcomed 4,812 visitors 🎟️ on opening day, the organisers said. "
    "Queues for the 🎢 coaster ran past the pier.\n\n"
    "The fair closes at the end of August."
)

FILLER_COUNT = 60  # with the three above: two pages of the articles panel (50 a page)
# Every catalogue note answers it: answers from several sources.
SHARED_QUESTION = "What is kept in the drawers of the archive?"


def filler(n: int) -> dict[str, str]:
    return {
        "id": f"catalogue/item-{n:03d}",
        "title": f"Catalogue note {n:03d}",
        "url": f"https://example.org/catalogue/{n:03d}",
        "text": f"Catalogue note {n:03d} records a ceramic bowl kept in drawer {n} of the archive.",
    }


def write_corpus(folder: Path) -> Path:
    """Write the corpus into ``folder`` (created) and return it."""
    (folder / "news").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SEED_ARTICLE, folder / "news" / SEED_ARTICLE.name)
    records = [
        {"id": XSS_ID, "title": XSS_TITLE, "url": "javascript:alert(4)", "text": XSS_TEXT},
        {"id": EMOJI_ID, "title": EMOJI_TITLE, "text": EMOJI_TEXT, "published": EMOJI_PUBLISHED},
        *(filler(n) for n in range(1, FILLER_COUNT + 1)),
    ]
    lines = (json.dumps(r, ensure_ascii=False) for r in records)
    (folder / "extra.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder

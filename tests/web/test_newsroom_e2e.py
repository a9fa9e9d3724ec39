"""The newsroom scenario end to end, with the real CLIs and a real ``qa-serve``: a local web
site publishes a feed of two news pages; ``qa-index add FEED`` indexes them without their
chrome; the server answers with the page URL, the publish date and a deep link; since/until,
a follow-up and feedback work over HTTP; a longer feed adds only its new page, by the CLI
and by the server's own schedule (``QA_REFRESH_MINUTES``), and the running server answers
from it."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.indexer.site import LocalSite, Route, article_page, rss
from tests.web.conftest import _script, running_qa_serve

pytestmark = pytest.mark.slow

ARRESTS = [
    "Pakistan's military on Thursday said it has crushed Islamic State's attempt to expand "
    "there, dismissing as propaganda claims that the militants had carried out a major bombing.",
    "Pakistani authorities have so far arrested 309 people associated with Islamic State (IS) "
    "on its territory, he said. They were involved in attacks on media and security personnel.",
    "Most of those captured by Pakistan were established Pakistani jihadists who had switched "
    "loyalties to Islamic State's self-proclaimed worldwide caliphate, but about 25 were "
    "foreigners including Afghans and some Syrians, he said.",
]
FERRY = [
    "The harbour ferry carried a record 4,812 passengers on Sunday, the port authority said.",
    "The old record, set in 2009, was 3,950 passengers in one day.",
]
ZOO = ["The zoo in Springfield welcomed three new capybaras on Monday, the keepers said."]
OWLS = ["A pair of snowy owls hatched four chicks in the city park aviary last week."]
QUESTION_309 = "How many people associated with Islamic State has Pakistan arrested?"


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "OMP_NUM_THREADS": "1",
            "QA_FETCH_HOST_INTERVAL_S": "0.05",
            **extra,
        }
    )
    for name in ("QA_API_KEY", "SLACK_BOT_TOKEN", "QA_ALLOW_PRIVATE_URLS"):
        env.pop(name, None)
    return env


def qa_index(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_script("qa-index"), *args], env=_env(), capture_output=True, text=True, timeout=600
    )


def publish(site: LocalSite, pages: list[str]) -> None:
    """The feed lists ``pages`` (newest first, as feeds do)."""
    content = {
        "arrests": ("Pakistan says it foiled Islamic State expansion", ARRESTS, "2016-09-08"),
        "ferry": ("Harbour ferry sets a record", FERRY, "2017-02-05"),
        "zoo": ("Capybaras arrive at the zoo", ZOO, "2017-03-06"),
        "owls": ("Snowy owl chicks hatch", OWLS, "2017-04-10"),
    }
    items = []
    for name in pages:
        title, paragraphs, day = content[name]
        path = f"/news/{name}.html"
        published = f"{day}T09:30:00+05:00"
        site.routes[path] = Route(
            article_page(title, paragraphs, published=published), etag=f'"{name}-1"'
        )
        items.append((title, site.url(path), f"{day}T04:30:00Z"))
    site.routes["/feed.xml"] = Route(rss(items[::-1]), content_type="application/rss+xml")


@pytest.fixture
def server(
    site: LocalSite, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[str, Path]]:
    """``qa-index add FEED`` into a new index, then ``qa-serve`` over it (refreshing its
    sources every ``request.param`` minutes, if given); yields the server's base URL and
    the index directory."""
    refresh_minutes = getattr(request, "param", None)
    publish(site, ["arrests", "ferry"])
    index = tmp_path / "index"
    added = qa_index("add", site.url("/feed.xml"), "--index", str(index))
    assert added.returncode == 0, added.stdout + added.stderr
    assert "from the web: 2 added, 0 updated, 0 unchanged, 0 not modified" in added.stdout

    env = _env(**({"QA_REFRESH_MINUTES": str(refresh_minutes)} if refresh_minutes else {}))
    with running_qa_serve(index, env, tmp_path / "qa-serve.log") as base:
        yield base, index


def ask(base: str, question: str, **extra: object) -> dict:
    r = httpx.post(f"{base}/api/ask", json={"question": question, **extra}, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()


def test_the_newsroom_scenario(site: LocalSite, server: tuple[str, Path]) -> None:
    base, index = server
    page = site.url("/news/arrests.html")

    # The 309 answer: the page URL, the page's date, a deep link to the quote.
    best = ask(base, QUESTION_309)["answers"][0]
    assert best["text"] == "309"
    assert best["article"]["url"] == page
    assert best["article"]["published"] == "2016-09-08"
    assert best["link"].startswith(page + "#:~:text=")
    article = httpx.get(f"{base}/api/articles/{best['article']['id']}").json()
    assert article["text"][best["start"] : best["end"]] == "309"
    for chrome in ("Home", "Weather", "Most read", "Council approves", "All rights", "Privacy"):
        assert chrome not in article["text"]

    # since / until restrict the articles searched.
    since = ask(base, QUESTION_309, since="2017-01-01")
    assert all(a["article"]["url"] != page for a in since["answers"])
    until = ask(base, QUESTION_309, until="2016-12-31")
    assert until["answers"][0]["text"] == "309"

    # A follow-up, with the conversation's history.
    follow = ask(base, "How many of them were foreigners?", history=[QUESTION_309])
    assert "25" in follow["answers"][0]["text"]

    # Feedback posts and lists.
    feedback = {
        "question": QUESTION_309,
        "answer_text": best["text"],
        "article_id": best["article"]["id"],
        "helpful": True,
        "comment": "Right, with the date",
    }
    assert httpx.post(f"{base}/api/feedback", json=feedback).status_code == 201
    listed = httpx.get(f"{base}/api/feedback").json()
    assert listed["total"] == 1 and listed["items"][0]["comment"] == "Right, with the date"

    # A longer feed: the CLI adds only the new page; the others answer 304.
    publish(site, ["arrests", "ferry", "zoo"])
    before = len(site.requests())
    longer = qa_index("add", site.url("/feed.xml"), "--index", str(index))
    assert longer.returncode == 0, longer.stdout + longer.stderr
    assert "1 added, 0 updated, 0 unchanged, 2 not modified" in longer.stdout
    statuses = {s.path: s.status for s in site.requests()[before:]}
    assert statuses["/news/arrests.html"] == 304 and statuses["/news/ferry.html"] == 304
    zoo = ask(base, "How many capybaras did the zoo in Springfield welcome?")
    assert zoo["answers"][0]["text"] == "three"
    assert zoo["answers"][0]["article"]["url"] == site.url("/news/zoo.html")


@pytest.mark.parametrize("server", [0.05], indirect=True)  # every 3 s
def test_the_server_refreshes_its_sources_on_schedule(
    site: LocalSite, server: tuple[str, Path]
) -> None:
    base, _ = server
    publish(site, ["arrests", "ferry", "owls"])
    deadline = time.monotonic() + 60
    while True:
        owls = ask(base, "How many chicks did the snowy owls hatch?")
        if owls["found"] and owls["answers"][0]["article"]["url"] == site.url("/news/owls.html"):
            break
        assert time.monotonic() < deadline, owls
        time.sleep(1)
    assert owls["answers"][0]["text"] == "four"
    assert owls["answers"][0]["article"]["published"] == "2017-04-10"

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from qa.engine import QuestionError
from tests.conftest import DEV_ARTICLES, DEV_QUESTIONS

QUESTION_309 = "How many people associated with Islamic State has Pakistan arrested?"


def test_the_seed_question_is_answered_verbatim(demo_engine) -> None:  # noqa: ANN001
    result = demo_engine.ask(QUESTION_309)
    assert result.found
    best = result.answers[0]
    assert "309" in best.text
    article = demo_engine.get_article(best.article.id)
    assert best.field == "text"
    assert article.text[best.start : best.end] == best.text
    assert article.text[best.quote_start : best.quote_end] == best.quote
    assert best.quote.startswith("Pakistani authorities have so far arrested 309 people")
    assert best.article.url.startswith("http://www.msn.com/")


@pytest.mark.parametrize(
    ("question", "k", "message"),
    [
        ("", 3, "empty"),
        ("   \n", 3, "empty"),
        ("x" * 5000, 3, "limit"),
        ("ok?", 0, "k must"),
        ("ok?", 1000, "k must"),
    ],
)
def test_bad_questions_raise_clear_errors(demo_engine, question: str, k: int, message: str) -> None:  # noqa: ANN001
    with pytest.raises(QuestionError, match=message):
        demo_engine.ask(question, k=k)


def test_follow_up_context_steers_retrieval(demo_engine) -> None:  # noqa: ANN001
    result = demo_engine.ask("and how many were foreigners?", context=QUESTION_309)
    assert result.found
    assert any("25" in a.text for a in result.answers)


def _dev_questions(limit: int) -> list[dict]:
    if not DEV_QUESTIONS.exists():
        pytest.skip(f"{DEV_QUESTIONS} is not on this machine")
    rows = [json.loads(line) for line in DEV_QUESTIONS.open(encoding="utf-8")]
    return rows[:: max(1, len(rows) // limit)][:limit]


@pytest.mark.slow
def test_answers_are_verbatim_on_250_dev_questions(demo_engine) -> None:  # noqa: ANN001
    texts = {a["id"]: a["text"] for a in map(json.loads, DEV_ARTICLES.open(encoding="utf-8"))}
    questions = _dev_questions(250)
    assert len(questions) == 250
    answered = 0
    for q in questions:
        result = demo_engine.ask(q["question"], k=3)
        for a in result.answers:
            text = texts.get(a.article.id) or demo_engine.get_article(a.article.id).text
            if a.field == "title":  # an answer quoted from the headline
                text = demo_engine.get_article(a.article.id).title
            assert text[a.start : a.end] == a.text
            assert text[a.quote_start : a.quote_end] == a.quote
            assert a.quote_start <= a.start <= a.end <= a.quote_end
            assert 0.0 <= a.score <= 1.0
        answered += result.found
    assert answered >= 200  # nearly all dev questions have an answer in the index


def test_the_reader_reads_more_passages_only_when_the_first_is_weak(demo_index) -> None:  # noqa: ANN001
    from qa.engine import Engine
    from qa.settings import Settings

    # The rule itself, on whole passages (the window read first is tested below).
    always = Engine(Settings(index_dir=demo_index, read_window_tokens=0, read_more_below=1.0))
    never = Engine(
        Settings(
            index_dir=demo_index, read_window_tokens=0, read_more_below=0.0, read_more_no_answer=1.0
        )
    )
    never.reader = always.reader  # one loaded model for both
    hits, read, spans = always.read_candidates(QUESTION_309)
    assert read == hits[:3] and {s.passage_index for s in spans} <= {0, 1, 2}
    hits1, read1, spans1 = never.read_candidates(QUESTION_309)
    assert read1 == hits1[:1] and {s.passage_index for s in spans1} == {0}
    # Reading in two steps finds the same spans as reading everything at once.
    for threshold in (0.0, 0.5, 0.999):
        stepwise = Engine(
            Settings(
                index_dir=demo_index,
                read_window_tokens=0,
                read_more_below=threshold,
                read_more_no_answer=1.0,
            )
        )
        stepwise.reader = always.reader
        _, read2, spans2 = stepwise.read_candidates("Who was born in Warsaw?")
        _, _, all_spans = always.read_candidates("Who was born in Warsaw?")
        first = [s for s in all_spans if s.passage_index == 0]
        if len(read2) == 1:
            assert spans2[: len(first)] == first and spans2[0].score >= threshold
        else:
            assert [(s.passage_index, s.start, s.end) for s in spans2] == [
                (s.passage_index, s.start, s.end) for s in all_spans
            ]


def test_the_reader_reads_more_passages_when_it_doubts_the_first_answers(demo_index) -> None:  # noqa: ANN001
    from qa.engine import Engine
    from qa.settings import Settings

    # The rule itself, on whole passages (the window read first is tested below).
    first = Engine(Settings(index_dir=demo_index, read_window_tokens=0, read_more_below=1.0))
    doubt = first.read_candidates(QUESTION_309)[2]
    no_answer = next(s.no_answer for s in doubt if s.passage_index == 0)
    assert 0.0 < no_answer < 1.0
    for limit, passages in ((no_answer, 3), (min(1.0, no_answer * 2), 1)):
        engine = Engine(
            Settings(
                index_dir=demo_index,
                read_window_tokens=0,
                read_more_below=0.0,
                read_more_no_answer=limit,
            )
        )
        engine.reader = first.reader
        assert len(engine.read_candidates(QUESTION_309)[1]) == passages


def test_the_best_passage_is_read_first_as_a_window_of_sentences_around_the_focus(
    demo_index,  # noqa: ANN001
) -> None:
    from core.text.sentences import split_sentences
    from qa.engine import Engine
    from qa.settings import Settings

    whole = Engine(Settings(index_dir=demo_index, read_window_tokens=0))
    windowed = Engine(Settings(index_dir=demo_index, read_window_tokens=64))
    windowed.reader = whole.reader  # one loaded model for both
    hits, read, spans = windowed.read_candidates(QUESTION_309)
    best = hits[0]
    assert whole.cascade.focus_window(best) is None  # off
    start, end = windowed.cascade.focus_window(best)
    # Whole sentences, holding the reranker's best pair, within the budget, inside the passage.
    sentences = [(s.start, s.end) for s in split_sentences(best.text)]
    assert start in {s for s, _ in sentences} and end in {e for _, e in sentences}
    assert start <= best.focus[0] < best.focus[1] <= end
    assert (start, end) != (0, len(best.text))
    # (a best pair longer than the budget is read alone)
    count = windowed.indexer.count_tokens
    pair = count([best.text[best.focus[0] : best.focus[1]]])[0]
    assert count([best.text[start:end]])[0] <= max(64, pair)
    # The reader was sure of the window: its spans are offsets into the whole passage.
    assert read == hits[:1] and spans
    assert all(start <= s.start < s.end <= end for s in spans)
    assert best.text[spans[0].start : spans[0].end] == "309"
    result = windowed.ask(QUESTION_309)
    article = windowed.get_article(result.answers[0].article.id)
    assert article.text[result.answers[0].start : result.answers[0].end] == "309"

    # A window the reader is not sure of is read again whole: the same spans as without it.
    for question in (QUESTION_309, "Who was born in Warsaw?"):
        unsure = Engine(
            Settings(index_dir=demo_index, read_window_tokens=64, read_more_no_answer=0.0)
        )
        plain = Engine(
            Settings(index_dir=demo_index, read_window_tokens=0, read_more_no_answer=0.0)
        )
        unsure.reader = plain.reader = whole.reader
        assert unsure.read_candidates(question)[1:] == plain.read_candidates(question)[1:]


def test_questions_past_ask_concurrency_wait_their_turn(demo_index) -> None:  # noqa: ANN001
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    from qa.engine import Engine
    from qa.settings import Settings

    engine = Engine(Settings(index_dir=demo_index, reader="heuristic", ask_concurrency=2))
    lock = threading.Lock()
    inside, most = 0, 0
    read_candidates = engine.read_candidates

    def counting(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        nonlocal inside, most
        with lock:
            inside += 1
            most = max(most, inside)
        try:
            time.sleep(0.05)  # long enough for the other askers to arrive
            return read_candidates(*args, **kwargs)
        finally:
            with lock:
                inside -= 1

    engine.read_candidates = counting
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(engine.ask, [QUESTION_309] * 16))
    assert most == 2
    assert all(r.answers == results[0].answers and r.found for r in results)


def test_the_ask_gate_lets_waiters_in_in_the_order_they_came() -> None:
    import threading
    import time

    from qa.engine import FifoGate

    gate = FifoGate(1)
    entered: list[int] = []

    def enter(i: int) -> None:
        gate.__enter__()
        entered.append(i)

    def wait_for(done: Callable[[], bool]) -> None:
        deadline = time.monotonic() + 10
        while not done():
            assert time.monotonic() < deadline
            time.sleep(0.001)

    gate.__enter__()  # held: everyone below waits
    threads = [threading.Thread(target=enter, args=(i,)) for i in range(6)]
    for i, thread in enumerate(threads):
        thread.start()
        wait_for(lambda i=i: len(gate._waiting) == i + 1)  # queued before the next one comes
    for i in range(6):
        gate.__exit__()
        wait_for(lambda i=i: len(entered) == i + 1)
        assert gate._free == 0  # the slot went straight to a waiter: no newcomer can take it
    gate.__exit__()
    for thread in threads:
        thread.join(10)
    assert entered == list(range(6))
    assert gate._free == 1


def test_a_write_can_leave_bm25_to_the_engine_in_the_background(demo_index_copy) -> None:  # noqa: ANN001
    import time

    from qa.engine import Engine
    from qa.settings import Settings
    from qa.types import Article

    engine = Engine(Settings(index_dir=demo_index_copy, reader="heuristic"))

    def bm25_finds(word: str) -> bool:
        deadline = time.monotonic() + 120
        while (lexical := engine.store.lexical()) is None:  # FTS5 answers meanwhile
            assert time.monotonic() < deadline, "the BM25 index was never rebuilt"
            time.sleep(0.1)
        assert lexical.generation == engine.store.generation
        return bool(lexical.search([word], 5))

    quokka = Article(id="quokka", title="Quokkas", text="Quokkas smile at the rangers on Rottnest.")
    assert engine.add([quokka], update_bm25="background").added == ["quokka"]
    assert bm25_finds("quokkas")
    assert engine.remove(["quokka"], update_bm25="background") == (["quokka"], [])
    assert not bm25_finds("quokkas")

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.text.sentences import split_sentences
from indexer.embed import TokenCounter
from indexer.split import approx_token_count, split_passages
from tests.conftest import SEED_ARTICLE

_tokens = TokenCounter()

sentence_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    min_size=0,
    max_size=120,
)
article_text = st.lists(
    st.one_of(sentence_text, st.sampled_from(["Dr. Smith left.", "It cost $3.5m.", "\n\n", "Ok!"])),
    max_size=40,
).map(" ".join)


@settings(max_examples=150, deadline=None)
@given(text=article_text, max_tokens=st.integers(min_value=5, max_value=80))
def test_every_passage_is_the_text_at_its_offsets(text: str, max_tokens: int) -> None:
    passages = split_passages("a", text, max_tokens=max_tokens, count_tokens=_tokens)
    for p in passages:
        assert text[p.start : p.end] == p.text
        assert p.text.strip() == p.text and p.text
    # Nothing but whitespace is left out: every word lives in some passage.
    covered = set()
    for p in passages:
        covered.update(range(p.start, p.end))
    assert all(text[i].isspace() for i in range(len(text)) if i not in covered)


@settings(max_examples=60, deadline=None)
@given(text=article_text, max_tokens=st.integers(min_value=20, max_value=80))
def test_passages_fit_the_token_budget_unless_one_word_is_longer(
    text: str, max_tokens: int
) -> None:
    for p in split_passages("a", text, max_tokens=max_tokens, count_tokens=_tokens):
        n = _tokens([p.text])[0]
        assert n <= max_tokens or len(p.text.split()) == 1


def test_real_article_passages_overlap_and_stay_under_the_model_window() -> None:
    text = SEED_ARTICLE.read_text(encoding="utf-8")
    passages = split_passages("seed", text, max_tokens=60, count_tokens=_tokens)
    assert len(passages) > 3
    assert max(_tokens([p.text for p in passages])) <= 60
    # Neighbours share a sentence (when the first holds more than one), so an answer at a
    # border is whole in one of them.
    multi = [
        (a, b)
        for a, b in zip(passages, passages[1:], strict=False)
        if len(split_sentences(a.text)) > 1
    ]
    assert multi
    for a, b in multi:
        assert b.start < a.end


def test_passage_ids_are_stable_and_depend_on_content() -> None:
    text = "One sentence here. Another one there."
    first = split_passages("x", text)
    assert [p.id for p in first] == [p.id for p in split_passages("x", text)]
    assert first[0].id != split_passages("y", text)[0].id


class _CountingTokenizer(TokenCounter):
    """The real tokenizer, adding up how many characters it is given to tokenise."""

    def __init__(self) -> None:
        super().__init__()
        self.chars = 0

    def __call__(self, texts):  # noqa: ANN001, ANN204
        texts = list(texts)
        self.chars += sum(map(len, texts))
        return super().__call__(texts)

    def offsets(self, texts):  # noqa: ANN001, ANN201
        texts = list(texts)
        self.chars += sum(map(len, texts))
        return super().offsets(texts)


def _unbroken(chars: int) -> str:
    words = SEED_ARTICLE.read_text(encoding="utf-8").replace(".", "").split()
    return " ".join(words[i % len(words)] for i in range(chars // 4))[:chars]


def test_text_without_sentence_breaks_is_tokenised_a_bounded_number_of_times() -> None:
    # Cutting by re-tokenising the rest of the text for every passage is quadratic: for
    # 200 KB it tokenised hundreds of times the text. Tokenise once, cut by offsets.
    text = _unbroken(200_000)
    counter = _CountingTokenizer()
    passages = split_passages("a", text, max_tokens=250, count_tokens=counter)
    assert len(passages) > 100
    assert counter.chars <= 3 * len(text)
    counts = _tokens([p.text for p in passages])
    assert max(counts) <= 250
    assert min(counts[:-1]) >= 200  # cut near the budget, not in small bits
    for p in passages:
        assert text[p.start : p.end] == p.text
    assert passages[0].start == 0 and passages[-1].end == len(text)


@pytest.mark.parametrize("counter", [_tokens, approx_token_count], ids=["offsets", "per-word"])
def test_long_sentence_pieces_are_word_aligned_and_fit(counter) -> None:  # noqa: ANN001
    text = "Intro. " + " ".join(f"word{i} naïve-café" for i in range(400)) + ". Outro."
    passages = split_passages("a", text, max_tokens=40, count_tokens=counter)
    words = set(text.replace(".", " ").split())
    for p in passages:
        assert text[p.start : p.end] == p.text
        assert counter([p.text])[0] <= 40
        assert all(w.strip(".") in words for w in p.text.split())

"""The one engine behind the CLI, the JSON API, the web page and the Slack bot."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from functools import cached_property
from pathlib import Path

import numpy as np

from indexer.clean import mask_boilerplate
from indexer.dates import DateError, date_bounds
from indexer.embed import Embedder, TokenCounter
from indexer.lexical import content_words
from indexer.load import LoadError
from indexer.pipeline import AddReport, Indexer
from indexer.split import split_sentences
from indexer.store import ArticleSummary, IndexStore
from qa.annotate import annotate
from qa.answer import build_answers
from qa.calibrate import Calibration, answer_scores, calibration_path
from qa.read.base import Reader, Span
from qa.rerank import LexicalReranker
from qa.retrieve import Hit, HybridRetriever
from qa.settings import Settings
from qa.types import Article, AskResult

log = logging.getLogger(__name__)

BUNDLED_READER = Path(__file__).parent / "models" / "reader"
# Used without a calibration file: the reader's own span probability.
DEFAULT_THRESHOLD = 0.25
MAX_HISTORY = 10  # earlier questions of a conversation a question may follow up on
# A follow-up is resolved against the newest earlier questions, back to one that names at
# least this many content words (a question that stands on its own), at most FOLLOW_UP_DEPTH.
FOLLOW_UP_MIN_WORDS = 3
FOLLOW_UP_DEPTH = 3


class QuestionError(ValueError):
    """The question cannot be asked (empty, too long, bad k)."""


def make_reader(settings: Settings) -> Reader:
    """The configured reader; the heuristic one when no trained model is available."""
    if settings.reader == "trained":
        path = settings.reader_path or BUNDLED_READER
        if (path / "model.safetensors").exists():
            from qa.read.trained import TrainedReader

            return TrainedReader(
                path, backend=settings.reader_backend, precision=settings.reader_precision
            )
        log.warning("no trained reader at %s: using the heuristic reader", path)
    from qa.read.heuristic import HeuristicReader

    return HeuristicReader()


def _title_span(span: Span, title: str, read_text: str) -> list[Span]:
    """A span read in the (whitespace-folded) title as offsets into the stored title."""
    words = read_text[span.start : span.end]
    at = title.find(words)
    if at < 0:  # the stored title has other whitespace: quote it only when it is the same
        return []
    return [dataclasses.replace(span, start=at, end=at + len(words), field="title")]


class Engine:
    """Loads the index and the models once; answers questions and edits the index.

    >>> engine = Engine(Settings(index_dir="qa-index"))  # doctest: +SKIP
    >>> engine.ask("How many people has Pakistan arrested?").answers[0].text  # doctest: +SKIP
    '309'
    """

    def __init__(self, settings: Settings | None = None, *, preload: bool = False) -> None:
        """Args:
        settings: the configuration (default: from the environment).
        preload: load the embedding model in the background while the index opens (servers,
            which warm up anyway; a short-lived CLI must not exit with a load in flight).
        """
        self.settings = settings or Settings()
        self.embedder = Embedder(
            batch_size=self.settings.embed_batch_size,
            backend=self.settings.embed_backend,
            query_precision=self.settings.query_precision,
        )
        if preload:
            self.embedder.preload()
        self.store = IndexStore(self.settings.index_dir, self.embedder.name, self.embedder.dim)
        self.indexer = Indexer(
            self.store,
            self.embedder,
            TokenCounter(),
            max_tokens=self.settings.passage_max_tokens,
            overlap_sentences=self.settings.passage_overlap_sentences,
            chunk_passages=self.settings.index_chunk_passages,
        )
        self.retriever = HybridRetriever(
            self.store,
            self.embedder,
            candidates=self.settings.retrieve_candidates,
            alpha=self.settings.hybrid_alpha,
            fusion=self.settings.fusion,
            rrf_k=self.settings.rrf_k,
        )
        self.reranker = LexicalReranker(self.store, weight=self.settings.rerank_weight)

    @cached_property
    def reader(self) -> Reader:
        """Loaded on first use: indexing never needs it."""
        return make_reader(self.settings)

    @cached_property
    def calibration(self) -> Calibration | None:
        """Each reader has its own (fitted on dev by ``python -m qa.calibrate``)."""
        return Calibration.load(calibration_path(self.reader.name))

    @cached_property
    def threshold(self) -> float:
        if self.settings.answer_threshold is not None:
            return self.settings.answer_threshold
        return self.calibration.threshold if self.calibration else DEFAULT_THRESHOLD

    def warm_up(self) -> Engine:
        """Load every model and answer one question, so the first real ask is fast.

        A missing BM25 index (an index written by an older version, or by a writer that
        stopped before building it) is built in the background; FTS5 answers meanwhile.
        """
        if self.store.lexical() is None:
            self.update_bm25(background=True)
        self.embedder.load()
        self.reader.read("warm up?", ["The engine warms up."])
        return self

    # ---- asking --------------------------------------------------------------------------
    def validate(self, question: str, k: int) -> str:
        question = question.replace("\x00", "").strip()
        if not question:
            raise QuestionError("the question is empty")
        try:
            question.encode("utf-8")
        except UnicodeEncodeError:
            raise QuestionError(
                "the question is not valid Unicode (it holds a lone surrogate, \\ud800-\\udfff)"
            ) from None
        if len(question) > self.settings.max_question_chars:
            raise QuestionError(
                f"the question is {len(question)} characters long; "
                f"the limit is {self.settings.max_question_chars}"
            )
        if not 1 <= k <= self.settings.max_k:
            raise QuestionError(f"k must be between 1 and {self.settings.max_k}, got {k}")
        return question

    def ask(
        self,
        question: str,
        k: int = 3,
        context: str | None = None,
        *,
        history: Sequence[str] = (),
        since: str | None = None,
        until: str | None = None,
    ) -> AskResult:
        """Answer ``question`` with up to ``k`` verbatim answers.

        Args:
            question: what to answer.
            k: how many answers (from distinct places) to return at most.
            context: an earlier question this one follows up on (used for retrieval only).
            history: the earlier questions of the conversation, oldest first (at most
                ``MAX_HISTORY``); the context is resolved from them
                (:meth:`follow_up_context`) when ``context`` is not given.
            since, until: ISO 8601 dates (or date-times): search only the articles published
                in that range, ``until`` included (an article with no date is outside it).

        Raises:
            QuestionError: empty or oversized question or history, k out of range, or a bad
                date.
        """
        return self.ask_traced(question, k, context, history=history, since=since, until=until)[0]

    def follow_up_context(self, history: Sequence[str]) -> str | None:
        """What a question follows up on, from the earlier questions of its conversation
        (oldest first): the newest of them, and the ones before it back to one that stands
        on its own (``FOLLOW_UP_MIN_WORDS`` content words), ``FOLLOW_UP_DEPTH`` at most.
        The JSON API, the chat page and Slack threads all resolve follow-ups here.

        Raises:
            QuestionError: more than ``MAX_HISTORY`` questions, or one over the size limit.

        >>> engine.follow_up_context(["Who won?", "How many people has Pakistan arrested?",
        ...                           "How many of them were foreigners?"])  # doctest: +SKIP
        'How many people has Pakistan arrested? How many of them were foreigners?'
        """
        if len(history) > MAX_HISTORY:
            raise QuestionError(
                f"history holds {len(history)} questions; at most {MAX_HISTORY} are taken"
            )
        earlier = [q.replace("\x00", "").strip() for q in history]
        for q in earlier:
            if len(q) > self.settings.max_question_chars:
                raise QuestionError(
                    f"a question in history is {len(q)} characters long; "
                    f"the limit is {self.settings.max_question_chars}"
                )
        taken: list[str] = []
        for q in reversed([q for q in earlier if q]):
            taken.insert(0, q)
            if len(content_words(q)) >= FOLLOW_UP_MIN_WORDS or len(taken) >= FOLLOW_UP_DEPTH:
                break
        return " ".join(taken) or None

    def published_within(self, since: str | None, until: str | None) -> np.ndarray | None:
        """Rowids of the passages of articles published from ``since`` to ``until``
        (inclusive); None when neither is given (no restriction).

        Raises:
            QuestionError: a bound that is not ISO 8601, or since after until.
        """
        if since is None and until is None:
            return None
        try:
            low, high = date_bounds(since, until)
        except DateError as e:
            raise QuestionError(str(e)) from None
        return self.store.rowids_published(low, high)

    def read_candidates(
        self,
        question: str,
        context: str | None = None,
        depth: int = 0,
        within: np.ndarray | None = None,
    ) -> tuple[list[Hit], list[Hit], list[Span]]:
        """Retrieve, rerank and read: the ranked passages (at least ``depth``), the passages
        read, and the reader's spans in them (``span.passage_index`` indexes the passages read).

        The reader's cost grows with every token it reads, so it reads the best passage first
        and the next ``rerank_passages - 1`` only when that one's best span scores below
        ``read_more_below`` or the reader doubts the passage answers at all
        (``read_more_no_answer``). The best passage itself is first read as a window around
        the reranker's best sentence pair (``read_window_tokens``, :meth:`_focus_window`),
        and whole only when the same two rules doubt the window. ``within`` restricts the
        passages searched (:meth:`published_within`).
        """
        self.store.refresh()
        query = f"{context.strip()} {question}" if context and context.strip() else question
        candidates = self.retriever.retrieve(
            query, max(depth, self.settings.rerank_candidates), within
        )
        hits = self.reranker.rerank(query, candidates)
        read = hits[: self.settings.rerank_passages]
        if not read:
            return hits, [], []
        titles = {
            a: title
            for a, (title, _) in self.store.article_refs(h.article_id for h in read).items()
        }
        read_more_below = self.settings.read_more_below
        if read_more_below is None:
            read_more_below = self.reader.read_more_below

        def sure(spans: list[Span]) -> bool:
            return bool(spans) and (
                spans[0].score >= read_more_below
                and spans[0].no_answer < self.settings.read_more_no_answer
            )

        def whole(hit: Hit) -> tuple[Hit, int, int]:
            return hit, 0, len(hit.text)

        window = self._focus_window(read[0]) if read_more_below < 1.0 else None
        if window is not None:
            spans = self._read(question, [(read[0], *window)], titles)
            if sure(spans):
                return hits, read[:1], spans
        if read_more_below >= 1.0 or len(read) == 1:
            return hits, read, self._read(question, [whole(h) for h in read], titles)
        spans = self._read(question, [whole(read[0])], titles)
        if sure(spans):
            return hits, read[:1], spans
        more = self._read(question, [whole(h) for h in read[1:]], titles)
        shifted = [dataclasses.replace(s, passage_index=s.passage_index + 1) for s in more]
        # The reader's own order: score, then raw logit.
        spans = sorted(spans + shifted, key=lambda s: (-s.score, -s.logit))[:10]
        return hits, read, spans

    def _read(
        self, question: str, parts: Sequence[tuple[Hit, int, int]], titles: dict[str, str]
    ) -> list[Span]:
        """Read ``hit.text[start:end]`` of each part after its article's title, with news
        furniture (datelines, captions, promos) blanked out; the spans come back as offsets
        into ``hit.text``, or into the title (``field="title"``) for an answer in the headline.
        """
        texts: list[str] = []
        prefixes: list[int] = []
        for hit, start, end in parts:
            title = " ".join(titles.get(hit.article_id, "").split())
            body = mask_boilerplate(hit.text)[start:end]
            # a passage that opens with the headline reads it already
            prefix = f"{title}\n\n" if title and not body.lstrip().startswith(title) else ""
            texts.append(prefix + body)
            prefixes.append(len(prefix))
        spans: list[Span] = []
        for span in self.reader.read(question, texts, top_n=10):
            hit, start, _ = parts[span.passage_index]
            skip = prefixes[span.passage_index]
            if span.start >= skip:
                spans.append(
                    dataclasses.replace(
                        span, start=span.start - skip + start, end=span.end - skip + start
                    )
                )
            elif skip and span.end <= skip - 2:
                title = titles[hit.article_id]
                spans.extend(_title_span(span, title, texts[span.passage_index]))
        return spans

    def _focus_window(self, hit: Hit) -> tuple[int, int] | None:
        """``[start, end)`` in ``hit.text`` of the whole sentences around the reranker's best
        sentence pair that fit ``read_window_tokens`` word pieces, grown one sentence at a
        time on alternate sides; None when the setting is 0 (off) or the passage fits anyway."""
        budget = self.settings.read_window_tokens
        if not budget or hit.focus is None:
            return None
        sentences = split_sentences(hit.text)
        counts = self.indexer.count_tokens([hit.text[s.start : s.end] for s in sentences])
        if sum(counts) <= budget:
            return None
        lo = next(i for i, s in enumerate(sentences) if s.start >= hit.focus[0])
        hi = max(i for i, s in enumerate(sentences) if s.end <= hit.focus[1])
        used = sum(counts[lo : hi + 1])
        grown = True
        while grown:
            grown = False
            if lo > 0 and used + counts[lo - 1] <= budget:
                lo, used, grown = lo - 1, used + counts[lo - 1], True
            if hi + 1 < len(sentences) and used + counts[hi + 1] <= budget:
                hi, used, grown = hi + 1, used + counts[hi + 1], True
        return sentences[lo].start, sentences[hi].end

    def ask_traced(
        self,
        question: str,
        k: int = 3,
        context: str | None = None,
        depth: int = 0,
        *,
        history: Sequence[str] = (),
        since: str | None = None,
        until: str | None = None,
    ) -> tuple[AskResult, list[Hit]]:
        """:meth:`ask`, also returning the ranked passages (at least ``depth``; for evaluation)."""
        started = time.perf_counter()
        question = self.validate(question, k)
        if context is None:
            context = self.follow_up_context(history)
        within = self.published_within(since, until)
        hits, read, spans = self.read_candidates(question, context, depth, within)
        if self.calibration:
            answerable = self.calibration.answerable(spans, read)
            # A follow-up's passages were retrieved for the earlier question too: their
            # evidence would favour the earlier answer, so the reader alone orders them.
            weights = None if context else self.calibration.rank_weights
            scores = answer_scores(answerable, spans, read, weights)
        else:
            scores = [s.score for s in spans]
        refs = self.store.article_refs(h.article_id for h in read)
        share = self.settings.quote_neighbour_share
        if share is None:
            share = self.reader.quote_neighbour_share
        answers = [
            a
            for a in build_answers(
                read, spans, scores, refs, k, share, self.settings.quote_min_words
            )
            if a.score >= self.threshold
        ]
        answers = annotate(answers, self.store.article_dates(a.article.id for a in answers))
        result = AskResult(
            question=question,
            found=bool(answers),
            took_ms=round((time.perf_counter() - started) * 1000, 1),
            answers=answers,
        )
        return result, hits

    # ---- the index -----------------------------------------------------------------------
    def add(
        self,
        items: Iterable[Article | LoadError],
        *,
        on_planned: Callable[[int], None] | None = None,
        progress: Callable[[int], None] | None = None,
        update_bm25: bool = True,
    ) -> AddReport:
        return self.indexer.add(
            items, on_planned=on_planned, progress=progress, update_bm25=update_bm25
        )

    def remove(
        self, article_ids: Sequence[str], *, update_bm25: bool = True
    ) -> tuple[list[str], list[str]]:
        return self.indexer.remove(article_ids, update_bm25=update_bm25)

    def update_bm25(self, *, background: bool = False) -> None:
        """Bring the BM25 index up to the latest write (after ``add``/``remove`` with
        ``update_bm25=False``); in the background, FTS5 answers until it is done."""
        if background:
            self.store.update_lexical_in_background()
        else:
            self.store.update_lexical()

    def get_article(self, article_id: str) -> Article | None:
        return self.store.get_article(article_id)

    def list_articles(
        self, offset: int = 0, limit: int = 50, query: str | None = None
    ) -> tuple[int, list[ArticleSummary]]:
        return self.store.list_articles(offset, limit, query)

    def counts(self) -> tuple[int, int]:
        return self.store.counts()

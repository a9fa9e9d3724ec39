"""The one engine behind the CLI, the JSON API, the web page and the Slack bot."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from core.text.answer_checks import (
    asks_for_a_year,
    cannot_answer,
    foretold,
    misses_the_negation,
    names_the_loser,
    reported_before,
)
from core.text.names import names_another_place, owns_what_is_asked, takes_the_names_place
from core.text.sentences import split_sentences
from core.text.words import content_words
from indexer.dates import DateError, date_bounds
from indexer.load import LoadError
from indexer.pipeline import AddReport, Indexer
from indexer.stores.base import ArticleSummary, IndexDamagedError, IndexMismatchError, is_disk_full
from qa.annotate import annotate
from qa.answer import answer_and_sentence, build_answers, quote_bounds
from qa.confidence import Confidence, load_confidence, span_features
from qa.read.base import Reader, Span
from qa.read.cascade import ReadCascade
from qa.read.verify import AnswerVerifier
from qa.rerank import LexicalReranker
from qa.retrieve import Hit, HybridRetriever
from qa.settings import Settings, available_cores
from qa.types import Answer, Article, AskResult

if TYPE_CHECKING:
    from indexer.web import WebReport

log = logging.getLogger(__name__)

BUNDLED_READER = Path(__file__).parent / "models" / "reader"
# Used without a calibration file: the reader's own span probability.
DEFAULT_THRESHOLD = 0.25
SELF_TEST_RETRY_SECONDS = 5.0  # while failing, /healthz runs the self-test at most this often
SELF_TEST_MAX_AGE_SECONDS = 60.0  # and while passing, at least this often (when polled)
PROBE_CHARS = 300  # the self-test asks at most this much of a stored sentence


MAX_HISTORY = 10  # earlier questions of a conversation a question may follow up on
# A follow-up is resolved against the newest earlier questions, back to one that names at
# least this many content words (a question that stands on its own), at most FOLLOW_UP_DEPTH.
FOLLOW_UP_MIN_WORDS = 3
FOLLOW_UP_DEPTH = 3


class QuestionError(ValueError):
    """The question cannot be asked (empty, too long, bad k)."""


def public_reason(exc: BaseException) -> str:
    """What went wrong, in a few words fit for /healthz and API errors: never a path (the
    server log has the details)."""
    if isinstance(exc, IndexMismatchError):
        return exc.reason
    if isinstance(exc, IndexDamagedError):
        return str(exc)
    if is_disk_full(exc):
        return "the disk holding the index is full"
    if isinstance(exc, sqlite3.DatabaseError):
        return "the index database cannot be read (damaged?): run qa-index check"
    if isinstance(exc, OSError):
        return "the index files cannot be read or written"
    return f"{type(exc).__name__} (see the server log)"


@dataclass(frozen=True)
class HealthReport:
    """Whether a real ask works now. ``reason``: why not (no paths); ``note``: damage
    withheld from answers while they still work."""

    ok: bool
    reason: str | None = None
    note: str | None = None


# How a write brings the BM25 index up to date: True, before returning; "background", on a
# background thread, FTS5 answering meanwhile (a server's writes: rebuilding takes seconds on
# a large index); False, not at all (the caller calls Engine.update_bm25 when it is done).
BM25Update = bool | Literal["background"]


def make_reader(settings: Settings) -> Reader:
    """The configured reader; the heuristic one when no trained model is available."""
    if settings.reader == "trained":
        path = settings.reader_path or BUNDLED_READER
        if (path / "model.safetensors").exists():
            from qa.read.trained import TrainedReader

            return TrainedReader(
                path,
                threads=settings.reader_threads,
                sessions=settings.reader_sessions,
                backend=settings.reader_backend,
                precision=settings.reader_precision,
            )
        log.warning("no trained reader at %s: using the heuristic reader", path)
    from qa.read.heuristic import HeuristicReader

    return HeuristicReader()


class FifoGate:
    """At most ``slots`` holders at once; the others are let in strictly in the order they
    came. A freed slot goes straight to the longest waiter, so a newcomer never slips in
    ahead of it (``threading.Semaphore`` lets it: under load some questions lose that race
    again and again, and their wait makes the latency's long tail).

    >>> gate = FifoGate(2)
    >>> with gate:
    ...     pass
    """

    def __init__(self, slots: int) -> None:
        if slots < 1:
            raise ValueError(f"slots must be at least 1, got {slots}")
        self._free = slots
        self._lock = threading.Lock()
        self._waiting: deque[threading.Event] = deque()

    def __enter__(self) -> None:
        with self._lock:
            if self._free and not self._waiting:
                self._free -= 1
                return
            turn = threading.Event()
            self._waiting.append(turn)
        try:
            turn.wait()  # set by __exit__, which hands its slot over
        except BaseException:  # interrupted: leave the queue, or pass on a slot just given
            with self._lock:
                handed = turn not in self._waiting
                if not handed:
                    self._waiting.remove(turn)
            if handed:
                self.__exit__()
            raise

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            if self._waiting:
                self._waiting.popleft().set()
            else:
                self._free += 1


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
        self.indexer = Indexer.from_settings(self.settings, preload=preload)
        self.store = self.indexer.store
        self.embedder = self.indexer.embedder
        # Questions past this many wait their turn: many threads running Python at once
        # contend for the GIL, and the reader's runners then wait for it between windows.
        self._asking = FifoGate(self.settings.ask_concurrency or 2 * available_cores())
        self.retriever = HybridRetriever(
            self.store,
            self.embedder,
            candidates=self.settings.retrieve_candidates,
            alpha=self.settings.hybrid_alpha,
            fusion=self.settings.fusion,
            rrf_k=self.settings.rrf_k,
        )
        self.reranker = LexicalReranker(self.store, weight=self.settings.rerank_weight)
        self.withheld = 0  # answers withheld because they were not the stored text
        self._health_lock = threading.Lock()
        self._tested_generation: int | None = None  # None: never self-tested (a CLI's engine)
        self._failure: str | None = None  # why the self-test or the last ask failed
        self._tested_at = 0.0
        self._damage_seen: tuple[int, int, int] = (0, 0, 0)  # at the last self-test

    @cached_property
    def reader(self) -> Reader:
        """Loaded on first use: indexing never needs it."""
        return make_reader(self.settings)

    @property
    def cascade(self) -> ReadCascade:
        """The reader with the settings for how much it reads (a window of the best passage
        sized by the embedder's tokenizer, then more). Made per question: cheap, and a reader
        swapped in is the one used."""
        more_below = self.settings.read_more_below
        if more_below is None:
            more_below = self.reader.read_more_below
        return ReadCascade(
            self.reader,
            self.indexer.count_tokens,
            window_tokens=self.settings.read_window_tokens,
            more_below=more_below,
            more_no_answer=self.settings.read_more_no_answer,
        )

    @cached_property
    def confidence(self) -> Confidence | None:
        """The reader's fitted confidence model (``qa-train calibrate``), if it has one for
        these very weights and precision."""
        confidence = load_confidence(self.reader)
        if confidence is None:
            log.warning(
                "no confidence model fitted for %s: scores are the reader's own", self.reader.name
            )
        return confidence

    @cached_property
    def verifier(self) -> AnswerVerifier | None:
        """The answer verifier the confidence's gate was fitted with, when the gate decides
        (no explicit ``answer_threshold``, ``verify_answers`` on)."""
        from core.onnx import weights_fingerprint

        gate = self.confidence
        if (
            gate is None
            or not gate.gate_weights
            or not self.settings.verify_answers
            or self.settings.answer_threshold is not None
        ):
            return None
        verifier = AnswerVerifier()
        if weights_fingerprint(verifier.path) != gate.verifier:
            log.warning("the gate was fitted with another answer verifier: the score decides")
            return None
        return verifier

    @cached_property
    def threshold(self) -> float:
        if self.settings.answer_threshold is not None:
            return self.settings.answer_threshold
        return self.confidence.threshold if self.confidence else DEFAULT_THRESHOLD

    def warm_up(self) -> Engine:
        """Load every model and answer one question, so the first real ask is fast.

        A missing BM25 index (an index written by an older version, or by a writer that
        stopped before building it) is built in the background; FTS5 answers meanwhile.
        """
        if not self.store.lexical_current():
            self.update_bm25(background=True)
        self.embedder.load()
        self.reader.read("warm up?", ["The engine warms up."])
        if self.verifier is not None:
            self.verifier.logits("warm up?", [("engine", "The engine warms up.")])
        self.self_test()
        return self

    # ---- health --------------------------------------------------------------------------
    def self_test(self, *, newest: bool | None = None) -> str | None:
        """Ask one real question through the whole answer path: the start of a stored
        sentence, which retrieval must find again (see :meth:`_probe`). Returns None when it
        works, else why not (recorded for :meth:`health`).

        Args:
            newest: ask about the newest passage (default: when the index changed since the
                last self-test), else about a random one.
        """
        with self._health_lock:
            if newest is None:
                newest = self._tested_generation != self.store.generation
            self._tested_generation = self.store.generation
        reason = self._probe(newest)
        with self._health_lock:
            self._failure, self._tested_at = reason, time.monotonic()
            self._damage_seen = (self.withheld, *self.store.flagged())
        if reason:
            log.error("self-test failed: %s", reason)
        return reason

    def _probe(self, newest: bool) -> str | None:
        """Ask about the newest passage after a change of the index (did the write work?),
        else about one from a random place (over time, the self-test samples it all)."""
        try:
            probe = self.store.probe_passage(newest=newest)
            if probe is None:
                return None  # nothing indexed: nothing to find
            sentence = next(iter(split_sentences(probe.text)), None)
            if sentence is None:
                return None
            end = min(sentence.end, sentence.start + PROBE_CHARS)
            if end < sentence.end:  # cut at a word boundary
                end = max(probe.text.rfind(" ", sentence.start, end), sentence.start + 1)
            question = probe.text[sentence.start : end].strip()
            _, hits = self._answer(question, 1, None, 0, time.perf_counter())
        except QuestionError:
            return None
        except Exception as exc:
            log.exception("the self-test ask failed")
            return f"a test question failed: {public_reason(exc)}"
        if not any(question in h.text for h in hits):
            return "retrieval did not find a stored passage from its own words"
        return None

    def health(self) -> HealthReport:
        """Whether asks work: the self-test's verdict, run again when the index changed or
        asks met damage since, and when it is older than ``SELF_TEST_MAX_AGE_SECONDS``
        (``SELF_TEST_RETRY_SECONDS`` while failing). A real ask that failed unexpectedly
        counts as a failed self-test until an ask succeeds."""
        self.store.refresh()
        with self._health_lock:
            age = time.monotonic() - self._tested_at
            due = (
                self._tested_generation != self.store.generation
                or self._damage_seen != (self.withheld, *self.store.flagged())
                or age > SELF_TEST_MAX_AGE_SECONDS
                or (self._failure is not None and age > SELF_TEST_RETRY_SECONDS)
            )
        if due:
            self.self_test()
        with self._health_lock:
            failure = self._failure
        if failure:
            return HealthReport(ok=False, reason=failure)
        passages, articles = self.store.flagged()
        note = None
        if self.withheld or passages or articles:
            note = (
                f"{self.withheld} answers withheld, {passages} passages and {articles} articles "
                "left out: they fail their checksums or do not match; run qa-index check"
            )
        return HealthReport(ok=True, note=note)

    def _record_failure(self, exc: BaseException) -> None:
        with self._health_lock:
            self._failure = f"asks fail: {public_reason(exc)}"
            self._tested_at = time.monotonic()

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

        The reader is given the best ``rerank_passages`` and reads as few of them as it can
        (:class:`~qa.read.cascade.ReadCascade`). ``within`` restricts the passages searched
        (:meth:`published_within`). The index is read as of its last refresh (:meth:`ask`
        refreshes it).
        """
        query = f"{context.strip()} {question}" if context and context.strip() else question
        candidates = self.retriever.retrieve(
            query, max(depth, self.settings.rerank_candidates), within
        )
        hits = self.reranker.rerank(query, candidates)
        passages = hits[: self.settings.rerank_passages]
        if not passages:
            return hits, [], []
        titles = {
            a: title
            for a, (title, _) in self.store.article_refs(h.article_id for h in passages).items()
        }
        read, spans = self.cascade.read(question, passages, titles)
        dated = asks_for_a_year(question)
        published = self.store.article_dates({h.article_id for h in read}) if dated else {}
        spans = [s for s in spans if not _cannot_answer(question, s, read, titles, published)]
        return hits, read, spans

    def _read_in_turn(
        self, question: str, context: str | None, depth: int, within: np.ndarray | None = None
    ) -> tuple[list[Hit], list[Hit], list[Span]]:
        """:meth:`read_candidates`, ``ask_concurrency`` questions at a time, first come first
        served."""
        with self._asking:
            return self.read_candidates(question, context, depth, within)

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
        self.store.refresh()
        with self._health_lock:
            retest = self._tested_generation not in (None, self.store.generation)
            if retest:  # claimed here, so concurrent asks run it once
                self._tested_generation = self.store.generation
        if retest:  # the index changed: check the answer path once more (serving engines)
            self.self_test(newest=True)
        try:
            result = self._answer(question, k, context, depth, started, within)
        except Exception as exc:
            self._record_failure(exc)
            raise
        with self._health_lock:
            if self._failure is not None and self._failure.startswith("asks fail"):
                self._failure = None
        return result

    def _answer(
        self,
        question: str,
        k: int,
        context: str | None,
        depth: int,
        started: float,
        within: np.ndarray | None = None,
    ) -> tuple[AskResult, list[Hit]]:
        """Retrieve, read and build verified answers (the question is valid); ``within``:
        the passages a date range allows (None: all)."""
        hits, read, spans = self._read_in_turn(question, context, depth, within)
        if self.confidence:
            # A follow-up's passages were retrieved for the earlier question too: their
            # evidence would favour the earlier answer, so the reader alone orders them.
            scores = self.confidence.scores(spans, read, rank=not context)
        else:
            scores = [s.score for s in spans]
        refs = self.store.article_refs(h.article_id for h in read)
        share = self.settings.quote_neighbour_share
        if share is None:
            share = self.reader.quote_neighbour_share
        gated = bool(spans) and self.verifier is not None
        if gated and not self._passes_gate(question, spans, scores, read, refs):
            spans, scores = [], []
        answers = [
            a
            for i, a in enumerate(
                build_answers(read, spans, scores, refs, k, share, self.settings.quote_min_words)
            )
            if a.score >= self.threshold or (gated and i == 0)
        ]
        answers = self.verified(answers, read)
        answers = annotate(answers, self.store.article_dates(a.article.id for a in answers))
        result = AskResult(
            question=question,
            found=bool(answers),
            took_ms=round((time.perf_counter() - started) * 1000, 1),
            answers=answers,
        )
        return result, hits

    def _passes_gate(
        self,
        question: str,
        spans: Sequence[Span],
        scores: Sequence[float],
        read: Sequence[Hit],
        refs: Mapping[str, tuple[str, str | None]],
    ) -> bool:
        """Whether the calibrated gate lets the best span be shown (:mod:`qa.confidence`); the
        verifier runs only when its logit can change that."""
        verifier, confidence = self.verifier, self.confidence
        assert verifier is not None and confidence is not None
        best = spans[int(np.argmax(scores))]
        hit = read[best.passage_index]
        title = refs[hit.article_id][0] if hit.article_id in refs else ""

        def logit() -> float:
            return verifier.logits(question, [answer_and_sentence(hit, best, title)])[0]

        return confidence.gate_passes(span_features(best, hit), logit, verifier.logit_bound)

    def verified(self, answers: list[Answer], read: Sequence[Hit]) -> list[Answer]:
        """The answers whose ``text`` and ``quote`` are the stored article's ``field`` at their
        offsets (the article's row passing its checksum). Any other is withheld, never
        returned: it is logged and counted, and the passage it came from flagged."""
        articles = self.store.read_articles({a.article.id for a in answers})
        kept = []
        for answer in answers:
            article = articles.get(answer.article.id)
            field = None
            if article is not None:
                field = article.title if answer.field == "title" else article.text
            if (
                field is not None
                and field[answer.start : answer.end] == answer.text
                and field[answer.quote_start : answer.quote_end] == answer.quote
            ):
                kept.append(answer)
                continue
            with self._health_lock:
                self.withheld += 1
            log.error(
                "withheld an answer that is not its stored article's %s at [%d:%d]: article %r, "
                "answer %r",
                answer.field,
                answer.start,
                answer.end,
                answer.article.id,
                answer.text[:80],
            )
            for hit in read:
                if hit.article_id == answer.article.id and (
                    answer.field == "text" and hit.start <= answer.start < hit.end
                ):
                    self.store.flag_passage(hit.rowid, "gave an answer its article does not hold")
        return kept

    # ---- the index -----------------------------------------------------------------------
    def add(
        self,
        items: Iterable[Article | LoadError],
        *,
        on_planned: Callable[[int], None] | None = None,
        progress: Callable[[int], None] | None = None,
        update_bm25: BM25Update = True,
    ) -> AddReport:
        """Index ``items`` (see :meth:`Indexer.add`); the BM25 index follows as
        ``update_bm25`` says (:data:`BM25Update`)."""
        report = self.indexer.add(
            items, on_planned=on_planned, progress=progress, update_bm25=update_bm25 is True
        )
        self._schedule_bm25(update_bm25)
        return report

    def remove(
        self, article_ids: Sequence[str], *, update_bm25: BM25Update = True
    ) -> tuple[list[str], list[str]]:
        """Remove articles: (removed ids, ids not found); BM25 as for :meth:`add`."""
        removed = self.indexer.remove(article_ids, update_bm25=update_bm25 is True)
        self._schedule_bm25(update_bm25)
        return removed

    def add_urls(
        self, urls: Sequence[str], *, allow_private: bool, update_bm25: BM25Update = True
    ) -> WebReport:
        """Index the pages of ``urls`` (pages, feeds, sitemaps; :func:`indexer.sources.add_urls`);
        BM25 as for :meth:`add`."""
        from indexer.sources import add_urls  # feeds and sitemaps: only servers and qa-index

        report = add_urls(
            self.indexer,
            self.settings,
            urls,
            allow_private=allow_private,
            update_bm25=update_bm25 is True,
        )
        self._schedule_bm25(update_bm25)
        return report

    def refresh_sources(self, *, update_bm25: BM25Update = True) -> WebReport:
        """Re-read the index's URL sources (:func:`indexer.sources.refresh`); BM25 as for
        :meth:`add`."""
        from indexer.sources import refresh

        report = refresh(self.indexer, self.settings, update_bm25=update_bm25 is True)
        self._schedule_bm25(update_bm25)
        return report

    def _schedule_bm25(self, update_bm25: BM25Update) -> None:
        if update_bm25 == "background":
            self.update_bm25(background=True)

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


def _cannot_answer(
    question: str,
    span: Span,
    read: Sequence[Hit],
    titles: dict[str, str],
    published: Mapping[str, str | None],
) -> bool:
    """The span is no answer to the question whatever its passage says
    (:mod:`core.text.answer_checks`, :mod:`core.text.names`):

    - the span: a word the question already says, no year for "which year", no month for
      "which month";
    - its sentence: about another place of the question's place's name ("New France" for
      France), a name standing where the question has its own ("capital of the Grand Duchy of
      Warsaw" for "capital of France"), the owner of the thing asked for ("New France" in "New
      France's capital" for "capital of France"), the side that lost for "who won", no
      negation at all for a negated question;
    - its article's date: published before the year the question asks about, or only
      expecting the year given for "In which year did ...?".
    """
    hit = read[span.passage_index]
    if span.field == "title":
        sentence, start = titles.get(hit.article_id, ""), 0
    else:
        start, end = quote_bounds(hit.text, span.start, span.end)
        sentence = hit.text[start:end]
    answer = sentence[span.start - start : span.end - start]
    within = (span.start - start, span.end - start)
    return (
        cannot_answer(question, answer)
        or names_another_place(question, sentence, within)
        or takes_the_names_place(question, sentence, within)
        or owns_what_is_asked(question, sentence, within)
        or names_the_loser(question, sentence, within)
        or misses_the_negation(question, sentence)
        or reported_before(question, sentence, published.get(hit.article_id))
        or foretold(question, answer, published.get(hit.article_id))
    )

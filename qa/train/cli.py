"""``qa-train``: train, export and evaluate the extractive QA reader on CPU.

qa-train train --max-examples 16000 --epochs 1     # train (resumable), export, eval, TRAINING.md
qa-train train --resume <same flags>               # continue a killed run
qa-train export --out /tmp/reader-test             # export the latest checkpoint (any step)
qa-train eval --model qa/models/reader --limit 500 # SQuAD EM/F1 on dev, gold paragraph
qa-train int8-ranges                               # activation ranges for the int8 graph
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from qa.train.reader import (
    DEFAULT_CKPT_DIR,
    DEFAULT_OUT,
    TrainConfig,
)

# The held-out articles' rule, as the reader was trained with it (qa-train train --holdout-mod).
TrainedHoldoutMod = Annotated[
    int, typer.Option(help="The --holdout-mod the reader was trained with.")
]


def existing(path: Path) -> Path:
    """A ``--train-file`` that must exist (a typer callback)."""
    if not path.exists():
        raise typer.BadParameter(f"{path} not found")
    return path


app = typer.Typer(
    help="Train (on CPU), export and evaluate the SQuAD-style extractive QA reader.",
    no_args_is_help=True,
    add_completion=False,
)


@app.command("train")
def train_cmd(
    train_file: Annotated[
        Path, typer.Option(help="SQuAD v1.1 or 2.0 train JSON (.json or .json.gz).")
    ],
    eval_dir: Annotated[Path, typer.Option(help="Dev articles.jsonl + questions.jsonl.")],
    ambiguous_ids: Annotated[
        Path | None,
        typer.Option(
            help="Question ids to drop (default: <train file>.ambiguous_ids.txt beside it)."
        ),
    ] = None,
    out: Annotated[
        Path, typer.Option(help="Where the final fp16 model + tokenizer + TRAINING.md go.")
    ] = DEFAULT_OUT,
    checkpoint_dir: Annotated[
        Path,
        typer.Option(help="Checkpoints (model + optimizer + step), git-ignored; see --resume."),
    ] = DEFAULT_CKPT_DIR,
    init_from: Annotated[
        Path | None,
        typer.Option(
            help="Start from this QA model folder (e.g. the shipped reader, to continue "
            "training it in a new stage) instead of all-MiniLM-L6-v2."
        ),
    ] = None,
    max_examples: Annotated[
        int | None,
        typer.Option(
            help="Use a seeded random subset of this many non-ambiguous questions (default: all)."
        ),
    ] = None,
    max_len: Annotated[
        int, typer.Option(help="Max tokens per feature (question + context window).")
    ] = 256,
    doc_stride: Annotated[
        int, typer.Option(help="Overlap in tokens between windows of a long context.")
    ] = 128,
    max_question_tokens: Annotated[
        int, typer.Option(help="Questions are cut to this many word pieces.")
    ] = 64,
    epochs: Annotated[
        float, typer.Option(help="Passes over the features (may be fractional).")
    ] = 1.0,
    batch_size: Annotated[int, typer.Option(help="Features per optimisation step.")] = 16,
    lr: Annotated[float, typer.Option(help="Peak AdamW learning rate.")] = 1e-4,
    warmup: Annotated[
        float, typer.Option(help="Fraction of the steps spent in linear warmup.")
    ] = 0.1,
    weight_decay: Annotated[
        float, typer.Option(help="AdamW weight decay (not on biases/LayerNorm).")
    ] = 0.01,
    seed: Annotated[
        int, typer.Option(help="Seed for the subset, the negatives, the batch order and init.")
    ] = 42,
    threads: Annotated[
        int, typer.Option(help="torch.set_num_threads (0: leave torch's default).")
    ] = 2,
    neg_ratio: Annotated[
        float,
        typer.Option(
            help="Add this fraction of negatives: question + another paragraph, labelled [CLS]."
        ),
    ] = 0.1,
    negatives: Annotated[
        str,
        typer.Option(
            help="Which paragraph a negative uses: 'random' (any other of the article) or "
            "'similar' (the one sharing the most idf-weighted question words)."
        ),
    ] = "random",
    contexts: Annotated[
        str,
        typer.Option(
            help="What the reader reads: 'paragraphs' (SQuAD's) or 'passages' (each article "
            "cut by the indexer's splitter, as at answer time; use --max-len 384 to fit one)."
        ),
    ] = "paragraphs",
    passage_max_tokens: Annotated[
        int, typer.Option(help="Passage budget in word pieces under --contexts passages.")
    ] = 250,
    keep_noanswer: Annotated[
        float,
        typer.Option(
            help="Probability of keeping a window of a long context that misses the answer ([CLS])."
        ),
    ] = 0.1,
    checkpoint_minutes: Annotated[
        float, typer.Option(help="Checkpoint every this many minutes.")
    ] = 10.0,
    checkpoint_steps: Annotated[
        int, typer.Option(help="Also checkpoint every this many steps (0: off).")
    ] = 0,
    log_every: Annotated[int, typer.Option(help="Log the loss every this many steps.")] = 20,
    eval_limit: Annotated[
        int, typer.Option(help="Dev questions to evaluate after export (0: skip).")
    ] = 500,
    resume: Annotated[
        bool, typer.Option(help="Continue from <checkpoint-dir>/last.pt (same flags).")
    ] = False,
    max_steps: Annotated[
        int | None,
        typer.Option(
            help="Stop after this many steps in this process (timing runs); no export then."
        ),
    ] = None,
    unanswerable_ratio: Annotated[
        float,
        typer.Option(
            help="SQuAD 2.0 train files: add this share of the unanswerable questions, on the "
            "passage of their plausible answer, labelled [CLS]."
        ),
    ] = 0.0,
    topical_ratio: Annotated[
        float,
        typer.Option(
            help="Add this share of questions paired with the BM25-best passage of another "
            "article (without the answer), labelled [CLS]."
        ),
    ] = 0.0,
    long_question_ratio: Annotated[
        float,
        typer.Option(
            help="Open this share of the questions with a sentence of their passage that "
            "does not hold the answer (context, then the question)."
        ),
    ] = 0.0,
    title_prefix: Annotated[
        bool,
        typer.Option(help="Read the article title before each context, as the engine does."),
    ] = False,
    holdout_mod: Annotated[
        int,
        typer.Option(
            help="Hold out of training the articles whose title's sha1 is 0 modulo this "
            "(0: none); calibration is fitted on them."
        ),
    ] = 0,
    time_budget_min: Annotated[
        float | None,
        typer.Option(
            help="Wall-time budget (minutes) of the optimisation loop: the LR warmup/decay runs "
            "on max(step/planned, time/budget) and training stops at the budget, so a busy "
            "machine still finishes on time (step count then depends on machine speed)."
        ),
    ] = None,
) -> None:
    """Fine-tune all-MiniLM-L6-v2 for span extraction; export fp16; evaluate on dev; TRAINING.md."""
    from qa.train.reader import train

    cfg = TrainConfig(
        train_file=train_file,
        ambiguous_ids=ambiguous_ids,
        out=out,
        checkpoint_dir=checkpoint_dir,
        base_model=init_from,
        max_examples=max_examples,
        max_len=max_len,
        doc_stride=doc_stride,
        max_question_tokens=max_question_tokens,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        warmup=warmup,
        weight_decay=weight_decay,
        seed=seed,
        threads=threads or None,
        neg_ratio=neg_ratio,
        negatives=negatives,
        contexts=contexts,
        passage_max_tokens=passage_max_tokens,
        keep_noanswer=keep_noanswer,
        unanswerable_ratio=unanswerable_ratio,
        topical_ratio=topical_ratio,
        long_question_ratio=long_question_ratio,
        title_prefix=title_prefix,
        holdout_mod=holdout_mod,
        checkpoint_minutes=checkpoint_minutes,
        checkpoint_steps=checkpoint_steps,
        log_every=log_every,
        eval_dir=eval_dir,
        eval_limit=eval_limit,
        resume=resume,
        max_steps=max_steps,
        time_budget_min=time_budget_min,
    )
    train(cfg)


@app.command("export")
def export_cmd(
    checkpoint_dir: Annotated[
        Path, typer.Option(help="Folder holding last.pt.")
    ] = DEFAULT_CKPT_DIR,
    out: Annotated[Path, typer.Option(help="Folder to write the fp16 model to.")] = Path(
        "/tmp/reader-test"
    ),
) -> None:
    """Export the latest checkpoint (at whatever step) as an fp16 model folder, e.g. for testing."""
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import torch
    from transformers import AutoModelForQuestionAnswering

    from qa.train.reader import base_model_path, export_model

    state = torch.load(checkpoint_dir / "last.pt", map_location="cpu", weights_only=False)
    base = base_model_path()
    model = AutoModelForQuestionAnswering.from_pretrained(base, dtype=torch.float32)
    model.load_state_dict(state["model"])
    export_model(model, base, out)
    typer.echo(f"exported step {state['step']}/{state.get('total_steps', '?')} to {out}")


@app.command("average")
def average_cmd(
    model: Annotated[
        list[Path], typer.Option(help="A model folder to average (give two or more).")
    ],
    out: Annotated[Path, typer.Option(help="Folder to write the averaged model to.")],
) -> None:
    """Average the weights of models fine-tuned one from another (a "model soup").

    Run int8-ranges and calibrate on the result, as after training.
    """
    from qa.train.reader import average_models

    for folder in model:
        if not (folder / "model.safetensors").exists():
            raise typer.BadParameter(f"{folder} holds no model.safetensors", param_hint="--model")
    try:
        typer.echo(f"wrote {average_models(model, out)}")
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--model") from exc


@app.command("verifier")
def verifier_cmd(
    train_file: Annotated[
        Path,
        typer.Option(
            help="SQuAD 2.0 train JSON (.json.gz): its unanswerable questions and their "
            "plausible answers are the negatives.",
            callback=existing,
        ),
    ],
    out: Annotated[Path, typer.Option(help="Where the fp16 verifier goes.")] = Path(
        "qa/models/verifier"
    ),
    init_from: Annotated[
        Path, typer.Option(help="The reader whose encoder it starts from.")
    ] = DEFAULT_OUT,
    checkpoint_dir: Annotated[
        Path, typer.Option(help="Checkpoints, git-ignored; a rerun resumes from the last.")
    ] = DEFAULT_CKPT_DIR,
    holdout_mod: TrainedHoldoutMod = 10,
    epochs: Annotated[float, typer.Option(help="Passes over the examples.")] = 1.0,
    seed: Annotated[int, typer.Option(help="Sampling and shuffling seed.")] = 5,
    threads: Annotated[int, typer.Option(help="torch threads.")] = 2,
) -> None:
    """Train the answer verifier the confidence's gate reads; run calibrate afterwards."""
    from qa.train.verifier import VerifierConfig, train_verifier

    config = VerifierConfig(
        train_file=train_file,
        init_from=init_from,
        out=out,
        checkpoint_dir=checkpoint_dir,
        holdout_mod=holdout_mod,
        epochs=epochs,
        seed=seed,
        threads=threads,
    )
    typer.echo(f"wrote {train_verifier(config)}")


@app.command("eval")
def eval_cmd(
    dev_dir: Annotated[Path, typer.Option(help="Folder with articles.jsonl + questions.jsonl.")],
    model: Annotated[
        Path, typer.Option(help="Model folder (as written by train/export).")
    ] = DEFAULT_OUT,
    limit: Annotated[
        int, typer.Option(help="Evaluate the first N questions (0: all 1,884).")
    ] = 500,
    threads: Annotated[int, typer.Option(help="ONNX Runtime threads.")] = 2,
    precision: Annotated[
        str, typer.Option(help="fp32, or int8 (the ONNX graph with int8 weights).")
    ] = "fp32",
) -> None:
    """SQuAD EM/F1 of the reader given the gold paragraph (official normalisation)."""
    from qa.train.evaluate import evaluate_reader

    res = evaluate_reader(model, dev_dir, limit=limit or None, threads=threads, precision=precision)
    typer.echo(
        f"n={res['n']}  EM={res['em']:.2f}  F1={res['f1']:.2f}  "
        f"{res['ms_per_question']:.1f} ms/question  verbatim_failures={res['verbatim_failures']}"
    )


@app.command("int8-ranges")
def int8_ranges_cmd(
    train_file: Annotated[
        Path,
        typer.Option(help="SQuAD v1.1 train JSON (.json or .json.gz).", callback=existing),
    ],
    model: Annotated[Path, typer.Option(help="Reader model folder.")] = DEFAULT_OUT,
    questions: Annotated[int, typer.Option(help="Train questions to measure on.")] = 200,
    seed: Annotated[int, typer.Option(help="Seed of the question sample.")] = 0,
    out: Annotated[
        Path | None, typer.Option(help="Write here instead (default: in the model folder).")
    ] = None,
) -> None:
    """Measure the reader's activation ranges (on train questions) for its int8 graph.

    Writes int8-smoothing.json into the model folder; the int8 graph is then smoothed before
    quantising (closer to fp32). Run it again after retraining: a file measured on other
    weights is ignored, with a warning.
    """
    from qa.train.int8 import write_ranges

    typer.echo(f"wrote {write_ranges(model, train_file, questions, seed, out)}")


@app.command("calibrate")
def calibrate_cmd(
    train_file: Annotated[
        Path,
        typer.Option(
            help="SQuAD 2.0 train JSON (.json.gz) the reader was trained from.",
            callback=existing,
        ),
    ],
    model: Annotated[
        Path | None,
        typer.Option(help="Reader model folder (default: the bundled reader)."),
    ] = DEFAULT_OUT,
    heuristic: Annotated[
        bool, typer.Option("--heuristic", help="Fit the heuristic reader instead.")
    ] = False,
    precision: Annotated[str, typer.Option(help="fp32 or int8: each has its own fit.")] = "int8",
    holdout_mod: TrainedHoldoutMod = 10,
    per_article: Annotated[
        int,
        typer.Option(
            help="Answerable questions asked per held-out article (half as many unanswerable "
            "and out-of-corpus ones)."
        ),
    ] = 30,
    max_false_abstain: Annotated[
        float, typer.Option(help="Cap on answerable questions that get 'not found'.")
    ] = 0.04,
    work: Annotated[
        Path, typer.Option(help="Scratch folder: the two half indexes and cached features.")
    ] = Path(".calibration"),
) -> None:
    """Fit the answer order, the confidence and the threshold on held-out articles; write
    calibration-<precision>.json beside the weights; print cross-fitted figures."""
    import json

    from qa.train.calibrate import calibrate

    path, report = calibrate(
        None if heuristic else model,
        precision,
        train_file,
        holdout_mod,
        work,
        per_article,
        max_false_abstain,
    )
    typer.echo(json.dumps(report, indent=2))
    typer.echo(f"wrote {path}")


@app.command("test-split")
def test_split_cmd(
    train_file: Annotated[
        Path, typer.Option(help="SQuAD 2.0 train JSON (.json.gz).", callback=existing)
    ],
    out: Annotated[Path, typer.Option(help="Folder to write the qa-eval files into.")],
    holdout_mod: TrainedHoldoutMod = 10,
) -> None:
    """Write the held-out test split (articles never trained or calibrated on) for qa-eval."""
    from qa.train.calibrate import write_test_split

    typer.echo(write_test_split(train_file, holdout_mod, out))


def main() -> None:
    app()


if __name__ == "__main__":
    main()

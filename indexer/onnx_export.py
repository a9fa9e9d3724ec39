"""BERT-family model folders → ONNX files (exported once, cached), run with ONNX Runtime.

Exporting needs torch, transformers and ``onnx`` once per model and ONNX Runtime version;
running the exported file needs only ``onnxruntime`` and ``numpy``. That is what lets a server
answer questions without importing torch.

Two tasks are supported, for a transformers/sentence-transformers model folder:

- ``"sentence-embedding"``: inputs ``input_ids``, ``attention_mask``, ``token_type_ids``
  (int64, ``[batch, seq]``) → ``sentence_embedding`` ``[batch, dim]``, mean-pooled over the
  attention mask and L2-normalised inside the graph (what sentence-transformers' Pooling +
  Normalize modules do for all-MiniLM-L6-v2).
- ``"question-answering"``: a ``*ForQuestionAnswering`` folder (the same three inputs) →
  ``start_logits`` and ``end_logits`` ``[batch, seq]``.

The file lands in :func:`cache_dir` under a name keyed by the model folder (its name, its
config and a sample of its weights' bytes), the task, the opset and the ONNX Runtime version,
so a retrained model or an upgrade re-exports instead of loading a stale graph. Writes are
atomic (temp file + rename) under a file lock, so two processes starting together export once.

>>> path = ensure_onnx(model_path(), "sentence-embedding")  # doctest: +SKIP
>>> session = open_session(path, threads=2)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import logging
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Literal

log = logging.getLogger(__name__)

Task = Literal["sentence-embedding", "question-answering"]
OPSET = 17
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT_NAMES: dict[str, tuple[str, ...]] = {
    "sentence-embedding": ("sentence_embedding",),
    "question-answering": ("start_logits", "end_logits"),
}


def cache_dir() -> Path:
    """Where exported models live: ``$QA_CACHE_DIR``, else ``$XDG_CACHE_HOME/article-qa``,
    else ``~/.cache/article-qa``."""
    if os.environ.get("QA_CACHE_DIR"):
        return Path(os.environ["QA_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "article-qa"


def _weights(model_dir: Path) -> Path:
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (model_dir / name).exists():
            return model_dir / name
    raise FileNotFoundError(f"no model.safetensors or pytorch_model.bin in {model_dir}")


Flavour = Literal["plain", "fused", "int8"]


def weights_fingerprint(model_dir: Path) -> str:
    """A short digest of the folder's config and weights (size plus three 1 MiB samples of the
    content: a retrained model of the same shape has the same size, but not the same bytes)."""
    model_dir = Path(model_dir)
    weights = _weights(model_dir)
    size = weights.stat().st_size
    digest = hashlib.sha256((model_dir / "config.json").read_bytes())
    digest.update(str(size).encode())
    sample = 1 << 20
    with open(weights, "rb") as f:
        for offset in (0, max(0, size // 2 - sample // 2), max(0, size - sample)):
            f.seek(offset)
            digest.update(f.read(sample))
    return digest.hexdigest()[:12]


def onnx_path(model_dir: Path, task: Task, flavour: Flavour = "fused") -> Path:
    """The cache file for ``model_dir`` exported for ``task`` (it may not exist yet)."""
    import onnxruntime

    model_dir = Path(model_dir)
    return cache_dir() / (
        f"{model_dir.parent.name}.{model_dir.name}-{weights_fingerprint(model_dir)}-{task}"
        f"-opset{OPSET}-ort{onnxruntime.__version__}-{flavour}.onnx"
    )


def ensure_onnx(
    model_dir: Path, task: Task = "sentence-embedding", flavour: Flavour = "fused"
) -> Path:
    """The ONNX file for ``model_dir`` and ``task``, exporting it first if it is not cached.

    Args:
        model_dir: a transformers model folder (``config.json`` + weights).
        task: ``"sentence-embedding"`` or ``"question-answering"``.
        flavour: ``"plain"``: the exported graph; ``"fused"``: BERT's attention, GELU and
            layer norms fused (``onnxruntime.transformers.optimizer``; falls back to the plain
            graph if that fails); ``"int8"``: the fused graph with its weights quantised to
            int8 (dynamic quantisation: faster on CPU, logits change slightly).

    Returns:
        The path of the ONNX file.
    """
    target = onnx_path(model_dir, task, flavour)
    if target.exists():
        return target
    from filelock import FileLock

    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if target.exists():  # another process exported it while we waited
            return target
        plain = onnx_path(model_dir, task, "plain")
        if not plain.exists():
            log.info("exporting %s (%s) to ONNX at %s (once)", model_dir, task, plain)
            _atomic(plain, lambda tmp: export(model_dir, tmp, task))
        if flavour == "plain":
            return plain
        if flavour == "int8":
            fused = ensure_onnx(model_dir, task, "fused")
            _atomic(target, lambda tmp: quantize_int8(fused, tmp))
            return target
        try:
            _atomic(target, lambda tmp: fuse_bert(plain, tmp, model_dir))
        except Exception as e:  # an optimizer that does not know the graph: keep it plain
            log.warning("ONNX fusion failed (%s): using the plain export", e)
            return plain
    return target


def _atomic(target: Path, write: Callable[[Path], None]) -> None:
    tmp = target.with_name(target.name + f".{os.getpid()}.tmp")
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def export(model_dir: Path, out: Path, task: Task = "sentence-embedding") -> None:
    """Export ``model_dir`` to ``out`` with dynamic batch and sequence axes (needs torch).

    Attention is exported in its plain ("eager") form: it traces shape-independently, and
    ONNX Runtime fuses it back into one ``Attention`` op (see :func:`fuse_bert`).
    """
    import torch
    from transformers import AutoModel, AutoModelForQuestionAnswering

    model_dir = Path(model_dir)
    if task == "sentence-embedding":
        _check_mean_pooling(model_dir)
        model = _MeanPooled(AutoModel.from_pretrained(model_dir, attn_implementation="eager"))
    elif task == "question-answering":
        # Readers ship fp16 weights; CPU inference runs in fp32.
        model = _QAHead(
            AutoModelForQuestionAnswering.from_pretrained(
                model_dir, attn_implementation="eager", dtype=torch.float32
            )
        )
    else:
        raise ValueError(f"unknown task {task!r}")
    model.eval()
    batch, seq = 2, 16
    ids = torch.ones((batch, seq), dtype=torch.long)
    mask = torch.ones((batch, seq), dtype=torch.long)
    mask[1, seq // 2 :] = 0  # trace a padded row too
    dynamic = {name: {0: "batch", 1: "sequence"} for name in INPUT_NAMES}
    out_axes = {0: "batch", 1: "sequence"} if task == "question-answering" else {0: "batch"}
    dynamic.update({name: out_axes for name in OUTPUT_NAMES[task]})
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (ids, mask, torch.zeros_like(ids)),
            str(out),
            input_names=list(INPUT_NAMES),
            output_names=list(OUTPUT_NAMES[task]),
            dynamic_axes=dynamic,
            opset_version=OPSET,
            dynamo=False,  # the TorchScript exporter: no onnxscript needed, exact for BERT
        )


def fuse_bert(src: Path, out: Path, model_dir: Path) -> None:
    """Fuse attention, GELU and layer norms of a BERT graph into ONNX Runtime's contrib ops."""
    import json

    from onnxruntime.transformers.optimizer import optimize_model

    config = json.loads((Path(model_dir) / "config.json").read_text())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = optimize_model(
            str(src),
            model_type="bert",
            num_heads=int(config["num_attention_heads"]),
            hidden_size=int(config["hidden_size"]),
            opt_level=1,
        )
    model.save_model_to_file(str(out))


def quantize_int8(src: Path, out: Path) -> None:
    """Dynamic int8 quantisation of a (fused) graph's weights; activations stay float.

    Per-channel scales with a 7-bit range keep the outputs close to fp32 (query vectors:
    mean cosine 0.994 to fp32 here, against 0.970 per-tensor) at the same speed.
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    # The quantizer logs a "consider pre-processing" advice on the root logger at every call.
    root.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # Shape inference cannot type the outputs of the fused contrib ops: they are float.
            quantize_dynamic(
                str(src),
                str(out),
                weight_type=QuantType.QInt8,
                per_channel=True,
                reduce_range=True,
                extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
            )
    finally:
        root.setLevel(level)


def open_session(path: Path, threads: int | None = None):  # noqa: ANN201 - onnxruntime lazily
    """An ONNX Runtime CPU session with ``threads`` intra-op threads (None: all cores).

    Inter-op parallelism is off (BERT is one chain of ops), and so is thread spinning, which
    only burns CPU that other processes on a shared machine need.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.inter_op_num_threads = 1
    if threads:
        options.intra_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _check_mean_pooling(model_dir: Path) -> None:
    import json

    pooling = model_dir / "1_Pooling" / "config.json"
    if pooling.exists() and not json.loads(pooling.read_text()).get("pooling_mode_mean_tokens"):
        raise ValueError(f"{model_dir} does not use mean pooling; the ONNX export assumes it")


def _modules():  # noqa: ANN202 - torch is imported only when exporting
    import torch

    class MeanPooled(torch.nn.Module):
        """A transformer + mean pooling over the mask + L2 normalisation."""

        def __init__(self, encoder: torch.nn.Module) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids, attention_mask, token_type_ids):  # noqa: ANN001, ANN201
            hidden = self.encoder(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1)

    class QAHead(torch.nn.Module):
        """A ``*ForQuestionAnswering`` model returning its two logit tensors."""

        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):  # noqa: ANN001, ANN201
            out = self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )
            return out.start_logits, out.end_logits

    return MeanPooled, QAHead


def _MeanPooled(encoder):  # noqa: ANN001, ANN202, N802
    return _modules()[0](encoder)


def _QAHead(model):  # noqa: ANN001, ANN202, N802
    return _modules()[1](model)

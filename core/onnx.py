"""BERT-family model folders → ONNX files (exported once, cached), run with ONNX Runtime.

Exporting needs torch, transformers and ``onnx`` once per model and ONNX Runtime version;
running the exported file needs only ``onnxruntime`` and ``numpy``. That is what lets a server
answer questions without importing torch.

Three tasks are supported, for a transformers/sentence-transformers model folder:

- ``"sentence-embedding"``: inputs ``input_ids``, ``attention_mask``, ``token_type_ids``
  (int64, ``[batch, seq]``) → ``sentence_embedding`` ``[batch, dim]``, mean-pooled over the
  attention mask and L2-normalised inside the graph (what sentence-transformers' Pooling +
  Normalize modules do for all-MiniLM-L6-v2).
- ``"question-answering"``: a ``*ForQuestionAnswering`` folder (the same three inputs) →
  ``start_logits`` and ``end_logits`` ``[batch, seq]``.
- ``"sequence-classification"``: a ``*ForSequenceClassification`` folder (the same three
  inputs) → ``logits`` ``[batch, labels]``.

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
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Literal

import numpy as np

log = logging.getLogger(__name__)

Task = Literal["sentence-embedding", "question-answering", "sequence-classification"]
OPSET = 17
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT_NAMES: dict[str, tuple[str, ...]] = {
    "sentence-embedding": ("sentence_embedding",),
    "question-answering": ("start_logits", "end_logits"),
    "sequence-classification": ("logits",),
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

# Activation ranges that make a model's int8 graph closer to fp32 (see smooth_for_int8):
# a file in the model folder, written by `qa-train int8-ranges`.
SMOOTHING_NAME = "int8-smoothing.json"
SMOOTHING_ALPHA = 0.75  # dev, reader: same best span as fp32 for 0.93 (0.5: 0.85, 0.95: 0.92)


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
    return _cache_entry(model_dir, task, flavour)[0]


def _cache_entry(model_dir: Path, task: Task, flavour: Flavour) -> tuple[Path, dict | None]:
    """:func:`onnx_path`, and the smoothing its name was made from (int8 only): one reading
    of the ranges file, so the graph is built from the very ranges its name carries."""
    import onnxruntime

    model_dir = Path(model_dir)
    fingerprint = weights_fingerprint(model_dir)
    label: str = flavour
    smoothing = load_smoothing(model_dir, fingerprint) if flavour == "int8" else None
    if smoothing is not None:
        label += "-smoothed-" + smoothing["digest"]
    path = cache_dir() / (
        f"{model_dir.parent.name}.{model_dir.name}-{fingerprint}-{task}"
        f"-opset{OPSET}-ort{onnxruntime.__version__}-{label}.onnx"
    )
    return path, smoothing


def load_smoothing(model_dir: Path, fingerprint: str | None = None) -> dict | None:
    """The folder's activation ranges for int8 (:data:`SMOOTHING_NAME`), if they were
    measured on these very weights; None otherwise (a warning says why, if the file exists)."""
    import json

    path = Path(model_dir) / SMOOTHING_NAME
    if not path.exists():
        return None
    raw = path.read_bytes()
    try:
        data = json.loads(raw)
    except ValueError as e:
        log.warning("%s is not valid JSON (%s): int8 without smoothing", path, e)
        return None
    if data.get("weights") != (fingerprint or weights_fingerprint(model_dir)):
        log.warning("%s was measured on other weights: int8 without smoothing", path)
        return None
    data["digest"] = hashlib.sha256(raw).hexdigest()[:8]
    return data


def ensure_onnx(
    model_dir: Path, task: Task = "sentence-embedding", flavour: Flavour = "fused"
) -> Path:
    """The ONNX file for ``model_dir`` and ``task``, exporting it first if it is not cached.

    Args:
        model_dir: a transformers model folder (``config.json`` + weights).
        task: ``"sentence-embedding"``, ``"question-answering"`` or
            ``"sequence-classification"``.
        flavour: ``"plain"``: the exported graph; ``"fused"``: BERT's attention, GELU and
            layer norms fused (``onnxruntime.transformers.optimizer``; falls back to the plain
            graph if that fails); ``"int8"``: the fused graph with its weights quantised to
            int8 (dynamic quantisation: faster on CPU, logits change slightly), smoothed first
            when the folder holds activation ranges for these weights (:data:`SMOOTHING_NAME`).

    Returns:
        The path of the ONNX file.
    """
    target, smoothing = _cache_entry(model_dir, task, flavour)
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
            ranges = smoothing["ranges"] if smoothing else None
            _atomic(target, lambda tmp: quantize_int8(fused, tmp, ranges))
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
    from transformers import (
        AutoModel,
        AutoModelForQuestionAnswering,
        AutoModelForSequenceClassification,
    )

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
    elif task == "sequence-classification":
        model = _Logits(
            AutoModelForSequenceClassification.from_pretrained(
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


def quantize_int8(src: Path, out: Path, ranges: dict[str, list[float]] | None = None) -> None:
    """Dynamic int8 quantisation of a (fused) graph's weights; activations stay float.

    Per-channel scales with a 7-bit range keep the outputs close to fp32 (query vectors:
    mean cosine 0.994 to fp32 here, against 0.970 per-tensor) at the same speed. With
    ``ranges`` (from :func:`activation_ranges`) the graph is first smoothed
    (:func:`smooth_for_int8`).
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    if ranges:
        smoothed = out.with_name(out.name + ".smoothed")
        try:
            smooth_for_int8(src, smoothed, ranges)
            quantize_int8(smoothed, out)
        finally:
            smoothed.unlink(missing_ok=True)
        return

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


def _weight_inputs(graph) -> list:  # noqa: ANN001 - onnx GraphProto
    """The MatMul and Attention nodes that multiply by a weight: the ones int8 quantises."""
    weights = {i.name for i in graph.initializer}
    return [n for n in graph.node if n.op_type in ("MatMul", "Attention") and n.input[1] in weights]


def activation_ranges(src: Path, feeds: Iterable[dict[str, np.ndarray]]) -> dict[str, list[float]]:
    """Per input channel, the largest ``|x|`` that reaches each weight multiplication of the
    graph ``src`` (by node name) over ``feeds``."""
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(src))
    nodes = _weight_inputs(model.graph)
    tensors = list(dict.fromkeys(n.input[0] for n in nodes))
    existing = {o.name for o in model.graph.output}
    model.graph.output.extend(
        onnx.helper.make_tensor_value_info(t, onnx.TensorProto.FLOAT, None)
        for t in tensors
        if t not in existing
    )
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    peak: dict[str, np.ndarray] = {}
    for feed in feeds:
        for name, value in zip(tensors, session.run(tensors, feed), strict=True):
            channel_max = np.abs(value.reshape(-1, value.shape[-1])).max(axis=0)
            peak[name] = np.maximum(peak[name], channel_max) if name in peak else channel_max
    if not peak:
        raise ValueError("no feeds to measure activation ranges on")
    return {n.name: [float(f"{v:.4g}") for v in peak[n.input[0]]] for n in nodes}


def smooth_for_int8(
    src: Path, out: Path, ranges: dict[str, list[float]], alpha: float = SMOOTHING_ALPHA
) -> None:
    """Move the outliers of activations into the weights before int8 (SmoothQuant, Xiao et
    al. 2023): ``x @ W == (x / s) @ (s * W)`` with ``s = max|x|^alpha / max|W|^(1-alpha)``
    per input channel.

    Dynamic int8 gives a whole activation tensor one scale, so a few channels ~15x larger than
    the rest (BERT's known outlier dimensions) cost the others most of their precision. The
    ``x / s`` is a Mul node before each multiplication, not folded into the layer norm before
    it: that norm's output also feeds the residual sum, which must stay unscaled.
    """
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(src))
    weights = {i.name: i for i in model.graph.initializer}
    targets = {n.name for n in _weight_inputs(model.graph)}
    if missing := sorted(targets - ranges.keys()):
        raise ValueError(f"no activation ranges for {missing[:3]}: measured on another graph")
    nodes = []
    for node in model.graph.node:
        if node.name in targets:
            w = numpy_helper.to_array(weights[node.input[1]]).astype(np.float32)
            x_max = np.maximum(np.asarray(ranges[node.name], dtype=np.float32), 1e-5)
            s = x_max**alpha / np.maximum(np.abs(w).max(axis=1), 1e-5) ** (1 - alpha)
            s /= np.exp(np.log(s).mean())  # keep the overall magnitudes where they were
            weights[node.input[1]].CopyFrom(
                numpy_helper.from_array((w * s[:, None]).astype(np.float32), node.input[1])
            )
            inverse = f"{node.name}/smooth_scale"
            model.graph.initializer.append(
                numpy_helper.from_array((1 / s).astype(np.float32), inverse)
            )
            nodes.append(
                onnx.helper.make_node(
                    "Mul", [node.input[0], inverse], [f"{inverse}_out"], name=f"{node.name}/smooth"
                )
            )
            node.input[0] = f"{inverse}_out"
        nodes.append(node)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    onnx.save(model, str(out))


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

    class Logits(torch.nn.Module):
        """A ``*ForSequenceClassification`` model returning its logits."""

        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):  # noqa: ANN001, ANN201
            return self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).logits

    return MeanPooled, QAHead, Logits


def _MeanPooled(encoder):  # noqa: ANN001, ANN202, N802
    return _modules()[0](encoder)


def _QAHead(model):  # noqa: ANN001, ANN202, N802
    return _modules()[1](model)


def _Logits(model):  # noqa: ANN001, ANN202, N802
    return _modules()[2](model)

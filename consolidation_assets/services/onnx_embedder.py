"""The packaged model under ONNX Runtime: the same vectors as PyTorch, faster on a CPU.

Embedding is nearly all of a cold run, and ONNX Runtime runs all-MiniLM-L6-v2 1.6 to 1.9 times
faster than PyTorch here (``benchmarks/README.md``). The model is exported from the packaged
files once, with PyTorch's own exporter, into the instance directory beside the memory store
(never into site-packages); the export is written to a temporary file, checked against
PyTorch's vectors on a fixed sample, and only then renamed into place, so a killed or wrong
export is never used. The tokenizer is the packaged ``tokenizer.json`` and the pooling the
same mean over real tokens, so the fp32 vectors agree with PyTorch's to well within 1e-4 in
cosine and share its cache entries (the same model id).

int8 dynamic quantization is opt-in: faster again, but it moves the vectors (mean cosine to
fp32 about 0.96), so its model id differs and its vectors never mix with fp32 ones in a cache.

Not a dependency-free path: ``optimum`` (sentence-transformers' ONNX backend) pins
``transformers`` below what sentence-transformers 6 needs, so the export uses ``torch.onnx``
and the run uses ``onnxruntime`` and ``tokenizers`` directly.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import tempfile
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from consolidation_assets.services.embedders import (
    PACKAGED_MODEL_ID,
    packaged_model_path,
    release_freed_memory,
)

EXPORT_VERSION = "1"
OPSET = 17
INT8_SUFFIX = "#onnx-int8"
# The fp32 export must reproduce PyTorch's vectors this closely on the check sample.
MAX_COSINE_GAP = 1e-4
CHECK_TEXTS = (
    "Hanging migrations fixed by running SET lock_timeout = '5s' in alembic/env.py.",
    "kombu.exceptions.EncodeError: Object of type Order is not JSON serializable",
    "Always close the database session in a finally block.",
    "ok",
    "Isabella Rodriguez is planning a Valentine's Day party at Hobbs Cafe on February 14th, "
    "and she is inviting everyone she meets to come between 5 and 7 pm. " * 6,
)
_export_lock = threading.Lock()


class OnnxExportError(RuntimeError):
    """The model could not be exported, or its export disagreed with PyTorch."""


def onnx_available() -> bool:
    """Whether ONNX Runtime and the exporter's ``onnx`` package are installed."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def default_threads() -> int:
    """Threads per embedding session: ``CONSOLIDATION_EMBED_THREADS``, else every core.

    Several runs side by side under the daemon each get their own session; capping the threads
    keeps them from oversubscribing the machine.
    """
    raw = os.environ.get("CONSOLIDATION_EMBED_THREADS", "").strip()
    if not raw:
        return os.cpu_count() or 1
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"CONSOLIDATION_EMBED_THREADS must be an integer, not {raw!r}") from None
    if value < 0:
        raise ValueError(f"CONSOLIDATION_EMBED_THREADS must be 0 (every core) or more, not {raw}")
    return value or os.cpu_count() or 1


def export_dir(root: Path, model_path: Path) -> Path:
    """Where the export of the model at ``model_path`` lives under ``root``: one folder per
    model-file digest and exporter version, so a changed model or exporter exports again."""
    digest = hashlib.sha256(EXPORT_VERSION.encode())
    for name in ("config.json", "tokenizer.json", "model.safetensors"):
        file = model_path / name
        if file.exists():
            with file.open("rb") as f:
                digest.update(f"{name}:{file.stat().st_size}:".encode() + f.read(1 << 20))
    return root / f"all-MiniLM-L6-v2-onnx-{digest.hexdigest()[:12]}"


def ensure_export(root: Path, model_path: Path | None = None, int8: bool = False) -> Path:
    """The path of the checked ONNX export (fp32, or its int8 quantization), made if absent."""
    model_path = model_path or packaged_model_path()
    folder = export_dir(root, model_path)
    fp32 = folder / "model.onnx"
    with _export_lock:
        if not fp32.exists():
            folder.mkdir(parents=True, exist_ok=True)
            _export(model_path, fp32)
        if not int8:
            return fp32
        quantized = folder / "model.int8.onnx"
        if not quantized.exists():
            _quantize(fp32, quantized)
        return quantized


def _export(model_path: Path, target: Path) -> None:
    """Export with ``torch.onnx`` to a temporary file, check it, then rename it into place."""
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()

    class LastHiddenState(torch.nn.Module):
        def __init__(self, model: Any) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    model = AutoModel.from_pretrained(str(model_path)).eval()
    sample = torch.ones((2, 8), dtype=torch.long)
    # A padded row in the traced batch, so no shortcut for unpadded batches is baked in.
    mask = sample.clone()
    mask[1, 4:] = 0
    names = ["input_ids", "attention_mask", "token_type_ids"]
    handle, temporary = tempfile.mkstemp(suffix=".onnx", dir=target.parent)
    os.close(handle)
    try:
        # The TorchScript exporter warns about its deprecation and about traced Python
        # conditions; what it produced is checked against PyTorch's vectors right after, on
        # padded batches, and refused if it differs.
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                LastHiddenState(model),
                (sample, mask, torch.zeros_like(sample)),
                temporary,
                input_names=names,
                output_names=["last_hidden_state"],
                dynamic_axes={n: {0: "batch", 1: "tokens"} for n in [*names, "last_hidden_state"]},
                opset_version=OPSET,
                dynamo=False,
            )
        _check_against_torch(Path(temporary), model_path)
        _publish(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def _check_against_torch(exported: Path, model_path: Path) -> None:
    from consolidation_assets.services.embedders import SentenceTransformerEmbedder

    reference = SentenceTransformerEmbedder(str(model_path)).encode(list(CHECK_TEXTS))
    session = _session(str(exported), 1)
    candidate = _encode(session, _tokenizer(str(model_path)), list(CHECK_TEXTS), 8)
    gap = float(np.max(1.0 - np.sum(reference * candidate, axis=1)))
    if gap > MAX_COSINE_GAP:
        raise OnnxExportError(
            f"the ONNX export of {model_path} differs from PyTorch by {gap:.2e} in cosine "
            f"(at most {MAX_COSINE_GAP:.0e} allowed); not using it"
        )


def _quantize(fp32: Path, target: Path) -> None:
    """int8 weights by dynamic quantization, written beside the fp32 export."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    handle, temporary = tempfile.mkstemp(suffix=".onnx", dir=target.parent)
    os.close(handle)
    quantizer_log = logging.getLogger()
    previous = quantizer_log.level
    # The quantizer logs a suggestion to pre-process the model first; that step writes
    # scratch files into the working directory, and dynamic quantization needs no shapes.
    quantizer_log.setLevel(logging.ERROR)
    try:
        quantize_dynamic(str(fp32), temporary, weight_type=QuantType.QInt8)
        _publish(temporary, target)
    finally:
        quantizer_log.setLevel(previous)
        if os.path.exists(temporary):
            os.unlink(temporary)


def _publish(temporary: str, target: Path) -> None:
    """Readable by every user of a shared model folder, then atomically in place."""
    os.chmod(temporary, 0o644)
    os.replace(temporary, target)


@functools.cache
def _session(path: str, threads: int) -> Any:
    """One ONNX Runtime session per model file and thread count, per process."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    return onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])


@functools.cache
def _tokenizer(model_path: str) -> Any:
    """The packaged fast tokenizer, truncating where sentence-transformers does."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(Path(model_path) / "tokenizer.json"))
    config = Path(model_path) / "sentence_bert_config.json"
    limit = json.loads(config.read_text())["max_seq_length"] if config.exists() else 256
    tokenizer.enable_truncation(max_length=limit)
    tokenizer.no_padding()
    return tokenizer


# The most rows times tokens squared in one batch: 64 texts of 128 tokens. Attention holds a
# batch's rows x tokens x tokens scores, so 64 texts of the full 256 tokens would hold four
# times as much; the runtime keeps what it once allocated, so one such batch sets the process's
# resident memory for good (about 1 GB more at 100,000 memories).
ATTENTION_BUDGET = 64 * 128 * 128


def batches(lengths: Sequence[int], batch_size: int) -> list[np.ndarray]:
    """Rows in batches of similar length, longest first: at most ``batch_size`` rows, and at
    most ``ATTENTION_BUDGET`` rows x tokens squared unless one row alone exceeds it."""
    order = np.argsort([-n for n in lengths], kind="stable")
    found: list[np.ndarray] = []
    start = 0
    while start < len(order):
        width = max(int(lengths[order[start]]), 1)
        rows = max(1, min(batch_size, ATTENTION_BUDGET // (width * width)))
        found.append(order[start : start + rows])
        start += rows
    return found


def _encode(session: Any, tokenizer: Any, texts: list[str], batch_size: int) -> np.ndarray:
    """Mean-pooled, normalised vectors; texts go in batches of similar length, as in
    sentence-transformers, so little time goes on padding."""
    encodings = tokenizer.encode_batch(texts)
    vectors = np.empty((len(texts), 0), dtype=np.float32)
    for rows in batches([len(e.ids) for e in encodings], batch_size):
        width = max(len(encodings[i].ids) for i in rows)
        ids = np.zeros((len(rows), width), dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        types = np.zeros((len(rows), width), dtype=np.int64)
        for j, i in enumerate(rows):
            n = len(encodings[i].ids)
            ids[j, :n] = encodings[i].ids
            mask[j, :n] = 1
            types[j, :n] = encodings[i].type_ids
        (hidden,) = session.run(
            None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        )
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        if vectors.shape[1] == 0:
            vectors = np.empty((len(texts), pooled.shape[1]), dtype=np.float32)
        vectors[rows] = pooled
    return vectors


class OnnxEmbedder:
    """The packaged all-MiniLM-L6-v2 under ONNX Runtime (fp32 by default, int8 opt-in)."""

    def __init__(
        self,
        root: Path | str,
        int8: bool = False,
        threads: int | None = None,
        batch_size: int = 64,
        fall_back_to_torch: bool = False,
    ) -> None:
        self.root = Path(root)
        self.int8 = int8
        self.threads = default_threads() if threads is None else (threads or os.cpu_count() or 1)
        self.batch_size = batch_size
        self.fall_back_to_torch = fall_back_to_torch and not int8
        self._torch: Any = None

    @property
    def model_id(self) -> str:
        """fp32 shares PyTorch's id (same vectors, same cache); int8 has its own."""
        return PACKAGED_MODEL_ID + (INT8_SUFFIX if self.int8 else "")

    @property
    def dimension(self) -> int:
        config = json.loads((packaged_model_path() / "config.json").read_text())
        return int(config["hidden_size"])

    @property
    def runtime(self) -> str:
        if self._torch is not None:
            return "torch"
        return "onnx-int8" if self.int8 else "onnx"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if self._torch is not None:
            return self._torch.encode(texts)
        try:
            path = ensure_export(self.root, int8=self.int8)
        except (OnnxExportError, OSError, ImportError) as exc:
            if not self.fall_back_to_torch:
                raise
            from consolidation_assets.services.embedders import SentenceTransformerEmbedder

            logging.getLogger(__name__).warning(
                "ONNX export unavailable (%s); embedding with PyTorch, the same vectors", exc
            )
            self._torch = SentenceTransformerEmbedder()
            return self._torch.encode(texts)
        session = _session(str(path), self.threads)
        vectors = _encode(
            session, _tokenizer(str(packaged_model_path())), list(texts), self.batch_size
        )
        release_freed_memory()
        return vectors

    def __repr__(self) -> str:
        return f"OnnxEmbedder({self.model_id!r}, threads={self.threads})"

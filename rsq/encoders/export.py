"""A sentence-transformers folder exported to ONNX, so that queries (and CPU builds) need no PyTorch.

`export_onnx(folder)` writes `folder/onnx/model.onnx` (fp32: token ids + attention mask -> the transformer's last
hidden state; pooling and normalisation stay in `OnnxEmbedder`) and `folder/onnx/model-int8.onnx` (int8 weights,
dynamic int8 activations, a few outlier-prone matrices in fp32: `quantize`) for the query path. The export is checked
against PyTorch before it is kept.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np

from rsq.errors import RsqError

ONNX_DIR = "onnx"
FP32_FILE = "model.onnx"
INT8_FILE = "model-int8.onnx"
OPSET = 17
CHECK_TEXTS = (
    "many planes are parked next to a long building in an airport",
    "river",
    "a dense residential area with houses",
)
MIN_COSINE = 0.9999  # the fp32 export against PyTorch on CHECK_TEXTS
DOWN_PROJECTION = re.compile(r"layer\.(\d+)/output/dense/MatMul")  # transformers' names for BERT, MPNet, RoBERTa layers


def export_onnx(folder: Path, on_step=None) -> Path:
    """Export the transformer of a sentence-transformers folder to `folder/onnx/` (replaced whole); returns that
    folder."""
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging

    logging.disable_progress_bar()
    pooling = pooling_mode(folder)
    if pooling not in ("mean", "cls"):
        raise RsqError(f"{folder}: rsq's ONNX export handles mean or CLS pooling, not {pooling}")
    model = AutoModel.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    with tempfile.TemporaryDirectory(prefix=".onnx-", dir=folder) as work:
        fp32, int8 = Path(work) / FP32_FILE, Path(work) / INT8_FILE
        _trace(model, tokenizer, fp32)
        _check(model, tokenizer, fp32, pooling)
        if on_step:
            on_step("exported to ONNX and checked against PyTorch; quantizing its weights to int8")
        quantize(fp32, int8)
        target = folder / ONNX_DIR
        if target.exists():
            shutil.rmtree(target)
        Path(work).chmod(0o755)
        Path(work).rename(target)
    (target / "export.json").write_text(
        json.dumps({"opset": OPSET, "pooling": pooling, "files": [FP32_FILE, INT8_FILE]}) + "\n"
    )
    return target


def pooling_mode(folder: Path) -> str:
    """mean or cls, from the sentence-transformers pooling module's config (mean when there is none)."""
    configs = sorted(folder.glob("*_Pooling/config.json"))
    if not configs:
        return "mean"
    config = json.loads(configs[0].read_text())
    for mode in ("mean_tokens", "cls_token", "max_tokens", "mean_sqrt_len_tokens"):
        if config.get(f"pooling_mode_{mode}"):
            return {"mean_tokens": "mean", "cls_token": "cls"}.get(mode, mode)
    return config.get("pooling_mode", "mean")


def quantize(fp32: Path, int8: Path) -> None:
    """Dynamic int8 quantization of the weight matrices (per output channel; activations quantized at run time), except
    the feed-forward down-projections of the second half of the layers, kept in fp32: their inputs carry outlier
    channels that per-tensor int8 activations crush (README, "Text encoders": all-mpnet-base-v2's int8 vectors reach
    cosine 0.99 to fp32 this way, 0.93 with every matrix in int8, for about 1 ms more per query)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    nodes = [
        node.name for node in onnx.load(str(fp32), load_external_data=False).graph.node if node.op_type == "MatMul"
    ]
    down = {name: int(match.group(1)) for name in nodes if (match := DOWN_PROJECTION.search(name))}
    layers = max(down.values(), default=-1) + 1
    kept = [name for name, layer in down.items() if layer >= layers // 2]
    quiet = logging.getLogger().level
    logging.getLogger().setLevel(logging.ERROR)  # onnxruntime's advice to pre-process, meant for image models
    try:
        quantize_dynamic(
            str(fp32),
            str(int8),
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul"],
            nodes_to_exclude=kept,
            extra_options={"MatMulConstBOnly": True},
        )
    finally:
        logging.getLogger().setLevel(quiet)


def _trace(model, tokenizer, target: Path) -> None:
    import torch

    class LastHiddenState(torch.nn.Module):
        def __init__(self, inner) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    sample = tokenizer(list(CHECK_TEXTS[:2]), padding=True, return_tensors="pt")
    axes = {0: "batch", 1: "tokens"}
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on shapes it records; `_check` tests the result
        torch.onnx.export(
            LastHiddenState(model).eval(),
            (sample["input_ids"], sample["attention_mask"]),
            str(target),
            dynamo=False,
            opset_version=OPSET,
            input_names=["input_ids", "attention_mask"],
            output_names=["last_hidden_state"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "last_hidden_state": axes},
        )


def _check(model, tokenizer, exported: Path, pooling: str) -> None:
    """The export gives PyTorch's sentence vectors (batched, with padding), or it is refused."""
    import onnxruntime
    import torch

    from rsq.encoders.base import mean_pooled, normalised

    batch = tokenizer(list(CHECK_TEXTS), padding=True, return_tensors="pt")
    with torch.inference_mode():
        expected = model(**{k: batch[k] for k in ("input_ids", "attention_mask")}).last_hidden_state.numpy()
    session = onnxruntime.InferenceSession(str(exported), providers=["CPUExecutionProvider"])
    got = session.run(None, {k: batch[k].numpy() for k in ("input_ids", "attention_mask")})[0]
    mask = batch["attention_mask"].numpy()
    pool = (lambda h: mean_pooled(h, mask)) if pooling == "mean" else (lambda h: h[:, 0])
    cosine = (normalised(pool(expected)) * normalised(pool(got))).sum(axis=1)
    if float(np.min(cosine)) < MIN_COSINE:
        raise RsqError(
            f"the ONNX export of {exported.parent.parent} does not match PyTorch (cosine {float(np.min(cosine)):.5f})"
        )

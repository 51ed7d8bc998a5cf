"""Text encoders side by side, in one run on this machine: what each costs to build with, to query with, and to store.

For all-MiniLM-L6-v2 and all-mpnet-base-v2: build rate (texts/s, distinct RSICD/RSITMD training sentences, batches of
64, every core) through PyTorch and, for models with an ONNX export, through its fp32 export; query latency p50/p99
(one query at a time: 200 RSITMD test sentences and the 63 short ucm-class queries) through each query runtime;
load time of each query runtime; bytes per caption row (float16 vectors) and dense recall@10 of float16 storage
against float32 exact search on the RSICD test captions. Cold `rsq search` is timed separately (README).

Run: .venv/bin/python bench/text_encoders.py   (writes bench/results/text-encoders.json, prints a table)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from rsq.config import data_root
from rsq.encoders import DEFAULT_EMBEDDER, SMALL_EMBEDDER, make_embedder, query_encoder
from rsq.eval.queries import class_queries

RESULTS = Path(__file__).parent / "results"
MODELS = (SMALL_EMBEDDER, DEFAULT_EMBEDDER)
RUNTIMES = ("torch", "onnx", "onnx-int8")


def sentences(name: str, split: str) -> list[str]:
    lines = (data_root() / name / f"{split}.jsonl").read_text().splitlines()
    return [caption for line in lines for caption in json.loads(line)["captions"]]


def percentiles(seconds: list[float]) -> dict[str, float]:
    values = np.array(seconds) * 1000
    return {"p50_ms": round(float(np.percentile(values, 50)), 2), "p99_ms": round(float(np.percentile(values, 99)), 2)}


def build_rate(spec: str, device_runtime: str, texts: list[str]) -> float | str:
    encoder = make_embedder(spec, device="cpu") if device_runtime == "onnx" else query_encoder(spec, "torch")
    if device_runtime == "onnx" and not encoder.runtime.startswith("onnxruntime"):
        return "n/a (no fp32 ONNX export: builds run on PyTorch)"
    encoder.encode(texts[:64])
    started = time.perf_counter()
    encoder.encode(texts)
    return round(len(texts) / (time.perf_counter() - started), 1)


def query_latency(spec: str, runtime: str, queries: dict[str, list[str]]) -> dict:
    started = time.perf_counter()
    encoder = query_encoder(spec, runtime)
    result = {"load_s": round(time.perf_counter() - started, 2), "encoder": type(encoder).__name__}
    for name, texts in queries.items():
        encoder.encode(texts[:5])
        times = []
        for text in texts:
            tick = time.perf_counter()
            encoder.encode([text])
            times.append(time.perf_counter() - tick)
        result[name] = percentiles(times)
    return result


def float16_recall(spec: str, texts: list[str], queries: list[str]) -> tuple[int, dict[str, float]]:
    """Recall@10 of float16 storage (rsq's) against exact float32 search, queries and rows from the real model:
    as id overlap, and counting a returned row as right when its exact score ties the 10th best (RSICD repeats
    captions, so identical rows tie and either copy is a right answer); with the vectors' dimension."""
    from rsq.textindex.vectors import VectorFile

    encoder = make_embedder(spec, device="cpu")
    rows, asked = encoder.encode(texts), encoder.encode(queries)
    scores = asked @ rows.T
    exact = np.argsort(-scores, axis=1, kind="stable")[:, :10]
    _, found = VectorFile.build(rows, "flat").search(asked, 10)
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(exact, found, strict=True)])
    tenth = scores[np.arange(len(queries)), exact[:, -1]]
    tied = np.mean([(scores[n, found[n]] >= tenth[n] - 1e-6).mean() for n in range(len(queries))])
    return rows.shape[1], {"ids": round(float(overlap), 4), "with_ties": round(float(tied), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-texts", type=int, default=1000)
    args = parser.parse_args()
    training = list(dict.fromkeys(sentences("rsicd", "train") + sentences("rsitmd", "train")))
    build_texts = [training[n] for n in np.random.default_rng(0).permutation(len(training))[: args.build_texts]]
    queries = {"sentences": sentences("rsitmd", "test")[::5][:200], "short": [q for q, _ in class_queries("all")]}
    rsicd_test = sentences("rsicd", "test")
    report = {}
    for spec in MODELS:
        entry = {"dim": None, "build_texts_per_s": {}, "query": {}}
        for runtime in ("torch", "onnx"):
            try:
                entry["build_texts_per_s"][runtime] = build_rate(spec, runtime, build_texts)
            except Exception as error:  # a model without an ONNX export builds through PyTorch only
                entry["build_texts_per_s"][runtime] = f"n/a ({type(error).__name__})"
        for runtime in RUNTIMES:
            try:
                entry["query"][runtime] = query_latency(spec, runtime, queries)
            except Exception as error:
                entry["query"][runtime] = f"n/a ({str(error)[:80]})"
        entry["dim"], entry["float16_recall_at_10"] = float16_recall(spec, rsicd_test, rsicd_test[::10])
        entry["bytes_per_caption_row"] = 2 * entry["dim"]
        report[spec] = entry
        print(json.dumps({spec: entry}), file=sys.stderr)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "text-encoders.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

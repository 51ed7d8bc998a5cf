"""Choosing the compressed layout: IVF-PQ, 4-bit PQ fast scan and RaBitQ codes, re-ranked from float16 rows.

One segment's worth of stand-in caption rows (bench/corpus.py: two variants a tile, each the normalised mean of its
sentences' real all-MiniLM-L6-v2 vectors, lifted to 768 dimensions), 2,048 IVF lists trained on 65,536 rows, as
`rsq index --vectors compressed` trains them. For each layout, probe count and re-rank depth: single-query p50 (codes
ranked, then the depth re-scored from the float16 rows held in memory) and recall@10 against the exact top 10 of the
float16 rows (a hit counts when its exact score reaches the exact 10th: the corpus repeats sentences, so ties are
common). Two query sets, kept apart: `tuning` (RSICD test captions; the defaults were chosen on these) and
`held-out` (RSITMD test captions, the index benchmark's queries).

Run: .venv/bin/python bench/vector_layouts.py --rows 1400000 --queries tuning
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import corpus  # noqa: E402

from rsq.config import data_root  # noqa: E402
from rsq.encoders import SMALL_EMBEDDER, make_embedder  # noqa: E402

LISTS, TRAIN, DIM = 2_048, 65_536, 768
LAYOUTS = {
    "ivf-pq-96x8": lambda: faiss.IndexIVFPQ(faiss.IndexFlatIP(DIM), DIM, LISTS, 96, 8, faiss.METRIC_INNER_PRODUCT),
    "ivf-pq-fastscan-192x4": lambda: faiss.IndexIVFPQFastScan(
        faiss.IndexFlatIP(DIM), DIM, LISTS, 192, 4, faiss.METRIC_INNER_PRODUCT
    ),
    "ivf-rabitq": lambda: faiss.IndexIVFRaBitQ(faiss.IndexFlatIP(DIM), DIM, LISTS, faiss.METRIC_INNER_PRODUCT),
}


def query_texts(which: str, count: int = 200) -> list[str]:
    if which == "held-out":
        return corpus.queries(count)
    lines = (data_root() / "rsicd" / "test.jsonl").read_text().splitlines()
    texts = sorted(
        {" ".join(c.replace(" .", "").split()) for line in lines for c in json.loads(line)["captions"]} - {""}
    )
    np.random.default_rng(2).shuffle(texts)
    return texts[:count]


def stand_in_rows(count: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, the real encoder): variant one a sentence, variant two the mean of two, as in the corpus."""
    pool = corpus.sentences()
    real = make_embedder(SMALL_EMBEDDER)
    lifted = corpus.lifted(corpus.sentence_vectors(pool, real), DIM)
    a, b, c = np.random.default_rng(0).integers(0, len(pool), (3, count // 2))
    rows = np.empty((count, DIM), np.float32)
    rows[0::2] = lifted[a]
    pair = lifted[b] + lifted[c]
    rows[1::2] = pair / np.linalg.norm(pair, axis=1, keepdims=True)
    return rows, real


def measure(index, rows16: np.ndarray, queries: np.ndarray, tenth: np.ndarray, nprobe: int, depth: int) -> dict:
    faiss.omp_set_num_threads(1)
    found, seconds = 0, []
    for n, query in enumerate(queries):
        started = time.perf_counter()
        _, candidates = index.search(query[None], depth, params=faiss.SearchParametersIVF(nprobe=nprobe))
        candidates = candidates[0][candidates[0] >= 0]
        exact = rows16[candidates].astype(np.float32) @ query
        best = exact[np.argsort(-exact)[:10]]
        seconds.append(time.perf_counter() - started)
        found += int(np.sum(best >= tenth[n] - 1e-5))
    faiss.omp_set_num_threads(0)
    return {"p50_ms": round(1000 * float(np.median(seconds)), 2), "recall_at_10": round(found / (10 * len(queries)), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_400_000)
    parser.add_argument("--queries", choices=("tuning", "held-out"), default="tuning")
    parser.add_argument("--layouts", default=",".join(LAYOUTS))
    args = parser.parse_args()
    rows, real = stand_in_rows(args.rows)
    queries = corpus.lifted(real.encode(query_texts(args.queries)), DIM).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    rows16 = rows.astype(np.float16)
    tenth = np.concatenate(
        [-np.partition(-(q @ rows16.astype(np.float32).T), 9, axis=1)[:, 9] for q in np.array_split(queries, 8)]
    )
    sample = rows[np.sort(np.random.default_rng(0).permutation(len(rows))[:TRAIN])]
    results = []
    for name in args.layouts.split(","):
        index = LAYOUTS[name]()
        started = time.perf_counter()
        index.train(sample)
        index.add(rows)
        built = round(time.perf_counter() - started, 1)
        for nprobe in (16, 32):
            for depth in (160, 200, 400):
                entry = {"layout": name, "nprobe": nprobe, "depth": depth, "build_s": built}
                entry |= measure(index, rows16, queries, tenth, nprobe, depth)
                print(json.dumps(entry), flush=True)
                results.append(entry)
    out = Path(__file__).parent / "results" / f"vector-layouts-{args.queries}.json"
    out.write_text(json.dumps({"rows": args.rows, "queries": args.queries, "results": results}, indent=1))


if __name__ == "__main__":
    main()

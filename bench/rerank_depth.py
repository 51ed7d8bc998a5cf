"""Choosing a compressed index's re-rank depth at its own size: dense recall@10 at several depths, on tuning queries.

A compressed search ranks candidates by their RaBitQ codes over every segment of the index, then re-scores the best
`rerank_depth(k)` of them from their float16 rows (rsq.textindex.vectors). The depth was chosen on one 1.4-million-row
segment; over more rows the codes' ranking may need more. This opens an index built by bench/index_scale.py, finds
each query's exact best tiles once (one pass over every live float16 row), then searches in dense mode with each
depth (RERANK_MIN set to it; the depth searched is the largest of it, k and the row rule `ROWS_PER_RERANK`) and
reports tile recall@10 as index_scale.py counts it (ties with the exact 10th count) and the single-query p50.
Queries: RSICD test captions (`tuning`, what defaults are chosen on) or RSITMD test captions (`held-out`, the index
benchmark's), embedded and lifted to the index's width as index_scale.py does.

Run: .venv/bin/python bench/rerank_depth.py --index /work/bw10m/index-10000000 --queries tuning --count 60
(the results of the run that chose ROWS_PER_RERANK: bench/results/rerank-depth-10m-*.json)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import corpus  # noqa: E402
from index_scale import Precomputed, exact_best_tiles  # noqa: E402
from vector_layouts import query_texts  # noqa: E402

from rsq.encoders import SMALL_EMBEDDER, query_encoder  # noqa: E402
from rsq.query import Searcher, SearchQuery  # noqa: E402
from rsq.textindex import vectors as vector_files  # noqa: E402


def recall_at(index: Searcher, texts: list[str], best: list[dict]) -> tuple[float, float]:
    """Tile recall@10 of dense mode against each query's exact best tiles, and the single-query p50 (ms)."""
    found, seconds = 0, []
    for text, exact in zip(texts, best, strict=True):
        tenth = sorted(exact.values(), reverse=True)[min(9, len(exact) - 1)]
        started = time.perf_counter()
        hits = index.search(SearchQuery(text, k=10, mode="dense"))
        seconds.append(time.perf_counter() - started)
        found += sum(hit.scores["dense"] >= tenth - 1e-5 for hit in hits)
    return round(found / (10 * len(texts)), 4), round(float(np.percentile(seconds, 50)) * 1000, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--queries", choices=("tuning", "held-out"), default="tuning")
    parser.add_argument("--count", type=int, default=60)
    parser.add_argument("--depths", default="160,400,800,1600")
    args = parser.parse_args()
    texts = query_texts(args.queries, args.count)
    plain = Searcher(args.index)
    lifted = corpus.lifted(query_encoder(SMALL_EMBEDDER).encode(texts), plain.manifest.dim)
    index = Searcher(args.index, encoder=Precomputed(dict(zip(texts, lifted, strict=True)), plain.manifest.embedder))
    started = time.perf_counter()
    best = exact_best_tiles(index, lifted)
    print(f"exact best tiles of {len(texts)} queries in {time.perf_counter() - started:.0f} s", flush=True)
    result = {"index": str(args.index), "queries": args.queries, "count": len(texts), "depths": {}}
    for depth in [int(d) for d in args.depths.split(",")]:
        vector_files.RERANK_MIN = depth
        index.search(SearchQuery(texts[0], k=10, mode="dense"))  # warm
        recall, p50 = recall_at(index, texts, best)
        result["depths"][depth] = {"recall_at_10": recall, "dense_p50_ms": p50}
        print(json.dumps({depth: result["depths"][depth]}), flush=True)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()

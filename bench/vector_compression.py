"""Compressed against exact vectors, one segment at a time, peers in the same run.

For each size: stand-in 768-d vectors with neighbourhood structure (unit vectors around 2,000 topic centres, the
way caption embeddings cluster by scene), written as rsq writes a segment's vectors (`VectorFile`) in the exact
layout (IVF over float16) and the compressed one (IVF-RaBitQ codes + float16 rows on disk, re-ranked), then opened
memory-mapped. Reported: the FAISS file's bytes (the exact layout's vectors, the compressed layout's codes), the
bytes on disk, the resident memory of a fresh process after it opens the file and runs 100 searches (VmRSS, less
the same process's RSS before opening: what the layout itself costs), build seconds, single-query p50/p99 and
recall@10 of 200 queries against NumPy brute force over the float32 vectors (the third peer, timed too).

Run: .venv/bin/python bench/vector_compression.py --sizes 100000,300000   Writes bench/results/vectors.md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from rsq.textindex.vectors import EXACT, VectorFile

RESULTS = Path(__file__).parent / "results"
DIM, TOPICS, QUERIES = 768, 2_000, 200


def stand_in(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(TOPICS, DIM)).astype(np.float32)
    rows = centres[rng.integers(0, TOPICS, count)] + 0.8 * rng.normal(size=(count, DIM)).astype(np.float32)
    queries = centres[rng.integers(0, TOPICS, QUERIES)] + 0.8 * rng.normal(size=(QUERIES, DIM)).astype(np.float32)
    unit = lambda m: m / np.linalg.norm(m, axis=1, keepdims=True)  # noqa: E731
    return unit(rows).astype(np.float32), unit(queries).astype(np.float32)


def timed_search(search, queries: np.ndarray) -> tuple[np.ndarray, dict[str, float]]:
    found, seconds = [], []
    for query in queries:
        started = time.perf_counter()
        found.append(search(query[None]))
        seconds.append(time.perf_counter() - started)
    ms = np.array(seconds) * 1000
    return np.vstack(found), {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99))}


def resident_after_searches(path: Path, queries: np.ndarray) -> int:
    """Bytes a fresh process holds resident for the opened file after 100 searches (VmRSS after less before)."""
    np.save(path.parent / "queries.npy", queries[:100])
    command = [sys.executable, __file__, "--resident", str(path), "--queries", str(path.parent / "queries.npy")]
    return int(subprocess.run(command, capture_output=True, text=True, check=True).stdout.split()[-1])


def print_resident(path: Path, queries: Path) -> None:
    """In the fresh process: open the file, search, print the resident bytes that added."""
    import faiss  # noqa: F401  (the library's own pages are not the layout's)

    before = _rss()
    opened = VectorFile.open(path)
    for query in np.load(queries):
        opened.search(query[None], 10)
    print(_rss() - before)


def _rss() -> int:
    with open("/proc/self/status") as status:
        return int(next(line for line in status if line.startswith("VmRSS")).split()[1]) * 1024


def measure(count: int, folder: Path) -> list[dict]:
    rows, queries = stand_in(count, seed=count)
    truth, brute = timed_search(lambda q: np.argsort(-(q @ rows.T), axis=1)[:, :10], queries)
    results = [{"layout": "NumPy brute force (float32)", "memory_bytes": rows.nbytes, "disk_bytes": 0, **brute}]
    for layout in ("exact", "compressed"):
        target = folder / layout
        target.mkdir()
        started = time.perf_counter()
        VectorFile.build(rows, layout).save(target / "vectors.faiss")
        built = time.perf_counter() - started
        opened = VectorFile.open(target / "vectors.faiss")
        found, latency = timed_search(lambda q: opened.search(q, 10)[1], queries)
        recall = float(np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth, strict=True)]))
        codes = (target / "vectors.faiss").stat().st_size
        rerank = (target / EXACT).stat().st_size if (target / EXACT).exists() else 0
        results.append(
            {
                "layout": f"rsq {layout} ({opened.kind})",
                "memory_bytes": codes,
                "resident_bytes": resident_after_searches(target / "vectors.faiss", queries),
                "disk_bytes": codes + rerank,
                "build_s": built,
                "recall@10": recall,
                **latency,
            }
        )
    return results


def table(measured: dict[int, list[dict]]) -> str:
    lines = [
        "| rows | layout | FAISS file | resident after open + 100 searches | on disk | build s | p50 ms | p99 ms "
        "| recall@10 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for count, results in measured.items():
        for r in results:
            memory, disk = r["memory_bytes"] / 2**20, r["disk_bytes"] / 2**20
            resident = f"{r['resident_bytes'] / 2**20:,.0f} MiB" if "resident_bytes" in r else "(all of it)"
            lines.append(
                f"| {count:,} | {r['layout']} | {memory:,.0f} MiB | {resident} | {disk:,.0f} MiB "
                f"| {r.get('build_s', 0):.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r.get('recall@10', 1.0):.3f} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,300000")
    parser.add_argument("--resident", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--queries", type=Path, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.resident:
        return print_resident(arguments.resident, arguments.queries)
    sizes = [int(s) for s in arguments.sizes.split(",")]
    measured = {}
    for count in sizes:
        with tempfile.TemporaryDirectory(prefix="rsq-vectors-") as folder:
            measured[count] = measure(count, Path(folder))
        print(table({count: measured[count]}), file=sys.stderr)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "vectors.md").write_text(table(measured))
    print(table(measured))


if __name__ == "__main__":
    main()

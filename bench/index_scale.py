"""The index at archive scale, against peers measured in the same run.

For each size (tiles, two caption variants each, from bench/corpus.py): build throughput (and the embedder's
own rate), disk, open time and memory in a fresh process, query latency p50/p99 per mode (bm25, dense,
hybrid) without and with each filter (sensor, time, bbox, near), dense recall@10 against exact search, and
adding 10 tiles. Two query sets: 200 sentences (RSITMD test captions, never in the corpus) and 63 short
queries (the ucm-class names and paraphrases). Peers: bm25s for BM25, NumPy brute force for dense,
txtai's hybrid index at one size. Query vectors are computed beforehand, so latencies are rsq's own cost;
the query encoder is timed apart. Beyond `--real-up-to` the stand-in vectors are lifted to `--dim` dimensions
(corpus.lifted: the same neighbourhoods, a 768-d model's bytes); recall is against an exhaustive scan of the
index's own float16 rows, chunk by chunk, and the NumPy peer runs only where its float32 matrix fits in memory.

Run: .venv/bin/python bench/index_scale.py --sizes 10000,100000,1000000   (needs `pip install -e '.[bench]'`)
     .venv/bin/python bench/index_scale.py --grow 1000000,10000000 --vectors compressed --txtai 0
       (one index grown to each size in turn, measured at each: what an archive that grows goes through)
Writes bench/results/index-<size>[-<vectors>].json and bench/results/index-txtai.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import corpus  # noqa: E402

from rsq.encoders import SMALL_EMBEDDER, make_embedder, model_folder, query_encoder  # noqa: E402
from rsq.eval.queries import CLASS_QUERIES  # noqa: E402
from rsq.query import Searcher, SearchQuery, parse_filters  # noqa: E402
from rsq.textindex.build import BuildOptions, index_records  # noqa: E402

RESULTS = Path(__file__).parent / "results"
FILTERS = {
    "none": {},
    "sensor": {"sensor": "s1"},
    "time": {"after": "2020-01-01", "before": "2020-12-31"},
    "bbox": {"bbox": "-10,35,30,60"},
    "near": {"near": "10,50,300"},
}
MODES = ("bm25", "dense", "hybrid")
SHORT_QUERIES = [text for texts in CLASS_QUERIES.values() for text in texts]


ADDED_IDS = 900_000_000  # the ids of the tiles added after a measurement (apart from any size's)


@dataclass
class Setup:
    """What every size of one run shares."""

    encoder: object
    pool: list[str]
    query_sets: dict[str, list[str]]
    vectors: dict[str, np.ndarray]
    options: BuildOptions


class Precomputed:
    """Query vectors computed beforehand, so a search's latency is the index's own cost."""

    def __init__(self, vectors: dict[str, np.ndarray], spec: str) -> None:
        self.vectors, self.spec, self.dim = vectors, spec, len(next(iter(vectors.values())))

    def encode(self, texts: list[str]) -> np.ndarray:
        return np.stack([self.vectors[t] for t in texts])


def percentiles(seconds: list[float]) -> dict[str, float]:
    values = np.array(seconds) * 1000
    return {"p50_ms": round(float(np.percentile(values, 50)), 3), "p99_ms": round(float(np.percentile(values, 99)), 3)}


def timed(function, items) -> list[float]:
    times = []
    for item in items:
        started = time.perf_counter()
        function(item)
        times.append(time.perf_counter() - started)
    return times


def disk_mb(folder: Path) -> float:
    return round(sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20, 1)


def probe_open(index: Path) -> dict[str, float]:
    """Open time and resident memory in a fresh process (after opening, and after 100 searches of each kind)."""
    script = f"""
import json, time, sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
def rss(): return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20
from rsq.query import Searcher, SearchQuery
import numpy as np
from rsq.textindex.reader import Snapshot
before = rss(); started = time.perf_counter()
snapshot = Snapshot.open(__import__("pathlib").Path({str(index)!r}))
opened = time.perf_counter() - started
after = rss()
rng = np.random.default_rng(0)
for _ in range(100):
    vector = rng.standard_normal(snapshot.manifest.dim).astype("float32")
    snapshot.vector_hits("captions", vector[None] / np.linalg.norm(vector), 200, __import__("rsq.textindex.filters",
    fromlist=["Filters"]).Filters())
    snapshot.bm25_hits("green trees around a building", 200, __import__("rsq.textindex.filters",
    fromlist=["Filters"]).Filters())
print(json.dumps({{"open_s": round(opened, 4), "rss_mb_before_open": round(before, 1), "rss_mb_after_open":
round(after, 1), "rss_mb_after_100_searches": round(rss(), 1)}}))
"""
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def warm_file_cache(index: Path, chunk: int = 2**24) -> None:
    """Read the index's files once, largest first, so the timed searches meet the page cache a long-running server
    has (an index larger than memory keeps its smaller files: the codes, columns, BM25 and catalog)."""
    for path in sorted((p for p in index.rglob("*") if p.is_file()), key=lambda p: -p.stat().st_size):
        with path.open("rb") as handle:
            while handle.read(chunk):
                pass


def vectors_mb(index: Path) -> float:
    """The live generation's vector files (what memory-mapping may bring into memory)."""
    from rsq.textindex.commit import latest

    return round(sum(s.files["vectors.faiss"] for s in latest(index).segments) / 2**20, 1)


def latencies(index: Searcher, queries: list[str]) -> dict[str, dict[str, dict[str, float]]]:
    """p50/p99 per mode and filter, after a warm-up; also how many results each returned on average."""
    table: dict[str, dict[str, dict[str, float]]] = {}
    for mode in MODES:
        for query in queries[:20]:
            index.search(SearchQuery(query, k=10, mode=mode))
        for name, values in FILTERS.items():
            filters = parse_filters(**values)
            counts: list[int] = []
            times = timed(
                lambda q: counts.append(len(index.search(SearchQuery(q, k=10, mode=mode, filters=filters)))), queries
            )
            table.setdefault(mode, {})[name] = percentiles(times) | {"mean_results": round(float(np.mean(counts)), 2)}
    return table


def dense_recall(index: Searcher, queries: list[str], vectors: dict[str, np.ndarray]) -> float:
    """Tile-level recall@10 of rsq's dense mode against an exhaustive scan of every live variant row. Ties count:
    the corpus repeats sentences, so a hit whose true score reaches the exact 10th-best tile's is a match."""
    found = 0
    for query, best in zip(queries, exact_best_tiles(index, np.stack([vectors[q] for q in queries])), strict=True):
        tenth = sorted(best.values(), reverse=True)[min(9, len(best) - 1)]
        hits = index.search(SearchQuery(query, k=10, mode="dense"))
        found += sum(hit.scores["dense"] >= tenth - 1e-5 for hit in hits)
    return round(found / (10 * len(queries)), 4)


def exact_best_tiles(index: Searcher, queries: np.ndarray, depth: int = 400, chunk: int = 262_144) -> list[dict]:
    """Per query, the best exact score of each tile among the `depth` best live rows: one pass over the rows, a
    chunk at a time (the float16 rows of compressed segments, decoded ones of exact segments)."""
    scores = np.full((len(queries), 0), -np.inf, dtype=np.float32)
    tiles = np.zeros((len(queries), 0), dtype=object)
    for segment in index.snapshot.segments["captions"]:
        for start in range(0, segment.info.count, chunk):
            positions = np.arange(start, min(start + chunk, segment.info.count))
            live = positions[segment.is_live(positions)]
            block = queries @ segment.vectors.take(live).T
            top = np.argpartition(-block, min(depth, block.shape[1] - 1), axis=1)[:, :depth]
            names = segment.columns.tiles.get(live)
            scores = np.concatenate([scores, np.take_along_axis(block, top, axis=1)], axis=1)
            tiles = np.concatenate([tiles, names[top]], axis=1)
            keep = np.argsort(-scores, axis=1)[:, :depth]
            scores, tiles = np.take_along_axis(scores, keep, axis=1), np.take_along_axis(tiles, keep, axis=1)
    best: list[dict] = []
    for row_scores, row_tiles in zip(scores, tiles, strict=True):
        found: dict[str, float] = {}
        for score, tile in zip(row_scores, row_tiles, strict=True):
            found.setdefault(tile, float(score))
        best.append(found)
    return best


def build_bm25s(texts: list[str]):
    """bm25s over the same caption variants, with the same English stop words and Porter-family stemmer."""
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    started = time.perf_counter()
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False), show_progress=False)
    return retriever, stemmer, round(time.perf_counter() - started, 2)


def peer_bm25s(built, queries: list[str]) -> dict[str, float]:
    import bm25s

    retriever, stemmer, _ = built

    def search(query: str) -> None:
        tokens = bm25s.tokenize([query], stopwords="en", stemmer=stemmer, show_progress=False)
        retriever.retrieve(tokens, k=200, show_progress=False, n_threads=1)

    for query in queries[:20]:
        search(query)
    return percentiles(timed(search, queries))


def peer_numpy(matrix: np.ndarray | None, queries: list[str], vectors: dict[str, np.ndarray]) -> dict | None:
    if matrix is None:
        return None

    def search(query: str) -> None:
        scores = matrix @ vectors[query]
        np.argpartition(-scores, 200)[:200]

    return percentiles(timed(search, queries))


def all_vectors(index: Searcher, budget: int = 8 * 2**30) -> np.ndarray | None:
    """Every live caption vector as one float32 matrix (the NumPy peer), or None when it would pass `budget`."""
    segments = index.snapshot.segments["captions"]
    if sum(s.info.live for s in segments) * index.snapshot.manifest.dim * 4 > budget:
        return None
    return np.concatenate([s.vectors.take(np.flatnonzero(s.is_live(np.arange(s.info.count)))) for s in segments])


def searched_rss(run: dict) -> float:
    return run.get("rss_mb_after_100_searches", run.get("rss_mb_after_50_searches", 0.0))


def build_figures(report) -> dict[str, float]:
    """A build's time and rates, from its report."""
    return {
        "build_s": round(report.seconds, 2),
        "embed_s": round(report.embed_seconds, 2),
        "embedder_texts_per_s": round(report.texts / max(report.embed_seconds, 1e-9), 1),
        "build_texts_per_s": round(report.texts / report.seconds, 1),
        "build_share_of_embedder_rate": round(report.embed_seconds / report.seconds, 4),
    }


def run_size(size: int, have: int, out: Path, setup: Setup) -> dict:
    """Grow the index at `out` from `have` tiles to `size` (have = size: measure it as it is), then measure it."""
    encoder, pool, query_sets, vectors = setup.encoder, setup.pool, setup.query_sets, setup.vectors
    result: dict = {
        "tiles": size,
        "vectors": setup.options.faiss,
        "dim": encoder.dim,
        "encoder": type(encoder).__name__,
    }
    if have < size:
        if have == 0:
            shutil.rmtree(out, ignore_errors=True)
        print(f"[{size}] building from {have:,} tiles with {encoder.spec} ({type(encoder).__name__})", flush=True)
        report = index_records(corpus.records(size - have, pool, start=have), out, encoder, setup.options)
        result |= {"grown_from": have} | build_figures(report)
        print(f"[{size}] built in {report.seconds:.1f} s", flush=True)
    snapshot = Searcher(out, encoder=encoder).snapshot
    result |= {
        "variants": snapshot.manifest.counts["variants"],
        "segments": len(snapshot.generation.segments),
        "layouts": sorted({s.vectors.kind for s in snapshot.segments["captions"]}),
        "disk_mb": disk_mb(out),
        "vectors_mb": vectors_mb(out),
    }
    result |= probe_open(out)
    index = Searcher(out, encoder=Precomputed(vectors, encoder.spec))
    warm_file_cache(out)
    print(f"[{size}] queries", flush=True)
    result["queries"] = {name: latencies(index, queries) for name, queries in query_sets.items()}
    result["dense_recall_at_10"] = dense_recall(index, query_sets["sentences"][:100], vectors)
    added = timed(
        lambda n: index_records(
            corpus.records(10, pool, start=ADDED_IDS + size + 10 * n), out, encoder, BuildOptions(thumbnails=False)
        ),
        range(3),
    )
    result["add_10_tiles_s"] = [round(t, 3) for t in added]
    (RESULTS / f"index-{size}-partial.json").write_text(json.dumps(result, indent=1))  # in case a peer runs out
    print(f"[{size}] peers", flush=True)
    result["peers"] = peers(size, index, setup)
    result["ratios"] = {name: ratios(result["queries"][name], result["peers"][name]) for name in query_sets}
    return result


def peers(size: int, index: Searcher, setup: Setup) -> dict:
    """bm25s over the same variants; NumPy brute force where the float32 matrix fits in memory."""
    texts = [v["one_sentence"] for record in corpus.records(size, setup.pool) for v in record.captions["variants"]]
    bm25s_index = build_bm25s(texts)
    del texts
    matrix = all_vectors(index)
    found = {
        name: {
            "bm25s": peer_bm25s(bm25s_index, queries),
            "numpy_dense": peer_numpy(matrix, queries, setup.vectors),
        }
        for name, queries in setup.query_sets.items()
    }
    return found | {"bm25s_build_s": bm25s_index[2]}


def ratios(queries: dict, peers: dict) -> dict[str, float]:
    """Peer time / rsq time (above 1: rsq is faster)."""
    return {
        "bm25_vs_bm25s_p50": round(peers["bm25s"]["p50_ms"] / queries["bm25"]["none"]["p50_ms"], 2),
        "bm25_vs_bm25s_p99": round(peers["bm25s"]["p99_ms"] / queries["bm25"]["none"]["p99_ms"], 2),
    } | (
        {
            "dense_vs_numpy_p50": round(peers["numpy_dense"]["p50_ms"] / queries["dense"]["none"]["p50_ms"], 2),
            "dense_vs_numpy_p99": round(peers["numpy_dense"]["p99_ms"] / queries["dense"]["none"]["p99_ms"], 2),
        }
        if peers["numpy_dense"]
        else {}
    )


def run_txtai(size: int, encoder, pool: list[str], query_sets: dict[str, list[str]], work: Path) -> dict:
    """txtai's hybrid index (BM25 + dense, its own encoder) against rsq hybrid, both encoding the query."""
    from txtai import Embeddings

    records = list(corpus.records(size, pool))
    texts = [
        (f"{r.tile_id}#{n}", v["one_sentence"], None) for r in records for n, v in enumerate(r.captions["variants"])
    ]
    started = time.perf_counter()
    embeddings = Embeddings(path=str(model_folder(SMALL_EMBEDDER)), hybrid=True, content=False)
    embeddings.index(texts)
    result = {"tiles": size, "documents": len(texts), "txtai_build_s": round(time.perf_counter() - started, 2)}
    out = work / f"index-txtai-{size}"
    shutil.rmtree(out, ignore_errors=True)
    result["rsq_build_s"] = round(index_records(records, out, encoder, BuildOptions(thumbnails=False)).seconds, 2)
    index = Searcher(out)  # the default query encoder, as `rsq search` uses it
    result["query_encoder"] = index.embedder.spec
    for name, queries in query_sets.items():
        for query in queries[:20]:
            embeddings.search(query, 10)
            index.search(SearchQuery(query, k=10))
        txtai = percentiles(timed(lambda q: embeddings.search(q, 10), queries))
        rsq = percentiles(timed(lambda q: index.search(SearchQuery(q, k=10)), queries))
        result[name] = {
            "txtai_hybrid": txtai,
            "rsq_hybrid_with_query_encoder": rsq,
            "ratio_p50": round(txtai["p50_ms"] / rsq["p50_ms"], 2),
            "ratio_p99": round(txtai["p99_ms"] / rsq["p99_ms"], 2),
        }
    return result


def encoder_latency(query_sets: dict[str, list[str]]) -> dict:
    """The default query encoder, one query at a time, per query set."""
    encoder = query_encoder(SMALL_EMBEDDER)
    for query in SHORT_QUERIES:
        encoder.encode([query])
    return {"spec": encoder.spec} | {
        name: percentiles(timed(lambda q: encoder.encode([q]), queries * 3)) for name, queries in query_sets.items()
    }


def heading(run: dict) -> str:
    layout = "" if run["vectors"] == "auto" else f", {run['vectors']}"
    return f"{run['tiles']:,} tiles ({run['variants']:,} rows{layout})"


def table(names: list[str]) -> str:
    """The README table, from result files (`1000000`, `10000000-compressed`: bench/results/index-<name>.json)."""
    runs = [json.loads((RESULTS / f"index-{name}.json").read_text()) for name in names]
    txtai = json.loads((RESULTS / "index-txtai.json").read_text()) if (RESULTS / "index-txtai.json").is_file() else None
    encoder = json.loads((RESULTS / "index-encoder.json").read_text())

    def cells(make) -> str:
        return " | ".join(make(run) for run in runs)

    def latency(run, mode, name, queries="sentences") -> str:
        entry = run["queries"][queries][mode][name]
        return f"{entry['p50_ms']:.1f} / {entry['p99_ms']:.1f}"

    def versus(run, queries, mode, peer) -> str:
        ours, theirs = run["queries"][queries][mode]["none"], run.get("peers", {}).get(queries, {}).get(peer)
        if not theirs:
            return f"{ours['p50_ms']:.1f} / {ours['p99_ms']:.1f} vs – (not run)"
        return (
            f"{ours['p50_ms']:.1f} / {ours['p99_ms']:.1f} vs {theirs['p50_ms']:.1f} / {theirs['p99_ms']:.1f} "
            f"(**{theirs['p50_ms'] / ours['p50_ms']:.2f}× / {theirs['p99_ms'] / ours['p99_ms']:.2f}×**)"
        )

    lines = [
        "| | " + " | ".join(heading(run) for run in runs) + " |",
        "|---" * (len(runs) + 1) + "|",
        "| caption vectors | "
        + cells(
            lambda r: "real MiniLM" if r["encoder"] != "StandInEncoder" else "stand-in (mean of real sentence vectors)"
        )
        + " |",
        "| build: texts/s (share of the embedder's own rate) | "
        + cells(
            lambda r: (
                f"{r['build_texts_per_s']:,.0f} ({100 * r['build_share_of_embedder_rate']:.1f}%)"
                if r["encoder"] != "StandInEncoder"
                else f"{r['build_s']:.0f} s in all (index cost only)"
                if "build_s" in r
                else "– (not recorded)"
            )
        )
        + " |",
        "| disk, of which vectors (MB) | " + cells(lambda r: f"{r['disk_mb']:,.0f}, {r['vectors_mb']:,.0f}") + " |",
        "| open (s); RSS after open / after 100 searches (MB) | "
        + cells(lambda r: f"{r['open_s']:.2f}; {r['rss_mb_after_open']:.0f} / {searched_rss(r):.0f}")
        + " |",
        "| add 10 tiles (s, three runs) | "
        + cells(lambda r: ", ".join(f"{t:.2f}" for t in r["add_10_tiles_s"]))
        + " |",
    ]
    for queries in ("sentences", "short"):
        lines.append(
            f"| **hybrid p50 / p99 ms, {queries}** | " + cells(lambda r: latency(r, "hybrid", "none", queries)) + " |"
        )
        for name in ("sensor", "time", "bbox", "near"):
            lines.append(
                f"| hybrid + `{name}` filter, {queries} | "
                + cells(lambda r, n=name: latency(r, "hybrid", n, queries))
                + " |"
            )
        lines.append(
            f"| BM25 vs bm25s, {queries} (p50 / p99 ms, bm25s ÷ rsq) | "
            + cells(lambda r: versus(r, queries, "bm25", "bm25s"))
            + " |"
        )
        lines.append(
            f"| dense vs NumPy brute force, {queries} | "
            + cells(lambda r: versus(r, queries, "dense", "numpy_dense"))
            + " |"
        )
    lines.append(
        "| dense recall@10 (tiles, against exact search) | " + cells(lambda r: f"{r['dense_recall_at_10']:.3f}") + " |"
    )
    notes = [
        f"Query encoder ({encoder['spec']}, one query): p50 / p99 {encoder['short']['p50_ms']:.1f} / "
        f"{encoder['short']['p99_ms']:.1f} ms "
        f"for short queries, {encoder['sentences']['p50_ms']:.1f} / {encoder['sentences']['p99_ms']:.1f} ms for "
        "sentences."
    ]
    if txtai:
        for queries in ("sentences", "short"):
            entry = txtai[queries]
            notes.append(
                f"txtai hybrid at {txtai['tiles']:,} tiles, {queries}, query encoding included in both: txtai "
                f"{entry['txtai_hybrid']['p50_ms']:.1f} / {entry['txtai_hybrid']['p99_ms']:.1f} ms, rsq "
                f"{entry['rsq_hybrid_with_query_encoder']['p50_ms']:.1f} / "
                f"{entry['rsq_hybrid_with_query_encoder']['p99_ms']:.1f} ms "
                f"(**{entry['ratio_p50']:.2f}× / {entry['ratio_p99']:.2f}×**); builds {txtai['txtai_build_s']:.0f} s "
                f"and {txtai['rsq_build_s']:.0f} s."
            )
    return "\n".join(lines) + "\n\n" + "\n".join(f"- {note}" for note in notes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="sizes, each built apart")
    parser.add_argument("--grow", default="", help="sizes one index grows through, measured at each (instead)")
    parser.add_argument("--vectors", default="auto", help="rsq index --vectors")
    parser.add_argument("--dim", type=int, default=768, help="the stand-in vectors' width")
    parser.add_argument("--measure", action="store_true", help="measure the --work index of the first size as it is")
    parser.add_argument("--build-only", action="store_true", help="build (or grow) the --work index and stop")
    parser.add_argument("--real-up-to", type=int, default=100_000, help="largest size embedded with the real encoder")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--txtai", type=int, default=20_000, help="size of the txtai comparison (0: skip)")
    parser.add_argument("--work", type=Path, default=None, help="folder for the indexes (default: a temporary one)")
    parser.add_argument("--table", action="store_true", help="print the README table of the last run and stop")
    args = parser.parse_args()
    if args.table:
        print(table(args.sizes.split(",")))
        return
    RESULTS.mkdir(exist_ok=True)
    work = args.work or Path(tempfile.mkdtemp(prefix="rsq-bench-"))
    pool = corpus.sentences()
    query_sets = {"sentences": corpus.queries(args.queries), "short": SHORT_QUERIES}
    real = make_embedder(SMALL_EMBEDDER)
    stand_in = corpus.StandInEncoder(pool, corpus.lifted(corpus.sentence_vectors(pool, real), args.dim), real.spec)
    query_side = query_encoder(SMALL_EMBEDDER)
    every_query = [q for queries in query_sets.values() for q in queries]
    raw = query_side.encode(every_query)
    machine = {"cores": os.cpu_count(), "query_vectors_from": query_side.spec}
    (RESULTS / "index-encoder.json").write_text(json.dumps(encoder_latency(query_sets) | machine, indent=1))
    options = BuildOptions(thumbnails=False, faiss=args.vectors)
    grow = [int(s) for s in args.grow.split(",") if s]
    have = 0
    for size in grow or [int(s) for s in args.sizes.split(",")]:
        real_vectors = size <= args.real_up_to
        encoder = real if real_vectors else stand_in
        vectors = dict(zip(every_query, raw if real_vectors else corpus.lifted(raw, args.dim), strict=True))
        out = work / ("index-grow" if grow else f"index-{size}")
        setup = Setup(encoder, pool, query_sets, vectors, options)
        name = f"index-{size}" + ("" if args.vectors == "auto" else f"-{args.vectors}")
        if args.build_only:
            built = build_figures(index_records(corpus.records(size - have, pool, start=have), out, encoder, options))
            (RESULTS / f"{name}-build.json").write_text(json.dumps(built | {"grown_from": have} | machine, indent=1))
            print(f"[{size}] built from {have:,} tiles in {built['build_s']:.1f} s", flush=True)
            have = size if grow else 0
            continue
        result = run_size(size, size if args.measure else have, out, setup)
        if args.measure and (RESULTS / f"{name}-build.json").is_file():  # the figures of its --build-only run
            result = json.loads((RESULTS / f"{name}-build.json").read_text()) | result
        (RESULTS / f"{name}.json").write_text(json.dumps(result | machine, indent=1))
        (RESULTS / f"index-{size}-partial.json").unlink(missing_ok=True)  # the whole result replaces it
        print(json.dumps(result["ratios"]), flush=True)
        have = size if grow else 0
    if args.txtai:
        result = run_txtai(args.txtai, real, pool, query_sets, work)
        (RESULTS / "index-txtai.json").write_text(json.dumps(result | machine, indent=1))
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

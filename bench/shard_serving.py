"""Sharded serving on Ray Serve against one index, in one run: the same answers, and requests/s at 1 and 2 shards.

One corpus (bench/corpus.py, `--tiles` tiles, two caption variants each; stand-in vectors: the normalised mean of
each variant's real all-MiniLM-L6-v2 sentence vectors, so queries embedded by the real model find real neighbours)
is built three ways in one pass of the records (rsq.textindex.build.index_records_into): one index, a sharded
index of 1 shard and one of 2 shards. Then:
- equality: `rsq serve --shards 2` (a subprocess on a local Ray) answers every query (RSITMD test sentences and the
  ucm-class queries) in bm25, dense and hybrid mode, with no filter and with each filter (sensor, time, bbox,
  near), with the ids, order and scores the one index gives in this process;
- load: `rsq serve --shards N` for N = 1 and 2, each warmed, then `--requests` searches in flight at once over HTTP;
  requests/s and p50/p99, and the same with one request in flight.

Run: .venv/bin/python bench/shard_serving.py --tiles 100000 --work /tmp/shards-bench
Writes bench/results/shard-serving.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import corpus  # noqa: E402
from index_scale import FILTERS, SHORT_QUERIES  # noqa: E402  (the index benchmark's filters and short queries)

from rsq.encoders import SMALL_EMBEDDER, make_embedder  # noqa: E402
from rsq.query import Searcher, SearchQuery, parse_filters  # noqa: E402
from rsq.shards.layout import shard_of, write_layout  # noqa: E402
from rsq.textindex.build import BuildOptions, index_records_into  # noqa: E402

RESULTS = Path(__file__).parent / "results"


def build(tiles: int, work: Path) -> dict[str, Path]:
    """One index, 1 shard and 2 shards of the same records, built in one pass (the same vectors everywhere)."""
    folders = {"one": work / "one", "shards-1": work / "shards-1", "shards-2": work / "shards-2"}
    if all((folder / ("RSQ-INDEX" if name == "one" else "shards.json")).exists() for name, folder in folders.items()):
        return folders
    pool = corpus.sentences()
    real = make_embedder(SMALL_EMBEDDER)
    encoder = corpus.StandInEncoder(pool, corpus.sentence_vectors(pool, real), real.spec)
    shard_folders = {1: write_layout(folders["shards-1"], 1), 2: write_layout(folders["shards-2"], 2)}
    started = time.perf_counter()
    options = BuildOptions(thumbnails=False)
    index_records_into(corpus.records(tiles, pool), [folders["one"]], lambda record: 0, encoder, options)
    for count, targets in shard_folders.items():
        route = lambda record, count=count: shard_of(record.tile_id, count)  # noqa: E731
        index_records_into(corpus.records(tiles, pool), targets, route, encoder, options)
    print(f"built in {time.perf_counter() - started:.0f} s", flush=True)
    return folders


def serve(index: Path, shards: int, port: int) -> subprocess.Popen:
    """`rsq serve --shards N` on a local Ray, waited for until it answers."""
    command = [str(Path(sys.executable).with_name("rsq")), "serve", "--index", str(index), "--shards", str(shards)]
    server = subprocess.Popen([*command, "--port", str(port)], stderr=subprocess.PIPE, text=True, env=os.environ)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(1)
        if server.poll() is not None:
            raise SystemExit(f"rsq serve stopped: {server.stderr.read()[-2000:]}")
    raise SystemExit("rsq serve did not start in 300 s")


def stop(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        server.kill()
    subprocess.run([str(Path(sys.executable).with_name("ray")), "stop", "--force"], capture_output=True)


def equality(url: str, one: Searcher, queries: list[str]) -> dict:
    """Searches asked of the server and of the one index: how many gave other ids, order or scores."""
    checked, different, examples = 0, 0, []
    with httpx.Client(base_url=url, timeout=120) as client:
        for mode in ("bm25", "dense", "hybrid"):
            for name, values in FILTERS.items():
                for text in queries:
                    params = {"q": text, "k": 10, "mode": mode, **values}
                    found = client.get("/api/search", params=params).json()
                    expected = one.search(SearchQuery(text, k=10, mode=mode, filters=parse_filters(**values)))
                    same = [h["id"] for h in found["hits"]] == [h.id for h in expected] and np.allclose(
                        [h["score"] for h in found["hits"]], [h.score for h in expected], atol=1e-4
                    )
                    checked += 1
                    if not same or found.get("missing_shards"):
                        different += 1
                        examples.append({"mode": mode, "filter": name, "q": text})
    return {"searches": checked, "different": different, "examples": examples[:5]}


async def load(url: str, queries: list[str], requests: int) -> tuple[list[float], float]:
    limits = httpx.Limits(max_connections=requests)
    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as client:

        async def one(n: int) -> float:
            started = time.perf_counter()
            response = await client.get("/api/search", params={"q": queries[n % len(queries)], "k": 10})
            response.raise_for_status()
            return time.perf_counter() - started

        started = time.perf_counter()
        seconds = await asyncio.gather(*(one(n) for n in range(requests)))
        return list(seconds), time.perf_counter() - started


def throughput(url: str, queries: list[str], requests: int) -> dict:
    asyncio.run(load(url, queries, 20))  # warm up
    seconds, elapsed = asyncio.run(load(url, queries, requests))
    alone = [asyncio.run(load(url, [queries[n % len(queries)]], 1))[0][0] for n in range(50)]
    return (
        {"requests": requests, "requests_per_s": round(requests / elapsed, 1)}
        | percentiles("", seconds)
        | (percentiles("alone_", alone))
    )


def percentiles(prefix: str, seconds: list[float]) -> dict[str, float]:
    ms = np.array(seconds) * 1000
    return {
        f"{prefix}p50_ms": round(float(np.percentile(ms, 50)), 1),
        f"{prefix}p99_ms": round(float(np.percentile(ms, 99)), 1),
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tiles", type=int, default=100_000)
    parser.add_argument("--work", type=Path, required=True, help="folder for the three indexes (kept for reruns)")
    parser.add_argument("--queries", type=int, default=40, help="RSITMD test sentences (and the ucm-class queries)")
    parser.add_argument("--requests", type=int, default=200, help="searches in flight at once in the load test")
    args = parser.parse_args()
    folders = build(args.tiles, args.work)
    queries = corpus.queries(args.queries) + SHORT_QUERIES[:20]
    one = Searcher(folders["one"])
    result: dict = {"tiles": args.tiles, "cores": os.cpu_count(), "queries": len(queries)}
    for shards in (2, 1):
        port = free_port()
        server = serve(folders[f"shards-{shards}"], shards, port)
        try:
            url = f"http://127.0.0.1:{port}"
            if shards == 2:
                result["equality_2_shards"] = equality(url, one, queries)
                print(json.dumps(result["equality_2_shards"]), flush=True)
            result[f"load_{shards}_shards"] = throughput(url, queries, args.requests)
            print(json.dumps(result[f"load_{shards}_shards"]), flush=True)
        finally:
            stop(server)
    result["ratio_2_to_1"] = round(
        result["load_2_shards"]["requests_per_s"] / result["load_1_shards"]["requests_per_s"], 2
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "shard-serving.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()

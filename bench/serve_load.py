"""`rsq serve` under load: 200 requests in flight at once on loopback against a running server, checked
against the same searches run in-process; reports requests/s and p50/p99 latency.

Run: .venv/bin/rsq serve --port 8000 &   then   .venv/bin/python bench/serve_load.py --url http://127.0.0.1:8000
(--index defaults to the demo index; the server must serve the same index).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

import httpx
import numpy as np

from rsq.query import Searcher, SearchQuery

QUERIES = (
    "baseball field",
    "a river through a forest",
    "storage tanks near a harbour",
    "tennis court",
    "planes parked at an airport",
    "flooded farmland",
    "a beach with waves",
    "dense residential area",
    "golf course",
    "cars in a parking lot",
)


async def load(url: str, requests: int, k: int) -> tuple[list[tuple[str, list[str]]], list[float], float]:
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=httpx.Limits(max_connections=requests)) as client:

        async def one(n: int) -> tuple[str, list[str], float]:
            query = QUERIES[n % len(QUERIES)]
            started = time.perf_counter()
            response = await client.get("/api/search", params={"q": query, "k": k})
            response.raise_for_status()
            return query, [hit["id"] for hit in response.json()["hits"]], time.perf_counter() - started

        started = time.perf_counter()
        answers = await asyncio.gather(*(one(n) for n in range(requests)))
        return [(q, ids) for q, ids, _ in answers], [t for _, _, t in answers], time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--index", type=Path, default=None)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args()
    index = Searcher(args.index)
    expected = {q: [h.id for h in index.search(SearchQuery(q, k=args.k))] for q in QUERIES}
    asyncio.run(load(args.url, 20, args.k))  # warm up
    answers, latencies, elapsed = asyncio.run(load(args.url, args.requests, args.k))
    wrong = sum(ids != expected[query] for query, ids in answers)
    alone = [asyncio.run(load(args.url, 1, args.k))[1][0] for _ in range(50)]  # one request in flight
    print(
        json.dumps(
            {
                "requests": args.requests,
                "in_flight": args.requests,
                "wrong": wrong,
                "seconds": round(elapsed, 3),
                "requests_per_s": round(args.requests / elapsed, 1),
                **_percentiles("", latencies),
                **_percentiles("alone_", alone),
            }
        )
    )


def _percentiles(prefix: str, seconds: list[float]) -> dict[str, float]:
    ms = np.array(seconds) * 1000
    return {
        f"{prefix}p50_ms": round(float(np.percentile(ms, 50)), 1),
        f"{prefix}p99_ms": round(float(np.percentile(ms, 99)), 1),
    }


if __name__ == "__main__":
    main()

"""Dense vectors in FAISS: exact inner product for small indexes, HNSW or IVF-PQ for large ones.

Row r of the index is FAISS id r. Replaced rows are tombstoned (a `live` mask) rather than removed,
because HNSW cannot remove; searches over-fetch and skip dead rows, and `--rebuild` compacts.
faiss-gpu is used for exact and IVF search when it is installed and a GPU is present.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rsq.errors import RsqError

KINDS = ("auto", "flat", "hnsw", "ivfpq")
HNSW_ABOVE = 50_000
IVFPQ_ABOVE = 1_000_000


def choose_kind(kind: str, count: int) -> str:
    """`auto` picks exact search below 50k vectors, HNSW below 1M, IVF-PQ above."""
    if kind not in KINDS:
        raise RsqError(f"--faiss must be one of {', '.join(KINDS)}, not {kind!r}")
    if kind != "auto":
        return kind
    return "flat" if count < HNSW_ABOVE else "hnsw" if count < IVFPQ_ABOVE else "ivfpq"


class VectorIndex:
    """FAISS index + live mask, saved as `faiss.index` and `live.npy` in a folder."""

    def __init__(self, index, live: np.ndarray, kind: str) -> None:
        self.index, self.live, self.kind = index, live, kind

    @classmethod
    def create(cls, dim: int, kind: str, training: np.ndarray) -> VectorIndex:
        import faiss

        if kind == "flat":
            index = faiss.IndexFlatIP(dim)
        elif kind == "hnsw":
            index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efSearch = 128
        else:
            nlist = max(1, min(4096, int(np.sqrt(len(training)))))
            index = faiss.IndexIVFPQ(faiss.IndexFlatIP(dim), dim, nlist, dim // 8, 8, faiss.METRIC_INNER_PRODUCT)
            index.train(training)
            index.nprobe = min(32, nlist)
        return cls(index, np.zeros(0, dtype=bool), kind)

    @classmethod
    def load(cls, folder: Path, kind: str) -> VectorIndex:
        import faiss

        index = faiss.read_index(str(folder / "faiss.index"))
        return cls(_to_gpu_if_available(index, kind), np.load(folder / "live.npy"), kind)

    def save(self, folder: Path) -> None:
        import faiss

        index = faiss.index_gpu_to_cpu(self.index) if hasattr(faiss, "index_gpu_to_cpu") and _on_gpu(self.index) else self.index
        faiss.write_index(index, str(folder / "faiss.index"))
        np.save(folder / "live.npy", self.live)

    @property
    def dim(self) -> int:
        return self.index.d

    def add(self, vectors: np.ndarray) -> list[int]:
        """Append vectors; returns their rows."""
        start = self.index.ntotal
        self.index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        self.live = np.concatenate([self.live, np.ones(len(vectors), dtype=bool)])
        return list(range(start, start + len(vectors)))

    def remove(self, rows: list[int]) -> None:
        self.live[rows] = False

    def search(self, query: np.ndarray, limit: int) -> list[tuple[int, float]]:
        """(row, inner product) of the nearest live rows."""
        live_count = int(self.live.sum())
        if live_count == 0:
            return []
        fetch = min(self.index.ntotal, limit + (self.index.ntotal - live_count))
        scores, rows = self.index.search(np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32), fetch)
        hits = [(int(r), float(s)) for r, s in zip(rows[0], scores[0], strict=True) if r >= 0 and self.live[r]]
        return hits[:limit]


def _to_gpu_if_available(index, kind: str):
    import faiss

    if kind == "hnsw" or not hasattr(faiss, "StandardGpuResources") or faiss.get_num_gpus() == 0:
        return index
    return faiss.index_cpu_to_all_gpus(index)


def _on_gpu(index) -> bool:
    return "Gpu" in type(index).__name__

"""One segment's vectors in FAISS, searched by inner product and opened memory-mapped.

Vectors are stored as float16 (FAISS's fp16 scalar quantizer: half the bytes of float32, decoded on the fly; a
768-d vector takes 1,536 bytes, as a 384-d float32 one did). A segment below `IVF_ABOVE` rows is searched exactly;
a larger one through an inverted file with about 2·√n lists. A *compressed* segment (`pq`) keeps only product-
quantisation codes in its FAISS file (IVF-PQ: 768-d in 96 bytes, a sixteenth of float16) and its float16 vectors in
`exact.f16.npy` beside it, memory-mapped: a search ranks k · RERANK candidates by their codes, then re-scores them
from the float16 rows it reads, so recall stays near exact while memory holds the codes. Training (IVF centroids
and PQ codebooks) uses at most TRAIN_SAMPLE rows, and a merge reuses the quantizer its largest compressed segment
trained instead of training again. Segments written before as float32 (IndexFlatIP, IVF-Flat) are
read as they are. FAISS ids are the segment's row positions 0..n-1. A filter or tombstones arrive as a
boolean mask and become an `IDSelectorBitmap`, so FAISS skips excluded rows itself; the IVF probe count
grows as the mask thins (nprobe / share of rows kept), and the rows of a mask that keeps few are gathered
and scored exactly, so a filtered search still returns every match it can.
"""

from __future__ import annotations

import errno
import math
import os
import threading
import weakref
from pathlib import Path

import numpy as np

from rsq.errors import OptionError, RsqError

KINDS = ("auto", "exact", "compressed", "flat", "ivf")
IVF_ABOVE = 50_000
COMPRESS_ABOVE = 2_000_000  # auto: a segment of this many rows or more is compressed (pq)
RERANK = 32  # a compressed search re-scores k * RERANK candidates from their float16 rows (8 recalled 0.91)
TRAIN_SAMPLE = 65_536  # the most rows IVF and PQ train on
PQ_BYTES_PER_DIM = 8  # PQ sub-vectors of 8 dimensions, 8 bits each: one byte per 8 dimensions
EXACT = "exact.f16.npy"
NPROBE = 16
EXACT_BELOW = 4_096  # a mask keeping at most this many rows is scored exactly, row by row
TRAIN_PER_LIST = 40


def choose_kind(kind: str, count: int) -> str:
    """The FAISS layout of a segment of `count` rows: `flat` (exhaustive), `ivf` (inverted file) or `pq` (IVF-PQ
    codes, float16 rows on disk). `exact`: flat below IVF_ABOVE rows, ivf above; `compressed`: flat below
    IVF_ABOVE, pq above; `auto`: exact below COMPRESS_ABOVE rows, compressed from there."""
    if kind not in KINDS:
        raise OptionError("vectors", "must be one of {allowed}, not {value!r}", allowed=", ".join(KINDS), value=kind)
    if kind in ("flat", "ivf"):
        return kind
    if count < IVF_ABOVE:
        return "flat"
    compressed = kind == "compressed" or (kind == "auto" and count >= COMPRESS_ABOVE)
    return "pq" if compressed else "ivf"


class RowFile:
    """A saved .npy matrix of float16 rows read by position (`os.pread`), not through its memory map: a map would
    fault the neighbouring pages of every row in (3,200 random rows of a 473 MiB file made 471 MiB resident)."""

    def __init__(self, path: Path, mapped: np.ndarray) -> None:
        self.width, self.dtype = mapped.shape[1], mapped.dtype
        self.row_bytes = self.width * self.dtype.itemsize
        self.start = mapped.offset if hasattr(mapped, "offset") else 0  # the .npy header's length
        self.handle = os.open(path, os.O_RDONLY)
        weakref.finalize(self, os.close, self.handle)

    def read(self, positions: np.ndarray) -> np.ndarray:
        buffer = b"".join(
            os.pread(self.handle, self.row_bytes, self.start + int(p) * self.row_bytes) for p in positions
        )
        return np.frombuffer(buffer, dtype=self.dtype).reshape(len(positions), self.width).astype(np.float32)


class VectorFile:
    """A FAISS index over one segment's rows (ids = positions)."""

    def __init__(self, index, exact: np.ndarray | None = None, rows: RowFile | None = None) -> None:
        self.index = index
        self.exact = exact  # a compressed file's float16 rows (memory-mapped once saved)
        self.rows = rows  # the same rows read by position (a re-rank's reads, so no pages are mapped in)
        self._map_lock = threading.Lock()

    @classmethod
    def build(cls, vectors: np.ndarray, kind: str, trained: VectorFile | None = None) -> VectorFile:
        """A FAISS file of `vectors` in the layout `kind` chooses for their number; a compressed one takes the
        IVF centroids and PQ codebooks of `trained` (a compressed file of the same width) instead of training."""
        import faiss

        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        _threads(None)
        dim, fp16, chosen = vectors.shape[1], faiss.ScalarQuantizer.QT_fp16, choose_kind(kind, len(vectors))
        if chosen == "flat":
            index = faiss.IndexScalarQuantizer(dim, fp16, faiss.METRIC_INNER_PRODUCT)
            index.train(vectors[:1])
        else:
            nlist = max(1, min(65_536, int(2 * math.sqrt(len(vectors)))))
            if chosen == "pq" and trained is not None and trained.kind == "pq" and trained.index.d == dim:
                index = _untrained_copy(trained.index)
            elif chosen == "pq" and dim % PQ_BYTES_PER_DIM == 0:
                index = faiss.IndexIVFPQ(
                    faiss.IndexFlatIP(dim), dim, nlist, dim // PQ_BYTES_PER_DIM, 8, faiss.METRIC_INNER_PRODUCT
                )
            else:
                index = faiss.IndexIVFScalarQuantizer(
                    faiss.IndexFlatIP(dim), dim, nlist, fp16, faiss.METRIC_INNER_PRODUCT
                )
            if not index.is_trained:
                index.cp.niter = 10
                sample = np.random.default_rng(0).permutation(len(vectors))
                index.train(vectors[np.sort(sample[: min(TRAIN_SAMPLE, nlist * TRAIN_PER_LIST)])])
        index.add(vectors)
        return cls(index, vectors.astype(np.float16) if _compressed(index) else None)

    def save(self, path: Path) -> None:
        import faiss

        try:
            if self.exact is not None:
                np.save(path.with_name(EXACT), np.asarray(self.exact, dtype=np.float16))
            faiss.write_index(self.index, str(path))
        except RuntimeError as error:  # FAISS reports a failed write (a full disk) this way
            raise OSError(
                errno.EIO, f"cannot write the vectors ({str(error).splitlines()[-1][-160:]})", str(path)
            ) from None

    @classmethod
    def open(cls, path: Path) -> VectorFile:
        """Memory-mapped and read-only: opening costs no copy, whatever the size."""
        import faiss

        try:
            index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY)
            if not _compressed(index):
                return cls(index)
            exact = np.load(path.with_name(EXACT), mmap_mode="r")
            return cls(index, exact, RowFile(path.with_name(EXACT), exact))
        except (RuntimeError, OSError, ValueError) as error:
            raise RsqError(
                f"index damaged: {path} is not a readable FAISS file ({str(error).splitlines()[-1][-160:]})"
            ) from None

    @property
    def kind(self) -> str:
        if self.exact is not None:
            return "pq"
        return "ivf" if self.index.__class__.__name__.startswith("IndexIVF") else "flat"

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(scores, positions), each (len(queries), k'), best first; -1 positions pad missing results."""
        import faiss

        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        _threads(1 if len(queries) == 1 else None)
        kept = len(self) if allowed is None else int(np.count_nonzero(allowed))
        k = min(k, kept)
        if k == 0:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        if kept <= EXACT_BELOW:
            return self._exact(queries, k, np.arange(len(self)) if allowed is None else np.flatnonzero(allowed))
        bitmap = np.packbits(allowed, bitorder="little") if allowed is not None else None
        selector = faiss.IDSelectorBitmap(len(allowed), faiss.swig_ptr(bitmap)) if bitmap is not None else None
        if self.kind == "flat":
            params = faiss.SearchParameters(sel=selector) if selector else None
        else:
            params = faiss.SearchParametersIVF(sel=selector, nprobe=self._nprobe(kept))
        if self.kind == "pq":
            return self._reranked(queries, k, params)
        scores, positions = self.index.search(queries, k, params=params)
        return scores, positions

    def _reranked(self, queries: np.ndarray, k: int, params) -> tuple[np.ndarray, np.ndarray]:
        """The best k of k · RERANK candidates the codes rank, re-scored from their float16 rows."""
        _, candidates = self.index.search(queries, min(len(self), k * RERANK), params=params)
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        positions = np.full((len(queries), k), -1, dtype=np.int64)
        for n, found in enumerate(candidates):
            found = found[found >= 0]
            exact = self._gather(found) @ queries[n]
            best = np.argsort(-exact, kind="stable")[:k]
            scores[n, : len(best)], positions[n, : len(best)] = exact[best], found[best]
        return scores, positions

    def _exact(self, queries: np.ndarray, k: int, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Score just the kept rows: their vectors gathered, one matrix product."""
        scores = queries @ self._gather(positions).T
        best = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(scores, best, axis=1), positions[best]

    def _gather(self, positions: np.ndarray) -> np.ndarray:
        if self.rows is not None:
            return self.rows.read(positions)
        if self.exact is not None:  # a file not saved yet: its rows in memory
            order = np.argsort(positions)
            rows = np.empty((len(positions), self.exact.shape[1]), dtype=np.float32)
            rows[order] = self.exact[positions[order]]
            return rows
        if self.kind != "flat":
            with self._map_lock:
                if self.index.direct_map.type == 0:
                    self.index.make_direct_map()  # position -> (list, offset), built once on the first selective search
        return self.index.reconstruct_batch(positions.astype(np.int64))

    def _nprobe(self, kept: int) -> int:
        return min(self.index.nlist, math.ceil(NPROBE * len(self) / kept))

    def vectors(self) -> np.ndarray:
        """All vectors in position order (for merges)."""
        if self.exact is not None:
            return np.asarray(self.exact, dtype=np.float32)
        if self.kind == "flat":
            return self.index.reconstruct_n(0, len(self))
        self.index.make_direct_map()
        return self.index.reconstruct_n(0, len(self))

    def vector(self, position: int) -> np.ndarray:
        return self._gather(np.array([position]))[0]


def _threads(count: int | None) -> None:
    """FAISS's OpenMP threads: one for a single query (threads that spin beside numpy's own cost more than
    they give: 8 ms instead of 0.6 ms for a filtered search here), every core for builds and batches."""
    import faiss

    faiss.omp_set_num_threads(count or os.cpu_count() or 1)


def _compressed(index) -> bool:
    """Whether a FAISS index holds PQ codes (its rows are re-scored from the float16 file beside it)."""
    return index.__class__.__name__ == "IndexIVFPQ"


def _untrained_copy(source):
    """An empty IVF-PQ index with `source`'s coarse centroids and PQ codebooks: trained, without rows."""
    import faiss

    index = faiss.IndexIVFPQ(
        faiss.clone_index(source.quantizer), source.d, source.nlist, source.pq.M, source.pq.nbits, source.metric_type
    )
    index.pq = source.pq
    index.is_trained = True
    return index

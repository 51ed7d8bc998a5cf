"""One segment's vectors in FAISS, searched by inner product and opened memory-mapped.

Vectors are stored as float16 (FAISS's fp16 scalar quantizer: half the bytes of float32, decoded on the fly; a
768-d vector takes 1,536 bytes, as a 384-d float32 one did). A segment below `IVF_ABOVE` rows is searched exactly;
a larger one through an inverted file with about 2·√n lists. A *compressed* segment (`codes`) keeps only RaBitQ
codes in its FAISS file (IVF-RaBitQ: one bit per dimension and two floats, 768-d in 104 bytes, a fifteenth of
float16) and its float16 vectors in `exact.f16.npy` beside it: a search ranks `rerank_depth(k)` candidates by
their codes, then re-scores them from the float16 rows it reads (all asked of the disk at once), so recall stays
near exact while memory holds the codes. RaBitQ was chosen over IVF-PQ (96 bytes) and 4-bit PQ fast scan on
stand-in caption vectors (README, "Compressed vectors"); IVF-PQ files written before are read as they are. The
coarse quantizer (CODE_LISTS centroids) trains on at most TRAIN_SAMPLE rows, once per index: later segments,
flushed or merged, reuse the quantizer of its largest compressed segment, so a query's nearest lists are found
once for all of them (`coarse`). Segments written before as float32 (IndexFlatIP, IVF-Flat) are read as they are.
FAISS ids are the segment's row positions 0..n-1. A filter or tombstones arrive as a boolean mask and become an
`IDSelectorBitmap`, so FAISS skips excluded rows itself; the IVF probe count grows as the mask thins (nprobe /
share of rows kept), and the rows of a mask that keeps few are gathered and scored exactly, so a filtered search
still returns every match it can.
"""

from __future__ import annotations

import errno
import hashlib
import math
import os
import threading
import weakref
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from rsq.errors import OptionError, RsqError

KINDS = ("auto", "exact", "compressed", "flat", "ivf")
IVF_ABOVE = 50_000
COMPRESS_ABOVE_BYTES = 3 * 2**30  # auto: compressed once an index's float16 rows of one kind would pass 3 GiB
RERANK_MIN = 160  # a compressed search re-scores at least this many candidates from their float16 rows
TRAIN_SAMPLE = 65_536  # the most rows an inverted file's centroids train on
EXACT = "exact.f16.npy"
WILL_NEED = getattr(os, "POSIX_FADV_WILLNEED", 3)
NPROBE = 16
EXACT_BELOW = 4_096  # a mask keeping at most this many rows is scored exactly, row by row
TRAIN_PER_LIST = 40
CODE_LISTS = 2_048  # a compressed index's IVF lists, sized for the 2,000,000-row segments merges make (~1,000 a list)
CODE_CLASSES = ("IndexIVFRaBitQ", "IndexIVFPQ")  # compressed files: RaBitQ codes (written now), IVF-PQ (earlier)


def resolve_kind(kind: str, index_rows: int, dim: int) -> str:
    """`auto` made concrete for an index of `index_rows` rows of `dim` dimensions: `compressed` once their float16
    bytes reach COMPRESS_ABOVE_BYTES (2.1 million 768-d rows, 4.2 million 384-d), `exact` below."""
    if kind != "auto":
        return kind
    return "compressed" if index_rows * dim * 2 >= COMPRESS_ABOVE_BYTES else "exact"


def rerank_depth(k: int) -> int:
    """How many candidates, ranked by their codes, a compressed search re-scores for k results: k, and at least
    RERANK_MIN. Chosen on tuning queries (RSICD test captions against 1.4 million stand-in rows, bench/
    vector_layouts.py): RaBitQ recalled 0.9905 of the exact top 10 re-scoring 160, 200 or 400 (the IVF probes, not
    the depth, bound it), IVF-PQ 0.972 / 0.975 / 0.988. A reader pools them over all of an index's
    compressed segments (`Snapshot.vector_hits`), so the reads do not grow with the number of segments."""
    return max(RERANK_MIN, k)


def choose_kind(kind: str, count: int) -> str:
    """The FAISS layout of a segment of `count` rows: `flat` (exhaustive), `ivf` (inverted file) or `codes`
    (IVF-RaBitQ codes, float16 rows on disk). `exact`: flat below IVF_ABOVE rows, ivf above; `compressed`: flat
    below IVF_ABOVE, codes above; `auto` (no index size known) as `exact`."""
    if kind not in KINDS:
        raise OptionError("vectors", "must be one of {allowed}, not {value!r}", allowed=", ".join(KINDS), value=kind)
    if kind in ("flat", "ivf"):
        return kind
    if count < IVF_ABOVE:
        return "flat"
    return "codes" if kind == "compressed" else "ivf"


@dataclass(frozen=True)
class Coarse:
    """Queries' nearest IVF lists and their scores, (queries, nprobe) each."""

    scores: np.ndarray
    lists: np.ndarray


class RowFile:
    """A saved .npy matrix of float16 rows read by position (`os.pread`), not through its memory map: a map would
    fault the neighbouring pages of every row in (3,200 random rows of a 473 MiB file made 471 MiB resident)."""

    def __init__(self, path: Path, mapped: np.ndarray) -> None:
        self.width, self.dtype = mapped.shape[1], mapped.dtype
        self.row_bytes = self.width * self.dtype.itemsize
        self.start = mapped.offset if hasattr(mapped, "offset") else 0  # the .npy header's length
        self.handle = os.open(path, os.O_RDONLY)
        weakref.finalize(self, os.close, self.handle)

    def prefetch(self, positions: np.ndarray) -> None:
        """Ask the kernel to start reading these rows now (all at once: a disk serves them in parallel, where one
        read after another waits for each)."""
        for position in positions:
            os.posix_fadvise(self.handle, self.start + int(position) * self.row_bytes, self.row_bytes, WILL_NEED)

    def read(self, positions: np.ndarray) -> np.ndarray:
        """The rows at `positions`, one read per run of consecutive positions (a merge's block is one read)."""
        positions = np.asarray(positions, dtype=np.int64)
        starts = np.flatnonzero(np.diff(positions, prepend=-2) != 1)
        lengths = np.diff(np.append(starts, len(positions)))
        buffer = b"".join(
            os.pread(self.handle, int(n) * self.row_bytes, self.start + int(positions[at]) * self.row_bytes)
            for at, n in zip(starts, lengths, strict=True)
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
        """A FAISS file of `vectors` in the layout `kind` chooses for their number; a compressed one takes the IVF
        centroids of `trained` (a compressed RaBitQ file of the same width) instead of training."""
        import faiss

        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        _threads(None)
        dim, fp16, chosen = vectors.shape[1], faiss.ScalarQuantizer.QT_fp16, choose_kind(kind, len(vectors))
        if chosen == "flat":
            index = faiss.IndexScalarQuantizer(dim, fp16, faiss.METRIC_INNER_PRODUCT)
            index.train(vectors[:1])
        elif chosen == "codes" and trained is not None and _reusable(trained.index, dim):
            index = _untrained_copy(trained.index)
        else:
            nlist = CODE_LISTS if chosen == "codes" else max(1, min(65_536, int(2 * math.sqrt(len(vectors)))))
            if chosen == "codes":
                index = faiss.IndexIVFRaBitQ(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
            else:
                index = faiss.IndexIVFScalarQuantizer(
                    faiss.IndexFlatIP(dim), dim, nlist, fp16, faiss.METRIC_INNER_PRODUCT
                )
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
            return "codes"
        return "ivf" if self.index.__class__.__name__.startswith("IndexIVF") else "flat"

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(scores, positions), each (len(queries), k'), best first; -1 positions pad missing results. A compressed
        file re-scores its `rerank_depth(k)` best candidates by code from their float16 rows."""
        if self.kind != "codes":
            return self.candidates(queries, k, allowed)
        _, candidates = self.candidates(queries, rerank_depth(k), allowed)
        k = min(k, candidates.shape[1])
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        positions = np.full((len(queries), k), -1, dtype=np.int64)
        for n, found in enumerate(candidates):
            found = np.sort(found[found >= 0])
            self.prefetch(found)
            exact = self.rescore(queries[n], found)
            best = np.argsort(-exact, kind="stable")[:k]
            scores[n, : len(best)], positions[n, : len(best)] = exact[best], found[best]
        return scores, positions

    def candidates(
        self, queries: np.ndarray, depth: int, allowed: np.ndarray | None = None, coarse: Coarse | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The best `depth` allowed positions per query as FAISS ranks them: exact scores, except a compressed
        file's, which are its codes' estimates (`rescore` makes them exact). -1 positions pad. `coarse`: the
        queries' nearest IVF lists, found once for several files that share this file's quantizer."""
        import faiss

        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        _threads(1 if len(queries) == 1 else None)
        kept = len(self) if allowed is None else int(np.count_nonzero(allowed))
        depth = min(depth, kept)
        if depth == 0:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        if kept <= EXACT_BELOW:
            return self._exact(queries, depth, np.arange(len(self)) if allowed is None else np.flatnonzero(allowed))
        bitmap = np.packbits(allowed, bitorder="little") if allowed is not None else None
        selector = faiss.IDSelectorBitmap(len(allowed), faiss.swig_ptr(bitmap)) if bitmap is not None else None
        if self.kind == "flat":
            return self.index.search(queries, depth, params=faiss.SearchParameters(sel=selector) if selector else None)
        if coarse is not None:
            return self._preassigned(queries, depth, coarse, faiss.SearchParametersIVF(sel=selector))
        params = faiss.SearchParametersIVF(sel=selector, nprobe=self._nprobe(kept, depth))
        return self.index.search(queries, depth, params=params)

    def _preassigned(self, queries: np.ndarray, depth: int, coarse: Coarse, params) -> tuple[np.ndarray, np.ndarray]:
        """FAISS's search over lists already chosen (its Python wrapper takes no parameters: the C++ call does)."""
        from faiss import swig_ptr

        params.nprobe = coarse.lists.shape[1]
        scores = np.empty((len(queries), depth), dtype=np.float32)
        positions = np.empty((len(queries), depth), dtype=np.int64)
        lists = np.ascontiguousarray(coarse.lists, dtype=np.int64)
        distances = np.ascontiguousarray(coarse.scores, dtype=np.float32)
        self.index.search_preassigned_c(
            len(queries),
            swig_ptr(queries),
            depth,
            swig_ptr(lists),
            swig_ptr(distances),
            swig_ptr(scores),
            swig_ptr(positions),
            False,
            params,
        )
        return scores, positions

    @cached_property
    def quantizer_key(self) -> str | None:
        """A fingerprint of a compressed file's IVF centroids (sampled rows): files with the same key share one
        quantizer, so a query's nearest lists are found once for all of them (`coarse`)."""
        if self.kind != "codes":
            return None
        quantizer, nlist = self.index.quantizer, self.index.nlist
        rows = np.unique(np.linspace(0, nlist - 1, 16).astype(np.int64))
        sample = quantizer.reconstruct_batch(rows)
        return hashlib.blake2b(sample.tobytes() + bytes(str((nlist, self.index.d)), "ascii")).hexdigest()

    def coarse(self, queries: np.ndarray, nprobe: int) -> Coarse:
        """The `nprobe` IVF lists nearest each query (a compressed file's quantizer)."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        scores, lists = self.index.quantizer.search(queries, min(nprobe, self.index.nlist))
        return Coarse(scores, lists)

    def probes_for(self, kept: int, rows: int, depth: int) -> int:
        """IVF lists to probe for `depth` candidates among `kept` allowed rows out of `rows` (one file, or several
        that share its quantizer): NPROBE, more as a filter thins the rows, and enough lists to hold four times the
        candidates (the lists are sized for big segments)."""
        probes = max(NPROBE * rows / max(kept, 1), 4 * depth * self.index.nlist / max(kept, 1))
        return min(self.index.nlist, math.ceil(probes))

    def prefetch(self, positions: np.ndarray) -> None:
        """Start reading the float16 rows of these positions (a compressed file's re-rank reads them next)."""
        if self.rows is not None:
            self.rows.prefetch(positions)

    def rescore(self, query: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """Exact scores of some positions for one query, from the rows themselves (a compressed file's float16)."""
        return self.take(positions) @ np.asarray(query, dtype=np.float32)

    def _exact(self, queries: np.ndarray, k: int, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Score just the kept rows: their vectors gathered, one matrix product."""
        scores = queries @ self.take(positions).T
        best = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(scores, best, axis=1), positions[best]

    def take(self, positions: np.ndarray) -> np.ndarray:
        """Float32 copies of the rows at `positions` (re-ranks, merges, benchmarks)."""
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

    def _nprobe(self, kept: int, depth: int) -> int:
        """NPROBE lists, more as a filter thins the rows; a compressed file as `probes_for`."""
        if self.kind == "codes":
            return self.probes_for(kept, len(self), depth)
        return min(self.index.nlist, math.ceil(NPROBE * len(self) / kept))

    def vector(self, position: int) -> np.ndarray:
        return self.take(np.array([position]))[0]


def _threads(count: int | None) -> None:
    """FAISS's OpenMP threads: one for a single query (threads that spin beside numpy's own cost more than
    they give: 8 ms instead of 0.6 ms for a filtered search here), every core for builds and batches."""
    import faiss

    faiss.omp_set_num_threads(count or os.cpu_count() or 1)


def _compressed(index) -> bool:
    """Whether a FAISS index holds codes (its rows are re-scored from the float16 file beside it)."""
    return index.__class__.__name__ in CODE_CLASSES


def _reusable(index, dim: int) -> bool:
    """Whether a new compressed file can take this file's coarse quantizer: RaBitQ, of the same width."""
    return index.__class__.__name__ == "IndexIVFRaBitQ" and index.d == dim


def _untrained_copy(source):
    """An empty IVF-RaBitQ index with `source`'s coarse centroids (RaBitQ itself learns nothing): trained, without
    rows."""
    import faiss

    index = faiss.IndexIVFRaBitQ(faiss.clone_index(source.quantizer), source.d, source.nlist, source.metric_type)
    index.is_trained = True
    return index

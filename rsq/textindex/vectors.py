"""One segment's vectors in FAISS, searched by inner product and opened memory-mapped.

Vectors are stored as float16 (FAISS's fp16 scalar quantizer: half the bytes of float32, decoded on the fly; a
768-d vector takes 1,536 bytes, as a 384-d float32 one did). An index below `IVF_ABOVE` rows is searched exactly
(flat segments). From then on its segments are inverted files cut from one *partition*: LISTS coarse centroids
trained once, on the first IVF_ABOVE rows (rsq.textindex.partition), that every later segment, flushed or
merged, of any size, copies. A query's nearest lists are then found once for all of them (`coarse`), and as many
are probed as the whole would need (`probes_for`, from the summed row counts), so what a search finds does not
depend on how the rows are cut into segments, or into the shards of a sharded index. A *compressed* segment
(`codes`) keeps only RaBitQ codes in its FAISS file (IVF-RaBitQ: one bit per dimension and two floats, 768-d in
104 bytes, a fifteenth of float16) and its float16 vectors in `exact.f16.npy` beside it: a search ranks
`rerank_depth(k)` candidates by their codes, then re-scores them from the float16 rows it reads (all asked of the
disk at once), so recall stays near exact while memory holds the codes. RaBitQ was chosen over IVF-PQ (96 bytes)
and 4-bit PQ fast scan on stand-in caption vectors (README, "Compressed vectors"). Files written before are read
as they are: float32 (IndexFlatIP, IVF-Flat), IVF-PQ, and inverted files with their own centroids (searched alone).
FAISS ids are the segment's row positions 0..n-1. A filter or tombstones arrive as a boolean mask and become an
`IDSelectorBitmap`, so FAISS skips excluded rows itself; the IVF probe count grows as the mask thins (nprobe /
share of rows kept), and when a mask keeps few rows they are gathered and scored exactly, so a filtered search
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
ROWS_PER_RERANK = 50_000  # and one more per this many rows of its partition
EXACT = "exact.f16.npy"
WILL_NEED = getattr(os, "POSIX_FADV_WILLNEED", 3)
NPROBE = 16
EXACT_BELOW = 4_096  # a mask keeping at most this many rows is scored exactly, row by row
LISTS = 2_048  # a partition's IVF lists (fewer when it trains on fewer than MIN_PER_LIST rows a list)
MIN_PER_LIST = 16  # the fewest training rows a list's centroid is fitted from
CODE_CLASSES = ("IndexIVFRaBitQ", "IndexIVFPQ")  # compressed files: RaBitQ codes (written now), IVF-PQ (earlier)


def resolve_kind(kind: str, index_rows: int, dim: int) -> str:
    """`auto` made concrete for an index of `index_rows` rows of `dim` dimensions: `compressed` once their float16
    bytes reach COMPRESS_ABOVE_BYTES (2.1 million 768-d rows, 4.2 million 384-d), `exact` below."""
    if kind != "auto":
        return kind
    return "compressed" if index_rows * dim * 2 >= COMPRESS_ABOVE_BYTES else "exact"


def rerank_depth(k: int, rows: int = 0) -> int:
    """How many candidates, ranked by their codes, a compressed search re-scores for k results among `rows` rows
    (its partition's, over a whole sharded index): k, at least RERANK_MIN, and one per ROWS_PER_RERANK rows. Chosen
    on tuning queries (RSICD test captions). Against 1.4 million stand-in rows (bench/vector_layouts.py) RaBitQ
    recalled 0.9905 of the exact top 10 re-scoring 160, 200 or 400 (IVF-PQ 0.972 / 0.975 / 0.988). Against a
    10^7-tile index of 2 x 10^7 rows (bench/rerank_depth.py, 60 captions) 200 recalled 0.922, 400 0.972, 800 0.973
    and 1,600 0.980: the codes' ranking needs more depth as the rows grow. A reader pools them over all of an
    index's compressed segments (`Snapshot.vector_hits`), so the reads do not grow with the number of segments."""
    return max(RERANK_MIN, k, math.ceil(rows / ROWS_PER_RERANK))


def choose_kind(kind: str, count: int, partitioned: bool = False) -> str:
    """The FAISS layout of a segment of `count` rows: `flat` (exhaustive), `ivf` (inverted file) or `codes`
    (IVF-RaBitQ codes, float16 rows on disk). `exact`: flat below IVF_ABOVE rows, ivf above; `compressed`: flat
    below IVF_ABOVE, codes above; `auto` (no index size known) as `exact`. In an index with a partition
    (`partitioned`) every segment is cut from it, whatever its size."""
    if kind not in KINDS:
        raise OptionError("vectors", "must be one of {allowed}, not {value!r}", allowed=", ".join(KINDS), value=kind)
    if kind in ("flat", "ivf"):
        return kind
    if count < IVF_ABOVE and not partitioned:
        return "flat"
    return "codes" if kind == "compressed" else "ivf"


@dataclass(frozen=True)
class Coarse:
    """How files that share a quantizer are searched for some queries: the queries' nearest IVF lists and their
    scores, (queries, nprobe) each; or none, when a filter keeps so few rows of them all that every kept row is
    scored exactly."""

    scores: np.ndarray | None = None
    lists: np.ndarray | None = None

    @property
    def exact(self) -> bool:
        return self.lists is None


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
    def build(cls, vectors: np.ndarray, kind: str, partition: VectorFile | None = None) -> VectorFile:
        """A FAISS file of `vectors` in the layout `kind` chooses for their number, cut from `partition` (an
        inverted file of the same width) when given; an inverted file without one trains its own partition on
        its first IVF_ABOVE rows."""
        import faiss

        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        _threads(None)
        reusable = partition is not None and partition.partition_of(vectors.shape[1])
        chosen = choose_kind(kind, len(vectors), reusable)
        if chosen == "flat":
            index = faiss.IndexScalarQuantizer(
                vectors.shape[1], faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT
            )
            index.train(vectors[:1])
        else:
            index = _cut_from((partition if reusable else cls.partition(vectors)).index, chosen)
        index.add(vectors)
        return cls(index, vectors.astype(np.float16) if _compressed(index) else None)

    @classmethod
    def partition(cls, vectors: np.ndarray) -> VectorFile:
        """An empty inverted file whose coarse centroids (LISTS of them, fewer for few rows) are trained on the
        first IVF_ABOVE of these rows: what every segment of an index is then cut from."""
        import faiss

        sample = np.ascontiguousarray(vectors[:IVF_ABOVE], dtype=np.float32)
        dim, lists = sample.shape[1], max(1, min(LISTS, len(sample) // MIN_PER_LIST))
        index = faiss.IndexIVFScalarQuantizer(
            faiss.IndexFlatIP(dim), dim, lists, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT
        )
        index.cp.niter, index.cp.min_points_per_centroid = 10, MIN_PER_LIST
        _threads(None)
        index.train(sample)
        return cls(index)

    def partition_of(self, dim: int) -> bool:
        """Whether files of `dim`-d rows can be cut from this one's coarse centroids (an inverted file's)."""
        return self.kind != "flat" and self.index.d == dim

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

    def search(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None, coarse: Coarse | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(scores, positions), each (len(queries), k'), best first; -1 positions pad missing results. A compressed
        file re-scores its `rerank_depth(k)` best candidates by code from their float16 rows."""
        if self.kind != "codes":
            return self.candidates(queries, k, allowed, coarse)
        _, candidates = self.candidates(queries, rerank_depth(k), allowed, coarse)
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
        file's, which are its codes' estimates (`rescore` makes them exact). -1 positions pad. `coarse`: how the
        files cut from this one's partition are searched (`group_coarse`), decided once for all of them."""
        import faiss

        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        _threads(1 if len(queries) == 1 else None)
        kept = len(self) if allowed is None else int(np.count_nonzero(allowed))
        depth = min(depth, kept)
        if depth == 0:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        if coarse is None and self.kind != "flat":
            coarse = self.coarse(queries, kept, len(self), depth)
        if coarse.exact if coarse is not None else kept <= EXACT_BELOW:
            return self._exact(queries, depth, np.arange(len(self)) if allowed is None else np.flatnonzero(allowed))
        bitmap = np.packbits(allowed, bitorder="little") if allowed is not None else None
        selector = faiss.IDSelectorBitmap(len(allowed), faiss.swig_ptr(bitmap)) if bitmap is not None else None
        if coarse is None:  # a flat file
            return self.index.search(queries, depth, params=faiss.SearchParameters(sel=selector) if selector else None)
        return self._preassigned(queries, depth, coarse, faiss.SearchParametersIVF(sel=selector))

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
        """A fingerprint of an inverted file's centroids (sampled rows): files with the same key are cut from one
        partition, so a query's nearest lists are found once for all of them (`coarse`)."""
        if self.kind == "flat":
            return None
        quantizer, nlist = self.index.quantizer, self.index.nlist
        rows = np.unique(np.linspace(0, nlist - 1, 16).astype(np.int64))
        sample = quantizer.reconstruct_batch(rows)
        return hashlib.blake2b(sample.tobytes() + bytes(str((nlist, self.index.d)), "ascii")).hexdigest()

    def coarse(self, queries: np.ndarray, kept: int, rows: int, depth: int) -> Coarse:
        """How to search for `depth` candidates among `kept` allowed rows of the `rows` cut from this file's
        partition: every kept row scored exactly when they are few (EXACT_BELOW), else the lists nearest each
        query, as many as `probes_for` says."""
        if kept <= EXACT_BELOW:
            return Coarse()
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        scores, lists = self.index.quantizer.search(queries, self.probes_for(kept, rows, depth))
        return Coarse(scores, lists)

    def probes_for(self, kept: int, rows: int, depth: int) -> int:
        """IVF lists to probe for `depth` candidates among `kept` allowed rows out of `rows` (one file, or all those
        cut from its partition): as many rows as NPROBE lists of a 2·√rows-list file hold (NPROBE lists once the
        lists are larger), more as a filter thins the rows, and enough lists to hold four times the candidates."""
        nlist = self.index.nlist
        rows_probed = NPROBE * max(1.0, nlist / (2 * math.sqrt(max(rows, 1))))
        probes = max(rows_probed * rows / max(kept, 1), 4 * depth * nlist / max(kept, 1))
        return min(nlist, math.ceil(probes))

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


def _cut_from(source, chosen: str):
    """An empty inverted file of layout `chosen` (`ivf`: float16 rows, `codes`: RaBitQ) with `source`'s coarse
    centroids; neither float16 nor RaBitQ learns anything more, so it is trained."""
    import faiss

    quantizer = faiss.clone_index(source.quantizer)
    if chosen == "codes":
        index = faiss.IndexIVFRaBitQ(quantizer, source.d, source.nlist, source.metric_type)
    else:
        fp16 = faiss.ScalarQuantizer.QT_fp16
        index = faiss.IndexIVFScalarQuantizer(quantizer, source.d, source.nlist, fp16, source.metric_type)
    index.is_trained = True
    return index

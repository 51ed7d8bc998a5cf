"""A build's vector partition: the coarse centroids that every inverted-file segment of its indexes is cut from.

What an IVF search finds depends on its centroids. Segments that train their own find different rows than one
file of all their rows would, so a sharded index could not answer as one index does. A build therefore trains one
partition of the caption vectors, on the first IVF_ABOVE rows it reads, in the order of its records: the same rows
whether the records go to one index or are split over shards (rsq.textindex.build.index_records_into). It is
trained as soon as they are read, so before any index of the build has a segment large enough to need one, and
each index without a partition of its own takes it (SegmentSet.offer); segments cut from it are then searched as
one inverted file (rsq.textindex.reader). An index that grows past IVF_ABOVE rows over several smaller builds
trains its partition on the first inverted file it writes instead.
"""

from __future__ import annotations

import numpy as np

from rsq.textindex import vectors
from rsq.textindex.segments import CAPTIONS
from rsq.textindex.writer import IndexWriter


class PartitionHead:
    """The first IVF_ABOVE caption vectors a build reads (bounded memory); once they are read, they train the
    partition the build's indexes take."""

    def __init__(self, writers: list[IndexWriter]) -> None:
        self.writers = [w for w in writers if w.segment_set.partition(CAPTIONS) is None]
        self.parts: list[np.ndarray] = []
        self.rows = 0

    def read(self, rows: np.ndarray) -> None:
        """The next caption vectors of the build, in the order of its records."""
        if not self.writers or self.rows >= vectors.IVF_ABOVE:
            return
        taken = rows[: vectors.IVF_ABOVE - self.rows]
        self.parts.append(np.asarray(taken, dtype=np.float32))
        self.rows += len(taken)
        if self.rows >= vectors.IVF_ABOVE:
            partition = vectors.VectorFile.partition(np.concatenate(self.parts))
            for writer in self.writers:
                writer.segment_set.offer(CAPTIONS, partition)
            self.parts = []

"""BM25 over caption variants with tantivy: English stemming and stop words, per-field boosts, filters as
indexed terms (raw-tokenised text fields), and any user text safe.

One tantivy index per epoch holds every caption row as a document: the row id as a fast field (read
back without touching stored documents), the tile's sensor, grid cells and acquisition
day as filter terms (rsq.textindex.filterterms), and the caption fields. tantivy is itself segmented (immutable
segments, an atomic
meta.json); rsq appends documents and removes them only when a merge drops replaced rows, so a reader
holding an older searcher keeps a consistent view.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import tempfile
import weakref
from collections.abc import Mapping
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from rsq.errors import RsqError
from rsq.textindex.columns import TileAttrs
from rsq.textindex.documents import FIELD_BOOSTS, VariantDoc
from rsq.textindex.filters import Filters
from rsq.textindex.filterterms import cell_terms, date_terms, range_dates, reach_cells

WORD = re.compile(r"\w+", re.UNICODE)
MAX_QUERY_TERMS = 64
ANALYZER = "en_rsq"
WRITER_HEAP = 128_000_000
FILTER_FIELDS = ("sensor", "cell", "day", "cover")
DELETE_CHUNK = 10_000


def query_terms(text: str) -> list[str]:
    """Lower-cased words only: no quotes, colons, brackets or operators reach tantivy's query parser."""
    return [w.lower() for w in WORD.findall(text)][:MAX_QUERY_TERMS]


def _schema():
    import tantivy

    builder = tantivy.SchemaBuilder()
    builder.add_integer_field("row", indexed=True, fast=True)
    for name in FILTER_FIELDS:
        builder.add_text_field(name, tokenizer_name="raw", index_option="basic")
    for name in FIELD_BOOSTS:
        builder.add_text_field(name, tokenizer_name=ANALYZER, index_option="freq")
    return builder.build()


def _open_or_create(folder: Path):
    """The BM25 index in `folder` with the schema it was made with (an older index lacks the newer filter fields),
    or a new one."""
    import tantivy

    if (folder / "meta.json").exists():
        return tantivy.Index.open(str(folder))
    return tantivy.Index(_schema(), path=str(folder), reuse=True)


def _field_names(folder: Path) -> set[str]:
    """The fields the index in `folder` holds, from tantivy's meta.json."""
    try:
        return {field["name"] for field in json.loads((folder / "meta.json").read_text())["schema"]}
    except (OSError, ValueError, KeyError, TypeError):
        return {"row", *FILTER_FIELDS, *FIELD_BOOSTS}


def caption_analyzer():
    """Simple tokens, lower-cased, English stop words removed, Porter-stemmed."""
    import tantivy

    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(40))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.stopword("english"))
        .filter(tantivy.Filter.stemmer("english"))
        .build()
    )


def _with_analyzer(index):
    """Custom analyzers are not stored in the index: registered on every open."""
    index.register_tokenizer(ANALYZER, caption_analyzer())
    return index


def _link_or_copy(source: Path, target: Path) -> None:
    """`target` names `source`: a symbolic link (no data copied, across file systems), else a copy."""
    try:
        os.symlink(source.resolve(), target)
    except OSError:
        shutil.copy2(source, target)


@contextmanager
def _io_errors(folder: Path):
    """tantivy reports a failed write (a full disk, a lost file) as ValueError: make it an OSError."""
    try:
        yield
    except ValueError as error:
        raise OSError(errno.EIO, f"the BM25 index failed to write ({error})", str(folder)) from None


class Bm25Writer:
    """Appends caption rows; the writer lock of the index (rsq.lockfile) keeps it the only one."""

    def __init__(self, folder: Path) -> None:

        folder.mkdir(parents=True, exist_ok=True)
        with _io_errors(folder):
            self.index = _with_analyzer(_open_or_create(folder))
            self.fields = _field_names(folder)
            self.writer = self.index.writer(heap_size=WRITER_HEAP, num_threads=1)
        self.folder = folder

    def add(self, rows: list[int], attrs: list[TileAttrs], docs: list[VariantDoc]) -> None:
        import tantivy

        for row, tile, doc in zip(rows, attrs, docs, strict=True):
            fields = {name: text for name, text in doc.fields.items() if text}
            document = tantivy.Document(row=row, **fields)
            for name, terms in self.filter_terms(tile).items():
                for term in terms if name in self.fields else ():
                    document.add_text(name, term)
            with _io_errors(self.folder):
                self.writer.add_document(document)

    @staticmethod
    def filter_terms(tile: TileAttrs) -> dict[str, list[str]]:
        return {
            "sensor": [tile.sensor] if tile.sensor else [],
            "cell": cell_terms(*tile.geo[:2]) if tile.located else [],
            "day": date_terms(tile.time) if tile.time is not None else [],
            "cover": [tile.cover[:n] for n in range(1, len(tile.cover) + 1)],  # the class and its ancestors
        }

    def delete_rows(self, rows: list[int]) -> None:
        import tantivy

        schema = self.index.schema
        for start in range(0, len(rows), DELETE_CHUNK):
            self.writer.delete_documents_by_query(
                tantivy.Query.term_set_query(schema, "row", rows[start : start + DELETE_CHUNK])
            )

    def delete_from(self, row: int) -> None:
        """Remove rows >= `row` (what a killed writer added after the last commit point)."""
        import tantivy

        self.writer.delete_documents_by_query(
            tantivy.Query.range_query(self.index.schema, "row", tantivy.FieldType.Integer, row, None)
        )

    def commit(self) -> None:
        with _io_errors(self.folder):
            self.writer.commit()

    def close(self) -> None:
        with _io_errors(self.folder):
            self.writer.wait_merging_threads()


class Bm25Reader:
    """A tantivy searcher opened once and kept: later commits do not change what it sees."""

    def __init__(self, folder: Path) -> None:
        try:
            self.index = _with_analyzer(self._open(folder))
            self.fields = _field_names(folder)
            self.index.config_reader("Manual")
            self.searcher = self.index.searcher()
            self.analyzer = caption_analyzer()
        except (OSError, ValueError) as error:
            raise RsqError(
                f"index damaged: the BM25 part {folder} cannot be opened ({error}); rebuild the index"
            ) from None

    def _open(self, folder: Path):
        """The index for reading. tantivy's reader takes a lock file in the index folder; where that cannot be
        written (read-only media, chmod a-w), it reads a private folder of links to the index's files (their data
        is not copied), removed with the reader."""
        import tantivy

        try:
            return tantivy.Index.open(str(folder))
        except ValueError as error:
            if "Lockfile" not in str(error):
                raise
        private = Path(tempfile.mkdtemp(prefix="rsq-bm25-"))
        weakref.finalize(self, shutil.rmtree, private, True)
        for source in folder.iterdir():
            if source.is_file() and not source.name.endswith(".lock"):
                _link_or_copy(source, private / source.name)
        return tantivy.Index.open(str(private))

    @property
    def documents(self) -> int:
        return int(self.searcher.num_docs)

    def search(
        self,
        text: str,
        limit: int,
        filters: Filters,
        extent: float = 0.0,
        extra: Mapping[str, float] | None = None,
        time_span: tuple[int, int] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(rows, scores) of the best `limit` documents for the words of `text` (and the `extra` words, each with
        its weight) that pass the filters' terms (a superset: the exact test is the caller's); `extent` widens a
        bbox by the largest tile half-extent, `time_span` (the earliest and latest times indexed) bounds a time
        range."""
        import tantivy

        query = self._text_query(text, extra or {})
        nothing = np.zeros(0, np.int64), np.zeros(0, np.float32)
        if query is None or limit <= 0:
            return nothing
        try:
            restriction = self._filter_query(filters, extent, time_span)
        except _NoMatch:
            return nothing
        if restriction is not None:
            query = tantivy.Query.boolean_query(
                [(tantivy.Occur.Must, query), (tantivy.Occur.Must, tantivy.Query.const_score_query(restriction, 0.0))]
            )
        hits = self.searcher.search(query, limit, count=False).hits
        if not hits:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        rows = self.searcher.fast_field_values("row", [address for _, address in hits])
        return np.array(rows, dtype=np.int64), np.array([score for score, _ in hits], dtype=np.float32)

    def _text_query(self, text: str, extra: Mapping[str, float]):
        """Any of the query's analysed words (weight 1) or extra words in any caption field, each field with its
        boost (no query syntax)."""
        import tantivy

        weights = dict.fromkeys(self.analyzer.analyze(" ".join(query_terms(text))), 1.0)
        if not weights:
            return None
        for word, weight in extra.items():
            for token in self.analyzer.analyze(word):
                weights.setdefault(token, weight)
        schema, should = self.index.schema, tantivy.Occur.Should
        clauses = [
            (
                should,
                tantivy.Query.boost_query(
                    tantivy.Query.term_query(schema, field, token, index_option="freq"), boost * weight
                ),
            )
            for token, weight in list(weights.items())[:MAX_QUERY_TERMS]
            for field, boost in FIELD_BOOSTS.items()
            if self.searcher.doc_freq(field, token)  # a term a field lacks scores nothing, and blocks pruning
        ]
        return tantivy.Query.boolean_query(clauses) if clauses else None

    def _filter_query(self, filters: Filters, extent: float, time_span: tuple[int, int] | None):
        """Sensor as a term, time as day/month/year terms, place as grid cells (`near` by its bounding box); raises
        _NoMatch when no indexed time lies in the range."""
        import tantivy

        if not filters.active:
            return None
        schema, clauses = self.index.schema, []
        if filters.sensor:
            clauses.append(tantivy.Query.term_query(schema, "sensor", filters.sensor))
        if filters.land_cover and "cover" in self.fields:  # an index older than classes: the exact test alone
            clauses.append(tantivy.Query.term_query(schema, "cover", filters.land_cover))
        after, before = filters.time_range()
        if after is not None or before is not None:
            days = range_dates(after, before, time_span) if time_span else []
            if days == []:
                raise _NoMatch
            if days is not None:  # too many terms: left to the exact test
                clauses.append(tantivy.Query.term_set_query(schema, "day", days))
        reaches = [(filters.bbox, extent), (filters.near_box(), 0.0)]
        for cells in (reach_cells(box, margin) for box, margin in reaches if box):
            if cells is not None:  # a box too large to narrow anything is left to the exact test
                clauses.append(tantivy.Query.term_set_query(schema, "cell", cells))
        return tantivy.Query.boolean_query([(tantivy.Occur.Must, clause) for clause in clauses]) if clauses else None


class _NoMatch(Exception):
    """No document can pass the filters (a time range outside every indexed time)."""

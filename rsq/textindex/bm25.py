"""BM25 over caption variants with tantivy: English stemming, per-field boosts, any user text safe."""

from __future__ import annotations

import re
from pathlib import Path

from rsq.textindex.documents import FIELD_BOOSTS, VariantDoc

WORD = re.compile(r"\w+", re.UNICODE)
MAX_QUERY_TERMS = 64


def _schema():
    import tantivy

    builder = tantivy.SchemaBuilder()
    builder.add_integer_field("row", stored=True, indexed=True)
    builder.add_text_field("tile_id", stored=True, tokenizer_name="raw")
    for name in FIELD_BOOSTS:
        builder.add_text_field(name, stored=False, tokenizer_name="en_stem")
    return builder.build()


class Bm25Index:
    """A tantivy index in `folder`; each document is one variant row, findable by tile id."""

    def __init__(self, folder: Path) -> None:
        import tantivy

        folder.mkdir(parents=True, exist_ok=True)
        self.index = tantivy.Index(_schema(), path=str(folder), reuse=True)

    def add(self, rows: list[int], docs: list[VariantDoc]) -> None:
        import tantivy

        writer = self.index.writer(heap_size=64_000_000, num_threads=1)
        for row, doc in zip(rows, docs, strict=True):
            writer.add_document(tantivy.Document(row=row, tile_id=doc.tile_id, **doc.fields))
        writer.commit()
        writer.wait_merging_threads()

    def delete_tiles(self, tile_ids: list[str]) -> None:
        writer = self.index.writer(heap_size=64_000_000, num_threads=1)
        for tile_id in tile_ids:
            writer.delete_documents_by_term("tile_id", tile_id)
        writer.commit()
        writer.wait_merging_threads()

    def search(self, text: str, limit: int) -> list[tuple[int, float]]:
        """(row, score) for the best variants; a query with no words finds nothing."""
        terms = query_terms(text)
        if not terms:
            return []
        self.index.reload()
        query = self.index.parse_query(" ".join(terms), list(FIELD_BOOSTS), field_boosts=FIELD_BOOSTS)
        searcher = self.index.searcher()
        hits = searcher.search(query, limit).hits
        return [(searcher.doc(address)["row"][0], score) for score, address in hits]


def query_terms(text: str) -> list[str]:
    """Lower-cased words only: no quotes, colons, brackets or operators reach tantivy's query parser."""
    return [w.lower() for w in WORD.findall(text)][:MAX_QUERY_TERMS]

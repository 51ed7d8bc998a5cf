"""Text index: BM25 (tantivy) + dense vectors (FAISS) over caption variants, tile table, manifest."""

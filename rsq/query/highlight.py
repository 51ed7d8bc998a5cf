"""Which words of a caption a query matched: the spans the CLI prints in bold and the page marks, computed once,
by BM25's own analyser (English stop words dropped, Porter stems), so a word is marked when BM25 matched it."""

from __future__ import annotations

import re
import threading
from functools import lru_cache

WORD = re.compile(r"\w+")
_local = threading.local()  # one analyser per thread (a server answers on several)


def highlight_spans(caption: str, query: str) -> list[tuple[int, int]]:
    """(start, end) character offsets of the caption's words whose stem is one of the query's stems."""
    stems = set(_analyzer().analyze(query))
    if not stems:
        return []
    return [m.span() for m in WORD.finditer(caption) if _stem(m.group(0)) in stems]


@lru_cache(maxsize=65_536)  # captions repeat their words: each is analysed once, not once per hit per request
def _stem(word: str) -> str | None:
    """A word's BM25 stem, None for a stop word."""
    stems = _analyzer().analyze(word)
    return stems[0] if stems else None


def _analyzer():
    if not hasattr(_local, "analyzer"):
        from rsq.textindex.bm25 import caption_analyzer

        _local.analyzer = caption_analyzer()
    return _local.analyzer

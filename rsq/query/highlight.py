"""Which words of a caption a query matched: the spans the CLI prints in bold and the page marks, computed once,
by BM25's own analyser (English stop words dropped, Porter stems), so a word is marked when BM25 matched it."""

from __future__ import annotations

import re
import threading

WORD = re.compile(r"\w+")
_local = threading.local()  # one analyser per thread (a server answers on several)


def highlight_spans(caption: str, query: str) -> list[tuple[int, int]]:
    """(start, end) character offsets of the caption's words whose stem is one of the query's stems."""
    analyse = _analyzer().analyze
    stems = set(analyse(query))
    if not stems:
        return []
    return [m.span() for m in WORD.finditer(caption) if (stem := analyse(m.group(0))) and stem[0] in stems]


def _analyzer():
    if not hasattr(_local, "analyzer"):
        from rsq.textindex.bm25 import caption_analyzer

        _local.analyzer = caption_analyzer()
    return _local.analyzer

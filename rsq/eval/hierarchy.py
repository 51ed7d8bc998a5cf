"""`ucm-hier`: text-to-image retrieval over the UCM tiles of a split, graded by the land-cover hierarchy.

Every human caption of the split queries its tiles' image vectors (in the text space the towers were trained
into). Relevance is hierarchical: a tile shares 0 … 3 CORINE levels with the query's tile (UCM's classes mapped
onto CORINE, rsq/landcover), and WMAP@k (`weighted_map`) weights each retrieved tile by it, as LuoJiaHOG
evaluates CISEN. With a `cisen:` encoder, the CLOSP tower it was trained on is measured in the same run.

WMAP@k = 100 · (1/|Q|) Σ_q WAP@k(q), WAP@k(q) = (1/N_k) Σ_{p ≤ k, r_p > 0} ACG@p, ACG@p = (1/p) Σ_{i ≤ p} r_i,
with r_i = (levels tile i shares with q's tile) / (levels q's class has), so an exact class match weighs 1 at any
depth, and N_k the number of positions p ≤ k with r_p > 0 (Zhao et al., CVPR 2015: WAP over average cumulative
gains). mR here is the mean of text-to-image R@1/5/10 (the query's own tile is the one relevant image).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rsq.config import data_root
from rsq.errors import RsqError
from rsq.eval.metrics import mean_recall, recall_table, weighted_map
from rsq.landcover import corine
from rsq.sources import CaptionedImage

WMAP_AT = 5
DEPTH = 10  # ranks kept per query: R@10 needs ten


def ucm_hier(items: list[CaptionedImage], spec: str, split: str, data: Any = None) -> dict[str, Any]:
    """WMAP@5 and text-to-image recall of `spec` (and of the CLOSP tower a `cisen:` head was trained on)."""
    from rsq.closp.encoder import ClospEncoder

    encoder = ClospEncoder(spec)
    if f"ucm:{split}" in encoder.trained_on:
        raise RsqError(f"{spec} was trained on the UCM {split} split; evaluate another split (test, or val to tune)")
    encoders = {"cisen": encoder, "closp (baseline)": ClospEncoder(f"closp:{encoder.checkpoint}")}
    if encoder.kind == "closp":
        encoders = {"closp": encoder}
    queries = [(caption, n) for n, item in enumerate(items) for caption in item.captions if caption.strip()]
    codes = [_code(item) for item in items]
    text = next(iter(encoders.values())).encode_texts([caption for caption, _ in queries])
    modes = {name: _measure(model, items, queries, codes, text) for name, model in encoders.items()}
    return {
        "protocol": "hierarchical text-to-image (each human caption queries the split's tiles; CORINE levels shared)",
        "config": {
            "data": str(data_root(data) / "ucm-captions"),
            "split": split,
            "tiles": len(items),
            "queries": len(queries),
            "encoders": {name: model.spec for name, model in encoders.items()},
            "wmap_at": WMAP_AT,
        },
        "modes": modes,
        "note": "WMAP@5: graded by shared CORINE levels (rsq/eval/hierarchy.py); mR: text-to-image R@1/5/10",
    }


def _measure(encoder, items, queries, codes, text: np.ndarray) -> dict[str, float]:
    from rsq.imagery import read_tile

    vectors, errors = encoder.encode_tiles([read_tile(i.path, i.id) for i in items])
    if any(errors):
        raise RsqError(f"cannot encode benchmark tiles: {next(e for e in errors if e)}")
    similarity = text @ np.asarray(vectors, dtype=np.float32).T
    ranked = [list(np.argsort(-row, kind="stable")[:DEPTH]) for row in similarity]
    gains = [_gains(codes[owner], codes) for _, owner in queries]
    recalls = recall_table(ranked, [{owner} for _, owner in queries], prefix="t2i_")
    return {f"WMAP@{WMAP_AT}": 100 * weighted_map(ranked, gains, k=WMAP_AT), **recalls, "mR": mean_recall(recalls)}


def _gains(query: str, codes: list[str]) -> dict[int, float]:
    """Each tile's relevance to a query of class `query`: the share of the query's levels the tile shares."""
    return {n: shared / len(query) for n, code in enumerate(codes) if (shared := _shared(query, code))}


def _shared(first: str, second: str) -> int:
    count = 0
    for a, b in zip(first, second, strict=False):
        if a != b:
            break
        count += 1
    return count


def _code(item: CaptionedImage) -> str:
    code = corine().label_code(item.label or "")
    if not code:
        raise RsqError(f"UCM tile {item.id}: its class {item.label!r} maps onto no CORINE class")
    return code

"""What a search asks for: `SearchQuery`, written once and validated in one place, and the tuned defaults its
fields start from. The CLI, the API and the evaluation all build one; each phrases its `OptionError`s its way."""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass, field

from rsq.errors import OptionError, RsqError
from rsq.query.fusion import FUSIONS
from rsq.textindex.bm25 import query_terms
from rsq.textindex.filters import Filters

MODES = ("hybrid", "bm25", "dense", "image")
# Fusion and image mode's share by caption source: README, "Query-side defaults" and "The caption-free archive"
# (chosen on tuning splits: the ucm-class tuning half, RSITMD/RSICD/UCM train, UCM val).
DEFAULT_FUSION = "weighted"
DEFAULT_ALPHA = 0.8  # dense's share in weighted fusion
DEFAULT_IMAGE_WEIGHT = 0.0  # captions written by people or a VLM (UCM val: 0 best with all-mpnet-base-v2 captions)
TAGGER_IMAGE_WEIGHT = 0.8  # captions the closp: tagger derived from the image vectors themselves
MAX_K = 1000


@dataclass(frozen=True)
class SearchQuery:
    """One search: its text, then keyword-only options; a bad option raises an `OptionError` on construction."""

    text: str
    _: KW_ONLY
    k: int = 10
    mode: str = "hybrid"
    fusion: str = DEFAULT_FUSION
    alpha: float = DEFAULT_ALPHA
    filters: Filters = field(default_factory=Filters)
    image_weight: float | None = None  # None: by the index's caption sources (`Searcher.default_image_weight`)
    image: str | None = None  # a composed query from an image file ...
    like: str | None = None  # ... or from a tile of the index, by id (its stored image vector)
    lam: float = 0.5  # weight of the text in a composed query

    def __post_init__(self) -> None:
        if self.image and self.like:
            raise RsqError("a composed query takes an image file or a tile of the index, not both")
        if not query_terms(self.text) and not (self.composed and self.lam == 0):
            raise RsqError('empty query: describe what to find, e.g. rsq search "flooded farmland"')
        for option, value, allowed in (("mode", self.mode, MODES), ("fusion", self.fusion, FUSIONS)):
            if value not in allowed:
                raise OptionError(
                    option, "must be one of {allowed}, not {value!r}", allowed=", ".join(allowed), value=value
                )
        for option, value in (("alpha", self.alpha), ("image_weight", self.image_weight), ("lam", self.lam)):
            if value is not None and not 0.0 <= value <= 1.0:
                raise OptionError(option, "must lie in 0..1, got {value}", value=value)
        if not 1 <= self.k <= MAX_K:
            raise OptionError("k", "must lie in 1..{most}, got {value}", most=MAX_K, value=self.k)

    @property
    def composed(self) -> bool:
        """Whether an image (a file or a tile of the index) joins the text (WEICOM)."""
        return bool(self.image or self.like)

"""Where tiles come from: folders, globs, JSONL manifests, STAC files and the benchmark datasets."""

from rsq.sources.datasets import CaptionedImage, FloodChip, caption_corpus, sen1floods11, ucm_captions
from rsq.sources.listing import Listing, iter_tiles, list_many, list_tiles
from rsq.sources.refs import Skipped, TileRef, open_tiles

__all__ = [
    "CaptionedImage",
    "FloodChip",
    "Listing",
    "Skipped",
    "TileRef",
    "caption_corpus",
    "iter_tiles",
    "list_many",
    "list_tiles",
    "open_tiles",
    "sen1floods11",
    "ucm_captions",
]

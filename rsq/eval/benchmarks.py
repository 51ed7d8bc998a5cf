"""Benchmarks on the shared data, all through `Searcher.retrieve` + `fuse` (the search code path).

- `rsitmd-t2t`, `rsicd-t2t`: caption-to-caption leave-one-out on the test captions: each image's
  caption j is the query, its other four captions are indexed; j rotates over all five.
- `ucm-t2i`: the 210 UCM test tiles indexed by a caption run, queried with their 1,050 human captions.
  A run that holds those human captions word for word is evaluated leave-one-out (the query's own
  caption is left out of the index); any other run (a VLM's) with all queries at once.
- `ucm-class`: class names and paraphrases over all 2,100 UCM tiles; graded relevance.
- `ucm-hier`: the split's human captions query its tiles' image vectors, graded by the land-cover hierarchy
  (WMAP@5, rsq/eval/hierarchy.py); a `cisen:` encoder is measured beside the CLOSP tower it was trained on.
- `ucm-archive`: the archive without human captions. The `closp:` tagger of the `--image-encoder` checkpoint
  (trained without the evaluated split) captions the split's tiles; those captions and the image vectors are
  indexed; the split's human captions query it (recall), and so do the class queries (nDCG@10, mAP).

`--split` picks the images (UCM train/val/test, RSITMD/RSICD train/test): tune on train or val, report test.
"""

from __future__ import annotations

import tempfile
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rsq.captioner.records import OK, CaptionRecord
from rsq.captioner.store import CaptionStore
from rsq.config import data_root
from rsq.encoders import default_embedder, make_embedder, query_encoder
from rsq.encoders.cache import CachedEmbedder
from rsq.errors import RsqError
from rsq.eval.metrics import mean_average_precision, mean_recall, ndcg_at_k, recall_table, weighted_map
from rsq.eval.queries import class_queries, graded_relevance, shared_levels
from rsq.prompts import load_template
from rsq.query import Searcher
from rsq.query.request import DEFAULT_ALPHA, DEFAULT_FUSION, DEFAULT_IMAGE_WEIGHT, TAGGER_IMAGE_WEIGHT
from rsq.query.searcher import fuse
from rsq.sources import CaptionedImage, caption_corpus, ucm_captions
from rsq.textindex.build import BuildOptions, index_records

BENCHMARKS = ("ucm-t2i", "rsitmd-t2t", "rsicd-t2t", "ucm-class", "ucm-archive", "ucm-hier")
SPLITS = {"rsitmd-t2t": ("train", "test"), "rsicd-t2t": ("train", "test")}  # the UCM benchmarks: train, val, test
DEFAULT_ALPHAS = tuple(round(0.1 * i, 1) for i in range(11))
RECALL_DEPTH = 10


@dataclass(frozen=True)
class EvalOptions:
    data: Path | None = None
    captions: Path | None = None  # a caption store; default: the benchmark's human captions
    embedder: str | None = None
    limit: int | None = None  # first N images, for quick runs
    split: str | None = None  # default: test (ucm-class: all 2,100 tiles)
    sample: int | None = None  # N images spread evenly over the split (classes come in order), for tuning runs
    alphas: tuple[float, ...] = DEFAULT_ALPHAS
    image_encoder: str | None = None  # closp:<checkpoint>: add image mode (ucm-t2i)
    modes: tuple[str, ...] | None = None  # report only these configurations
    query_encoder: str | None = None  # None: as `rsq search` encodes queries (auto); torch, onnx, onnx-int8
    expansion: bool = True  # BM25's nomenclature synonyms (False: measure without them)
    queries: str = (
        "test"  # the class queries of ucm-class / ucm-archive: test or tune half, unseen, all (rsq.eval.queries)
    )


@dataclass
class Rankings:
    """Ranked tile ids per scoring configuration, and what is relevant for each query."""

    ranked: dict[str, list[list[str]]] = field(default_factory=lambda: defaultdict(list))
    relevant: list[Any] = field(default_factory=list)


Config = tuple[str, str | None, float, float | str | None]  # mode, fusion (None: the default), alpha, image weight
BY_INDEX = "by-index"  # the image weight `rsq search` picks for the index (None: captions only)


def configurations(alphas: tuple[float, ...], with_image: bool = False) -> dict[str, Config]:
    """The single modes, hybrid as `rsq search` defaults it, each fusion, and with image vectors the image mode,
    hybrid over captions and image (`hybrid`), captions only (`hybrid_text`) and the image-weight sweep."""
    text_hybrid = "hybrid_text" if with_image else "hybrid"
    configs: dict[str, Config] = {
        "bm25": ("bm25", None, DEFAULT_ALPHA, None),
        "dense": ("dense", None, DEFAULT_ALPHA, None),
        text_hybrid: ("hybrid", None, DEFAULT_ALPHA, None),
        "hybrid_rrf": ("hybrid", "rrf", DEFAULT_ALPHA, None),
    }
    configs |= {f"hybrid_weighted@{_weight(a)}": ("hybrid", "weighted", a, None) for a in alphas}
    if with_image:
        configs |= {"image": ("image", None, DEFAULT_ALPHA, None), "hybrid": ("hybrid", None, DEFAULT_ALPHA, BY_INDEX)}
        configs |= {f"hybrid_image@{_weight(b)}": ("hybrid", None, DEFAULT_ALPHA, b) for b in alphas}
    return configs


def _weight(value: float) -> str:
    """0.7 -> "0.7", 0.75 -> "0.75": one decimal unless the value needs two."""
    return f"{value:.1f}" if round(value, 1) == value else f"{value:.2f}"


def run_benchmark(name: str, options: EvalOptions) -> dict[str, Any]:
    """Every number of one benchmark, with the configuration that produced it."""
    runners: dict[str, Callable[[EvalOptions, Any, Path], dict[str, Any]]] = {
        "rsitmd-t2t": lambda o, e, w: _caption_loo("rsitmd", o, e, w),
        "rsicd-t2t": lambda o, e, w: _caption_loo("rsicd", o, e, w),
        "ucm-t2i": _ucm_t2i,
        "ucm-class": _ucm_class,
        "ucm-archive": _ucm_archive,
        "ucm-hier": _ucm_hier,
    }
    if name not in runners:
        raise RsqError(f"unknown benchmark {name!r}; choose one of {', '.join(BENCHMARKS)}")
    encoder = CachedEmbedder(make_embedder(options.embedder or default_embedder()))
    encoder.queries = CachedEmbedder(query_encoder(encoder.spec, options.query_encoder))  # as `rsq search` encodes them
    with tempfile.TemporaryDirectory(prefix="rsq-eval-") as work:
        result = runners[name](options, encoder, Path(work))
    if options.modes:
        result["modes"] = {m: v for m, v in result["modes"].items() if m in options.modes}
        if not result["modes"]:
            raise RsqError(f"none of the modes {', '.join(options.modes)} was measured on {name}")
    result["benchmark"] = name
    result["config"] |= {
        "embedder": encoder.spec,
        "limit": options.limit,
        "split": options.split,
        "sample": options.sample,
        "alphas": list(options.alphas),
        "default_fusion": DEFAULT_FUSION,
        "default_alpha": DEFAULT_ALPHA,
        "image_encoder": options.image_encoder,
        "default_image_weight": DEFAULT_IMAGE_WEIGHT,
        "tagger_image_weight": TAGGER_IMAGE_WEIGHT,
        "query_encoder": f"{encoder.queries.spec} via {encoder.queries.runtime}",
        "expansion": options.expansion,
    }
    return result


def _caption_loo(corpus: str, options: EvalOptions, encoder, work: Path) -> dict[str, Any]:
    split = options.split or "test"
    items = _selected(caption_corpus(corpus, split, options.data), options)
    records = human_records(items, f"{corpus}/{split}.jsonl")
    rankings, manifest = _leave_one_out(items, records, options, encoder, work)
    return {
        "protocol": "leave-one-out (caption j queries the image's other four captions, j = 1..5)",
        "config": {
            "data": str(data_root(options.data) / corpus / f"{split}.jsonl"),
            "images": len(items),
            "index_manifest": manifest,
        },
        "modes": _recall_modes(rankings),
        "note": "mR here is the mean of text-to-image R@1/5/10 (caption-to-caption retrieval has one direction)",
    }


def _ucm_t2i(options: EvalOptions, encoder, work: Path) -> dict[str, Any]:
    items = _selected(ucm_captions(options.data, options.split or "test"), options)
    records = _run_records(items, options)
    images = _TileImages.encode(items, options.image_encoder) if options.image_encoder else None
    own = {i.id: set(i.captions) for i in items}
    holds_queries = any(v["one_sentence"] in own[r.tile_id] for r in records for v in r.captions["variants"])
    if holds_queries:
        rankings, manifest = _leave_one_out(items, records, options, encoder, work, images)
        protocol = (
            "leave-one-out (the caption run holds the human query captions; each query's own caption is left out)"
        )
    else:
        rankings, manifest = _query_once(records, _caption_queries(items), options, encoder, work, images)
        protocol = "full (all 5 human captions of each test tile query an index of the caption run)"
    config = {
        "data": str(data_root(options.data) / "ucm-captions"),
        "tiles": len(items),
        "index_manifest": manifest,
        "captions": str(options.captions) if options.captions else "human captions (ucm-captions/captions.jsonl)",
    }
    modes = _recall_modes(rankings)
    if images:
        modes["image"] |= images.image_to_text(items)
        modes["image"]["mR"] = mean_recall(modes["image"])
    return {
        "protocol": protocol,
        "config": config,
        "modes": modes,
        "note": "caption modes report text-to-image recall and mR is their mean; image mode adds image-to-text "
        "(a tile's image vector ranks the 1,050 test captions through the CLOSP text tower), mR of six",
    }


def _ucm_class(options: EvalOptions, encoder, work: Path) -> dict[str, Any]:
    items = _selected(ucm_captions(options.data, options.split), options)
    index, manifest = _build(_run_records(items, options), encoder, work / "all")
    modes, queries = _class_modes(index, items, options)
    config = {
        "data": str(data_root(options.data) / "ucm-captions"),
        "tiles": len(items),
        "queries": len(queries),
        "query_set": options.queries,
        "index_manifest": manifest,
        "relevance": "nDCG gain 2 same class, 1 other residential density; "
        "mAP binary same class; WAP levels shared in a class/group hierarchy (rsq/eval/queries.py)",
        "captions": str(options.captions) if options.captions else "human captions (ucm-captions/captions.jsonl)",
    }
    return {"protocol": "class queries over the split's tiles (all 2,100 by default)", "config": config, "modes": modes}


def _ucm_archive(options: EvalOptions, encoder, work: Path) -> dict[str, Any]:
    split = options.split or "test"
    items = _selected(ucm_captions(options.data, split), options)
    images = _TileImages.encode(items, _image_spec(options.image_encoder, "ucm-archive"))
    _refuse_seen(images.encoder, split)
    records = tagger_records(items, images.encoder.spec, work / "captions")
    index, manifest = _build(records, encoder, work / "index", images)
    modes = _recall_modes(_recall_rankings(index, _caption_queries(items), options))
    class_modes, queried = _class_modes(index, items, options)
    for mode, metrics in class_modes.items():
        modes[mode] |= {f"class {name}": value for name, value in metrics.items() if name != "WAP@10"}
    config = {
        "data": str(data_root(options.data) / "ucm-captions"),
        "split": split,
        "tiles": len(items),
        "index_manifest": manifest,
        "captions": f"{images.encoder.spec} tagger (rsq caption, structured template, 5 variants)",
        "class_queries": len(queried),
        "class_query_set": options.queries,
    }
    return {
        "protocol": "caption-free archive (rsq's own captions indexed; human captions and class queries query them)",
        "config": config,
        "modes": modes,
        "note": (
            "R@k and mR: the split's human captions as queries (text-to-image); "
            "class nDCG@10 and mAP: the class queries"
        ),
    }


def _ucm_hier(options: EvalOptions, encoder, work: Path) -> dict[str, Any]:
    from rsq.eval.hierarchy import ucm_hier

    split = options.split or "test"
    items = _selected(ucm_captions(options.data, split), options)
    return ucm_hier(items, _image_spec(options.image_encoder, "ucm-hier"), split, options.data)


def _image_spec(spec: str | None, benchmark: str) -> str:
    """The image encoder a benchmark of rsq's towers needs (its tagger writes ucm-archive's captions)."""
    if not spec or not spec.startswith(("closp:", "cisen:")):
        raise RsqError(f"{benchmark} needs --image-encoder closp:<checkpoint> (rsq train closp) or cisen:<folder>")
    return spec


def _refuse_seen(encoder: Any, split: str) -> None:
    """Refuse an encoder whose weights trained on the evaluated UCM split."""
    if f"ucm:{split}" in encoder.trained_on:
        raise RsqError(
            f"{encoder.spec} was trained on the UCM {split} split; evaluate another split or train without it"
        )


def tagger_records(items: list[CaptionedImage], spec: str, store_folder: Path) -> list[CaptionRecord]:
    """Caption the tiles with the encoder's tagger (`closp:` or `cisen:`) through the caption job, as `rsq caption`
    does."""
    from rsq.captioner.backends import make_backend
    from rsq.captioner.batch import run_job
    from rsq.captioner.job import CaptionJob
    from rsq.sources import TileRef

    store = CaptionStore(store_folder)
    summary = run_job(
        [TileRef(i.id, i.path, {"class": i.label}) for i in items],
        store,
        make_backend(spec),
        CaptionJob(load_template("structured")),
    )
    if summary.failed:
        raise RsqError(f"the {spec.partition(':')[0]} tagger failed on {summary.failed} benchmark tiles")
    return list(store.records(OK))


def _class_modes(
    index: Searcher, items: list[CaptionedImage], options: EvalOptions
) -> tuple[dict[str, dict[str, float]], list[tuple[str, str]]]:
    """nDCG@10, mAP and WAP@10 of one set of class queries over `items`, per configuration; and the queries."""
    classes = {i.id: i.label for i in items}
    queries = [(text, label) for text, label in class_queries(options.queries) if label in set(classes.values())]
    rankings = _rank(index, [text for text, _ in queries], options, depth=len(classes))
    gains = [{t: graded_relevance(label, c) for t, c in classes.items()} for _, label in queries]
    levels = [{t: shared_levels(label, c) for t, c in classes.items()} for _, label in queries]
    relevant = [{t for t, c in classes.items() if c == label} for _, label in queries]
    modes = {}
    for config, ranked in rankings.items():
        modes[config] = {
            "nDCG@10": 100 * sum(ndcg_at_k(r, g, 10) for r, g in zip(ranked, gains, strict=True)) / len(ranked),
            "mAP": 100 * mean_average_precision(ranked, relevant),
            "WAP@10": 100 * weighted_map(ranked, levels, k=10) / 2,  # levels run 0..2: scaled to 0..100
        }
    return modes, queries


def _selected(items: list[CaptionedImage], options: EvalOptions) -> list[CaptionedImage]:
    """`--sample N` images spread evenly over the list, then the first `--limit`."""
    if options.sample and options.sample < len(items):
        items = [items[round(n * len(items) / options.sample)] for n in range(options.sample)]
    return items[: options.limit]


def human_records(items: list[CaptionedImage], source: str) -> list[CaptionRecord]:
    """Caption records holding each image's human captions as variants (as `annotations:` writes them)."""
    template = load_template("human-captions").version
    return [
        CaptionRecord(
            run_id=f"human:{source}",
            tile_id=i.id,
            tile_path=str(i.path or ""),
            sensor="rgb",
            model=f"annotations:{source}",
            model_revision="",
            template=template,
            prompt_hash="",
            params={},
            status=OK,
            captions={"variants": [{"one_sentence": c} for c in i.captions if c.strip()]},
            tile={"id": i.id, "path": str(i.path or ""), "sensor": "rgb", "meta": {"class": i.label}},
        )
        for i in items
    ]


def _run_records(items: list[CaptionedImage], options: EvalOptions) -> list[CaptionRecord]:
    if options.captions is None:
        return human_records(items, "ucm-captions/captions.jsonl")
    wanted = {i.id for i in items}
    records = [r for r in CaptionStore(options.captions, create=False).records(OK) if r.tile_id in wanted]
    if not records:
        raise RsqError(f"{options.captions} holds no ok captions for the benchmark's tiles")
    return records


@dataclass
class _TileImages:
    """CLOSP image vectors of the benchmark tiles, and the encoder for the image->text direction."""

    encoder: Any
    ids: list[str]
    matrix: np.ndarray  # (tiles, dim), L2-normalised rows

    @classmethod
    def encode(cls, items: list[CaptionedImage], spec: str) -> _TileImages:
        from rsq.closp.encoder import ClospEncoder
        from rsq.imagery import read_tile

        encoder = ClospEncoder(spec)
        vectors, errors = encoder.encode_tiles([read_tile(i.path, i.id) for i in items])
        if any(errors):
            raise RsqError(f"cannot encode benchmark tiles: {next(e for e in errors if e)}")
        return cls(encoder, [i.id for i in items], np.asarray(vectors, dtype=np.float32))

    def lookup(self, tiles: list[dict[str, Any]]) -> tuple[np.ndarray, list[bool]]:
        """The precomputed vectors of `tiles`, for the index build (`EncodeImages`)."""
        position = {tile_id: n for n, tile_id in enumerate(self.ids)}
        readable = [t["id"] in position for t in tiles]
        return self.matrix[[position[t["id"]] for t in tiles if t["id"] in position]], readable

    def image_to_text(self, items: list[CaptionedImage]) -> dict[str, float]:
        captions = [(c, i.id) for i in items for c in i.captions]
        similarity = self.matrix @ self.encoder.encode_texts([c for c, _ in captions]).T
        ranked = [[int(j) for j in np.argsort(-row, kind="stable")[:RECALL_DEPTH]] for row in similarity]
        relevant = [{j for j, (_, owner) in enumerate(captions) if owner == tile} for tile in self.ids]
        return recall_table(ranked, relevant, prefix="i2t_")


def _leave_one_out(
    items, records, options, encoder, work: Path, images: _TileImages | None = None
) -> tuple[Rankings, dict[str, Any]]:
    """Rotate the held-out caption j over 0..4: the index leaves caption j out, caption j queries."""
    total = Rankings()
    manifest: dict[str, Any] = {}
    for j in range(5):
        held_out = {i.id: i.captions[j] for i in items if j < len(i.captions) and i.captions[j].strip()}
        kept = [_without_variant(r, held_out.get(r.tile_id)) for r in records]
        index, manifest = _build([r for r in kept if r.captions["variants"]], encoder, work / f"rotation-{j}", images)
        queries = list(held_out.items())
        ranked = _rank(index, [text for _, text in queries], options, depth=RECALL_DEPTH)
        for config, lists in ranked.items():
            total.ranked[config] += lists
        total.relevant += [{tile_id} for tile_id, _ in queries]
    return total, manifest


def _query_once(
    records, queries, options, encoder, work: Path, images: _TileImages | None = None
) -> tuple[Rankings, dict[str, Any]]:
    index, manifest = _build(records, encoder, work / "all", images)
    return _recall_rankings(index, queries, options), manifest


def _caption_queries(items: list[CaptionedImage]) -> list[tuple[str, str]]:
    """Every human caption of the items as a query, with the tile it describes."""
    return [(caption, item.id) for item in items for caption in item.captions]


def _recall_rankings(index: Searcher, queries: list[tuple[str, str]], options: EvalOptions) -> Rankings:
    """The top RECALL_DEPTH tiles per configuration for (text, relevant tile) queries, all at once."""
    rankings = Rankings(ranked=_rank(index, [text for text, _ in queries], options, depth=RECALL_DEPTH))
    rankings.relevant = [{tile_id} for _, tile_id in queries]
    return rankings


def _without_variant(record: CaptionRecord, text: str | None) -> CaptionRecord:
    """The record minus the first variant whose sentence is `text` (the held-out caption)."""
    variants = list(record.captions["variants"])
    position = next((n for n, v in enumerate(variants) if v["one_sentence"] == text), None)
    if position is not None:
        variants.pop(position)
    return CaptionRecord(**{**record.to_dict(), "captions": {**record.captions, "variants": variants}})


def _build(
    records: list[CaptionRecord], encoder, folder: Path, images: _TileImages | None = None
) -> tuple[Searcher, dict[str, Any]]:
    options = BuildOptions(
        rebuild=True,
        thumbnails=False,
        image_spec=images.encoder.spec if images else None,
        image_text_space=images.encoder.text_space if images else None,
    )
    report = index_records(records, folder, encoder, options, images.lookup if images else None)
    return Searcher(folder, encoder=encoder.queries, image_encoder=images and images.encoder), report.manifest.to_dict()


def _rank(index: Searcher, texts: list[str], options: EvalOptions, depth: int) -> dict[str, list[list[str]]]:
    """Top `depth` tile ids per configuration for every query, from one retrieval per query."""
    ranked: dict[str, list[list[str]]] = defaultdict(list)
    for per_mode in index.retrieve(texts, "hybrid", depth, expand=options.expansion):
        for name, (mode, fusion, alpha, image_weight) in configurations(options.alphas, "image" in per_mode).items():
            modes = (
                per_mode
                if image_weight is not None or mode == "image"
                else {m: v for m, v in per_mode.items() if m != "image"}
            )
            weight = index.default_image_weight if image_weight == BY_INDEX else image_weight or 0.0
            scores = fuse(modes, mode, fusion or DEFAULT_FUSION, alpha, weight)
            ranked[name].append(sorted(scores, key=lambda tile: (-scores[tile], tile))[:depth])
    return ranked


def _recall_modes(rankings: Rankings) -> dict[str, dict[str, float]]:
    modes = {}
    for config, ranked in rankings.ranked.items():
        table = recall_table(ranked, rankings.relevant)
        modes[config] = table | {"mR": mean_recall(table)}
    return modes

"""`rsq search` and `rsq demo`: query the hybrid index (the demo builds it first)."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Annotated

import typer

from rsq.commands.common import DataOption, JsonOption, print_json_lines, warn
from rsq.errors import RsqError

_QueryOption = Annotated[str | None, typer.Argument(help="What to find, in words.")]
_IndexDirOption = Annotated[
    Path | None, typer.Option("--index", help="Index folder (default $RSQ_HOME/indexes/default).")
]
_KOption = Annotated[int, typer.Option("--k", help="Number of tiles to return.")]
_ModeOption = Annotated[str, typer.Option(help="hybrid, bm25, dense or image (CLOSP image vectors).")]
_FusionOption = Annotated[
    str,
    typer.Option(help="Hybrid fusion: weighted (scores min-max scaled, dense weighted by --alpha) or rrf (by rank)."),
]
_AlphaOption = Annotated[
    float | None,
    typer.Option(
        help=(
            "Weight of dense in weighted fusion (0..1; default: DEFAULT_ALPHA in rsq/query/request.py, chosen by "
            "measurement)."
        )
    ),
]
_SensorOption = Annotated[str | None, typer.Option(help="Only tiles of this sensor (rgb, s2, s1, other).")]
_BboxOption = Annotated[
    str | None,
    typer.Option(
        help="west,south,east,north (WGS84; west > east crosses 180°, as in STAC): tiles whose footprint meets it."
    ),
]
_ClassOption = Annotated[
    str | None,
    typer.Option(
        "--class",
        help="Only tiles of this CORINE Land Cover class or a class below it: a code (1, 11, 112) or a name.",
    ),
]
_AfterOption = Annotated[str | None, typer.Option(help="Acquired on or after this date.")]
_BeforeOption = Annotated[str | None, typer.Option(help="Acquired on or before this date.")]
_QueriesOption = Annotated[
    Path | None, typer.Option(help="A file of queries: one per line, or JSONL with a `query` field.")
]
_EmbedderOption = Annotated[str | None, typer.Option(help="Refuse the index unless it was built with this encoder.")]
_ImageOption = Annotated[
    str | None,
    typer.Option(
        "--image", help="A query image file or the id of an indexed tile: a composed image + text query (WEICOM)."
    ),
]
_LamOption = Annotated[float, typer.Option("--lam", help="Weight of the text in a composed query (0..1).")]
_ImageWeightOption = Annotated[
    float | None,
    typer.Option(
        help=(
            "Share of image mode in hybrid when the index has image vectors (default by caption source: more for "
            "closp-tagged indexes)."
        )
    ),
]
_QueryEncoderOption = Annotated[
    str | None,
    typer.Option(
        envvar="RSQ_QUERY_ENCODER",
        help=(
            "auto, torch, onnx or onnx-int8: the runtime of the index's own model for queries (auto: int8 ONNX, no "
            "PyTorch start-up)."
        ),
    ),
]
_ExplainOption = Annotated[bool, typer.Option("--explain", help="Add each mode's rank and the variant that matched.")]
_GeojsonOption = Annotated[
    Path | None,
    typer.Option("--geojson", help="Also write the results as a GeoJSON FeatureCollection to FILE (- for stdout)."),
]


def search(
    query: _QueryOption = None,
    index_dir: _IndexDirOption = None,
    k: _KOption = 10,
    mode: _ModeOption = "hybrid",
    fusion: _FusionOption = "weighted",
    alpha: _AlphaOption = None,
    sensor: _SensorOption = None,
    bbox: _BboxOption = None,
    near: Annotated[str | None, typer.Option(help="lon,lat,km")] = None,
    after: _AfterOption = None,
    before: _BeforeOption = None,
    land_cover: _ClassOption = None,
    queries: _QueriesOption = None,
    embedder: _EmbedderOption = None,
    image: _ImageOption = None,
    lam: _LamOption = 0.5,
    image_weight: _ImageWeightOption = None,
    query_encoder: _QueryEncoderOption = None,
    json_lines: JsonOption = False,
    explain: _ExplainOption = False,
    geojson: _GeojsonOption = None,
) -> None:
    """Find tiles by describing them."""
    from rsq.query import SearchQuery, parse_filters
    from rsq.query.request import DEFAULT_ALPHA
    from rsq.shards.router import open_index

    if queries and query:
        raise RsqError("give either a QUERY or --queries FILE, not both")
    if geojson and queries:
        raise RsqError("--geojson writes the results of one query; drop --queries")
    lines = _read_queries(queries) if queries else [(0, query or "")]
    filters = parse_filters(sensor, bbox, near, after, before, land_cover)
    searcher = open_index(index_dir, embedder=embedder, query_encoder=query_encoder)
    ask = partial(
        SearchQuery,
        k=k,
        mode=mode,
        fusion=fusion,
        alpha=DEFAULT_ALPHA if alpha is None else alpha,
        filters=filters,
        image_weight=image_weight,
        lam=lam,
        **_image_or_tile(image),
    )
    failed = 0
    for number, text in lines:
        try:
            found = searcher.answer(ask(text))
        except RsqError as error:
            if not queries:
                raise
            warn(f"{queries}:{number}: {error}; skipped")  # one bad query never stops the batch
            failed += 1
            continue
        if found.missing:
            warn(f"shards {', '.join(map(str, found.missing))} did not answer: their tiles are not in these results")
        _show(
            text,
            found.hits,
            {"q": text, "k": k, "mode": mode},
            geojson,
            json_lines,
            batch=bool(queries),
            explain=explain,
        )
    if failed:
        warn(f"{failed} of {len(lines)} queries failed")
        raise typer.Exit(1)


def demo(
    data: DataOption = None,
    out: Annotated[Path | None, typer.Option("--out", help="Index folder (default $RSQ_HOME/indexes/default).")] = None,
) -> None:
    """Build the default index from the demo archive (UCM human captions, Sen1Floods11 chips), then search it."""
    from rsq.commands.index import build_with_progress
    from rsq.config import default_index_path
    from rsq.demo import DEMO_QUERIES, demo_options, demo_stores
    from rsq.query import Searcher, SearchQuery

    target = out or default_index_path()
    build_with_progress(demo_stores(data, on_step=warn), target, demo_options())
    searcher = Searcher(target)
    for text in DEMO_QUERIES:
        _print_hits(text, searcher.search(SearchQuery(text, k=5)), explain=False)


def _show(text: str, hits, query: dict, geojson: Path | None, json_lines: bool, batch: bool, explain: bool) -> None:
    """One query's hits: as GeoJSON (a file, or stdout for -), JSON lines (with the query in a batch; then a summary
    record with the land-cover facet counts), or a table."""
    if geojson:
        _write_geojson(geojson, hits, query, explain)
        if str(geojson) == "-":
            return
    if json_lines or batch:
        from rsq.query.facets import land_cover_facets

        extra = {"query": text} if batch else {}
        print_json_lines(extra | hit.to_dict(explain) for hit in hits)
        print_json_lines([extra | {"summary": {"facets": {"land_cover": land_cover_facets(hits)}}}])
    else:
        _print_hits(text, hits, explain)


def _write_geojson(target: Path, hits, query: dict, explain: bool) -> None:
    from rsq.query.geojson import feature_collection

    text = json.dumps(feature_collection(hits, query, explain), ensure_ascii=False)
    if str(target) == "-":
        typer.echo(text)
    else:
        target.write_text(text + "\n")
        warn(f"wrote {target} ({len(hits)} features)")


def _image_or_tile(image: str | None) -> dict[str, str | None]:
    """--image names an image file, or else the id of a tile in the index."""
    if image is None:
        return {}
    return {"image": image} if Path(image).is_file() else {"like": image}


def _read_queries(path: Path) -> list[tuple[int, str]]:
    """(line number, query) per non-empty line: plain text, or JSONL with a `query` string per line."""
    if not path.is_file():
        raise RsqError(f"queries file {path} not found")
    try:
        content = path.read_text()
    except UnicodeDecodeError:
        raise RsqError(f"{path}: not a UTF-8 text file") from None
    queries = []
    for number, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        if path.suffix == ".jsonl":
            try:
                text = json.loads(line)["query"]
            except (json.JSONDecodeError, KeyError, TypeError):
                raise RsqError(f"{path}:{number}: expected a JSON object with a 'query' field") from None
            if not isinstance(text, str):
                raise RsqError(f"{path}:{number}: 'query' must be a string, not {json.dumps(text)}")
            queries.append((number, text))
        else:
            queries.append((number, line.strip()))
    if not queries:
        raise RsqError(f"{path}: no queries in the file")
    return queries


def _print_hits(text: str, hits, explain: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("rank", "id", "score", "sensor", "best-matching caption", title=f"“{text}”", title_justify="left")
    if explain:
        table.add_column("rank per mode")
    for hit in hits:
        row = [str(hit.rank), hit.id, f"{hit.score:.4f}", hit.sensor, highlight(hit.caption, text)]
        if explain:
            row.append(", ".join(f"{mode} {rank or '-'}" for mode, rank in hit.ranks.items()))
        table.add_row(*row)
    Console(width=160).print(table if hits else f"no tiles match “{text}”")


def highlight(caption: str, query: str) -> str:
    """Rich markup with the caption words that share a stem with a query word in bold."""
    from rich.markup import escape

    from rsq.query.highlight import highlight_spans

    parts, done = [], 0
    for start, end in highlight_spans(caption, query):
        parts += [escape(caption[done:start]), f"[bold yellow]{escape(caption[start:end])}[/]"]
        done = end
    return "".join([*parts, escape(caption[done:])])

"""`rsq serve`: one more face on the same engine. A FastAPI app holds one open `Searcher` (models load once; routes
get it as a dependency) and calls the same `Searcher.search` as the CLI; every generation an index writer
publishes is picked up by the next request. The page is static files (rsq/serve/static) plus Leaflet and Natural
Earth's country outlines (world-atlas, read by topojson-client), installed from npm: the basemap needs no tile
server.

Tiles are served by id only: a request never names a path, and no answer names a file of the server (hits,
GeoJSON and tile details carry ids; model specs name their file, not its folder). Files are found through the
index's catalog. (No `from __future__ import annotations` here: FastAPI reads the route signatures' annotations
at run time.)
"""

import hmac
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, File, Form, Query, Request, UploadFile
from fastapi.params import Depends as Dependency
from fastapi.responses import FileResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles

from rsq import __version__
from rsq.errors import RsqError, TileError
from rsq.landcover import land_cover_names
from rsq.query import Hit, Searcher, SearchQuery, parse_filters
from rsq.query.facets import land_cover_facets
from rsq.query.geojson import geometry
from rsq.query.highlight import highlight_spans
from rsq.query.request import DEFAULT_ALPHA, DEFAULT_FUSION, MAX_K
from rsq.query.results import Answer
from rsq.serve.errors import ApiError, install_handlers, phrased
from rsq.serve.openapi import (
    AUTH,
    GeoJSONResponse,
    JPEGResponse,
    errors,
    images,
    without_validation_422,
)
from rsq.serve.routing import SuffixRoute, UrlBound
from rsq.serve.uploads import save_upload
from rsq.textindex.build import THUMBNAIL_SIZE

STATIC = Path(__file__).parent / "static"
NODE_MODULES = Path(__file__).parent / "web" / "node_modules"
LEAFLET = NODE_MODULES / "leaflet" / "dist"
OUTLINES = {"world-atlas": NODE_MODULES / "world-atlas", "topojson-client": NODE_MODULES / "topojson-client" / "dist"}
VIEW_SIZES = (16, 2048)
View = Literal["auto", "true", "false", "sar"]  # rsq.imagery.render.VIEWS


def create_app(index: Searcher, token: str | None = None, basemap: str = "") -> FastAPI:
    """The API and the page over an open index; with `token`, every /api call needs `Authorization: Bearer`."""
    app = FastAPI(title="rsq", version=__version__, description="Search satellite tiles by describing them.")
    install_handlers(app, index.root)
    app.add_middleware(UrlBound)
    app.state.searcher, app.state.basemap = index, basemap

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok"} | index.status()

    guarded = {"prefix": "/api", "dependencies": _guard(token), "responses": {**errors(414), **(AUTH if token else {})}}
    app.include_router(search_routes, **guarded)
    app.include_router(tile_routes, **guarded)  # sub-resources before the bare id: see tile_routes
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for name, folder in {"leaflet": LEAFLET, **OUTLINES}.items():
        if folder.is_dir():
            app.mount(f"/vendor/{name}", StaticFiles(directory=folder), name=name)

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    without_validation_422(app)
    return app


def _guard(token: str | None) -> list[Dependency]:
    """With a token: an HTTPBearer scheme (the word `Bearer` in any case) checked on every call."""
    if not token:
        return []
    bearer = HTTPBearer(auto_error=False, description="the token `rsq serve --token` was started with")

    def authorised(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> None:
        if not (credentials and hmac.compare_digest(credentials.credentials.encode(), token.encode())):
            raise ApiError(
                401, "this server needs an Authorization: Bearer <token> header", {"WWW-Authenticate": "Bearer"}
            )

    return [Depends(authorised)]


class SearchParams:
    """The query parameters of `rsq search`, as a FastAPI dependency."""

    def __init__(
        self,
        q: str,
        k: int = 10,
        offset: int = 0,
        mode: str = "hybrid",
        fusion: str = DEFAULT_FUSION,
        alpha: float = DEFAULT_ALPHA,
        sensor: str | None = None,
        bbox: str | None = None,
        near: str | None = None,
        after: str | None = None,
        before: str | None = None,
        explain: bool = False,
        image_weight: float | None = None,
        land_cover: Annotated[
            str | None, Query(alias="class", description="A CORINE Land Cover class, by code or name, at any level.")
        ] = None,
    ) -> None:
        self.q, self.k, self.offset, self.mode, self.fusion, self.alpha = q, k, offset, mode, fusion, alpha
        self.filters = {"sensor": sensor, "bbox": bbox, "near": near, "after": after, "before": before}
        self.filters["land_cover"] = land_cover
        self.explain, self.image_weight = explain, image_weight

    def run(self, index: Searcher) -> Answer:
        if self.k < 1 or self.offset < 0 or self.offset + self.k > MAX_K:
            raise ApiError(400, f"k must be at least 1, offset at least 0, and offset + k at most {MAX_K}")
        query = SearchQuery(
            self.q,
            k=self.offset + self.k,
            mode=self.mode,
            fusion=self.fusion,
            alpha=self.alpha,
            filters=parse_filters(**self.filters),
            image_weight=self.image_weight,
        )
        found = index.answer(query)
        return replace(found, hits=found.hits[self.offset :])

    def echo(self) -> dict[str, Any]:
        return {
            "q": self.q,
            "mode": self.mode,
            "fusion": self.fusion,
            "alpha": self.alpha,
            "image_weight": self.image_weight,
            **{("class" if k == "land_cover" else k): v for k, v in self.filters.items() if v is not None},
        }


def current_searcher(request: Request) -> Searcher:
    """The open index of the app serving the request (`create_app` puts it in the app's state)."""
    return request.app.state.searcher


SearcherDep = Annotated[Searcher, Depends(current_searcher)]
search_routes = APIRouter(route_class=SuffixRoute)
# Tile routes declare their sub-resources before the bare id route, so that `/api/tiles/x/image` is the image of
# `x` (the tile `x/image` is `/api/tiles/x%2Fimage`: see SuffixRoute).
tile_routes = APIRouter(route_class=SuffixRoute)


@search_routes.get("/info")
def info(request: Request, index: SearcherDep) -> dict[str, Any]:
    """What the index holds, and the page's settings."""
    manifest = index.manifest
    return {
        "rsq_version": __version__,
        "embedder": public_spec(manifest.embedder),
        "counts": manifest.counts,
        "image_encoder": public_spec(manifest.image_encoder),
        "templates": manifest.templates,
        "basemap": request.app.state.basemap,
        "max_k": MAX_K,
        "map": LEAFLET.is_dir(),
        "outlines": all(folder.is_dir() for folder in OUTLINES.values()),
    }


@search_routes.get("/search", responses=errors(400))
def search(index: SearcherDep, params: Annotated[SearchParams, Depends()]) -> dict[str, Any]:
    """The same records as `rsq search --json` (less the file paths), a page at a time (`offset`, `k`; offset + k
    at most 1000), with the land-cover facet counts of the page's hits."""
    found = params.run(index)
    return {
        "query": params.echo(),
        "offset": params.offset,
        "k": params.k,
        "hits": [public_hit(h, params.q, params.explain) for h in found.hits],
        "facets": {"land_cover": land_cover_facets(found.hits)},
    } | missing_shards(found)


@search_routes.get("/search.geojson", response_class=GeoJSONResponse, responses=errors(400))
def search_geojson(index: SearcherDep, params: Annotated[SearchParams, Depends()]) -> GeoJSONResponse:
    """The results as a GeoJSON FeatureCollection (footprints, scores, captions), as `rsq search --geojson`."""
    from rsq.query.geojson import feature_collection

    found = params.run(index)
    collection = feature_collection(found.hits, params.echo(), params.explain) | missing_shards(found)
    for feature in collection["features"]:
        properties = feature["properties"]
        if "matched" in properties:
            properties["matched"] = public_matched(properties["matched"])
    return GeoJSONResponse(collection)


@search_routes.post("/search/composed", responses=errors(400, 413))
def composed(
    index: SearcherDep,
    text: Annotated[str, Form()] = "",
    lam: Annotated[float, Form(ge=0, le=1)] = 0.5,
    k: Annotated[int, Form(ge=1, le=MAX_K)] = 10,
    tile_id: Annotated[str | None, Form()] = None,
    image: Annotated[UploadFile | None, File()] = None,
) -> dict[str, Any]:
    """A composed image + text query (WEICOM): a tile of the index (`tile_id`) or an uploaded image, plus text."""
    if (tile_id is None) == (image is None):
        raise ApiError(400, "give either tile_id or an image file")
    with tempfile.TemporaryDirectory(prefix="rsq-upload-") as folder:
        path = save_upload(image, Path(folder)) if image is not None else None
        try:
            hits = index.search(SearchQuery(text, k=k, image=path, like=tile_id, lam=lam))
        except RsqError as error:  # the upload's name on the server is no concern of the client
            message = str(error).replace(path, "the uploaded image") if path else str(error)
            raise ApiError(400, phrased(message, index.root)) from None
        return {
            "query": {"text": text, "lam": lam, "tile_id": tile_id},
            "hits": [public_hit(h, text) | {"geometry": geometry(h)} for h in hits],  # the page maps them as they are
            "facets": {"land_cover": land_cover_facets(hits)},
        }


@tile_routes.get(
    "/tiles/{tile_id:tile_id}/thumbnail",
    response_class=JPEGResponse,
    responses={**images("image/jpeg"), **errors(400, 404, 422)},
)
def thumbnail(index: SearcherDep, tile_id: str) -> Response:
    """The thumbnail stored in the index, else one rendered from the tile's file."""
    image = index.thumbnail(tile_id) or _render(index, tile_id, THUMBNAIL_SIZE, "auto", "jpeg")
    return JPEGResponse(image, headers={"Cache-Control": "max-age=3600"})


@tile_routes.get(
    "/tiles/{tile_id:tile_id}/image",
    response_class=Response,
    responses={**images("image/jpeg", "image/png"), **errors(400, 404, 422)},
)
def image_view(
    index: SearcherDep,
    tile_id: str,
    size: Annotated[int, Query(ge=VIEW_SIZES[0], le=VIEW_SIZES[1])] = 512,
    view: View = "auto",
    fmt: Literal["jpeg", "png"] = "jpeg",
) -> Response:
    """The tile rendered as the imagery module renders it (SAR composite, S2 true or false colour)."""
    return Response(_render(index, tile_id, size, view, fmt), media_type=f"image/{fmt}")


@tile_routes.get("/tiles/{tile_id:tile_id}", responses=errors(404))
def tile(index: SearcherDep, tile_id: str) -> dict[str, Any]:
    """The tile's metadata and all its structured captions, each with its provenance."""
    details = index.tile_details(tile_id)
    if details is None:
        raise ApiError(404, f"no tile {tile_id!r} in the index")
    row = details.row
    captions = [
        {
            "model": public_spec(r["model"]),
            "template": r["template"],
            "run_id": r["run_id"],
            "captions": r["captions"],
        }
        for r in details.captions
    ]
    return {
        "id": row.tile_id,
        "sensor": row.sensor,
        "lon": row.lon,
        "lat": row.lat,
        "bounds": row.bounds,
        "time": row.time,
        "meta": row.meta,
        "captions": captions,
        "land_cover": next((path for r in captions if (path := land_cover_names(r["captions"]))), []),
        "image_vector": details.image_vector,
        "thumbnail": details.thumbnail,
    }


def missing_shards(found: Answer) -> dict[str, Any]:
    """A sharded index's shards that did not answer (their tiles are absent from this answer), when there are any."""
    return {"missing_shards": found.missing} if found.missing else {}


def public_hit(hit: Hit, query: str, explain: bool = False) -> dict[str, Any]:
    """A hit's record without the tile's file path (tiles are served by id) or the folders of caption files, with
    the caption's spans the query matched (`highlight`: [start, end] offsets)."""
    record = {key: value for key, value in hit.to_dict(explain).items() if key != "path"}
    record["highlight"] = highlight_spans(hit.caption, query)
    if "matched" in record:
        record["matched"] = public_matched(record["matched"])
    return record


def public_matched(matched: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The matched variants of a hit, their sources (`model | template`) with public model specs."""
    return {
        mode: {
            **match,
            "source": " | ".join(public_spec(part) or "" for part in str(match.get("source", "")).split(" | ")),
        }
        for mode, match in matched.items()
    }


def public_spec(spec: str | None) -> str | None:
    """A model spec naming a file of the server (`annotations:/data/x/captions.jsonl`) by its name alone."""
    if not spec or ":" not in spec:
        return spec
    kind, _, rest = spec.partition(":")
    return f"{kind}:{Path(rest).name}" if rest.startswith(("/", "~", ".")) or "\\" in rest else spec


def _render(index: Searcher, tile_id: str, size: int, view: str, fmt: str) -> bytes:
    """The tile's file read (422 when it cannot be) and rendered in `view` (400 when the view does not fit it)."""
    from rsq.imagery import Tile, render_image
    from rsq.imagery.render import ViewError

    record = index.tile_record(tile_id)
    if record is None:
        raise ApiError(404, f"no tile {tile_id!r} in the index")
    if not record.get("path") or not record.get("band_names"):
        raise ApiError(404, f"tile {tile_id!r} has no image file (its captions were imported without one)")
    try:
        tile = Tile.from_dict(record)
        return render_image(tile, size, view, fmt=fmt)
    except ViewError as error:
        raise ApiError(400, f"tile {tile_id!r}: {error.reason}") from None
    except TileError as error:
        raise ApiError(422, f"tile {tile_id!r}: {error.reason}") from None

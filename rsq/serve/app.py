"""`rsq serve`: one more face on the same engine. A FastAPI app holds one open `Index` (models load once)
and calls the same `Index.search` as the CLI; every generation an index writer publishes is picked up by
the next request. The page is static files (rsq/serve/static) plus Leaflet, installed from npm.

Tiles are served by id only: a request never names a path; files are found through the index's catalog.
(No `from __future__ import annotations` here: FastAPI reads the route signatures' annotations at run time.)
"""

import hmac
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, File, Form, Header, Query, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from rsq import __version__
from rsq.errors import RsqError, TileError
from rsq.query import Index, SearchQuery, parse_filters
from rsq.query.search import DEFAULT_ALPHA, DEFAULT_FUSION, MAX_K
from rsq.textindex.build import THUMBNAIL_SIZE

STATIC = Path(__file__).parent / "static"
LEAFLET = Path(__file__).parent / "web" / "node_modules" / "leaflet" / "dist"
UPLOAD_BYTES = 50 * 2**20
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff")
VIEW_SIZES = (16, 2048)


def create_app(index: Index, token: str | None = None, basemap: str = "") -> FastAPI:
    """The API and the page over an open index; with `token`, every /api call needs `Authorization: Bearer`."""

    def authorised(authorization: Annotated[str | None, Header()] = None) -> None:
        if token and not (authorization and hmac.compare_digest(authorization, f"Bearer {token}")):
            raise ApiError(401, "this server needs an Authorization: Bearer <token> header")

    app = FastAPI(title="rsq", version=__version__, description="Search satellite tiles by describing them.")
    api = APIRouter(prefix="/api", dependencies=[Depends(authorised)])

    @app.exception_handler(ApiError)
    def api_error(request: Request, error: ApiError) -> JSONResponse:
        return JSONResponse({"error": error.message}, status_code=error.status)

    @app.exception_handler(RsqError)
    def user_error(request: Request, error: RsqError) -> JSONResponse:
        return JSONResponse({"error": str(error)}, status_code=400)

    @app.get("/health")
    def health() -> dict[str, Any]:
        snapshot = index.snapshot
        return {"status": "ok", "generation": snapshot.generation.number, "tiles": snapshot.manifest.counts.get("tiles", 0)}

    @api.get("/info")
    def info() -> dict[str, Any]:
        """What the index holds, and the page's settings."""
        manifest = index.manifest
        return {"rsq_version": __version__, "embedder": manifest.embedder, "counts": manifest.counts,
                "image_encoder": manifest.image_encoder, "templates": manifest.templates, "basemap": basemap,
                "max_k": MAX_K, "map": LEAFLET.is_dir()}

    @api.get("/search")
    def search(params: Annotated[SearchParams, Depends()]) -> dict[str, Any]:
        """The same records as `rsq search --json`, a page at a time (`offset`, `k`; offset + k at most 1000)."""
        hits = params.run(index)
        return {"query": params.echo(), "offset": params.offset, "k": params.k, "hits": [h.to_dict(params.explain) for h in hits]}

    @api.get("/search.geojson")
    def search_geojson(params: Annotated[SearchParams, Depends()]) -> JSONResponse:
        """The results as a GeoJSON FeatureCollection (footprints, scores, captions), as `rsq search --geojson`."""
        from rsq.query.geojson import feature_collection

        collection = feature_collection(params.run(index), params.echo(), params.explain)
        return JSONResponse(collection, media_type="application/geo+json")

    @api.post("/search/composed")
    def composed(text: Annotated[str, Form()] = "", lam: Annotated[float, Form(ge=0, le=1)] = 0.5,
                 k: Annotated[int, Form(ge=1, le=MAX_K)] = 10, tile_id: Annotated[str | None, Form()] = None,
                 image: Annotated[UploadFile | None, File()] = None) -> dict[str, Any]:
        """A composed image + text query (WEICOM): a tile of the index (`tile_id`) or an uploaded image, plus text."""
        if (tile_id is None) == (image is None):
            raise ApiError(400, "give either tile_id or an image file")
        with tempfile.TemporaryDirectory(prefix="rsq-upload-") as folder:
            path = _save_upload(image, Path(folder)) if image is not None else None
            hits = index.search(SearchQuery(text, k, image=path, like=tile_id, lam=lam))
            return {"query": {"text": text, "lam": lam, "tile_id": tile_id}, "hits": [h.to_dict() for h in hits]}

    @api.get("/tiles/{tile_id:path}/thumbnail")
    def thumbnail(tile_id: str) -> Response:
        """The thumbnail stored in the index, else one rendered from the tile's file."""
        image = index.thumbnail(tile_id) or _render(index, tile_id, THUMBNAIL_SIZE, "auto", "jpeg")
        return Response(image, media_type="image/jpeg", headers={"Cache-Control": "max-age=3600"})

    @api.get("/tiles/{tile_id:path}/image")
    def image_view(tile_id: str, size: Annotated[int, Query(ge=VIEW_SIZES[0], le=VIEW_SIZES[1])] = 512,
                   view: str = "auto", fmt: Annotated[str, Query(pattern="^(png|jpeg)$")] = "jpeg") -> Response:
        """The tile rendered as the imagery module renders it (SAR composite, S2 true or false colour)."""
        return Response(_render(index, tile_id, size, view, fmt), media_type=f"image/{fmt}")

    @api.get("/tiles/{tile_id:path}")
    def tile(tile_id: str) -> dict[str, Any]:
        """The tile's metadata and all its structured captions, each with its provenance."""
        row = index.tile(tile_id)
        if row is None:
            raise ApiError(404, f"no tile {tile_id!r} in the index")
        snapshot = index.snapshot
        captions = [{"model": r["model"], "template": r["template"], "run_id": r["run_id"], "captions": r["captions"]}
                    for r in snapshot.caption_records(tile_id)]
        return {"id": row.tile_id, "path": row.path, "sensor": row.sensor, "lon": row.lon, "lat": row.lat, "bounds": row.bounds,
                "time": row.time, "meta": row.meta, "captions": captions, "image_vector": snapshot.image_vector(tile_id) is not None,
                "thumbnail": snapshot.thumbnail(tile_id) is not None}

    app.include_router(api)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    if LEAFLET.is_dir():
        app.mount("/vendor/leaflet", StaticFiles(directory=LEAFLET), name="leaflet")

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    return app


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status, self.message = status, message


class SearchParams:
    """The query parameters of `rsq search`, as a FastAPI dependency."""

    def __init__(self, q: str, k: int = 10, offset: int = 0, mode: str = "hybrid", fusion: str = DEFAULT_FUSION,
                 alpha: float = DEFAULT_ALPHA, sensor: str | None = None, bbox: str | None = None, near: str | None = None,
                 after: str | None = None, before: str | None = None, explain: bool = False,
                 image_weight: float | None = None) -> None:
        self.q, self.k, self.offset, self.mode, self.fusion, self.alpha = q, k, offset, mode, fusion, alpha
        self.filters = {"sensor": sensor, "bbox": bbox, "near": near, "after": after, "before": before}
        self.explain, self.image_weight = explain, image_weight

    def run(self, index: Index) -> list:
        if self.k < 1 or self.offset < 0 or self.offset + self.k > MAX_K:
            raise ApiError(400, f"k must be at least 1, offset at least 0, and offset + k at most {MAX_K}")
        query = SearchQuery(self.q, self.offset + self.k, self.mode, self.fusion, self.alpha, parse_filters(**self.filters), self.image_weight)
        return index.search(query)[self.offset :]

    def echo(self) -> dict[str, Any]:
        return {"q": self.q, "mode": self.mode, "fusion": self.fusion, "alpha": self.alpha, "image_weight": self.image_weight,
                **{k: v for k, v in self.filters.items() if v is not None}}


def _save_upload(upload, folder: Path) -> str:
    """An uploaded query image under a name the server chooses, refused when too large or not an image type."""
    suffix = Path(upload.filename or "").suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise ApiError(400, f"upload a {', '.join(IMAGE_SUFFIXES)} file")
    target, written = folder / f"query{suffix}", 0
    with open(target, "wb") as handle:
        while chunk := upload.file.read(2**20):
            written += len(chunk)
            if written > UPLOAD_BYTES:
                raise ApiError(413, f"the image is larger than {UPLOAD_BYTES // 2**20} MB")
            handle.write(chunk)
    return str(target)


def _render(index: Index, tile_id: str, size: int, view: str, fmt: str) -> bytes:
    from rsq.imagery import Tile, read_pixels, render_rgb, thumbnail

    record = index.snapshot.tile_record(tile_id)
    if record is None:
        raise ApiError(404, f"no tile {tile_id!r} in the index")
    if not record.get("path") or not record.get("band_names"):
        raise ApiError(404, f"tile {tile_id!r} has no image file (its captions were imported without one)")
    try:
        tile = Tile.from_dict(record)
        return thumbnail(render_rgb(tile, read_pixels(tile, max_side=size), view=view), size, fmt=fmt)
    except TileError as error:
        raise ApiError(422, f"tile {tile_id!r}: {error.reason}") from None

"""The API's contract: what its OpenAPI document promises (errors, media types, the bearer scheme) is what it
answers, in one error shape with parameter names (not CLI flags); no answer names a server file; any tile id is
reachable; long URLs, huge images and read-only indexes are handled; and a bounded Schemathesis run finds no 5xx
and nothing off the schema, with and without a token."""

from __future__ import annotations

import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from urllib.parse import quote

import httpx
import numpy as np
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from rsq.query import Searcher
from rsq.serve.app import create_app

from serving import live_server

TOKEN = "s3cret"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def client(serving_index) -> TestClient:
    return TestClient(create_app(Searcher(serving_index)))


@pytest.fixture(scope="module")
def guarded(serving_index) -> TestClient:
    return TestClient(create_app(Searcher(serving_index), token=TOKEN))


def _responses(document: dict, path: str, method: str = "get") -> dict:
    return document["paths"][path][method]["responses"]


def test_openapi_documents_errors_and_media_types(client, guarded):
    document = client.get("/openapi.json").json()
    search, geojson = _responses(document, "/api/search"), _responses(document, "/api/search.geojson")
    composed = _responses(document, "/api/search/composed", "post")
    thumbnail, image = (
        _responses(document, "/api/tiles/{tile_id}/thumbnail"),
        _responses(document, "/api/tiles/{tile_id}/image"),
    )
    tile = _responses(document, "/api/tiles/{tile_id}")
    assert (
        {"400", "414"} <= set(search)
        and {"400", "413"} <= set(composed)
        and {"400", "404"} <= set(image)
        and "404" in tile
    )
    assert "401" not in search and "422" not in search  # no token; validation answers 400
    assert set(geojson["200"]["content"]) == {"application/geo+json"} and set(thumbnail["200"]["content"]) == {
        "image/jpeg"
    }
    assert set(image["200"]["content"]) == {"image/jpeg", "image/png"}
    assert all(
        set(r["content"]) == {"application/json"}
        for rs in (geojson, thumbnail, image)
        for s, r in rs.items()
        if s != "200"
    )
    assert "HTTPValidationError" not in str(document)
    token_document = guarded.get("/openapi.json").json()
    assert all(
        "401" in ops["get" if "get" in ops else "post"]["responses"]
        for path, ops in token_document["paths"].items()
        if path.startswith("/api")
    )
    assert "WWW-Authenticate" in _responses(token_document, "/api/search")["401"]["headers"]


def test_the_token_is_an_http_bearer_scheme(client, guarded):
    document = guarded.get("/openapi.json").json()
    scheme = document["components"]["securitySchemes"]["HTTPBearer"]
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    assert document["paths"]["/api/search"]["get"]["security"] == [{"HTTPBearer": []}]
    assert "securitySchemes" not in client.get("/openapi.json").json().get("components", {})
    for header in (None, "Bearer wrong", f"Basic {TOKEN}", "Bearer é".encode("latin-1"), TOKEN):
        refused = guarded.get("/api/info", headers={"Authorization": header} if header else {})
        assert (
            refused.status_code == 401
            and refused.headers["WWW-Authenticate"] == "Bearer"
            and "Bearer" in refused.json()["error"]
        )
    for scheme in ("Bearer", "bearer", "BEARER"):
        assert guarded.get("/api/info", headers={"Authorization": f"{scheme} {TOKEN}"}).status_code == 200


@pytest.mark.parametrize(
    ("params", "start"),
    [
        ({"after": "yesterday"}, "after wants a date"),
        ({"before": "soon"}, "before wants a date"),
        ({"sensor": "radar"}, "sensor must be one of"),
        ({"bbox": "0,10,5,1"}, "bbox wants"),
        ({"near": "1,2"}, "near wants"),
        ({"mode": "magic"}, "mode must be one of"),
        ({"fusion": "magic"}, "fusion must be one of"),
        ({"alpha": 2}, "alpha must lie"),
        ({"image_weight": -1}, "image_weight must lie"),
        ({"after": "2020", "before": "2019"}, "after is later than before"),
    ],
)
def test_errors_name_parameters_not_cli_flags(client, params, start):
    response = client.get("/api/search", params={"q": "a river", **params})
    assert (
        response.status_code == 400
        and response.json()["error"].startswith(start)
        and "--" not in response.json()["error"]
    )


@pytest.mark.parametrize(
    ("path", "params", "name"),
    [
        ("/api/search", {"q": "x", "k": "many"}, "k"),
        ("/api/search", {}, "q"),
        ("/api/search", {"q": "x", "explain": "maybe"}, "explain"),
        ("/api/search.geojson", {"q": "x", "offset": "-"}, "offset"),
        ("/api/search", {"q": "x", "mode": "foo"}, "mode"),
        ("/api/tiles/1000/image", {"view": "foo"}, "view"),
        ("/api/tiles/1000/image", {"size": 5}, "size"),
        ("/api/tiles/1000/image", {"fmt": "gif"}, "fmt"),
        ("/api/tiles/1000/image", {"view": "sar"}, "sar"),
    ],
)
def test_every_invalid_parameter_is_a_400_in_one_shape(client, path, params, name):
    response = client.get(path, params=params)
    assert response.status_code == 400 and set(response.json()) == {"error"} and name in response.json()["error"]


def test_form_errors_and_unknown_routes_have_the_same_shape(client):
    response = client.post("/api/search/composed", data={"tile_id": "1", "lam": "2"})
    assert response.status_code == 400 and response.json()["error"].startswith("lam:")
    assert client.get("/api/nothing").json() == {"error": "Not Found"}


def test_no_answer_names_a_server_file(client, serving_index, data_dir):
    answers = [
        client.get("/api/search", params={"q": "planes at an airport", "k": 50, "explain": True}),
        client.get("/api/search.geojson", params={"q": "flooded farmland", "k": 50}),
        client.get("/api/tiles/Spain_7370579_S2Hand"),
        client.get("/api/tiles/1000"),
        client.get("/api/info"),
    ]
    for response in answers:
        assert (
            response.status_code == 200
            and str(data_dir) not in response.text
            and str(serving_index.parent) not in response.text
        )
        assert '"path"' not in response.text
    assert "tile.path" not in (Path(__file__).parents[1] / "rsq" / "serve" / "static" / "app.js").read_text()
    error = client.get("/api/search", params={"q": "x", "mode": "image"}).json()["error"]
    assert str(serving_index) not in error and error.startswith("the index holds no image vectors")


ODD_IDS = ("odd/thumbnail", "odd/image", "two\nlines", "ends-in-newline\n")


@pytest.fixture(scope="module")
def odd_client(serving_index, tmp_path_factory) -> TestClient:
    """The serving index plus tiles whose ids end in a sub-resource's name or hold newlines (each with a file)."""
    from rsq.textindex.build import BuildOptions, index_records

    from fakes import caption_record

    root = Path(shutil.copytree(serving_index, tmp_path_factory.mktemp("odd") / "index"))
    flood = Searcher(root).snapshot.tile_record("Spain_7370579_S2Hand")
    records = [
        caption_record(tile_id, [f"An odd tile {n}."], tile={**flood, "id": tile_id})
        for n, tile_id in enumerate(ODD_IDS)
    ]
    index_records(records, root, None, BuildOptions(thumbnails=False))
    return TestClient(create_app(Searcher(root)))


@pytest.mark.parametrize("tile_id", ODD_IDS)
def test_any_tile_id_is_reachable(odd_client, tile_id):
    base = f"/api/tiles/{quote(tile_id, safe='')}"
    assert odd_client.get(base).json()["id"] == tile_id
    thumbnail = odd_client.get(f"{base}/thumbnail")
    assert thumbnail.status_code == 200 and thumbnail.headers["content-type"] == "image/jpeg"
    view = odd_client.get(f"{base}/image", params={"size": 32, "fmt": "png"})
    assert view.status_code == 200 and view.content.startswith(b"\x89PNG")


def test_a_plain_slash_before_a_sub_resource_is_the_sub_resource(odd_client):
    assert odd_client.get("/api/tiles/odd/image").json()["error"] == "no tile 'odd' in the index"
    assert odd_client.get("/api/tiles/Spain_7370579_S2Hand/thumbnail").headers["content-type"] == "image/jpeg"


class FakeImageTowers:
    """Stands for a loaded CLOSP encoder (8-d texts and images), as a server holds it once warmed."""

    dim, has_location = 8, False

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        return np.ones((len(texts), self.dim), dtype=np.float32) / np.sqrt(self.dim)


def test_image_mode_after_a_rebuild_without_image_vectors_is_refused(serving_index_copy):
    from rsq.textindex.build import BuildOptions, index_records

    from fakes import caption_record

    flood = Searcher(serving_index_copy).snapshot.tile_record("Spain_7370579_S2Hand")
    records = [caption_record(f"img-{n}", ["A flooded field."], tile={**flood, "id": f"img-{n}"}) for n in range(3)]

    def encode(tiles: list[dict]) -> tuple[np.ndarray, list[bool]]:
        return np.eye(len(tiles), FakeImageTowers.dim, dtype=np.float32), [True] * len(tiles)

    index_records(
        records, serving_index_copy, None, BuildOptions(rebuild=True, thumbnails=False, image_spec="closp:fake"), encode
    )
    client = TestClient(create_app(Searcher(serving_index_copy, image_encoder=FakeImageTowers())))
    assert client.get("/api/search", params={"q": "flood", "mode": "image"}).json()["hits"]
    index_records(records, serving_index_copy, None, BuildOptions(rebuild=True, thumbnails=False))
    refused = client.get("/api/search", params={"q": "flood", "mode": "image"})
    assert refused.status_code == 400 and "holds no image vectors" in refused.json()["error"]


def _raw_get(url: str, target: str) -> tuple[int, dict]:
    """GET `target` over a plain socket (httpx refuses URLs this long); the status and the JSON body."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        answer = b"".join(iter(lambda: connection.recv(65536), b""))
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def test_a_very_long_url_gets_a_json_414_through_uvicorn(serving_index):
    with live_server(create_app(Searcher(serving_index))) as url:
        status, body = _raw_get(url, "/api/search?q=" + "x%20" * 32_000)  # a 100,000-character query: 128 KB
        assert status == 414 and body["error"].startswith("the URL is")
        assert httpx.get(f"{url}/api/search", params={"q": "a river " * 100}, timeout=30).status_code == 200


def _png_header(width: int, height: int) -> bytes:
    """A PNG that states its size and holds no pixels (a decoder would need width x height of them)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("side", [9_000, 13_000, 20_000])
def test_uploads_are_bounded_by_pixels(client, side):
    response = client.post(
        "/api/search/composed", data={"text": "x"}, files={"image": ("q.png", _png_header(side, side), "image/png")}
    )
    assert response.status_code == 413 and "pixels" in response.json()["error"]


def test_an_upload_under_the_bounds_reaches_the_search(client):
    response = client.post(
        "/api/search/composed", data={"text": "x"}, files={"image": ("q.png", _png_header(64, 64), "image/png")}
    )
    assert (
        response.status_code == 400
        and "no image vectors" in response.json()["error"]
        and "rsq-upload" not in response.text
    )


READ_ONLY_SEARCH = """
import sys
from fastapi.testclient import TestClient
from rsq.query import Searcher
from rsq.serve.app import create_app
client = TestClient(create_app(Searcher(sys.argv[1])))
response = client.get("/api/search", params={"q": "planes at an airport", "k": 3})
print(response.status_code, response.text)
"""


def _without_write_rights() -> list[str]:
    """The command prefix that runs without the power to write read-only files: none for a user; for root, no
    DAC capabilities (setpriv), else the test is skipped (chmod does not bind root)."""
    if os.geteuid() != 0:
        return []
    drop = [
        "setpriv",
        "--inh-caps",
        "-dac_override,-dac_read_search",
        "--bounding-set",
        "-dac_override,-dac_read_search",
    ]
    if not shutil.which("setpriv") or subprocess.run([*drop, "true"], capture_output=True, check=False).returncode != 0:
        pytest.skip("running as root, where chmod does not bind")
    return drop


def test_a_read_only_index_is_searchable(serving_index_copy):
    prefix = _without_write_rights()
    subprocess.run(["chmod", "-R", "a-w", str(serving_index_copy)], check=True)
    try:
        run = subprocess.run(
            [*prefix, sys.executable, "-c", READ_ONLY_SEARCH, str(serving_index_copy)],
            capture_output=True,
            check=False,
            text=True,
            timeout=120,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])},
        )
        assert run.stdout.startswith("200 ") and '"id":"196"' in run.stdout, run.stdout + run.stderr
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(serving_index_copy)], check=True)


BOUNDED = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)


def _fuzz(app, *headers: dict[str, str]) -> None:
    """Each operation of the app's OpenAPI document: a bounded number of cases, positive and negative (and for tile
    routes, of a real tile too), each sent with each of `headers` and its answer checked: no 5xx; status, media type,
    headers and body as documented. (A plain loop over `@given`: Schemathesis's pytest plugin fails under pytest 9.)"""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    for result in schema.get_all_operations():
        operation = result.ok()
        strategies = [operation.as_strategy(GenerationMode.POSITIVE)]
        if len(operation.query or ()) or len(operation.body or ()):
            strategies.append(
                operation.as_strategy(GenerationMode.NEGATIVE)
            )  # a tile id alone (any text) has no invalid value
        if len(operation.path_parameters or ()):
            strategies.append(operation.as_strategy(path_parameters={"tile_id": "Spain_7370579_S2Hand"}))
        for strategy in strategies:

            @BOUNDED
            @given(case=strategy)
            def check(case) -> None:
                for header in headers:
                    case.call_and_validate(checks=CHECKS, headers=header)

            check()


def test_schemathesis_without_a_token(serving_index):
    _fuzz(create_app(Searcher(serving_index)), {})


def test_schemathesis_with_a_token(serving_index):
    _fuzz(
        create_app(Searcher(serving_index), token=TOKEN),
        {"Authorization": f"bearer {TOKEN}"},
        {"Authorization": "Bearer wrong"},
        {},
    )

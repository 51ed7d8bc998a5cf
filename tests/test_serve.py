"""`rsq serve`'s API against a small real index: the same records as the CLI, paging, filters, GeoJSON,
tile views, composed queries, clear 4xx errors, the token, concurrency and updates while serving."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from cli_output import hit_records, summaries
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from rsq.cli import app as cli
from rsq.query import Searcher
from rsq.serve.app import create_app, public_matched

from serving import FLOOD, live_server


@pytest.fixture(scope="module")
def client(serving_index):
    return TestClient(create_app(Searcher(serving_index)))


def _ids(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [hit["id"] for hit in response.json()["hits"]]


def test_health_and_openapi(client):
    assert client.get("/health").json()["tiles"] == 213
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/search", "/api/search.geojson", "/api/search/composed", "/api/tiles/{tile_id}"} <= set(paths)


def test_search_answers_the_records_of_the_cli(client, serving_index):
    cli_run = CliRunner().invoke(
        cli, ["search", "planes parked at an airport", "--index", str(serving_index), "--json", "--k", "7", "--explain"]
    )
    records = hit_records(cli_run.stdout)  # the API names no server file: no path, caption files by name
    from rsq.query.highlight import highlight_spans

    expected = [  # ... and each hit says which caption words the query matched
        {
            **{k: v for k, v in r.items() if k != "path"},
            "matched": public_matched(r["matched"]),
            "highlight": [list(span) for span in highlight_spans(r["caption"], "planes parked at an airport")],
        }
        for r in records
    ]
    response = client.get("/api/search", params={"q": "planes parked at an airport", "k": 7, "explain": True})
    assert response.json()["hits"] == expected
    assert response.json()["facets"] == summaries(cli_run.stdout)[0]["facets"]


def test_paging_up_to_a_thousand(client):
    whole = _ids(client.get("/api/search", params={"q": "trees", "k": 60}))
    pages = [
        _ids(client.get("/api/search", params={"q": "trees", "k": 20, "offset": offset})) for offset in (0, 20, 40)
    ]
    assert sum(pages, []) == whole and len(whole) == 60
    assert len(_ids(client.get("/api/search", params={"q": "trees", "k": 1000}))) == 213
    refused = client.get("/api/search", params={"q": "trees", "k": 500, "offset": 501})
    assert refused.status_code == 400 and "at most 1000" in refused.json()["error"]


def test_filters_and_their_errors(client):
    assert _ids(client.get("/api/search", params={"q": "flood", "sensor": "s1"})) == ["Spain_7370579_S1Hand"]
    assert set(_ids(client.get("/api/search", params={"q": "water", "bbox": "-1.5,37.5,0,38.5"}))) == FLOOD
    assert _ids(client.get("/api/search", params={"q": "harbour", "near": "4.4,51.9,10"})) == ["scene-9/chip-1"]
    for params, message in (
        ({"q": "x", "bbox": "0,10,5,1"}, "bbox wants"),
        ({"q": "x", "mode": "magic"}, "mode must"),
        ({"q": "!!!"}, "empty query"),
        ({"q": "x", "after": "yesterday"}, "after wants"),
        ({"q": "x", "class": "Urban fabrik"}, "class 'Urban fabrik' is not a CORINE Land Cover class"),
    ):
        response = client.get("/api/search", params=params)
        assert response.status_code == 400 and message in response.json()["error"]
    assert client.get("/api/search", params={"q": "x", "k": "many"}).status_code == 400


def test_the_class_filter_paths_and_facets(client):
    answer = client.get("/api/search", params={"q": "flood water", "class": "Water bodies", "k": 50}).json()
    assert FLOOD <= {h["id"] for h in answer["hits"]} and all(
        h["land_cover"][0] == "Water bodies" for h in answer["hits"]
    )
    assert answer["query"]["class"] == "Water bodies"
    facets = answer["facets"]["land_cover"]
    assert facets["hits"] == len(answer["hits"]) and facets["levels"][0]["classes"][0]["count"] == len(answer["hits"])
    everything = client.get("/api/search", params={"q": "trees", "k": 1000}).json()
    level1 = {c["code"]: c["count"] for c in everything["facets"]["land_cover"]["levels"][0]["classes"]}
    assert sum(level1.values()) + everything["facets"]["land_cover"]["unclassified"] == len(everything["hits"])
    by_code = client.get("/api/search", params={"q": "trees", "k": 1000, "class": "1"}).json()
    assert len(by_code["hits"]) == level1["1"]  # the facet count is what clicking it returns
    collection = client.get("/api/search.geojson", params={"q": "flood", "class": "5"}).json()
    assert {f["id"] for f in collection["features"]} >= FLOOD
    assert all(f["properties"]["land_cover"][0] == "Water bodies" for f in collection["features"])


def test_gdal_reads_the_geojson_with_its_classes_and_facets(client, tmp_path):
    """GDAL's GeoJSON driver (through pyogrio) reads the collection: the facets member is ignored as RFC 7946
    allows, each feature keeps its class path as a string list, features without a place have no geometry."""
    import pyogrio.raw

    path = tmp_path / "hits.geojson"
    path.write_bytes(client.get("/api/search.geojson", params={"q": "flooded farmland", "k": 6}).content)
    meta, _, geometry, fields = pyogrio.raw.read(path)
    columns = dict(zip(meta["fields"], fields, strict=True))
    assert len(columns["id"]) == 6 and "facets" not in columns
    paths = {tile: list(cover) for tile, cover in zip(columns["id"], columns["land_cover"], strict=True)}
    assert paths["Spain_7370579_S1Hand"] == ["Water bodies", "Inland waters"]
    assert sum(g is None for g in geometry) == 4  # the UCM tiles: no footprint


def test_geojson_has_footprints_scores_and_captions(client):
    collection = client.get("/api/search.geojson", params={"q": "flooded farmland", "k": 3}).json()
    assert collection["type"] == "FeatureCollection" and collection["query"]["q"] == "flooded farmland"
    flood = [f for f in collection["features"] if f["id"] in FLOOD]
    assert len(flood) == 2 and all(f["geometry"]["type"] == "Polygon" for f in flood)
    west, south = flood[0]["geometry"]["coordinates"][0][0]
    assert -1 < west < -0.5 and 38 < south < 38.2
    assert all({"rank", "score", "caption", "time"} <= set(f["properties"]) for f in flood)


def test_cli_writes_the_same_geojson(client, serving_index, tmp_path):
    target = tmp_path / "results.geojson"
    result = CliRunner().invoke(
        cli, ["search", "flooded farmland", "--index", str(serving_index), "--k", "3", "--geojson", str(target)]
    )
    assert result.exit_code == 0, result.output
    written = json.loads(target.read_text())
    served = client.get("/api/search.geojson", params={"q": "flooded farmland", "k": 3}).json()
    assert written["features"] == served["features"]


def test_tile_details_views_and_ids_with_slashes(client):
    tile = client.get("/api/tiles/Spain_7370579_S2Hand").json()
    assert tile["sensor"] == "s2" and tile["bounds"] and tile["captions"][0]["template"].startswith("labels@")
    assert tile["captions"][0]["captions"]["land_cover"] and tile["thumbnail"] and not tile["image_vector"]
    thumbnail = client.get("/api/tiles/Spain_7370579_S2Hand/thumbnail")
    assert thumbnail.status_code == 200 and thumbnail.content.startswith(b"\xff\xd8")
    view = client.get("/api/tiles/Spain_7370579_S2Hand/image", params={"size": 64, "view": "false", "fmt": "png"})
    assert view.status_code == 200 and view.content.startswith(b"\x89PNG")
    assert (
        client.get("/api/tiles/scene-9/chip-1")
        .json()["captions"][0]["captions"]["variants"][0]["one_sentence"]
        .startswith("A harbour")
    )
    assert client.get("/api/tiles/scene-9/chip-1/image").status_code == 404  # captions without an image file
    assert client.get("/api/tiles/nope").status_code == 404
    assert client.get("/api/tiles/1/image", params={"size": 5}).status_code == 400


def test_no_path_from_a_request_reaches_the_file_system(client):
    for probe in ("..%2F..%2F..%2Fetc%2Fpasswd", "/etc/passwd", "%2Fetc%2Fpasswd"):
        response = client.get(f"/api/tiles/{probe}/image")
        assert response.status_code == 404 and "root:" not in response.text


def test_composed_queries_are_checked(client):
    response = client.post("/api/search/composed", data={"text": "more trees", "tile_id": "1"})
    assert response.status_code == 400 and "no image vectors" in response.json()["error"]
    assert client.post("/api/search/composed", data={"text": "x"}).status_code == 400
    upload = client.post(
        "/api/search/composed", data={"text": "x"}, files={"image": ("q.exe", b"MZ", "application/octet-stream")}
    )
    assert upload.status_code == 400 and "upload a" in upload.json()["error"]


def test_a_token_guards_the_api(serving_index):
    guarded = TestClient(create_app(Searcher(serving_index), token="s3cret"))
    assert guarded.get("/api/search", params={"q": "river"}).status_code == 401
    assert (
        guarded.get("/api/search", params={"q": "river"}, headers={"Authorization": "Bearer s3cret"}).status_code == 200
    )
    assert guarded.get("/health").status_code == 200


def test_200_concurrent_requests_on_loopback_all_answered_correctly(serving_index):
    queries = [
        "baseball field",
        "a river",
        "storage tanks",
        "tennis court",
        "planes at an airport",
        "flooded farmland",
        "beach",
        "forest",
    ]
    index = Searcher(serving_index)
    expected = {
        q: [h.id for h in index.search(__import__("rsq.query", fromlist=["SearchQuery"]).SearchQuery(q, k=10))]
        for q in queries
    }
    with live_server(create_app(index)) as url, httpx.Client(base_url=url, timeout=60) as http:

        def ask(n: int) -> tuple[str, list[str], float]:
            started = time.perf_counter()
            response = http.get("/api/search", params={"q": queries[n % len(queries)], "k": 10})
            return queries[n % len(queries)], _ids(response), time.perf_counter() - started

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=50) as pool:
            answers = list(pool.map(ask, range(200)))
        elapsed = time.perf_counter() - started
    assert all(ids == expected[query] for query, ids, _ in answers)
    assert elapsed < 60


def test_an_update_published_while_serving_is_picked_up(serving_index_copy):
    from rsq.textindex.build import BuildOptions, index_records

    from fakes import caption_record

    serving_index = serving_index_copy
    client = TestClient(create_app(Searcher(serving_index)))
    before = client.get("/health").json()["generation"]
    assert "volcano-1" not in _ids(client.get("/api/search", params={"q": "volcano erupting"}))
    flood_file = {**Searcher(serving_index).snapshot.tile_record("Spain_7370579_S1Hand"), "id": "volcano-1"}
    record = caption_record("volcano-1", ["A volcano erupting with a plume of ash."], tile=flood_file)
    index_records([record], serving_index, None, BuildOptions(thumbnails=False))
    assert client.get("/health").json()["generation"] > before
    assert _ids(client.get("/api/search", params={"q": "volcano erupting", "k": 1})) == ["volcano-1"]
    rendered = client.get("/api/tiles/volcano-1/thumbnail")  # indexed without a thumbnail: rendered from its file
    assert rendered.status_code == 200 and rendered.content.startswith(b"\xff\xd8")

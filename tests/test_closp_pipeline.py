"""CLOSP end to end on the shared data: train (tiny), reload, index image vectors, search, compose, tag, evaluate."""

import json

import numpy as np
import pytest
from cli_output import hit_records
from typer.testing import CliRunner

from rsq.captioner.schema import parse_captions
from rsq.captioner.store import CaptionStore
from rsq.cli import app
from rsq.closp.checkpoint import load_caption_bank, load_checkpoint
from rsq.closp.encoder import ClospEncoder
from rsq.imagery import read_tile
from rsq.landcover import corine
from rsq.query import Searcher, SearchQuery, parse_filters
from rsq.query.searcher import GEO_WEIGHT
from rsq.sources import list_tiles

pytestmark = pytest.mark.model
runner = CliRunner()


@pytest.fixture(scope="module")
def image_index(checkpoint, data_dir, tmp_path_factory):
    from conftest import import_annotations

    root = tmp_path_factory.mktemp("img-index")
    ucm = import_annotations("data:ucm:test", data_dir / "ucm-captions" / "captions.jsonl", root / "ucm", data_dir)
    labels = root / "labels.csv"
    labels.write_text("image,labels\nSpain_7370579_S1Hand.tif,flood;water\nSpain_7370579_S2Hand.tif,flood;farmland\n")
    flood = import_annotations("data:sen1floods11", labels, root / "flood", data_dir, template="labels")
    out = root / "index"
    args = [
        "index",
        str(ucm),
        str(flood),
        "--out",
        str(out),
        "--images",
        "--image-encoder",
        f"closp:{checkpoint}",
        "--no-thumbnails",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return out


def test_checkpoint_has_every_tower_and_reloads_to_identical_outputs(checkpoint, data_dir):
    assert (checkpoint / "model.safetensors").is_file()
    config = json.loads((checkpoint / "config.json").read_text())
    assert config["sensors"] == ["rgb", "s1", "s2"] and config["geo"] is True
    assert config["encode_size"] == 48 and config["trained_on"] == [
        "ucm:train",
        "sen1floods11",
    ]  # encoded at the training crop size
    assert set(config["input_stats"]) == {"rgb", "s1", "s2"} and len(config["input_stats"]["s2"][0]) == 13
    tiles = [
        read_tile(r.path, r.id)
        for r in list_tiles("data:sen1floods11", data_dir) + list_tiles("data:ucm:test", data_dir)[:3]
    ]
    first, errors = ClospEncoder(f"closp:{checkpoint}").encode_tiles(tiles)
    second, _ = ClospEncoder(f"closp:{checkpoint}").encode_tiles(tiles)
    assert errors == [None] * 5 and np.array_equal(first, second)
    assert np.allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    assert load_checkpoint(checkpoint).location is not None


def test_image_mode_and_hybrid_use_the_image_vectors(image_index, checkpoint):
    index = Searcher(image_index)
    assert index.manifest.image_encoder == f"closp:{checkpoint}" and index.manifest.counts["images"] == 212
    hits = index.search(SearchQuery("flood water", k=5, mode="image"))
    assert len(hits) == 5 and set(hits[0].scores) == {"image", "fused"}
    assert all(h.caption for h in hits)  # image-mode hits still show one of the tile's captions
    hybrid = index.search(SearchQuery("flood", k=3, mode="hybrid"))
    assert "image" in hybrid[0].scores and hybrid[0].id.startswith("Spain_7370579")


def test_image_towers_share_the_index_text_space(image_index, checkpoint):
    """Trained against the index embedder's caption vectors: one query vector searches captions and images,
    and a text search never loads a second text model (nor the CLOSP checkpoint)."""
    from rsq.encoders import default_embedder

    assert json.loads((checkpoint / "config.json").read_text())["text_space"] == default_embedder()
    index = Searcher(image_index)
    assert index.manifest.image_text_space == index.manifest.embedder and index.shared_text_space
    hits = index.search(SearchQuery("a river through a forest", k=5, mode="image"))
    query = index.embedder.encode(["a river through a forest"])[0]
    stored = np.stack([index.snapshot.image_vector(h.id) for h in hits])
    assert [h.scores["image"] for h in hits] == pytest.approx(stored @ query, abs=1e-4)
    assert index._image_encoder is None  # the image towers were never needed for a text query


def test_legacy_and_published_checkpoints_keep_the_cls_text_space(checkpoint, tmp_path):
    from rsq.closp.config import ClospConfig

    legacy = json.loads((checkpoint / "config.json").read_text())
    legacy.pop("text_space")
    (tmp_path / "config.json").write_text(
        json.dumps(legacy | {"text_model": "sentence-transformers/all-MiniLM-L6-v2", "max_tokens": 64})
    )
    assert ClospConfig.read(tmp_path).text_space == "closp-cls:sentence-transformers/all-MiniLM-L6-v2"


def test_image_mode_filters_by_land_cover_class(image_index):
    """Image rows carry the class their tile's captions give, so `--class` filters inside FAISS in image mode too."""
    index = Searcher(image_index)
    for wanted, first in (("Water bodies", "Water bodies"), ("Artificial surfaces", "Artificial surfaces")):
        hits = index.search(SearchQuery("flood water", k=50, mode="image", filters=parse_filters(land_cover=wanted)))
        assert hits and all(h.land_cover[0] == first for h in hits)
    water = index.search(SearchQuery("x", k=50, mode="image", filters=parse_filters(land_cover="5")))
    assert {h.id for h in water} >= {"Spain_7370579_S1Hand"}  # labelled flood;water: Inland waters
    hybrid = index.search(SearchQuery("flood", k=50, filters=parse_filters(land_cover="Forests")))
    assert hybrid and all(h.land_cover[:2] == ["Forest and semi natural areas", "Forests"] for h in hybrid)


def test_geoclosp_near_adds_the_location_similarity(image_index):
    index = Searcher(image_index)
    plain = {
        h.id: h.score for h in index.search(SearchQuery("flood", k=2, mode="image", filters=parse_filters(sensor="s1")))
    }
    near = index.search(SearchQuery("flood", k=2, mode="image", filters=parse_filters(near="-0.76,38.1,20")))
    encoder = index.image_encoder
    location = encoder.encode_location(-0.76, 38.1)
    s1 = index.snapshot.image_vector("Spain_7370579_S1Hand")
    expected = plain["Spain_7370579_S1Hand"] + GEO_WEIGHT * float(s1 @ location)
    assert {h.id: h.score for h in near}["Spain_7370579_S1Hand"] == pytest.approx(expected, abs=1e-5)


def test_composed_query_from_the_cli(image_index, data_dir):
    query = data_dir / "ucm-captions" / "images" / "1991.jpg"  # a test tile
    args = [
        "search",
        "with more trees",
        "--image",
        str(query),
        "--lam",
        "0.0",
        "--index",
        str(image_index),
        "--json",
        "--k",
        "1",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert hit_records(result.stdout)[0]["id"] == "1991"  # lam 0: the query image itself is the nearest
    no_images = runner.invoke(app, ["search", "x", "--mode", "image", "--index", str(image_index.parent / "ucm")])
    assert no_images.exit_code == 2


def test_tagger_writes_schema_valid_captions_for_the_ucm_test_tiles(checkpoint, data_dir, tmp_path):
    out = tmp_path / "tags"
    args = [
        "caption",
        "data:ucm:test",
        "data:sen1floods11",
        "--model",
        f"closp:{checkpoint}",
        "--out",
        str(out),
        "--variants",
        "3",
        "--data",
        str(data_dir),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    records = list(CaptionStore(out).records())
    assert len(records) == 212 and all(r.status == "ok" for r in records)
    captions = parse_captions(records[0].raw)
    assert len(captions.variants) == 3 and len(captions.land_cover) == 3
    assert sum(c.share for c in captions.land_cover) == pytest.approx(1.0, abs=0.01)
    top = corine().mapped("closp", captions.land_cover[0].name)  # the tagger's best phrase, mapped onto CORINE
    assert captions.land_cover_path == [node.name for node in top]
    bank, vectors = load_caption_bank(checkpoint)
    assert len(bank) == len(vectors) > 10 and {v.one_sentence for v in captions.variants} <= set(bank)


def _eval_results(benchmark: str, checkpoint, data_dir, out, *extra: str) -> dict:
    """`rsq eval BENCHMARK --image-encoder closp:CKPT` at one alpha; its results.json."""
    args = [
        "eval",
        benchmark,
        "--image-encoder",
        f"closp:{checkpoint}",
        *extra,
        "--alphas",
        "0.5",
        "--out",
        str(out),
        "--data",
        str(data_dir),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return json.loads((out / "results.json").read_text())


def test_eval_ucm_archive_indexes_tagger_captions_and_image_vectors(checkpoint, data_dir, tmp_path):
    results = _eval_results("ucm-archive", checkpoint, data_dir, tmp_path, "--split", "val", "--sample", "21")
    assert {"bm25", "dense", "image", "hybrid", "hybrid_text"} <= set(results["modes"])
    assert {"R@1", "mR", "class nDCG@10", "class mAP"} <= set(results["modes"]["hybrid"])
    assert results["config"]["split"] == "val" and results["config"]["tiles"] == 21
    assert results["config"]["index_manifest"]["counts"]["images"] == 21


def test_eval_ucm_archive_refuses_a_split_the_checkpoint_trained_on(checkpoint, data_dir, tmp_path):
    args = [
        "eval",
        "ucm-archive",
        "--split",
        "train",
        "--image-encoder",
        f"closp:{checkpoint}",
        "--out",
        str(tmp_path),
        "--data",
        str(data_dir),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "trained on the UCM train split" in result.output
    missing = runner.invoke(app, ["eval", "ucm-archive", "--out", str(tmp_path), "--data", str(data_dir)])
    assert missing.exit_code == 2 and "needs --image-encoder" in missing.output


def test_eval_ucm_t2i_image_and_hybrid(checkpoint, data_dir, tmp_path):
    results = _eval_results("ucm-t2i", checkpoint, data_dir, tmp_path, "--modes", "image,hybrid", "--limit", "30")
    assert set(results["modes"]) == {"image", "hybrid"}
    assert {"R@1", "i2t_R@1", "mR"} <= set(results["modes"]["image"])
    assert results["config"]["image_encoder"] == f"closp:{checkpoint}"


def test_scenes_captioned_as_chips_read_in_place_and_indexed(checkpoint, data_dir, tmp_path):
    """`rsq caption --chip`: each scene becomes windows with their own footprints; tagged, indexed, and found by
    place."""
    out, index = tmp_path / "chips", tmp_path / "index"
    args = [
        "caption",
        "data:sen1floods11",
        "--chip",
        "256",
        "--model",
        f"closp:{checkpoint}",
        "--out",
        str(out),
        "--data",
        str(data_dir),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    records = list(CaptionStore(out).records())
    assert (
        sorted(r.tile_id for r in records)[:2] == ["Spain_7370579_S1Hand@r0c0", "Spain_7370579_S1Hand@r0c256"]
        and len(records) == 8
    )
    assert {tuple(r.tile["window"]) for r in records} == {
        (0, 0, 256, 256),
        (256, 0, 256, 256),
        (0, 256, 256, 256),
        (256, 256, 256, 256),
    }
    assert runner.invoke(app, ["index", str(out), "--out", str(index), "--no-thumbnails"]).exit_code == 0
    west, south, east, north = next(r.tile["bounds"] for r in records if r.tile_id.endswith("@r0c0"))
    box = parse_filters(bbox=f"{west + 1e-4},{south + 1e-4},{west + 2e-4},{south + 2e-4}")
    hits = Searcher(index).search(SearchQuery("flood water", k=10, filters=box))
    assert {h.id.split("@")[1] for h in hits} == {"r0c0"} and len(hits) == 2  # the S1 and S2 windows at that place
    again = runner.invoke(app, args)
    assert "0 ok, 0 failed, 8 already done" in again.stderr


def test_all_no_data_chips_are_skipped_and_counted(checkpoint, tmp_path):
    from test_imagery_chips import no_data_scene

    scene = no_data_scene(tmp_path / "scene.tif")
    result = runner.invoke(
        app, ["caption", str(scene), "--chip", "64", "--model", f"closp:{checkpoint}", "--out", str(tmp_path / "run")]
    )
    assert result.exit_code == 0, result.output
    assert "3 ok, 0 failed, 0 already done, 1 all-no-data chips skipped" in result.stderr
    assert sorted(r.tile_id.split("@")[1] for r in CaptionStore(tmp_path / "run").records()) == [
        "r0c64",
        "r64c0",
        "r64c64",
    ]


def test_the_api_sends_composed_hits_with_their_footprints(image_index):
    """The page maps composed results from the answer itself (no request per hit): each hit carries the geometry
    the search GeoJSON gives the same tile, and the caption spans its text matched."""
    from fastapi.testclient import TestClient

    from rsq.serve.app import create_app

    client = TestClient(create_app(Searcher(image_index)))
    answer = client.post(
        "/api/search/composed", data={"tile_id": "Spain_7370579_S2Hand", "text": "flood", "lam": "0.5"}
    )
    assert answer.status_code == 200, answer.text
    hits = {hit["id"]: hit for hit in answer.json()["hits"]}
    flood = hits["Spain_7370579_S2Hand"]
    geojson = client.get("/api/search.geojson", params={"q": "flood", "k": 5}).json()
    mapped = {f["id"]: f["geometry"] for f in geojson["features"]}
    assert flood["geometry"]["type"] == "Polygon" and flood["geometry"] == mapped["Spain_7370579_S2Hand"]
    assert all(hit["geometry"] is None for key, hit in hits.items() if key[0].isdigit())  # UCM tiles have no place
    assert [flood["caption"][a:b].lower() for a, b in flood["highlight"]] == ["flood"] * len(flood["highlight"]) != []

"""CISEN over rsq's CLOSP towers: `rsq train cisen`, the `cisen:` encoder wherever `closp:` goes (index image
vectors, image mode, composed queries, the tagger), and `rsq eval ucm-hier` with its baseline in the same run."""

import json

import numpy as np
import pytest
import torch
from cli_output import hit_records
from typer.testing import CliRunner

from rsq.captioner.schema import parse_captions
from rsq.captioner.store import CaptionStore
from rsq.cli import app
from rsq.closp.checkpoint import load_checkpoint
from rsq.closp.cisen import CisenConfig, CisenModel, level_targets, load_cisen
from rsq.closp.encoder import ClospEncoder
from rsq.eval.hierarchy import _gains
from rsq.imagery import read_tile
from rsq.query import Searcher, SearchQuery, parse_filters

runner = CliRunner()


@pytest.fixture(scope="module")
def cisen(checkpoint, data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("cisen") / "head"
    args = ["train", "cisen", "--closp", str(checkpoint), "--out", str(out), "--data", str(data_dir)]
    result = runner.invoke(app, [*args, "--limit", "96", "--epochs", "3", "--views", "2", "--hidden", "64"])
    assert result.exit_code == 0, result.output
    return out


def test_the_folder_is_a_complete_encoder_and_names_what_it_saw(cisen, checkpoint):
    config = json.loads((cisen / "cisen.json").read_text())
    assert config["sensors"] == ["rgb"] and config["classes"] == [5, 15, 44] and config["widths"] == [32, 64, 128, 256]
    assert "ucm:train" in config["trained_on"] and "sen1floods11" in config["trained_on"]
    assert (cisen / "base" / "model.safetensors").read_bytes() == (checkpoint / "model.safetensors").read_bytes()
    encoder = ClospEncoder(f"cisen:{cisen}")
    assert encoder.text_space == ClospEncoder(f"closp:{checkpoint}").text_space and encoder.has_location


def test_an_untrained_head_is_exactly_its_closp_tower(checkpoint):
    """V2TMap starts at zero: before training, CISEN's vector is the tower's own."""
    base = load_checkpoint(checkpoint)
    model = CisenModel(base, CisenConfig(widths=base.config.widths, embed_dim=base.config.embed_dim, hidden=32)).eval()
    images = torch.rand(3, 3, 48, 48)
    with torch.inference_mode():
        assert torch.allclose(model.encode_images("rgb", images), base.encode_images("rgb", images), atol=1e-6)
        sar = torch.rand(2, 2, 48, 48)
        assert torch.equal(model.encode_images("s1", sar), base.encode_images("s1", sar))  # no head: the tower


def test_trained_heads_move_optical_vectors_and_keep_the_other_towers(cisen, checkpoint, s1_path, data_dir):
    model, base = load_cisen(cisen), load_checkpoint(checkpoint)
    cisen_encoder, closp_encoder = ClospEncoder(f"cisen:{cisen}"), ClospEncoder(f"closp:{checkpoint}")
    tiles = [read_tile(data_dir / "ucm-captions" / "images" / "1991.jpg", "1991"), read_tile(s1_path)]
    moved, _ = cisen_encoder.encode_tiles(tiles)
    plain, _ = closp_encoder.encode_tiles(tiles)
    assert np.allclose(np.linalg.norm(moved, axis=1), 1, atol=1e-5)
    assert not np.allclose(moved[0], plain[0], atol=1e-4)  # the optical tower has a head
    assert np.allclose(moved[1], plain[1], atol=1e-6)  # S1 keeps its CLOSP tower
    assert set(model.heads) == {"rgb"} and set(model.towers) == set(base.towers)


def test_level_targets_follow_the_hierarchy():
    targets = level_targets(["112", "31", "5", ""]).tolist()
    assert targets[0][0] == 0 and targets[0][2] >= 0 and targets[1][2] == -100 and targets[2][1:] == [-100, -100]
    assert targets[3] == [-100, -100, -100]


def test_graded_positives_weigh_the_levels_two_tiles_share():
    from rsq.closp.cisen_train import shared_levels

    levels = level_targets(["112", "111", "31", "311"])
    shared = shared_levels(levels).tolist()
    assert shared[0] == pytest.approx([1.0, 2 / 3, 0.0, 0.0]) and shared[2] == [0.0, 0.0, 1.0, 1.0]  # 31: two levels
    assert shared[3][2] == pytest.approx(2 / 3)


def test_wmap_gains_share_the_query_levels():
    """A query of class 112: another 112 tile weighs 1, a 111 tile 2/3, an airport (124) 1/3, forests 0."""
    assert _gains("112", ["112", "111", "124", "31"]) == {0: 1.0, 1: 2 / 3, 2: 1 / 3}
    assert _gains("31", ["311", "31", "32"]) == {0: 1.0, 1: 1.0, 2: 0.5}


def test_cisen_indexes_searches_composes_and_tags(cisen, data_dir, tmp_path):
    from conftest import import_annotations

    ucm = import_annotations("data:ucm:test", data_dir / "ucm-captions" / "captions.jsonl", tmp_path / "ucm", data_dir)
    out = tmp_path / "index"
    args = ["index", str(ucm), "--out", str(out), "--images", "--image-encoder", f"cisen:{cisen}", "--no-thumbnails"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    index = Searcher(out)
    assert index.manifest.image_encoder == f"cisen:{cisen}"
    hits = index.search(SearchQuery("a river", k=5, mode="image", filters=parse_filters(land_cover="Water bodies")))
    assert hits and all(h.land_cover[0] == "Water bodies" for h in hits)
    query = data_dir / "ucm-captions" / "images" / "1991.jpg"
    composed = runner.invoke(app, ["search", "x", "--image", str(query), "--lam", "0", "--index", str(out), "--json"])
    assert composed.exit_code == 0 and hit_records(composed.stdout)[0]["id"] == "1991"
    tags = tmp_path / "tags"
    args = ["caption", "data:ucm:test", "--model", f"cisen:{cisen}", "--out", str(tags), "--data", str(data_dir)]
    assert runner.invoke(app, [*args, "--limit", "4"]).exit_code == 0
    records = list(CaptionStore(tags).records())
    assert len(records) == 4 and all(r.status == "ok" and r.model == f"cisen:{cisen}" for r in records)
    assert parse_captions(records[0].raw).land_cover_path


def test_eval_ucm_hier_measures_the_head_beside_its_baseline(cisen, data_dir, tmp_path):
    args = ["eval", "ucm-hier", "--image-encoder", f"cisen:{cisen}", "--data", str(data_dir), "--out", str(tmp_path)]
    result = runner.invoke(app, [*args, "--sample", "42"])
    assert result.exit_code == 0, result.output
    run = json.loads((tmp_path / "results.json").read_text())
    assert set(run["modes"]) == {"cisen", "closp (baseline)"} and run["config"]["queries"] == 42 * 5
    for metrics in run["modes"].values():
        assert set(metrics) == {"WMAP@5", "t2i_R@1", "t2i_R@5", "t2i_R@10", "mR"}
        assert 0 <= metrics["t2i_R@1"] <= metrics["t2i_R@5"] <= metrics["t2i_R@10"] <= 100
        assert 0 < metrics["WMAP@5"] <= 100
    seen = runner.invoke(app, [*args, "--split", "train"])
    assert seen.exit_code == 2 and "was trained on the UCM train split" in seen.output
    missing = runner.invoke(app, ["eval", "ucm-hier", "--data", str(data_dir), "--out", str(tmp_path)])
    assert missing.exit_code == 2 and "needs --image-encoder" in missing.output

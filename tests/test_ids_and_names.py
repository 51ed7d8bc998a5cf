"""Ids and names as archives really have them: file names that are not UTF-8, lone surrogates in manifests, a
listed id that a --chip window would also take, and rasterio read from several threads at once."""

import json
import os
import shutil
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from rsq.captioner.store import CaptionStore
from rsq.cli import app

runner = CliRunner()
NOT_UTF8 = os.fsdecode(b"\xff\xfe.jpg")


@pytest.fixture()
def folder(data_dir, tmp_path):
    """Two UCM tiles, one named in UTF-8 and one named by bytes that are not UTF-8."""
    root = tmp_path / "tiles"
    root.mkdir()
    shutil.copy(data_dir / "ucm-captions" / "images" / "7.jpg", root / "good.jpg")
    shutil.copy(data_dir / "ucm-captions" / "images" / "8.jpg", root / NOT_UTF8)
    return root


def caption(source, out, checkpoint, *extra):
    return runner.invoke(app, ["caption", str(source), "--out", str(out), "--model", f"closp:{checkpoint}", *extra])


def stored(out) -> dict[str, str]:
    return {r.tile_id: r.tile_path for r in CaptionStore(out).records()}


def test_a_file_name_that_is_not_utf8_is_skipped_and_the_others_stored(folder, checkpoint, tmp_path):
    result = caption(folder, tmp_path / "out", checkpoint)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "1 ok, 1 failed" in result.stderr
    assert "b'\\xff\\xfe.jpg' is not valid UTF-8" in result.stderr
    assert list(stored(tmp_path / "out")) == ["good.jpg"]


def test_manifest_ids_and_paths_that_utf8_cannot_hold_are_skipped(folder, checkpoint, tmp_path):
    manifest = folder / "tiles.jsonl"
    lines = [
        '{"id": "lone\\ud800", "path": "good.jpg"}',
        '{"id": "fine", "path": "good.jpg"}',
        '{"id": "raw", "path": "\\udcff\\udcfe.jpg"}',
    ]
    manifest.write_text("\n".join(lines) + "\n")
    result = caption(manifest, tmp_path / "out", checkpoint)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "1 ok, 2 failed" in result.stderr
    assert "tile id 'lone\\ud800' is not valid UTF-8" in result.stderr and "path b'" in result.stderr
    assert list(stored(tmp_path / "out")) == ["fine"]


def test_tiles_info_lists_the_readable_files_and_names_the_other(folder):
    result = runner.invoke(app, ["tiles", "info", str(folder), "--json"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == ["good.jpg"]
    assert "is not valid UTF-8" in result.stderr


def test_a_chip_window_never_replaces_a_listed_tile_of_its_id(data_dir, s2_path, checkpoint, tmp_path):
    """`scene` cut into 4 windows beside a listed tile `scene@r0c0`: the listed tile keeps its id and its record,
    the window is counted as failed and named, and a rerun finds the same."""
    manifest = tmp_path / "tiles.jsonl"
    ucm = data_dir / "ucm-captions" / "images" / "7.jpg"
    manifest.write_text(
        json.dumps({"id": "scene", "path": str(s2_path)})
        + "\n"
        + json.dumps({"id": "scene@r0c0", "path": str(ucm)})
        + "\n"
    )
    first = caption(manifest, tmp_path / "out", checkpoint, "--chip", "256")
    assert first.exit_code == 1, first.output
    assert "4 ok, 1 failed" in first.stderr and "chip window 'scene@r0c0' has the id of a listed tile" in first.stderr
    records = stored(tmp_path / "out")
    assert sorted(records) == ["scene@r0c0", "scene@r0c256", "scene@r256c0", "scene@r256c256"]
    assert records["scene@r0c0"] == str(ucm)
    again = caption(manifest, tmp_path / "out", checkpoint, "--chip", "256")
    assert again.exit_code == 1 and "0 ok, 1 failed, 4 already done" in again.stderr


def test_a_jpeg_and_a_geotiff_chipped_on_fresh_threads_all_read(data_dir, s2_path, checkpoint, tmp_path):
    """A fresh interpreter whose first rasterio import happens while worker threads read (the import race that
    failed `--chip` runs with `cannot import name guard_transform`)."""
    folder = tmp_path / "mixed"
    folder.mkdir()
    shutil.copy(data_dir / "ucm-captions" / "images" / "7.jpg", folder / "a.jpg")
    shutil.copy(s2_path, folder / "b.tif")
    args = [
        sys.executable,
        "-m",
        "rsq",
        "caption",
        str(folder),
        "--chip",
        "32",
        "--workers",
        "8",
        "--out",
        str(tmp_path / "out"),
        "--model",
        f"closp:{checkpoint}",
    ]
    result = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert " 0 failed" in result.stderr and "guard_transform" not in result.stderr

"""`--engine ray` on a local Ray with 2 CPUs and the tiny hf model."""

import pytest
from typer.testing import CliRunner

from rsq.captioner.store import CaptionStore
from rsq.cli import app

from tiny_vlm import build_tiny_llava

pytestmark = pytest.mark.model
ray = pytest.importorskip("ray")


def test_ray_engine_writes_the_same_records(data_dir, tmp_path):
    model = build_tiny_llava(tmp_path / "llava")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        out = tmp_path / "run"
        args = [
            "caption",
            "data:ucm:test",
            "--limit",
            "8",
            "--engine",
            "ray",
            "--ray-workers",
            "2",
            "--batch-size",
            "2",
            "--model",
            f"hf:{model}",
            "--prompt",
            "brief",
            "--max-new-tokens",
            "400",
            "--data",
            str(data_dir),
            "--out",
            str(out),
        ]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        records = list(CaptionStore(out).records())
        assert len(records) == 8 and len({r.tile_id for r in records}) == 8
        assert all(r.status == "ok" and r.run_id and r.model_revision.startswith("local:") for r in records)
        again = CliRunner().invoke(app, args)
        assert "0 ok, 0 failed, 8 already done" in again.stderr
    finally:
        ray.shutdown()


def test_unreadable_tiles_on_ray_keep_the_model_revision(data_dir, tmp_path):
    """The driver reads no model: a tile it cannot read is recorded with the revision the actors report."""
    import json

    tiles = tmp_path / "tiles"
    tiles.mkdir()
    for name in ("1", "2"):
        (tiles / f"{name}.jpg").write_bytes((data_dir / "ucm-captions" / "images" / f"{name}.jpg").read_bytes())
    (tiles / "broken.jpg").write_bytes(b"not a jpeg")
    notes = tmp_path / "notes.jsonl"
    notes.write_text("".join(json.dumps({"id": f"{n}.jpg", "captions": ["a field"]}) + "\n" for n in ("1", "2")))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        out = tmp_path / "run"
        result = CliRunner().invoke(
            app,
            [
                "caption",
                str(tiles),
                "--engine",
                "ray",
                "--ray-workers",
                "1",
                "--model",
                f"annotations:{notes}",
                "--out",
                str(out),
            ],
        )
        assert result.exit_code == 1 and "2 ok, 1 failed" in result.stderr, result.output
        records = {r.tile_id: r for r in CaptionStore(out).records()}
        assert records["broken.jpg"].status == "failed" and records["1.jpg"].status == "ok"
        assert records["broken.jpg"].model_revision == records["1.jpg"].model_revision != ""
    finally:
        ray.shutdown()

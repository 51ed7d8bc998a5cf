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
            "caption", "data:ucm:test", "--limit", "8", "--engine", "ray", "--ray-workers", "2", "--batch-size", "2",
            "--model", f"hf:{model}", "--prompt", "brief", "--max-new-tokens", "400", "--data", str(data_dir),
            "--out", str(out),
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

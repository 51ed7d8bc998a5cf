"""`--engine ray` on a local Ray that declares fake GPUs: actors ask for GPUs and Ray hands them out; the plan."""

import pytest
from typer.testing import CliRunner

from rsq.captioner.ray_engine import scheme_gpus
from rsq.captioner.store import CaptionStore
from rsq.cli import app
from rsq.errors import RsqError
from rsq.raycluster import ActorPlan, plan_actors
from rsq.textindex.filters import Filters

from fakes import free_gpu_samples

ray = pytest.importorskip("ray")


@pytest.mark.parametrize(
    ("scheme", "workers", "per_actor", "cluster", "plan"),
    [
        ("vllm", None, None, {"CPU": 32, "GPU": 4}, ActorPlan(4, 1.0)),
        ("hf", None, None, {"CPU": 32, "GPU": 8}, ActorPlan(8, 1.0)),
        ("hf", None, None, {"CPU": 16}, ActorPlan(8, 0.0)),
        ("closp", None, None, {"CPU": 2, "GPU": 2}, ActorPlan(1, 0.0)),
        ("vllm", None, 2, {"CPU": 32, "GPU": 8}, ActorPlan(4, 2.0)),
        ("hf", 3, 0.5, {"CPU": 8, "GPU": 2}, ActorPlan(3, 0.5)),
    ],
)
def test_actor_plan_fills_the_cluster(scheme, workers, per_actor, cluster, plan):
    assert plan_actors(scheme_gpus(scheme, cluster), workers, per_actor, cluster, scheme) == plan


@pytest.mark.parametrize(
    ("scheme", "workers", "per_actor", "cluster"),
    [
        ("vllm", None, None, {"CPU": 32}),
        ("hf", 3, 1, {"CPU": 8, "GPU": 2}),
    ],
)
def test_actor_plan_refuses_gpus_the_cluster_lacks(scheme, workers, per_actor, cluster):
    with pytest.raises(RsqError, match="GPU"):
        plan_actors(scheme_gpus(scheme, cluster), workers, per_actor, cluster, scheme)


@pytest.fixture()
def fake_gpu_ray():
    ray.init(num_cpus=2, num_gpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_actors_ask_for_and_receive_gpus(fake_gpu_ray, data_dir, tmp_path):
    """Two actors of one GPU each: both of the cluster's GPUs are held while they run, and each actor checks
    that Ray assigned it a device (it refuses to start otherwise); a rerun resumes."""
    out = tmp_path / "run"
    args = [
        "caption",
        "data:ucm:test",
        "--model",
        f"annotations:{data_dir / 'ucm-captions' / 'captions.jsonl'}",
        "--engine",
        "ray",
        "--ray-gpus-per-actor",
        "1",
        "--batch-size",
        "4",
        "--data",
        str(data_dir),
        "--out",
        str(out),
    ]
    with free_gpu_samples(ray) as held:
        first = CliRunner().invoke(app, [*args, "--limit", "8"])
    assert first.exit_code == 0, first.output
    assert min(held) == 0.0  # both fake GPUs were taken by the two actors
    again = CliRunner().invoke(app, [*args, "--limit", "16"])
    assert again.exit_code == 0, again.output
    assert "8 ok, 0 failed, 8 already done" in again.stderr
    records = list(CaptionStore(out).records())
    assert len(records) == 16 and len({r.tile_id for r in records}) == 16 and all(r.status == "ok" for r in records)


def test_gpus_the_cluster_lacks_are_one_line(data_dir, tmp_path):
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        args = [
            "caption",
            "data:ucm:test",
            "--model",
            f"annotations:{data_dir / 'ucm-captions' / 'captions.jsonl'}",
            "--engine",
            "ray",
            "--ray-gpus-per-actor",
            "1",
            "--data",
            str(data_dir),
            "--out",
            str(tmp_path / "run"),
            "--limit",
            "4",
        ]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2 and "has 0 GPUs" in result.output
        assert not (tmp_path / "run" / "captions.sqlite").exists() or not list(CaptionStore(tmp_path / "run").records())
    finally:
        ray.shutdown()


def test_index_embeds_on_ray_actors_like_the_local_build(ucm_human_store, tmp_path):
    """`rsq index --engine ray` on a local Ray (two CPU actors): the same rows and vectors as the local build."""
    from rsq.query import Searcher

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        outs = {}
        for engine in ("local", "ray"):
            outs[engine] = tmp_path / engine
            args = [
                "index",
                str(ucm_human_store),
                "--out",
                str(outs[engine]),
                "--no-thumbnails",
                "--engine",
                engine,
                "--ray-workers",
                "2",
            ]
            result = CliRunner().invoke(app, args)
            assert result.exit_code == 0, result.output
    finally:
        ray.shutdown()
    local, remote = Searcher(outs["local"]), Searcher(outs["ray"])
    assert local.manifest.counts == remote.manifest.counts
    query = local.embedder.encode(["a river through a forest"])
    [near_local], [near_remote] = (i.snapshot.vector_hits("captions", query, 20, Filters()) for i in (local, remote))
    assert list(near_local.tiles) == list(near_remote.tiles)
    assert abs(near_local.scores - near_remote.scores).max() < 1e-4

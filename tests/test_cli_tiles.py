import json
import subprocess
import sys

from PIL import Image
from typer.testing import CliRunner

from rsq.cli import app

runner = CliRunner()


def test_help_does_not_import_heavy_libraries():
    code = (
        "import sys; from typer.testing import CliRunner; from rsq.cli import app; "
        "r = CliRunner().invoke(app, ['--help']); assert r.exit_code == 0, r.output; "
        "heavy = [m for m in ('torch', 'rasterio', 'transformers', 'PIL') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_info_json_lines_on_real_tiles(data_dir):
    result = runner.invoke(app, ["tiles", "info", "data:sen1floods11", "--json", "--data", str(data_dir)])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["sensor"] for r in records] == ["s1", "s2"]
    assert records[0]["crs"] == "EPSG:4326" and records[0]["time"].startswith("2019-09-17")


def test_info_table_reads_data_from_env(data_dir, monkeypatch):
    monkeypatch.setenv("RSQ_DATA", str(data_dir))
    result = runner.invoke(app, ["tiles", "info", "data:sen1floods11"])
    assert result.exit_code == 0, result.output
    header, *rows = result.stdout.splitlines()
    assert header.split()[:3] == ["id", "sensor", "bands"] and len(rows) == 2
    assert rows[0].split()[:2] == ["Spain_7370579_S1Hand", "s1"] and "EPSG:4326" in rows[1]
    assert rows[1].index("s2") == header.index("sensor")  # columns aligned under their names


def test_info_skips_corrupt_tiles_and_says_so(data_dir, tmp_path):
    (tmp_path / "broken.tif").write_bytes(b"junk")
    good = data_dir / "ucm-captions" / "images" / "1.jpg"
    result = runner.invoke(app, ["tiles", "info", str(tmp_path / "broken.tif"), str(good), "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["id"] == "1.jpg"
    assert result.stderr.startswith(f"skipped broken.tif ({tmp_path / 'broken.tif'}): ")
    assert "Traceback" not in result.output


def test_missing_source_is_one_clear_line(tmp_path):
    result = runner.invoke(app, ["tiles", "info", str(tmp_path / "none.tif")])
    assert result.exit_code == 2
    assert result.stderr.strip().startswith("rsq: error:") and len(result.stderr.strip().splitlines()) == 1


def test_render_views(s1_path, s2_path, tmp_path):
    for path, view in ((s2_path, "true"), (s2_path, "false"), (s1_path, "sar")):
        out = tmp_path / f"{path.stem}-{view}.png"
        result = runner.invoke(app, ["tiles", "render", str(path), "--out", str(out), "--view", view, "--size", "128"])
        assert result.exit_code == 0, result.output
        assert Image.open(out).size == (128, 128)


def test_render_skips_tiles_that_lack_the_view(data_dir, tmp_path):
    result = runner.invoke(app, ["tiles", "render", "data:sen1floods11", "--out", str(tmp_path), "--view", "false"])
    assert result.exit_code == 1
    assert "skipped" in result.stderr and "needs bands" in result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["Spain_7370579_S2Hand.png"]


def test_chip(s2_path, tmp_path):
    result = runner.invoke(app, ["tiles", "chip", str(s2_path), "--size", "256", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert len(result.stdout.split()) == 4 and len(list(tmp_path.glob("*.tif"))) == 4
    bad = runner.invoke(
        app, ["tiles", "chip", str(s2_path), "--size", "256", "--overlap", "300", "--out", str(tmp_path)]
    )
    assert bad.exit_code == 2 and "--overlap" in bad.stderr

"""CPU preparation rate per core for `rsq caption SCENES --chip 512`: what the CPU stage does for each chip before
a GPU sees it, on one core (one process, one thread), measured on real scenes from ../shared/data.

Scenes: the STAC ItemCollection of tests/stac_scenes.py (a Sentinel-2 L2A item of 12 band files at 10/20/60 m,
a Sentinel-1 VV/VH item, a Landsat item of three band files), plus UCM JPEG tiles as the plain-RGB peer.
Stages timed per chip: open + cut (listing the scene's windows and their validity masks, per chip), read +
render (the windowed read of the view's bands and the RGB view), and encode (the JPEG data URL the vLLM path
sends); the peer is what vLLM's own CPU preprocessing then costs per view (JPEG decode + Qwen2-VL processor).
Run: .venv/bin/python bench/scene_preparation.py [--repeats 5] [--out bench/results/scene-preparation.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from rsq.captioner.backends.messages import image_data_url
from rsq.captioner.reading import render_view
from rsq.config import data_root
from rsq.sources import list_tiles, open_tiles

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from stac_scenes import write_scenes  # noqa: E402  (the test suite's scene writer: one definition of the scenes)

CHIP = (512, 0)


def per_chip(refs, chip, repeats: int) -> dict[str, float]:
    """Seconds per chip of each CPU stage (best of `repeats`), and the chips per second of them together."""
    open_s, render_s, encode_s = [], [], []
    for _ in range(repeats):
        started = time.perf_counter()
        tiles, _ = open_tiles(refs, chip)
        open_s.append((time.perf_counter() - started) / len(tiles))
        started = time.perf_counter()
        views = [render_view(tile, True)[1] for tile in tiles]
        render_s.append((time.perf_counter() - started) / len(tiles))
        started = time.perf_counter()
        for view in views:
            image_data_url(view)
        encode_s.append((time.perf_counter() - started) / len(tiles))
    best = {"open_ms": min(open_s) * 1e3, "read_render_ms": min(render_s) * 1e3, "encode_ms": min(encode_s) * 1e3}
    best["chips"] = len(tiles)
    best["chips_per_s_per_core"] = 1e3 / (best["open_ms"] + best["read_render_ms"] + best["encode_ms"])
    return best


def vlm_side_ms(repeats: int) -> float:
    """Per 512 px view, what Ray's vLLM stages then do on a CPU before the GPU: decode the JPEG data URL and run
    the Qwen2-VL image processor (transformers; 36 x 36 patches of 14 px -> 324 visual tokens)."""
    import base64
    import io

    import numpy as np
    import torch
    from PIL import Image
    from transformers import Qwen2VLImageProcessor

    torch.set_num_threads(1)
    url = image_data_url(np.random.default_rng(0).integers(0, 255, (512, 512, 3), dtype=np.uint8))
    processor, times = Qwen2VLImageProcessor(), []
    for _ in range(repeats * 10):
        started = time.perf_counter()
        image = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB")
        processor(images=[image], return_tensors="pt")
        times.append(time.perf_counter() - started)
    return min(times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    data = data_root()
    with tempfile.TemporaryDirectory() as folder:
        refs = list_tiles(str(write_scenes(data, Path(folder))))
        kinds = {
            "sentinel-2 L2A, 12 band files (510 px scene)": ([r for r in refs if r.id.startswith("S2B")], CHIP),
            "sentinel-1 VV+VH, 2 band files (512 px scene)": ([r for r in refs if r.id.startswith("S1A")], CHIP),
            "landsat, 3 band files (2041 x 1860 scene, 16 chips)": ([r for r in refs if r.id.startswith("LC08")], CHIP),
            "UCM RGB JPEG, 256 px tiles (100)": (list_tiles("data:ucm:test", data)[:100], None),
        }
        for refs_of_kind, chip in kinds.values():  # warm the page cache and imports
            per_chip(refs_of_kind, chip, 1)
        results = {name: per_chip(refs_of_kind, chip, args.repeats) for name, (refs_of_kind, chip) in kinds.items()}
    print(f"one core, best of {args.repeats}: ms per chip (open+cut / read+render / JPEG data URL) -> chips/s per core")
    for name, row in results.items():
        print(
            f"{name:55s} {row['open_ms']:6.2f} {row['read_render_ms']:7.2f} {row['encode_ms']:7.2f} -> "
            f"{row['chips_per_s_per_core']:7.1f}"
        )
    vlm = vlm_side_ms(args.repeats)
    print(f"{'peer: JPEG decode + Qwen2-VL image processor (vLLM side)':55s} {vlm:22.2f} -> {1e3 / vlm:7.1f}")
    if args.out:
        args.out.write_text(json.dumps({**results, "vlm_side_ms": vlm}, indent=1))


if __name__ == "__main__":
    main()

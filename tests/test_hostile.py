"""A corpus of hostile inputs, run through the CLI: each ends in one clear error line (exit 2), in per-item
failures that are reported and counted (exit 1), or in success; never in a traceback, and nothing is
ever written outside the folder the user named."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rsq.cli import app

runner = CliRunner()
ERROR, FAILURES, OK = "error", "failures", "ok"


class Workspace:
    """A folder per case: inputs, a deeply nested output folder, and a sentinel folder that must stay absent."""

    def __init__(self, root: Path, data: Path) -> None:
        self.root, self.data = root, data
        self.out = root / "deep" / "deeper" / "out"
        self.outside = root / "outside"

    def file(self, name: str, content: str | bytes) -> str:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return str(path)

    def jsonl(self, name: str, *records) -> str:
        return self.file(name, "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))

    def jpg(self, name: str = "tiles/a.jpg") -> str:
        return self.file(name, (self.data / "ucm-captions" / "images" / "7.jpg").read_bytes())

    def tif(self, name: str = "s2.tif", cut: float = 1.0) -> str:
        raw = (self.data / "sen1floods11" / "Spain_7370579_S2Hand.tif").read_bytes()
        return self.file(name, raw[: int(len(raw) * cut)])

    def stac(self, name: str, items) -> str:
        return self.file(name, json.dumps({"type": "FeatureCollection", "features": items}))

    def item(self, item_id: str, href: str, when: str = "2020-01-01T00:00:00Z") -> dict:
        return {
            "type": "Feature",
            "stac_version": "1.0.0",
            "id": item_id,
            "properties": {"datetime": when},
            "geometry": None,
            "links": [],
            "assets": {"data": {"href": href, "roles": ["data"]}},
        }

    def huge_tif(self) -> str:
        import rasterio
        from rasterio.transform import from_origin

        path = self.root / "huge.tif"
        profile = dict(
            driver="GTiff",
            width=100_000,
            height=100_000,
            count=1,
            dtype="uint8",
            tiled=True,
            blockxsize=256,
            blockysize=256,
            sparse_ok=True,
            transform=from_origin(0, 50, 1e-4, 1e-4),
            crs="EPSG:4326",
        )
        with rasterio.open(path, "w", **profile) as dataset:
            dataset.write(np.ones((1, 256, 256), np.uint8), window=rasterio.windows.Window(0, 0, 256, 256))
        return str(path)

    def bomb_png(self) -> str:
        """A PNG whose header claims 60000 x 60000 pixels."""
        import struct
        import zlib

        def chunk(kind: bytes, data: bytes) -> bytes:
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

        header = struct.pack(">IIBBBBB", 60_000, 60_000, 8, 2, 0, 0, 0)
        return self.file(
            "tiles/bomb.png",
            b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 100))
            + chunk(b"IEND", b""),
        )

    def store(self, name: str = "store") -> str:
        """A real caption store of one tile, imported from a one-line annotation file."""
        tile = self.jpg(f"{name}-tiles/t.jpg")
        notes = self.jsonl(f"{name}.jsonl", {"id": "t.jpg", "captions": ["a field"]})
        result = runner.invoke(
            app, ["caption", str(Path(tile).parent), "--model", f"annotations:{notes}", "--out", str(self.root / name)]
        )
        assert result.exit_code == 0, result.output
        return str(self.root / name)

    def annotations(self, *records) -> tuple[str, str]:
        """Tiles b..g and an annotation file: (tile folder, model spec)."""
        for name in "bcdefg":
            self.jpg(f"ann/{name}.jpg")
        return str(self.root / "ann"), f"annotations:{self.jsonl('notes.jsonl', *records)}"


@dataclass
class Case:
    name: str
    args: Callable[[Workspace], list[str]]
    expect: str


def caption(ws: Workspace, *extra: str) -> list[str]:
    tiles, model = ws.annotations({"id": "b", "captions": ["a field"]})
    return ["caption", tiles, "--model", model, "--out", str(ws.out), *extra]


def search(ws: Workspace, index: Path, *extra: str) -> list[str]:
    return ["search", "--index", str(index), *extra]


CASES = [
    # data-derived output paths stay inside --out
    Case(
        "manifest id absolute",
        lambda ws: [
            "tiles",
            "render",
            ws.jsonl("m.jsonl", {"path": ws.jpg(), "id": str(ws.outside / "x")}),
            "--out",
            str(ws.out),
        ],
        OK,
    ),
    Case(
        "manifest id climbing",
        lambda ws: [
            "tiles",
            "render",
            ws.jsonl("m.jsonl", {"path": ws.jpg(), "id": "../../../outside/x"}),
            "--out",
            str(ws.out),
        ],
        OK,
    ),
    Case(
        "manifest id with NUL",
        lambda ws: ["tiles", "render", ws.jsonl("m.jsonl", {"path": ws.jpg(), "id": "a\u0000b"}), "--out", str(ws.out)],
        OK,
    ),
    Case(
        "manifest id 2000 chars",
        lambda ws: ["tiles", "render", ws.jsonl("m.jsonl", {"path": ws.jpg(), "id": "x" * 2000}), "--out", str(ws.out)],
        OK,
    ),
    Case(
        "stac id climbing",
        lambda ws: [
            "tiles",
            "render",
            ws.stac("s.json", [ws.item("../../../outside/y", ws.jpg())]),
            "--out",
            str(ws.out),
        ],
        OK,
    ),
    Case(
        "link inside out pointing outside",
        lambda ws: [
            "tiles",
            "render",
            ws.jsonl("m.jsonl", {"path": ws.jpg(), "id": "link/x"}),
            "--out",
            str(_linked_out(ws)),
        ],
        FAILURES,
    ),
    # manifests
    Case("manifest line is a list", lambda ws: ["tiles", "info", ws.jsonl("m.jsonl", [1, 2])], ERROR),
    Case("manifest path null", lambda ws: ["tiles", "info", ws.jsonl("m.jsonl", {"path": None})], ERROR),
    Case("manifest path number", lambda ws: ["tiles", "info", ws.jsonl("m.jsonl", {"path": 5})], ERROR),
    Case("manifest path object", lambda ws: ["tiles", "info", ws.jsonl("m.jsonl", {"path": {"a": 1}})], ERROR),
    Case("manifest id list", lambda ws: ["tiles", "info", ws.jsonl("m.jsonl", {"path": ws.jpg(), "id": ["x"]})], ERROR),
    Case("manifest invalid JSON", lambda ws: ["tiles", "info", ws.jsonl("m.jsonl", "{oops")], ERROR),
    Case("manifest without path", lambda ws: ["tiles", "info", ws.jsonl("m.jsonl", {"id": "x"})], ERROR),
    Case("manifest binary", lambda ws: ["tiles", "info", ws.file("m.jsonl", b"\xff\xfe\x00\x81")], ERROR),
    Case("manifest empty", lambda ws: ["tiles", "info", ws.file("m.jsonl", "")], ERROR),
    Case("manifest missing file", lambda ws: ["tiles", "info", ws.jsonl("m.jsonl", {"path": "nowhere.jpg"})], FAILURES),
    Case("empty folder", lambda ws: ["tiles", "info", _folder(ws, "empty")], ERROR),
    Case("symlink loop", lambda ws: ["tiles", "info", _loop(ws)], ERROR),
    Case("glob matching nothing", lambda ws: ["tiles", "info", str(ws.root / "*.nothing")], ERROR),
    Case("path that does not exist", lambda ws: ["tiles", "info", str(ws.root / "nowhere")], ERROR),
    # STAC
    Case("stac not a collection", lambda ws: ["tiles", "info", ws.file("s.json", '{"type": "Foo"}')], ERROR),
    Case("stac a list", lambda ws: ["tiles", "info", ws.file("s.json", "[1, 2]")], ERROR),
    Case(
        "stac features not a list",
        lambda ws: ["tiles", "info", ws.file("s.json", '{"type": "FeatureCollection", "features": 3}')],
        ERROR,
    ),
    Case(
        "stac bad datetime",
        lambda ws: ["tiles", "info", ws.stac("s.json", [ws.item("i", ws.jpg(), "not a date")])],
        ERROR,
    ),
    Case(
        "stac item without assets",
        lambda ws: ["tiles", "info", ws.stac("s.json", [ws.item("i", ws.jpg()) | {"assets": {}}])],
        ERROR,
    ),
    Case("stac binary", lambda ws: ["tiles", "info", ws.file("s.json", b"\x00\xff")], ERROR),
    # tile files
    Case("zero-byte jpeg", lambda ws: ["tiles", "info", ws.file("z.jpg", b"")], FAILURES),
    Case("text named .tif", lambda ws: ["tiles", "info", ws.file("t.tif", "hello")], FAILURES),
    Case(
        "truncated jpeg render",
        lambda ws: ["tiles", "render", ws.file("c.jpg", Path(ws.jpg()).read_bytes()[:1500]), "--out", str(ws.out)],
        FAILURES,
    ),
    Case("truncated tiff render", lambda ws: ["tiles", "render", ws.tif(cut=0.3), "--out", str(ws.out)], FAILURES),
    Case("huge tiff render whole", lambda ws: ["tiles", "render", ws.huge_tif(), "--out", str(ws.out)], FAILURES),
    Case(
        "huge tiff render decimated",
        lambda ws: ["tiles", "render", ws.huge_tif(), "--size", "64", "--out", str(ws.out)],
        OK,
    ),
    Case("png decompression bomb", lambda ws: ["tiles", "render", ws.bomb_png(), "--out", str(ws.out)], FAILURES),
    Case("chip truncated tiff", lambda ws: ["tiles", "chip", ws.tif(cut=0.3), "--out", str(ws.out)], ERROR),
    Case("chip size 0", lambda ws: ["tiles", "chip", ws.tif(), "--size", "0", "--out", str(ws.out)], ERROR),
    Case(
        "chip overlap too large",
        lambda ws: ["tiles", "chip", ws.tif(), "--size", "64", "--overlap", "64", "--out", str(ws.out)],
        ERROR,
    ),
    Case("chip missing scene", lambda ws: ["tiles", "chip", str(ws.root / "none.tif"), "--out", str(ws.out)], ERROR),
    Case("chip out is a file", lambda ws: ["tiles", "chip", ws.tif(), "--out", ws.file("afile", "x")], ERROR),
    Case("render two bands", lambda ws: ["tiles", "render", ws.jpg(), "--bands", "1,2", "--out", str(ws.out)], ERROR),
    Case(
        "render unknown band",
        lambda ws: ["tiles", "render", ws.jpg(), "--bands", "B99,B1,B2", "--out", str(ws.out)],
        FAILURES,
    ),
    Case("render size 0", lambda ws: ["tiles", "render", ws.jpg(), "--size", "0", "--out", str(ws.out)], ERROR),
    Case("render size negative", lambda ws: ["tiles", "render", ws.jpg(), "--size", "-5", "--out", str(ws.out)], ERROR),
    Case("render bad view", lambda ws: ["tiles", "render", ws.jpg(), "--view", "x", "--out", str(ws.out)], ERROR),
    Case(
        "render several into a file",
        lambda ws: ["tiles", "render", ws.jpg("tiles/a.jpg"), ws.jpg("tiles/b.jpg"), "--out", ws.file("o.png", "x")],
        ERROR,
    ),
    # annotation files and records
    Case(
        "annotation records partly bad",
        lambda ws: [
            "caption",
            *_pair(
                ws.annotations(
                    {"id": "b", "captions": [1, 2, 3]},
                    {"id": "c", "captions": None},
                    {"id": "d"},
                    {"id": "e", "captions": "one string"},
                    {"id": "f", "captions": {"a": 1}},
                    {"id": "g", "captions": ["a fine caption"]},
                )
            ),
            "--out",
            str(ws.out),
        ],
        FAILURES,
    ),
    Case(
        "annotation line is a list", lambda ws: ["caption", *_pair(ws.annotations([1, 2])), "--out", str(ws.out)], ERROR
    ),
    Case(
        "coco file is a list",
        lambda ws: ["caption", ws.jpg(), "--model", f"annotations:{ws.file('c.json', '[1]')}", "--out", str(ws.out)],
        ERROR,
    ),
    Case(
        "coco missing keys",
        lambda ws: [
            "caption",
            ws.jpg(),
            "--model",
            f"annotations:{ws.file('c.json', json.dumps({'images': [{'id': 1}], 'annotations': []}))}",
            "--out",
            str(ws.out),
        ],
        ERROR,
    ),
    Case(
        "csv binary",
        lambda ws: [
            "caption",
            ws.jpg(),
            "--model",
            f"annotations:{ws.file('c.csv', bytes([255, 254, 0, 1]))}",
            "--out",
            str(ws.out),
        ],
        ERROR,
    ),
    Case(
        "csv without key column",
        lambda ws: [
            "caption",
            ws.jpg(),
            "--model",
            f"annotations:{ws.file('c.csv', 'x,caption' + chr(10) + '1,hi' + chr(10))}",
            "--out",
            str(ws.out),
        ],
        ERROR,
    ),
    Case(
        "annotation file missing",
        lambda ws: ["caption", ws.jpg(), "--model", f"annotations:{ws.root / 'none.jsonl'}", "--out", str(ws.out)],
        ERROR,
    ),
    Case(
        "annotation file .txt",
        lambda ws: ["caption", ws.jpg(), "--model", f"annotations:{ws.file('n.txt', 'x')}", "--out", str(ws.out)],
        ERROR,
    ),
    Case(
        "annotation file empty",
        lambda ws: ["caption", ws.jpg(), "--model", f"annotations:{ws.file('n.jsonl', '')}", "--out", str(ws.out)],
        FAILURES,
    ),
    # caption options, checked before any work
    Case("backend option unknown", lambda ws: caption(ws, "--backend-opt", "foo=1"), ERROR),
    Case(
        "backend option wrong type",
        lambda ws: [
            "caption",
            ws.jpg(),
            "--model",
            "openai:http://127.0.0.1:9/v1#m",
            "--backend-opt",
            "concurrency=many",
            "--out",
            str(ws.out),
        ],
        ERROR,
    ),
    Case("backend option without =", lambda ws: caption(ws, "--backend-opt", "oops"), ERROR),
    Case("batch size 0", lambda ws: caption(ws, "--batch-size", "0"), ERROR),
    Case("limit -1", lambda ws: caption(ws, "--limit", "-1"), ERROR),
    Case("variants 0", lambda ws: caption(ws, "--variants", "0"), ERROR),
    Case("variants 11", lambda ws: caption(ws, "--variants", "11"), ERROR),
    Case("workers 0", lambda ws: caption(ws, "--workers", "0"), ERROR),
    Case("engine unknown", lambda ws: caption(ws, "--engine", "warp"), ERROR),
    Case("batch size not a number", lambda ws: caption(ws, "--batch-size", "many"), ERROR),
    Case("unknown option", lambda ws: caption(ws, "--frobnicate"), ERROR),
    Case("model scheme unknown", lambda ws: ["caption", ws.jpg(), "--model", "clip:foo", "--out", str(ws.out)], ERROR),
    Case(
        "prompt missing", lambda ws: ["caption", ws.jpg(), "--prompt", "nope", "--out", str(ws.out), "--dry-run"], ERROR
    ),
    Case(
        "template bad YAML",
        lambda ws: [
            "caption",
            ws.jpg(),
            "--prompt",
            ws.file("t.j2", "---\nname: [x\n---\nbody"),
            "--out",
            str(ws.out),
            "--dry-run",
        ],
        ERROR,
    ),
    Case(
        "template bad Jinja",
        lambda ws: [
            "caption",
            ws.jpg(),
            "--prompt",
            ws.file("t.j2", "---\nname: t\n---\n{% for x in %}"),
            "--out",
            str(ws.out),
            "--dry-run",
        ],
        ERROR,
    ),
    Case(
        "template params a list",
        lambda ws: [
            "caption",
            ws.jpg(),
            "--prompt",
            ws.file("t.j2", "---\nname: t\nparams: [1]\n---\nx"),
            "--out",
            str(ws.out),
            "--dry-run",
        ],
        ERROR,
    ),
    Case(
        "template binary",
        lambda ws: ["caption", ws.jpg(), "--prompt", ws.file("t.j2", b"\xff\xfe"), "--out", str(ws.out), "--dry-run"],
        ERROR,
    ),
    Case("caption out is a file", lambda ws: caption(ws)[:-1] + [ws.file("afile", "x")], ERROR),
    Case(
        "caption store not sqlite",
        lambda ws: caption(ws)[:-1] + [str(Path(ws.file("s/captions.sqlite", "not a database")).parent)],
        ERROR,
    ),
    Case("caption store truncated", lambda ws: caption(ws)[:-1] + [_truncated_store(ws)], ERROR),
    Case(
        "captions stats not a store",
        lambda ws: ["captions", "stats", str(Path(ws.file("s/captions.sqlite", "hello")).parent)],
        ERROR,
    ),
    Case("captions export no store", lambda ws: ["captions", "export", str(ws.root)], ERROR),
    Case("captions stats newer schema", lambda ws: ["captions", "stats", _future_store(ws)], ERROR),
    # index
    Case("index faiss unknown", lambda ws: ["index", ws.store(), "--faiss", "hnsw", "--out", str(ws.out)], ERROR),
    Case("index nothing to do", lambda ws: ["index", "--out", str(ws.out)], ERROR),
    Case(
        "index store not sqlite",
        lambda ws: ["index", str(Path(ws.file("s/captions.sqlite", "hello")).parent), "--out", str(ws.out)],
        ERROR,
    ),
    Case("index out is a file", lambda ws: ["index", ws.store(), "--out", ws.file("afile", "x")], ERROR),
    Case(
        "index out a foreign folder",
        lambda ws: ["index", ws.store(), "--out", str(Path(ws.file("mine/photo.jpg", "x")).parent)],
        ERROR,
    ),
    Case("index device unknown", lambda ws: ["index", ws.store(), "--device", "toaster", "--out", str(ws.out)], ERROR),
    # search
    Case("queries binary", lambda ws, index: search(ws, index, "--queries", ws.file("q.txt", b"\x00\xff\xfe")), ERROR),
    Case("queries null", lambda ws, index: search(ws, index, "--queries", ws.jsonl("q.jsonl", {"query": None})), ERROR),
    Case("queries not objects", lambda ws, index: search(ws, index, "--queries", ws.jsonl("q.jsonl", [1])), ERROR),
    Case(
        "queries with a word-less line",
        lambda ws, index: search(ws, index, "--queries", ws.file("q.txt", "baseball field\n!!!\nriver\n")),
        FAILURES,
    ),
    Case("queries file empty", lambda ws, index: search(ws, index, "--queries", ws.file("q.txt", "\n\n")), ERROR),
    Case("k 0", lambda ws, index: search(ws, index, "river", "--k", "0"), ERROR),
    Case("k too large", lambda ws, index: search(ws, index, "river", "--k", "100000"), ERROR),
    Case("sensor nonsense", lambda ws, index: search(ws, index, "river", "--sensor", "nonsense"), ERROR),
    Case("bbox south above north", lambda ws, index: search(ws, index, "river", "--bbox", "0,10,5,1"), ERROR),
    Case("near negative distance", lambda ws, index: search(ws, index, "river", "--near", "0,0,-5"), ERROR),
    Case("latitude 95", lambda ws, index: search(ws, index, "river", "--near", "0,95,5"), ERROR),
    Case(
        "after later than before",
        lambda ws, index: search(ws, index, "river", "--after", "2021-01-01", "--before", "2020-01-01"),
        ERROR,
    ),
    Case(
        "query tile missing", lambda ws, index: search(ws, index, "river", "--image", str(ws.root / "none.tif")), ERROR
    ),
    Case("index missing", lambda ws: ["search", "river", "--index", str(ws.root / "none")], ERROR),
    Case("index damaged", lambda ws: ["search", "river", "--index", _damaged_index(ws)], ERROR),
    # eval and train, checked before minutes of work
    Case("eval limit 0", lambda ws: ["eval", "ucm-t2i", "--limit", "0", "--out", str(ws.out)], ERROR),
    Case("eval modes unknown", lambda ws: ["eval", "rsitmd-t2t", "--modes", "nonsense", "--out", str(ws.out)], ERROR),
    Case("eval alpha above 1", lambda ws: ["eval", "rsitmd-t2t", "--alphas", "0.5,2", "--out", str(ws.out)], ERROR),
    Case("eval out is a file", lambda ws: ["eval", "rsitmd-t2t", "--out", ws.file("afile", "x")], ERROR),
    Case(
        "eval compare malformed",
        lambda ws: ["eval", "compare", ws.file("a.json", '{"benchmark": 1}'), ws.file("b.json", "{}")],
        ERROR,
    ),
    Case("eval rsicd limit negative", lambda ws: ["eval", "rsicd-t2t", "--limit", "-3", "--out", str(ws.out)], ERROR),
    Case(
        "demo data folder missing", lambda ws: ["demo", "--data", str(ws.root / "no-data"), "--out", str(ws.out)], ERROR
    ),
    Case("serve port 0", lambda ws: ["serve", "--port", "0", "--index", str(ws.root / "none")], ERROR),
    Case("serve index missing", lambda ws: ["serve", "--index", str(ws.root / "none")], ERROR),
    Case("serve basemap without {z}", lambda ws: ["serve", "--basemap", "https://tiles.example/x.png"], ERROR),
    Case("serve shards 0", lambda ws: ["serve", "--shards", "0", "--index", str(ws.root / "none")], ERROR),
    Case("serve replicas 0", lambda ws: ["serve", "--shards", "2", "--replicas", "0"], ERROR),
    Case("serve shards of one index", lambda ws, index: ["serve", "--index", str(index), "--shards", "2"], ERROR),
    Case("index shards 0", lambda ws: ["index", ws.store(), "--out", str(ws.out), "--shards", "0"], ERROR),
    Case(
        "index shards into another folder",
        lambda ws: ["index", ws.store(), "--out", str(Path(ws.file("mine/notes.txt", "x")).parent), "--shards", "2"],
        ERROR,
    ),
    Case("models list surplus argument", lambda ws: ["models", "list", "surplus"], ERROR),
    Case("prompts list surplus argument", lambda ws: ["prompts", "list", "surplus"], ERROR),
    Case("prompts diff unknown template", lambda ws: ["prompts", "diff", "structured", "nope"], ERROR),
    Case(
        "eval compare not JSON",
        lambda ws: ["eval", "compare", ws.file("a.json", "nope"), ws.file("b.json", "nope")],
        ERROR,
    ),
    Case(
        "eval compare modes not numbers",
        lambda ws: [
            "eval",
            "compare",
            ws.file("a.json", '{"benchmark": "x", "modes": {"bm25": {"mR": "high"}}}'),
            ws.file("b.json", "{}"),
        ],
        ERROR,
    ),
    Case(
        "train crop above size",
        lambda ws: ["train", "closp", "--out", str(ws.out), "--size", "64", "--crop", "96"],
        ERROR,
    ),
    Case("train batch size 0", lambda ws: ["train", "closp", "--out", str(ws.out), "--batch-size", "0"], ERROR),
    Case("train epochs 0", lambda ws: ["train", "closp", "--out", str(ws.out), "--epochs", "0"], ERROR),
    Case("train out is a file", lambda ws: ["train", "closp", "--out", ws.file("afile", "x")], ERROR),
    Case("train backbone unknown", lambda ws: ["train", "closp", "--out", str(ws.out), "--backbone", "vit"], ERROR),
    Case("train crop scale 0", lambda ws: ["train", "closp", "--out", str(ws.out), "--crop-scale", "0"], ERROR),
    Case("train jitter 1", lambda ws: ["train", "closp", "--out", str(ws.out), "--jitter", "1"], ERROR),
    Case("eval split unknown", lambda ws: ["eval", "ucm-t2i", "--split", "dev", "--out", str(ws.out)], ERROR),
    Case("eval split val on rsitmd", lambda ws: ["eval", "rsitmd-t2t", "--split", "val", "--out", str(ws.out)], ERROR),
    Case("eval sample 0", lambda ws: ["eval", "ucm-class", "--sample", "0", "--out", str(ws.out)], ERROR),
    Case("eval archive without encoder", lambda ws: ["eval", "ucm-archive", "--out", str(ws.out)], ERROR),
    Case("eval hier without encoder", lambda ws: ["eval", "ucm-hier", "--out", str(ws.out)], ERROR),
    Case(
        "eval hier encoder not a folder",
        lambda ws: ["eval", "ucm-hier", "--image-encoder", f"cisen:{ws.root / 'none'}", "--out", str(ws.out)],
        ERROR,
    ),
    Case(
        "train cisen without a checkpoint",
        lambda ws: ["train", "cisen", "--closp", str(ws.root / "none"), "--out", str(ws.out)],
        ERROR,
    ),
    Case(
        "train cisen views 0",
        lambda ws: ["train", "cisen", "--closp", str(ws.root), "--out", str(ws.out), "--views", "0"],
        ERROR,
    ),
    Case(
        "train cisen negative weight",
        lambda ws: ["train", "cisen", "--closp", str(ws.root), "--out", str(ws.out), "--transfer-weight", "-1"],
        ERROR,
    ),
    Case(
        "train cisen out inside the checkpoint",
        lambda ws: ["train", "cisen", "--closp", str(ws.root), "--out", str(ws.root / "head")],
        ERROR,
    ),
    Case(
        "index engine unknown",
        lambda ws: ["index", str(ws.out), "--engine", "spark", "--out", str(ws.root / "idx")],
        ERROR,
    ),
    Case(
        "index ray workers 0",
        lambda ws: ["index", str(ws.out), "--engine", "ray", "--ray-workers", "0", "--out", str(ws.root / "idx")],
        ERROR,
    ),
    Case(
        "caption chip too small", lambda ws: ["caption", str(ws.out), "--chip", "4", "--out", str(ws.root / "c")], ERROR
    ),
    Case(
        "caption overlap not below chip",
        lambda ws: ["caption", str(ws.out), "--chip", "64", "--overlap", "64", "--out", str(ws.root / "c")],
        ERROR,
    ),
    Case(
        "caption ray gpus negative",
        lambda ws: [
            "caption",
            str(ws.out),
            "--engine",
            "ray",
            "--ray-gpus-per-actor",
            "-1",
            "--out",
            str(ws.root / "c"),
        ],
        ERROR,
    ),
    Case("tune epochs 0", lambda ws: ["tune", ws.store(), "--out", str(ws.out), "--epochs", "0"], ERROR),
    Case("tune batch size 1", lambda ws: ["tune", ws.store(), "--out", str(ws.out), "--batch-size", "1"], ERROR),
    Case("tune lr 2", lambda ws: ["tune", ws.store(), "--out", str(ws.out), "--lr", "2"], ERROR),
    Case(
        "tune duplicate threshold 1.5",
        lambda ws: ["tune", ws.store(), "--out", str(ws.out), "--duplicate-threshold", "1.5"],
        ERROR,
    ),
    Case("tune save every 0", lambda ws: ["tune", ws.store(), "--out", str(ws.out), "--save-every", "0"], ERROR),
    Case("tune out is a file", lambda ws: ["tune", ws.store(), "--out", ws.file("afile", "x")], ERROR),
    Case(
        "tune out holds other files",
        lambda ws: ["tune", ws.store(), "--out", str(Path(ws.file("mine/notes.txt", "x")).parent)],
        ERROR,
    ),
    Case("tune store missing", lambda ws: ["tune", str(ws.root / "nope"), "--out", str(ws.out)], ERROR),
    Case("tune store is not a store", lambda ws: ["tune", _folder(ws, "plain"), "--out", str(ws.out)], ERROR),
    Case(
        "tune embedder not st",
        lambda ws: ["tune", ws.store(), "--out", str(ws.out), "--embedder", "onnx-int8:all-MiniLM-L6-v2"],
        ERROR,
    ),
    Case("tune device unknown", lambda ws: ["tune", ws.store(), "--out", str(ws.out), "--device", "tpu"], ERROR),
    Case("tune one tile only", lambda ws: ["tune", ws.store(), "--out", str(ws.out)], ERROR),
    Case("eval queries unknown", lambda ws: ["eval", "ucm-class", "--queries", "dev", "--out", str(ws.out)], ERROR),
    Case("models install unknown", lambda ws: ["models", "install", "word2vec"], ERROR),
    Case("prompts show unknown", lambda ws: ["prompts", "show", "nope"], ERROR),
    Case(
        "prompts render unreadable tile",
        lambda ws: ["prompts", "render", "structured", ws.file("t.tif", "junk")],
        ERROR,
    ),
]


def _pair(pair: tuple[str, str]) -> list[str]:
    tiles, model = pair
    return [tiles, "--model", model]


def _folder(ws: Workspace, name: str) -> str:
    (ws.root / name).mkdir()
    return str(ws.root / name)


def _loop(ws: Workspace) -> str:
    folder = Path(_folder(ws, "loop"))
    os.symlink(folder, folder / "self")
    return str(folder)


def _linked_out(ws: Workspace) -> Path:
    ws.out.mkdir(parents=True)
    ws.outside.mkdir()
    os.symlink(ws.outside, ws.out / "link")
    return ws.out


def _truncated_store(ws: Workspace) -> str:
    store = Path(ws.store("full"))
    raw = (store / "captions.sqlite").read_bytes()
    return str(Path(ws.file("cut/captions.sqlite", raw[:1024])).parent)


def _future_store(ws: Workspace) -> str:
    store = Path(ws.store("future"))
    with sqlite3.connect(store / "captions.sqlite") as db:
        db.execute("PRAGMA user_version = 99")
    return str(store)


def _damaged_index(ws: Workspace) -> str:
    store = ws.store("for-index")
    out = ws.root / "idx"
    assert runner.invoke(app, ["index", store, "--out", str(out), "--no-thumbnails"]).exit_code == 0
    for path in out.glob("data-*/segments/*/vectors.faiss"):
        path.write_bytes(path.read_bytes()[:64])
    return str(out)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hostile_input(case: Case, tmp_path: Path, data_dir: Path, request):
    ws = Workspace(tmp_path, data_dir)
    needs_index = case.args.__code__.co_argcount == 2
    args = case.args(ws, request.getfixturevalue("ucm_index")) if needs_index else case.args(ws)
    result = runner.invoke(app, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), f"traceback: {result.exception!r}"
    errors = [line for line in result.stderr.splitlines() if line.startswith("rsq: error:")]
    if case.expect == ERROR:
        assert result.exit_code == 2 and len(errors) == 1, result.output
        assert errors[0] == result.stderr.strip().splitlines()[-1]
    elif case.expect == FAILURES:
        assert result.exit_code == 1 and not errors, result.output
        assert any(word in result.stderr for word in ("skipped", "failed")), result.stderr
    else:
        assert result.exit_code == 0, result.output
    assert not ws.outside.exists() or not any(ws.outside.iterdir()), "a file was written outside --out"
    if ws.out.exists():
        assert all(path.resolve().is_relative_to(ws.out.resolve()) or path.is_symlink() for path in ws.out.rglob("*"))


def test_every_command_meets_hostile_input(tmp_path, data_dir):
    """Each command of the CLI (and each command of its groups) is run by at least one hostile case, so a new
    command cannot join without its bad inputs."""
    ws = Workspace(tmp_path, data_dir)
    words = set()
    for case in CASES:
        args = case.args(ws, str(tmp_path / "index")) if case.args.__code__.co_argcount == 2 else case.args(ws)
        words |= {tuple(args[:1]), tuple(args[:2])}
    groups = {group.name: group.typer_instance for group in app.registered_groups}
    wanted = {(command.name,) for command in app.registered_commands}
    wanted |= {(name, command.name) for name, group in groups.items() for command in group.registered_commands}
    assert wanted - words == set(), f"commands without a hostile case: {sorted(wanted - words)}"

"""ClospConfig: everything needed to rebuild a CLOSP model, saved as JSON beside its weights."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rsq.encoders import default_embedder
from rsq.errors import RsqError

SENSOR_CHANNELS = {"rgb": 3, "s2": 13, "s1": 2}
CLS_SPACE = "closp-cls:"  # the CLS token of a text model's last layer: the text space of the published CLOSP towers


@dataclass
class ClospConfig:
    sensors: list[str] = field(default_factory=lambda: ["rgb", "s2", "s1"])
    backbone: str = "cnn"  # rsq's small CNN, or timm:<name>
    widths: list[int] = field(default_factory=lambda: [32, 64, 128, 256])
    convs_per_stage: int = 2  # 3x3 conv-BN-ReLU blocks per stage of the small CNN
    input_stats: dict[str, list[list[float]]] = field(default_factory=dict)  # sensor -> [channel means, channel stds]
    embed_dim: int = 384
    image_size: int = 128  # tiles are resized to this for encoding; training crops from it
    crop_size: int = 96
    encode_size: int | None = (
        None  # tiles are encoded at this size (None: image_size); rsq trains at crop_size and encodes there
    )
    text_space: str = field(
        default_factory=default_embedder
    )  # an index embedder spec: image vectors share the space of its caption vectors
    geo: bool = False  # GeoCLOSP: add the location tower
    trained_on: list[str] = field(
        default_factory=list
    )  # e.g. ucm:train, sen1floods11: what an evaluation must not reuse
    harmonics: int = 10  # spherical-harmonic degree L of the location encoder
    siren_hidden: int = 256
    siren_layers: int = 2

    @property
    def input_size(self) -> int:
        """The side tiles are resized to for encoding."""
        return self.encode_size or self.image_size

    def write(self, folder: Path) -> None:
        (folder / "config.json").write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def read(cls, folder: Path) -> ClospConfig:
        try:
            record = json.loads((folder / "config.json").read_text())
            if "text_model" in record:  # written before text spaces: towers trained against the CLS token
                record["text_space"] = CLS_SPACE + record.pop("text_model")
                record.pop("max_tokens", None)
            record.setdefault("convs_per_stage", 1)  # written before two-conv stages
            return cls(**record)
        except (OSError, json.JSONDecodeError, TypeError) as error:
            raise RsqError(f"{folder}: not a CLOSP checkpoint (config.json: {error})") from None

"""CISEN on rsq's own towers (after LuoJiaHOG's CISEN): a head over a frozen CLOSP image tower.

- **HFE** (hierarchical feature enhancement): the tower's stages, pooled, are fused progressively from the
  deepest (coarse, semantic) to the earliest (fine): level 1 of the land-cover hierarchy is predicted from the
  deepest stage, level 2 after the next stage is fused in, level 3 after the earlier two; each level is supervised
  by its CORINE class.
- **V2TMap**: a learned map of the fused features into the text embedder's space, added to the frozen tower's
  own vector (zero at the start, so an untrained head is exactly the CLOSP tower).
- **Dual-path transfer** (rsq/closp/cisen_train.py): the caption vectors of the frozen text embedder are one
  teacher, the frozen CLOSP tower's image-to-caption similarities the other.

A `cisen:DIR` folder holds the head (`cisen.safetensors`, `cisen.json`) and the CLOSP checkpoint it was trained
on (`DIR/base`), so it is a complete image encoder: sensors without a head keep the base tower.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from rsq.closp.backbones import SmallCNN
from rsq.closp.checkpoint import load_checkpoint
from rsq.closp.model import ClospModel, VisionTower
from rsq.errors import RsqError
from rsq.landcover import corine

HEAD_WEIGHTS = "cisen.safetensors"
HEAD_CONFIG = "cisen.json"
BASE = "base"
LEVELS = (1, 2, 3)


@dataclass
class CisenConfig:
    """What rebuilds the head: the stage widths of the base tower, the fused width, the sensors with a head."""

    widths: list[int]
    embed_dim: int
    hidden: int = 512
    sensors: list[str] = field(default_factory=lambda: ["rgb"])
    classes: list[int] = field(default_factory=lambda: [len(corine().level(n)) for n in LEVELS])
    trained_on: list[str] = field(default_factory=list)
    recipe: dict = field(default_factory=dict)  # the training options, for the record

    def write(self, folder: Path) -> None:
        (folder / HEAD_CONFIG).write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def read(cls, folder: Path) -> CisenConfig:
        try:
            return cls(**json.loads((folder / HEAD_CONFIG).read_text()))
        except (OSError, ValueError, TypeError) as error:
            raise RsqError(
                f"{folder}: not a CISEN checkpoint ({HEAD_CONFIG}: {error}); train one with `rsq train cisen`"
            ) from None


def _block(inputs: int, hidden: int) -> nn.Module:
    return nn.Sequential(nn.LayerNorm(inputs), nn.Linear(inputs, hidden), nn.GELU(), nn.Linear(hidden, hidden))


class CisenHead(nn.Module):
    """HFE over pooled stage descriptors (deepest first), one classifier per hierarchy level, and V2TMap."""

    def __init__(self, config: CisenConfig) -> None:
        super().__init__()
        descriptors = [2 * w for w in reversed(config.widths)]  # average and max pooling per stage, deepest first
        groups = [descriptors[:1], descriptors[1:2], descriptors[2:]]  # level 3 takes every earlier stage
        self.fusions = nn.ModuleList(
            _block(sum(group) + (config.hidden if n else 0), config.hidden) for n, group in enumerate(groups)
        )
        self.classifiers = nn.ModuleList(nn.Linear(config.hidden, n) for n in config.classes)
        self.v2t = nn.Linear(len(LEVELS) * config.hidden, config.embed_dim)
        nn.init.zeros_(self.v2t.weight)
        nn.init.zeros_(self.v2t.bias)
        self.splits = [len(group) for group in groups]

    def forward(self, stages: list[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(offset in the text space, logits per level) from the stage descriptors, deepest first."""
        levels, fused, start = [], None, 0
        for fusion, count in zip(self.fusions, self.splits, strict=True):
            inputs = torch.cat(stages[start : start + count] + ([fused] if fused is not None else []), dim=-1)
            fused = fusion(inputs) + (fused if fused is not None else 0)  # each level refines the coarser one
            levels.append(fused)
            start += count
        logits = [classify(level) for classify, level in zip(self.classifiers, levels, strict=True)]
        return self.v2t(torch.cat(levels, dim=-1)), logits


def tower_stages(tower: VisionTower, images: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
    """The frozen tower's pooled stage descriptors (average and max, deepest first) and its own vector."""
    if not isinstance(tower.backbone, SmallCNN):
        raise RsqError("CISEN heads need rsq's cnn backbone (its stages are read); timm towers are not supported")
    x, stages = (images - tower.mean) / tower.std, []
    for layer in tower.backbone.features:
        if isinstance(layer, nn.MaxPool2d):
            stages.append(_pooled(x))
        x = layer(x)
    stages.append(_pooled(x))
    own = F.normalize(tower.projection(tower.backbone.pool(x).flatten(1)), dim=-1)
    return stages[::-1], own


def _pooled(x: torch.Tensor) -> torch.Tensor:
    return torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], dim=1)


def embed(head: CisenHead, stages: list[torch.Tensor], own: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The CISEN vector (the tower's own plus V2TMap's offset, L2-normalised) and the level logits."""
    offset, logits = head(stages)
    return F.normalize(own + offset, dim=-1), logits


class CisenModel(nn.Module):
    """The base CLOSP model with CISEN heads on some towers: the interface of `ClospModel` for `ClospEncoder`."""

    def __init__(self, base: ClospModel, config: CisenConfig) -> None:
        super().__init__()
        self.base, self.cisen = base, config
        self.heads = nn.ModuleDict({s: CisenHead(config) for s in config.sensors})

    @property
    def config(self):
        return self.base.config

    @property
    def towers(self):
        return self.base.towers

    @property
    def location(self):
        return self.base.location

    @property
    def logit_scale(self):
        return self.base.logit_scale

    def encode_images(self, sensor: str, images: torch.Tensor) -> torch.Tensor:
        if sensor not in self.heads:
            return self.base.encode_images(sensor, images)
        stages, own = tower_stages(self.base.towers[sensor], images)
        return embed(self.heads[sensor], stages, own)[0]

    def encode_locations(self, lon_lat: torch.Tensor) -> torch.Tensor:
        return self.base.encode_locations(lon_lat)


def level_targets(codes: list[str]) -> torch.Tensor:
    """(N, 3) class indices per level for CORINE codes; -100 (ignored) below a code's deepest level."""
    index = {level: {c.code: n for n, c in enumerate(corine().level(level))} for level in LEVELS}
    return torch.tensor(
        [[index[lv].get(code[:lv], -100) if len(code) >= lv else -100 for lv in LEVELS] for code in codes]
    )


def save_cisen(heads: nn.ModuleDict, config: CisenConfig, base_folder: Path, folder: Path) -> None:
    """The heads and their config, with a copy of the base checkpoint in `folder/base`."""
    import shutil

    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    if (folder / BASE).resolve() != base_folder.resolve():
        shutil.copytree(base_folder, folder / BASE, dirs_exist_ok=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in heads.state_dict().items()}, str(folder / HEAD_WEIGHTS))
    config.write(folder)


def load_cisen(folder: str | Path, device: str = "cpu") -> CisenModel:
    """A `cisen:` folder as a model: the base checkpoint with the trained heads."""
    from safetensors.torch import load_file

    folder = Path(folder)
    config = CisenConfig.read(folder)
    if not (folder / HEAD_WEIGHTS).is_file():
        raise RsqError(f"{folder}: no {HEAD_WEIGHTS}; train one with `rsq train cisen`")
    model = CisenModel(load_checkpoint(folder / BASE), config)
    missing, unexpected = model.heads.load_state_dict(load_file(str(folder / HEAD_WEIGHTS)), strict=False)
    if missing or unexpected:
        raise RsqError(f"{folder}: weights do not fit the head (missing {missing[:3]}, unexpected {unexpected[:3]})")
    return model.to(device).eval()

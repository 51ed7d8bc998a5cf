"""CLOSP: one vision tower per sensor projected into the frozen text space, and an optional location tower."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from rsq.closp.backbones import make_backbone
from rsq.closp.config import SENSOR_CHANNELS, ClospConfig
from rsq.closp.location import LocationEncoder


class VisionTower(nn.Module):
    """Per-channel standardisation (statistics from the training images, kept in the config), backbone, projection."""

    def __init__(self, backbone: nn.Module, embed_dim: int, stats: list[list[float]] | None = None) -> None:
        super().__init__()
        self.backbone = backbone
        self.projection = nn.Linear(backbone.out_features, embed_dim)
        mean, std = stats or ([0.0], [1.0])
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.projection(self.backbone((images - self.mean) / self.std)), dim=-1)


class ClospModel(nn.Module):
    """Image towers (`rgb`, `s2`, `s1`) and, for GeoCLOSP, a location tower; embeddings are L2-normalised."""

    def __init__(self, config: ClospConfig) -> None:
        super().__init__()
        self.config = config
        self.towers = nn.ModuleDict(
            {
                s: VisionTower(
                    make_backbone(config.backbone, SENSOR_CHANNELS[s], config.widths, config.convs_per_stage),
                    config.embed_dim,
                    config.input_stats.get(s),
                )
                for s in config.sensors
            }
        )
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        self.location = (
            LocationEncoder(config.harmonics, config.siren_hidden, config.siren_layers, config.embed_dim)
            if config.geo
            else None
        )

    def encode_images(self, sensor: str, images: torch.Tensor) -> torch.Tensor:
        return self.towers[sensor](images)

    def encode_locations(self, lon_lat: torch.Tensor) -> torch.Tensor:
        if self.location is None:
            raise ValueError("this checkpoint has no location tower (train with --geo)")
        return F.normalize(self.location(lon_lat), dim=-1)


def contrastive_loss(
    first: torch.Tensor, second: torch.Tensor, logit_scale: torch.Tensor, same: torch.Tensor | None = None
) -> torch.Tensor:
    """Symmetric CLIP cross-entropy between two batches of normalised embeddings.

    `same[i, j]` marks pairs that are positives too (identical captions of different tiles), or weighs them (a
    float matrix); the targets then spread over them instead of calling a duplicate caption a negative.
    """
    logits = logit_scale.exp().clamp(max=100) * first @ second.T
    targets = torch.eye(len(first), device=first.device) if same is None else same.float()
    targets = targets / targets.sum(dim=1, keepdim=True)
    return 0.5 * (
        F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets.T / targets.T.sum(dim=1, keepdim=True))
    )

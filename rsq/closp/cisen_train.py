"""Training a CISEN head (rsq/closp/cisen.py) over a frozen CLOSP tower, by dual-path transfer.

The frozen tower encodes each training tile once per view (the tile itself and augmented crops), so the head
trains on cached stage descriptors: the cost of the tower is paid `views` times, not once per epoch. Per batch:
- path 1, the text embedder: CLIP loss between the CISEN vectors and the frozen caption vectors (two views of one
  tile, or two tiles with the same caption, are positives for each other; with `graded`, a caption of another
  tile is a partial positive in proportion to the CORINE levels the two tiles share);
- path 2, the CLOSP tower: KL divergence from the tower's own image-to-caption distribution over the batch's
  captions to CISEN's (the head may move vectors only as far as the captions justify);
- HFE supervision: cross-entropy of each level's classifier against the tile's CORINE class at that level.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from rsq.closp.cisen import CisenConfig, CisenModel, embed, level_targets, tower_stages
from rsq.closp.data import TrainingSet
from rsq.closp.model import ClospModel, contrastive_loss
from rsq.closp.train import augment, fit, seed_everything
from rsq.errors import RsqError, check_range

ENCODE_BATCH = 128
WARMUP = 0.05  # share of the steps with a linear warm-up


@dataclass(frozen=True)
class CisenOptions:
    """How to train the head; `rsq train cisen`'s option defaults are these (chosen on UCM val)."""

    epochs: int = 30
    batch_size: int = 256
    lr: float = 1e-3
    views: int = 8  # the tile itself and views - 1 augmented crops, each encoded once by the frozen tower
    hidden: int = 512
    transfer_weight: float = 0.3  # path 2: the CLOSP tower's distribution
    hierarchy_weight: float = 3.0  # HFE: the level classifiers
    graded: float = 2.0  # path 1's targets: weight of another tile's caption per share of CORINE levels in common
    crop_scale: float = 0.6
    jitter: float = 0.2
    weight_decay: float = 0.05
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        for option, value, low, high in (
            ("epochs", self.epochs, 1, None),
            ("batch_size", self.batch_size, 2, None),
            ("lr", self.lr, 1e-8, 1.0),
            ("views", self.views, 1, 64),
            ("hidden", self.hidden, 8, 8192),
            ("transfer_weight", self.transfer_weight, 0.0, None),
            ("hierarchy_weight", self.hierarchy_weight, 0.0, None),
            ("graded", self.graded, 0.0, None),
            ("crop_scale", self.crop_scale, 0.05, 1.0),
            ("jitter", self.jitter, 0.0, 0.9),
        ):
            check_range(option, value, low, high)


@dataclass
class CachedViews:
    """The frozen tower's output for every view of every tile: stage descriptors, its own vector, the tile."""

    stages: list[torch.Tensor]  # per stage, deepest first: (views * tiles, descriptor)
    own: torch.Tensor  # (views * tiles, dim)
    tile: torch.Tensor  # (views * tiles,) position of the tile in the training set


def encode_views(base: ClospModel, dataset: TrainingSet, options: CisenOptions) -> CachedViews:
    """Each tile at the encoder's input size, then `views - 1` random-resized, rotated, jittered crops of it."""
    tower, size = base.towers[dataset.sensor], base.config.input_size
    generator = np.random.default_rng(options.seed)
    parts: list[tuple[list[torch.Tensor], torch.Tensor]] = []
    with torch.inference_mode():
        for view in range(options.views):
            for start in range(0, len(dataset), ENCODE_BATCH):
                images = torch.from_numpy(dataset.images[start : start + ENCODE_BATCH])
                if view == 0:
                    images = F.interpolate(images, size=(size, size), mode="bilinear", antialias=True)
                else:
                    images = augment(images, size, options.crop_scale, options.jitter, generator)
                parts.append(tower_stages(tower, images.to(options.device)))
    stages = [torch.cat([p[0][n] for p in parts]) for n in range(len(parts[0][0]))]
    tiles = torch.arange(len(dataset)).repeat(options.views).to(options.device)
    return CachedViews(stages, torch.cat([p[1] for p in parts]), tiles)


def train_cisen(
    base: ClospModel,
    dataset: TrainingSet,
    captions: np.ndarray,
    options: CisenOptions,
    trained_on: list[str],
    on_step: Callable[[int, int, float], None] | None = None,
) -> CisenModel:
    """A CISEN head for the tower of `dataset.sensor`, trained on the set's tiles, captions and CORINE classes."""
    if not dataset.classes or len(dataset.classes) != len(dataset):
        raise RsqError("CISEN trains on tiles with land-cover classes (UCM's, mapped onto CORINE)")
    seed_everything(options.seed)
    base = base.to(options.device).eval()
    views = encode_views(base, dataset, options)
    config = CisenConfig(
        widths=list(base.config.widths),
        embed_dim=base.config.embed_dim,
        hidden=options.hidden,
        sensors=[dataset.sensor],
        trained_on=trained_on,
        recipe={k: v for k, v in vars(options).items() if k != "device"},
    )
    model = CisenModel(base, config).to(options.device)
    head = model.heads[dataset.sensor].train()
    text = torch.from_numpy(np.asarray(captions, dtype=np.float32)).to(options.device)
    targets = level_targets(dataset.classes).to(options.device)
    scale = base.logit_scale.detach().exp().clamp(max=100)
    generator = np.random.default_rng(options.seed)

    def losses():
        for _ in range(options.epochs):
            order = torch.from_numpy(generator.permutation(len(views.tile))).to(options.device)
            for start in range(0, len(order), options.batch_size):
                index = order[start : start + options.batch_size]
                yield _batch_loss(head, views, index, dataset, text, targets, scale, options, generator)

    total = options.epochs * -(-len(views.tile) // options.batch_size)
    fit(head, losses(), total, options.lr, options.weight_decay, WARMUP, on_step)
    return model.eval()


def _batch_loss(head, views: CachedViews, index, dataset, text, targets, scale, options, generator) -> torch.Tensor:
    tiles = views.tile[index]
    captions = torch.tensor([generator.choice(dataset.caption_ids[int(t)]) for t in tiles], device=text.device)
    vectors, logits = embed(head, [s[index] for s in views.stages], views.own[index])
    batch_text = text[captions]
    same = (captions[:, None] == captions[None, :]) | (tiles[:, None] == tiles[None, :])
    positives = same.float() + options.graded * shared_levels(targets[tiles])
    loss = contrastive_loss(vectors, batch_text, torch.log(scale), positives)  # path 1: the text embedder
    teacher = F.softmax(scale * views.own[index] @ batch_text.T, dim=-1)
    student = F.log_softmax(scale * vectors @ batch_text.T, dim=-1)
    loss = loss + options.transfer_weight * F.kl_div(student, teacher, reduction="batchmean")  # path 2: CLOSP
    level_losses = [
        F.cross_entropy(level, targets[tiles, n], ignore_index=-100)
        for n, level in enumerate(logits)
        if (targets[tiles, n] >= 0).any()
    ]
    return loss + options.hierarchy_weight * torch.stack(level_losses).mean()


def shared_levels(levels: torch.Tensor) -> torch.Tensor:
    """(N, N): the share of row i's CORINE levels that tile j has too, from (N, 3) class indices (-100 unknown)."""
    known = levels >= 0
    agree = ((levels[:, None, :] == levels[None, :, :]) & known[:, None, :]).sum(-1).float()
    return agree / known.sum(-1, keepdim=True).clamp(min=1)

"""Training: symmetric CLIP loss between each image tower and the frozen text tower (text is the bridge:
optical and SAR images are never paired with each other), plus location<->image for GeoCLOSP."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F

from rsq.closp.config import ClospConfig
from rsq.closp.data import TrainingSet
from rsq.closp.model import ClospModel, contrastive_loss
from rsq.closp.text import text_encoder
from rsq.encoders.cache import CachedEmbedder
from rsq.errors import check_range


@dataclass(frozen=True)
class TrainOptions:
    """How to train; the user-facing choices come from `rsq train closp`, whose option defaults are the recipe's."""

    epochs: int
    batch_size: int
    lr: float
    crop_scale: float  # random-resized crops: the crop's side is this to 1.0 of the tile's
    jitter: float  # brightness and contrast factors drawn from 1 +- jitter
    seed: int
    device: str
    weight_decay: float = 0.05
    warmup: float = 0.05  # share of the steps with a linear warm-up; cosine decay after it
    bf16: bool | None = None  # None: bf16 autocast where the hardware has it (AMX / AVX512-BF16 CPUs, GPUs)

    def __post_init__(self) -> None:
        for option, value, low, high in (
            ("epochs", self.epochs, 1, None),
            ("batch_size", self.batch_size, 2, None),
            ("lr", self.lr, 1e-8, 1.0),
            ("crop_scale", self.crop_scale, 0.05, 1.0),
            ("jitter", self.jitter, 0.0, 0.9),
        ):
            check_range(option, value, low, high)


def caption_vectors(sets: list[TrainingSet], text_space: str, device: str) -> list[np.ndarray]:
    """Each set's captions encoded once, in the text space the image towers learn to meet."""
    text = CachedEmbedder(text_encoder(text_space, device))  # templated captions repeat: each distinct one once
    return [text.encode(s.texts) for s in sets]


def train_closp(
    sets: list[TrainingSet],
    captions: list[np.ndarray],
    config: ClospConfig,
    options: TrainOptions,
    on_step: Callable[[int, int, float], None] | None = None,
) -> ClospModel:
    """Train the image towers (and location tower) against the frozen caption vectors; returns the model."""
    seed_everything(options.seed)
    text_vectors = [torch.from_numpy(v).to(options.device) for v in captions]
    stats = {s.sensor: channel_stats(s.images) for s in sets}
    config = replace(config, embed_dim=captions[0].shape[1], input_stats=stats)  # image vectors live in the text space
    model = ClospModel(config).to(options.device, memory_format=torch.channels_last)
    bf16 = bf16_available(options.device) if options.bf16 is None else options.bf16
    batches = [(n, b) for n, s in enumerate(sets) for b in range(max(1, -(-len(s) // options.batch_size)))]
    generator = np.random.default_rng(options.seed)
    model.train()

    def losses():
        for _ in range(options.epochs):
            orders = [generator.permutation(len(s)) for s in sets]
            for n, b in generator.permutation(np.array(batches, dtype=object)).tolist():
                index = orders[n][b * options.batch_size : (b + 1) * options.batch_size]
                yield _batch_loss(model, sets[n], text_vectors[n], index, config, options, generator, bf16)

    fit(model, losses(), options.epochs * len(batches), options.lr, options.weight_decay, options.warmup, on_step)
    return model.eval()


def fit(
    module: torch.nn.Module,
    losses: Iterable[torch.Tensor],
    total: int,
    lr: float,
    weight_decay: float,
    warmup: float,
    on_step: Callable[[int, int, float], None] | None = None,
) -> None:
    """AdamW with a warm-up + cosine schedule over `total` steps, one step per loss `losses` yields (lazily: each
    batch's loss is computed after the step before)."""
    optimizer = torch.optim.AdamW(parameter_groups(module, weight_decay), lr=lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(total, warmup))
    for step, loss in enumerate(losses, start=1):
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if on_step:
            on_step(step, total, loss.item())


def _batch_loss(
    model, dataset: TrainingSet, text_vectors, index, config: ClospConfig, options: TrainOptions, generator, bf16: bool
) -> torch.Tensor:
    """Towers run under bf16 autocast when enabled; the similarities and the loss stay in float32."""
    device = options.device
    images = augment(
        torch.from_numpy(dataset.images[index]), config.crop_size, options.crop_scale, options.jitter, generator
    )
    images = images.to(device, memory_format=torch.channels_last)
    captions = torch.tensor([generator.choice(dataset.caption_ids[i]) for i in index], device=device)
    with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=bf16):
        image_vectors = model.encode_images(dataset.sensor, images)
    image_vectors = torch.nn.functional.normalize(image_vectors.float(), dim=-1)
    same = captions[:, None] == captions[None, :]
    loss = contrastive_loss(image_vectors, text_vectors[captions], model.logit_scale, same)
    if model.location is not None and dataset.lon_lat is not None:
        places = model.encode_locations(torch.from_numpy(dataset.lon_lat[index]).to(device))
        loss = loss + contrastive_loss(places, image_vectors, model.logit_scale)
    return loss


def augment(
    images: torch.Tensor, crop: int, scale: float, jitter: float, generator: np.random.Generator
) -> torch.Tensor:
    """Per image: a random square crop of `scale`..1 of the side resampled to `crop` px, a random 90-degree
    rotation and flip (one affine grid for the batch), then brightness and contrast factors in 1 +- `jitter`."""
    n, channels = images.shape[:2]
    side = torch.from_numpy(generator.uniform(scale, 1.0, n)).float()
    centre = torch.from_numpy(generator.uniform(-1.0, 1.0, (n, 2))).float() * (1 - side)[:, None]
    turns = torch.from_numpy(generator.integers(0, 4, n))
    cos, sin = torch.cos(turns * math.pi / 2).round(), torch.sin(turns * math.pi / 2).round()
    mirror = torch.from_numpy(generator.integers(0, 2, n) * 2 - 1).float()
    theta = torch.stack(
        [
            torch.stack([side * cos * mirror, -side * sin, centre[:, 0]], 1),
            torch.stack([side * sin * mirror, side * cos, centre[:, 1]], 1),
        ],
        1,
    )
    grid = F.affine_grid(theta, [n, channels, crop, crop], align_corners=False)
    out = F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    if jitter:
        contrast, brightness = (
            torch.from_numpy(generator.uniform(1 - jitter, 1 + jitter, (n, 1, 1, 1))).float() for _ in range(2)
        )
        mean = out.mean(dim=(1, 2, 3), keepdim=True)
        out = ((out - mean) * contrast + mean) * brightness
    return out


def channel_stats(images: np.ndarray) -> list[list[float]]:
    """Per-channel mean and standard deviation of a set's images: the tower standardises its inputs with them."""
    std = images.std(axis=(0, 2, 3))
    return [images.mean(axis=(0, 2, 3)).tolist(), np.where(std > 0, std, 1.0).tolist()]


def warmup_cosine(total: int, warmup: float) -> Callable[[int], float]:
    """Learning-rate factor per step: linear warm-up over `warmup` of the steps, then cosine decay to zero."""
    ramp = max(1, int(warmup * total))
    return lambda step: (
        (step + 1) / ramp if step < ramp else 0.5 * (1 + math.cos(math.pi * (step - ramp) / max(1, total - ramp)))
    )


def parameter_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """Weight decay on weight matrices and kernels only: not on biases, norms or the logit scale."""
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    rest = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]


def bf16_available(device: str) -> bool:
    """bf16 autocast pays off on GPUs and on CPUs with native bf16 (oneDNN reports it)."""
    if device.startswith("cuda"):
        return torch.cuda.is_bf16_supported()
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)

"""Training: symmetric CLIP loss between each image tower and the frozen text tower (text is the bridge:
optical and SAR images are never paired with each other), plus location<->image for GeoCLOSP."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch

from rsq.closp.config import ClospConfig
from rsq.closp.data import TrainingSet
from rsq.closp.model import ClospModel, contrastive_loss
from rsq.closp.text import text_encoder


@dataclass(frozen=True)
class TrainOptions:
    epochs: int = 80
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 0.05
    seed: int = 0
    device: str = "cpu"
    bf16: bool | None = None  # None: bf16 autocast where the hardware has it (AMX / AVX512-BF16 CPUs, GPUs)


def train_closp(
    sets: list[TrainingSet],
    config: ClospConfig,
    options: TrainOptions,
    on_step: Callable[[int, int, float], None] | None = None,
) -> ClospModel:
    """Train the image towers (and location tower) with AdamW and a OneCycle schedule; returns the model."""
    seed_everything(options.seed)
    text = text_encoder(config.text_space, options.device)
    text_vectors = [torch.from_numpy(text.encode(s.texts)).to(options.device) for s in sets]
    config = replace(config, embed_dim=text.dim)  # image vectors live in the text space
    model = ClospModel(config).to(options.device, memory_format=torch.channels_last)
    bf16 = bf16_available(options.device) if options.bf16 is None else options.bf16
    batches = [(n, b) for n, s in enumerate(sets) for b in range(max(1, -(-len(s) // options.batch_size)))]
    total = options.epochs * len(batches)
    optimizer = torch.optim.AdamW(parameter_groups(model, options.weight_decay), lr=options.lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=options.lr, total_steps=total, pct_start=0.15)
    generator = np.random.default_rng(options.seed)
    step = 0
    model.train()
    for _ in range(options.epochs):
        orders = [generator.permutation(len(s)) for s in sets]
        for n, b in generator.permutation(np.array(batches, dtype=object)).tolist():
            index = orders[n][b * options.batch_size : (b + 1) * options.batch_size]
            loss = _batch_loss(model, sets[n], text_vectors[n], index, config, generator, options.device, bf16)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            step += 1
            if on_step:
                on_step(step, total, loss.item())
    return model.eval()


def _batch_loss(model, dataset: TrainingSet, text_vectors, index, config: ClospConfig, generator, device, bf16: bool) -> torch.Tensor:
    """Towers run under bf16 autocast when enabled; the similarities and the loss stay in float32."""
    images = torch.from_numpy(augment(dataset.images[index], config.crop_size, generator)).to(device, memory_format=torch.channels_last)
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


def augment(images: np.ndarray, crop: int, generator: np.random.Generator) -> np.ndarray:
    """A random crop of `crop` px, a random 90-degree rotation and a random flip, per image."""
    size = images.shape[-1]
    out = np.empty((len(images), images.shape[1], crop, crop), dtype=np.float32)
    for n, image in enumerate(images):
        top, left = generator.integers(0, size - crop + 1, size=2)
        patch = np.rot90(image[:, top : top + crop, left : left + crop], k=int(generator.integers(4)), axes=(1, 2))
        out[n] = patch[:, :, ::-1] if generator.integers(2) else patch
    return out


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

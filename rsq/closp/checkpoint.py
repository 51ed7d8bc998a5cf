"""Checkpoints: `model.safetensors` + `config.json` in a folder; also CLOSP checkpoints published by its authors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from rsq.closp.config import CLS_SPACE, ClospConfig
from rsq.closp.model import ClospModel
from rsq.errors import RsqError

WEIGHTS = "model.safetensors"
CAPTION_BANK = "caption-bank.npz"  # the training captions and their text vectors: the tagger's sentences
# Published CLOSP parameter prefixes -> rsq's (their text_model.* is the frozen MiniLM rsq loads itself).
PUBLISHED_TEXT_SPACE = CLS_SPACE + "sentence-transformers/all-MiniLM-L6-v2"
PUBLISHED_PREFIXES = {
    "s1_encoder.": "towers.s1.backbone.",
    "s2_encoder.": "towers.s2.backbone.",
    "s1_projection.": "towers.s1.projection.",
    "s2_projection.": "towers.s2.projection.",
}
PUBLISHED_BACKBONES = {"rn": "timm:resnet50", "vs": "timm:vit_small_patch16_224", "vl": "timm:vit_large_patch16_224"}


def save_checkpoint(model: ClospModel, folder: Path, bank: tuple[list[str], np.ndarray] | None = None) -> None:
    """Weights, config and (optionally) the caption bank: training captions with their vectors in the text space."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(folder / WEIGHTS))
    model.config.write(folder)
    if bank is not None:
        texts, vectors = bank
        np.savez(folder / CAPTION_BANK, texts=np.array(texts, dtype=str), vectors=np.asarray(vectors, dtype=np.float16))


def load_caption_bank(folder: Path) -> tuple[list[str], np.ndarray] | None:
    """The checkpoint's caption bank, or None when it has none (published weights, older checkpoints)."""
    if not (folder / CAPTION_BANK).is_file():
        return None
    try:
        with np.load(folder / CAPTION_BANK) as bank:
            return [str(t) for t in bank["texts"]], bank["vectors"].astype(np.float32)
    except (OSError, ValueError, KeyError) as error:
        raise RsqError(f"{folder / CAPTION_BANK}: unreadable caption bank ({error})") from None


def load_checkpoint(folder: str | Path, device: str = "cpu") -> ClospModel:
    """A model from an rsq checkpoint folder, or from a folder holding a published CLOSP-RN/VS/VL file."""
    from safetensors.torch import load_file

    folder = Path(folder)
    if not (folder / WEIGHTS).is_file():
        raise RsqError(f"{folder}: no {WEIGHTS}; train one with `rsq train closp`")
    state = load_file(str(folder / WEIGHTS), device="cpu")
    if (folder / "config.json").is_file() and not any(k.startswith("s2_projection.") for k in state):
        config = ClospConfig.read(folder)
    else:
        config, state = published_config(folder.name, state)
    model = ClospModel(config)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise RsqError(f"{folder}: weights do not fit the model (missing {missing[:3]}, unexpected {unexpected[:3]})")
    return model.to(device).eval()


def published_config(name: str, state: dict[str, torch.Tensor]) -> tuple[ClospConfig, dict[str, torch.Tensor]]:
    """Map a published CLOSP state dict (s1_encoder, s2_encoder, *_projection) onto rsq's layout."""
    variant = next((v for v in PUBLISHED_BACKBONES if name.lower().endswith(f"-{v}")), "rn")
    renamed = {}
    for key, value in state.items():
        prefix = next((p for p in PUBLISHED_PREFIXES if key.startswith(p)), None)
        if prefix:
            renamed[PUBLISHED_PREFIXES[prefix] + key[len(prefix) :]] = value
    renamed["logit_scale"] = torch.tensor(0.0)  # published models use a fixed scale of 1
    config = ClospConfig(
        sensors=["s2", "s1"],
        backbone=PUBLISHED_BACKBONES[variant],
        image_size=224 if variant != "rn" else 128,
        text_space=PUBLISHED_TEXT_SPACE,
    )
    return config, renamed

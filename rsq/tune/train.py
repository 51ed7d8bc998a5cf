"""Contrastive tuning of a sentence-transformers embedder on caption pairs (`rsq.tune.pairs`), resumable.

Loss: symmetric InfoNCE over each batch (cosine similarities × `scale`, as sentence-transformers'
MultipleNegativesRankingLoss), with false negatives masked out. AdamW, linear warm-up then linear decay.
Every `save_every` steps the model, the optimizer and the step are saved to OUT/.tune-state (written beside it and
renamed into place); a rerun with the same options continues from there and ends with the same weights as a run
that was never stopped (each step's dropout is seeded by the step).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rsq.errors import RsqError, check_range
from rsq.tune.pairs import count_pairs, epoch_batches

STATE = ".tune-state"
PROVENANCE = "rsq-tune.json"


@dataclass(frozen=True)
class TuneOptions:
    epochs: int = 1
    batch_size: int = 64
    lr: float = 2e-5
    warmup: float = 0.1  # share of the steps
    scale: float = 20.0
    duplicate_threshold: float = 0.8  # word-set Jaccard at or above which another pair is not a negative
    max_tokens: int = 128
    seed: int = 0
    save_every: int = 50  # steps between saved states
    device: str = "cpu"

    def __post_init__(self) -> None:
        for option, value, low, high in (
            ("epochs", self.epochs, 1, 1000),
            ("batch_size", self.batch_size, 2, 65536),
            ("lr", self.lr, 1e-8, 1.0),
            ("duplicate_threshold", self.duplicate_threshold, 0.0, 1.0),
            ("save_every", self.save_every, 1, None),
        ):
            check_range(option, value, low, high)


@dataclass
class TuneReport:
    pairs: int = 0  # records that gave a pair, per epoch
    steps: int = 0
    resumed_at: int = 0
    masked: int = 0  # negatives left out as near-duplicates, over the steps run now
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0


def tune_embedder(
    stores: list[Path],
    base: str,
    base_folder: Path | str,
    out: Path,
    options: TuneOptions,
    on_step: Callable[[int, int, float], None] | None = None,
) -> TuneReport:
    """Tune the model at `base_folder` on the stores' captions; writes a sentence-transformers folder to `out`."""
    import torch

    started = time.perf_counter()
    report = TuneReport(pairs=count_pairs(stores))
    if report.pairs < 2:
        raise RsqError(
            "too few tiles with two different captions to tune on (need 2 or more): " + ", ".join(map(str, stores))
        )
    per_epoch = report.pairs // options.batch_size + (
        report.pairs % options.batch_size >= 2
    )  # a last batch needs two pairs
    total = options.epochs * per_epoch
    fingerprint = _fingerprint(stores, base, options, report.pairs)
    out.mkdir(parents=True, exist_ok=True)
    model, optimizer, schedule, step = _start(out, base_folder, fingerprint, options, total)
    report.resumed_at = step
    model.train()
    for epoch in range(options.epochs):
        for n, batch in enumerate(
            epoch_batches(stores, options.batch_size, options.seed, epoch, options.duplicate_threshold)
        ):
            if epoch * per_epoch + n < step:
                continue  # replayed as text up to where a stopped run had saved
            torch.manual_seed(options.seed * 1_000_003 + step)
            loss = _loss(model, batch, options)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            step += 1
            report.losses.append(float(loss.detach()))
            report.masked += int((~batch.mask).sum())
            if on_step:
                on_step(step, total, report.losses[-1])
            if step % options.save_every == 0 and step < total:
                _save_state(out, model, optimizer, schedule, step, fingerprint)
                model.train()  # sentence-transformers' save() leaves the model in eval mode (no dropout)
    report.steps = step
    report.seconds = time.perf_counter() - started
    _finish(out, model, stores, base, options, report)
    return report


def _loss(model, batch, options: TuneOptions):
    import torch

    anchors = _embed(model, [p.anchor for p in batch.pairs], options)
    positives = _embed(model, [p.positive for p in batch.pairs], options)
    logits = options.scale * anchors @ positives.T
    blocked = ~torch.from_numpy(batch.mask).to(logits.device)
    logits = logits.masked_fill(blocked, float("-inf"))
    labels = torch.arange(len(batch.pairs), device=logits.device)
    return (torch.nn.functional.cross_entropy(logits, labels) + torch.nn.functional.cross_entropy(logits.T, labels)) / 2


def _embed(model, texts: list[str], options: TuneOptions):
    import torch

    features = {
        key: value.to(options.device) if hasattr(value, "to") else value
        for key, value in model.preprocess(texts).items()
    }
    return torch.nn.functional.normalize(model(features)["sentence_embedding"], dim=-1)


def _start(out: Path, base_folder: Path | str, fingerprint: dict, options: TuneOptions, total: int):
    """The model, optimizer and schedule: from OUT/.tune-state when it holds this same run, else fresh from the base."""
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging

    logging.disable_progress_bar()
    saved = _read_json(out / STATE / "state.json")
    resume = bool(saved) and saved.get("fingerprint") == fingerprint
    if saved and not resume:
        raise RsqError(
            f"{out} holds a stopped tuning run with other options or data; give another --out, or rerun it as it was"
        )
    folder = out / STATE / f"step-{saved['step']}" if resume else None
    model = SentenceTransformer(str(folder / "model" if folder else base_folder), device=options.device)
    model.max_seq_length = options.max_tokens
    decay = [p for p in model.parameters() if p.ndim >= 2]
    rest = [p for p in model.parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.01}, {"params": rest, "weight_decay": 0.0}], lr=options.lr
    )
    warmup = max(1, int(options.warmup * total))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (total - s) / max(1, total - warmup)))
    )
    if not folder:
        return model, optimizer, schedule, 0
    state = torch.load(folder / "optimizer.pt", map_location=options.device, weights_only=True)
    optimizer.load_state_dict(state["optimizer"])
    schedule.load_state_dict(state["schedule"])
    return model, optimizer, schedule, int(saved["step"])


def _save_state(out: Path, model, optimizer, schedule, step: int, fingerprint: dict) -> None:
    """OUT/.tune-state/step-N/ written whole, then state.json replaced to point at it, then older steps removed:
    a kill at any moment leaves state.json naming a complete step."""
    import torch

    root = out / STATE
    folder = root / f"step-{step}"
    if folder.exists():
        shutil.rmtree(folder)
    model.save(str(folder / "model"))
    torch.save({"optimizer": optimizer.state_dict(), "schedule": schedule.state_dict()}, folder / "optimizer.pt")
    pointer = root / "state.json.new"
    pointer.write_text(json.dumps({"step": step, "fingerprint": fingerprint}) + "\n")
    os.replace(pointer, root / "state.json")
    for older in root.glob("step-*"):
        if older != folder:
            shutil.rmtree(older, ignore_errors=True)


def _finish(out: Path, model, stores: list[Path], base: str, options: TuneOptions, report: TuneReport) -> None:
    """The tuned model as a sentence-transformers folder with its provenance and an ONNX export; the state goes."""
    from rsq import __version__
    from rsq.encoders.export import export_onnx

    model.eval()
    model.save(str(out))
    export_onnx(out)
    provenance = {
        "base": base,
        "stores": [str(Path(s).resolve()) for s in stores],
        "pairs_per_epoch": report.pairs,
        "steps": report.steps,
        "options": asdict(options),
        "loss_first": report.losses[0] if report.losses else None,
        "loss_last": report.losses[-1] if report.losses else None,
        "seconds": round(report.seconds, 1),
        "rsq_version": __version__,
    }
    (out / PROVENANCE).write_text(json.dumps(provenance, indent=2) + "\n")
    shutil.rmtree(out / STATE, ignore_errors=True)


def _fingerprint(stores: list[Path], base: str, options: TuneOptions, pairs: int) -> dict:
    """What a resumed run must share with the stopped one (the device may differ)."""
    chosen = {k: v for k, v in asdict(options).items() if k not in ("device", "save_every")}
    return {"base": base, "stores": [str(Path(s).resolve()) for s in stores], "pairs": pairs, "options": chosen}


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}

"""Torch device names given on the command line, checked before any work starts."""

from __future__ import annotations

from rsq.errors import RsqError


def check_device(device: str | None) -> None:
    """Refuse a device name torch does not know, or a GPU that is not there, before any work starts."""
    if device is None:
        return
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError):
        raise RsqError(f"--device {device!r} is not a device name (cpu, cuda, cuda:1, mps)") from None
    if parsed.type == "cuda" and (not torch.cuda.is_available() or (parsed.index or 0) >= torch.cuda.device_count()):
        raise RsqError(f"--device {device}: no such CUDA device here ({torch.cuda.device_count()} found)")

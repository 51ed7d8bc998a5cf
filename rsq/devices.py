"""Torch device names given on the command line, checked before any work starts."""

from __future__ import annotations

from rsq.errors import OptionError


def check_device(device: str | None) -> None:
    """Refuse a device name torch does not know, or a GPU that is not there, before any work starts."""
    if device is None:
        return
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError):
        raise OptionError("device", "{value!r} is not a device name (cpu, cuda, cuda:1, mps)", value=device) from None
    if parsed.type == "cuda" and (not torch.cuda.is_available() or (parsed.index or 0) >= torch.cuda.device_count()):
        raise OptionError(
            "device", "{value}: no such CUDA device here ({found} found)", value=device, found=torch.cuda.device_count()
        )


def default_device(device: str | None = None) -> str:
    """`device`, else the GPU when there is one, else the CPU."""
    if device:
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"

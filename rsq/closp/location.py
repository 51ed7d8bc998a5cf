"""The GeoCLOSP location tower, as in SatCLIP: spherical harmonics of (lon, lat), then a SIREN network."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn


def spherical_harmonics(lon: np.ndarray, lat: np.ndarray, degree: int) -> np.ndarray:
    """Real spherical harmonics Y_l^m for l < degree at the given points: (N, degree**2) float32."""
    from scipy.special import lpmv

    theta = np.radians(90.0 - np.asarray(lat, dtype=np.float64))  # colatitude
    phi = np.radians(np.asarray(lon, dtype=np.float64))
    cos_theta = np.cos(theta)
    columns = []
    for l in range(degree):  # noqa: E741  (the conventional name for the degree)
        for m in range(-l, l + 1):
            k = abs(m)
            norm = math.sqrt((2 * l + 1) / (4 * math.pi) * math.factorial(l - k) / math.factorial(l + k))
            legendre = lpmv(k, l, cos_theta) * (-1) ** k  # undo scipy's Condon-Shortley phase
            if m == 0:
                columns.append(norm * legendre)
            elif m > 0:
                columns.append(math.sqrt(2) * norm * legendre * np.cos(k * phi))
            else:
                columns.append(math.sqrt(2) * norm * legendre * np.sin(k * phi))
    return np.stack(columns, axis=1).astype(np.float32)


class Sine(nn.Module):
    def __init__(self, features_in: int, features_out: int, w0: float, first: bool) -> None:
        super().__init__()
        self.linear, self.w0 = nn.Linear(features_in, features_out), w0
        bound = 1 / features_in if first else math.sqrt(6 / features_in) / w0
        nn.init.uniform_(self.linear.weight, -bound, bound)

    def forward(self, x):
        return torch.sin(self.w0 * self.linear(x))


class LocationEncoder(nn.Module):
    """(lon, lat) in degrees -> spherical harmonics (L**2) -> SIREN -> `out_dim`."""

    def __init__(
        self, degree: int = 10, hidden: int = 256, layers: int = 2, out_dim: int = 384, w0: float = 30.0
    ) -> None:
        super().__init__()
        self.degree = degree
        blocks = [Sine(degree * degree, hidden, w0, first=True)]
        blocks += [Sine(hidden, hidden, 1.0, first=False) for _ in range(layers - 1)]
        self.siren = nn.Sequential(*blocks)
        self.projection = nn.Linear(hidden, out_dim)

    def forward(self, lon_lat: torch.Tensor) -> torch.Tensor:
        coordinates = lon_lat.detach().cpu().numpy()
        harmonics = torch.from_numpy(spherical_harmonics(coordinates[:, 0], coordinates[:, 1], self.degree))
        return self.projection(self.siren(harmonics.to(lon_lat.device)))

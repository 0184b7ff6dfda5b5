"""Procedural textures of the synthetic scenes: checker, stripes and value noise."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Texture:
    """A procedural two-colour pattern evaluated at 3D surface coordinates."""

    kind: str  # "checker" | "stripes" | "noise"
    colour_a: tuple[float, float, float]
    colour_b: tuple[float, float, float]
    frequency: float
    axis: tuple[float, float, float]
    seed: int

    def albedo(self, p: np.ndarray) -> np.ndarray:
        """RGB albedo in [0, 1] for points ``p`` (M×3) in the texture's frame."""
        if self.kind == "checker":
            cells = np.floor(p * self.frequency).astype(np.int64).sum(axis=1)
            mix = (cells % 2).astype(np.float64)
        elif self.kind == "stripes":
            phase = p @ np.asarray(self.axis) * self.frequency
            mix = (np.floor(phase) % 2).astype(np.float64)
        else:
            mix = 0.65 * _value_noise(p * self.frequency, self.seed)
            mix += 0.35 * _value_noise(p * self.frequency * 2.7, self.seed + 1)
        a, b = np.asarray(self.colour_a), np.asarray(self.colour_b)
        return a * (1.0 - mix[:, None]) + b * mix[:, None]


def _lattice_hash(ix: np.ndarray, iy: np.ndarray, iz: np.ndarray, seed: int) -> np.ndarray:
    """Deterministic integer hash of lattice points to [0, 1) (platform-independent)."""
    mask = np.int64(0xFFFFFFFF)
    h = (ix * 73856093) ^ (iy * 19349663) ^ (iz * 83492791) ^ np.int64(seed * 2654435761 & mask)
    h &= mask
    h = ((h ^ (h >> 15)) * 0x2C1B3C6D) & mask
    h = ((h ^ (h >> 12)) * 0x297A2D39) & mask
    h ^= h >> 15
    return (h & 0xFFFF).astype(np.float64) / 65536.0


def _value_noise(p: np.ndarray, seed: int) -> np.ndarray:
    """Smooth trilinear value noise in [0, 1)."""
    base = np.floor(p)
    f = p - base
    f = f * f * (3.0 - 2.0 * f)  # smoothstep removes the lattice's visible creases
    i = base.astype(np.int64)
    out = np.zeros(len(p))
    for dx in (0, 1):
        for dy in (0, 1):
            for dz in (0, 1):
                w = (
                    (f[:, 0] if dx else 1 - f[:, 0])
                    * (f[:, 1] if dy else 1 - f[:, 1])
                    * (f[:, 2] if dz else 1 - f[:, 2])
                )
                out += w * _lattice_hash(i[:, 0] + dx, i[:, 1] + dy, i[:, 2] + dz, seed)
    return out

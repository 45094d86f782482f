"""Label-preserving augmentation: small random affine warps that keep a digit the same digit.

Rotations beyond ~15 degrees or flips would turn 6 into 9 or 2 into 5-like shapes, so the ranges
stay small. Everything is driven by an explicit ``numpy.random.Generator`` for reproducibility.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges of the random affine warp applied to each training image."""

    max_rotation_deg: float = 10.0
    scale_range: tuple[float, float] = (0.9, 1.1)
    max_shift_px: float = 2.0
    max_shear: float = 0.15


def random_affine_matrices(n: int, cfg: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """``n`` 2x3 affine matrices about the image centre, drawn from ``cfg``'s ranges."""
    angle = np.deg2rad(rng.uniform(-cfg.max_rotation_deg, cfg.max_rotation_deg, n))
    scale = rng.uniform(*cfg.scale_range, n)
    shear = rng.uniform(-cfg.max_shear, cfg.max_shear, n)
    shift = rng.uniform(-cfg.max_shift_px, cfg.max_shift_px, (n, 2))
    cos, sin = np.cos(angle) * scale, np.sin(angle) * scale
    # rotation*scale composed with a horizontal shear: [[c, -s + c*k], [s, c + s*k]]
    a = np.stack([cos, -sin + cos * shear, sin, cos + sin * shear], axis=1).reshape(n, 2, 2)
    centre = np.array([13.5, 13.5])
    offset = centre - a @ centre + shift
    return np.concatenate([a, offset[:, :, None]], axis=2).astype(np.float32)


def augment_batch(images: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """Warp each float image (N, 28, 28) by its own random affine; background stays 0."""
    matrices = random_affine_matrices(len(images), cfg, rng)
    out = np.empty_like(images)
    for img, m, warped in zip(images, matrices, out, strict=True):
        cv2.warpAffine(img, m, (28, 28), dst=warped, flags=cv2.INTER_LINEAR, borderValue=0)
    return out

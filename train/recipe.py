"""The training recipe of a model, as data: the registry gives each model its own.

The method (in :mod:`train.fitting`): one warm-up epoch then cosine-decayed Adam, light affine
augmentation, label smoothing, and the epoch kept chosen by validation accuracy, never by test.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edge.normalize import DEFAULT_OPTIONS
from train.augment import AugmentConfig
from train.handwriting import WritingConfig


@dataclass(frozen=True)
class Recipe:
    """How one model is trained."""

    epochs: int
    batch_size: int = 128
    learning_rate: float = 3e-3  # peak, reached after one warm-up epoch, cosine-decayed to 0
    label_smoothing: float = 0.05
    optimizer: str = "adam"  # "adam", "adamw" (with weight_decay) or "sgd" (Nesterov momentum 0.9)
    weight_decay: float = 0.0
    font_digits_per_class: int = 0  # printed-style digits added to training (train/font_digits.py)
    augment: AugmentConfig | None = field(default_factory=AugmentConfig)
    writing: WritingConfig | None = None  # real-writing variation after the warp (handwriting.py)
    #: Make each epoch's images in worker processes between epochs, not on a thread beside
    #: training: pays where they cost more CPU than training leaves idle (edgenet's variation;
    #: lenet's lighter one is cheaper beside training; docs/training.md "Speed").
    epochs_in_processes: bool = False
    #: The device normalisation's stroke target for this model (edge.normalize, "stroke"; 0:
    #: strokes kept as drawn). Convert writes it into the manifest, the device reads it there.
    normalize_stroke: float = DEFAULT_OPTIONS.stroke

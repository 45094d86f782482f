"""Printed-style digits rendered from the TrueType faces matplotlib ships, for training.

MNIST's writers rarely put a flag and a foot on a 1, or close a 6 with a round loop; many people
and most fonts do, and a model trained on MNIST alone reads those as 7 and 0. A few thousand
such digits, rendered with random weight, slant and size and then passed through the device's
own normalisation (:func:`edge.normalize.normalize`), teach the shapes without changing what the
model sees at inference. The faces here (DejaVu, STIX, Computer Modern from matplotlib; the
handwriting faces of a few Debian font packages) are disjoint from the Hershey faces the edge
evaluation's font set uses, so that figure stays a test of unseen fonts.
"""

from __future__ import annotations

import dataclasses
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from edge.normalize import DEFAULT_OPTIONS, NormalizeOptions, ellipse_kernel, normalize

#: Faces with ordinary lining digits (symbol and old-style-numeral faces left out).
FACES = (
    "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSans-BoldOblique.ttf",
    "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSerif-Italic.ttf",
    "DejaVuSerif-BoldItalic.ttf", "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf",
    "DejaVuSansMono-Oblique.ttf", "DejaVuSansMono-BoldOblique.ttf", "STIXGeneral.ttf",
    "STIXGeneralBol.ttf", "STIXGeneralItalic.ttf", "STIXGeneralBolIta.ttf", "cmr10.ttf",
    "cmss10.ttf", "cmtt10.ttf", "cmb10.ttf", "cmti10.ttf",
)  # fmt: skip


#: Handwriting-style (and two printed) faces from Debian packages (requirements/fonts-apt.txt,
#: installed by .ci/run): people's 4s, 7s and 9s rather than a typesetter's. Files missing on
#: a machine are skipped, and ``digit-train`` ends with a note naming them.
SYSTEM_FONT_DIR = Path("/usr/share/fonts")
SYSTEM_FACES = (
    "opentype/bwht/BecauseWeBuild-Regular.otf", "opentype/bwht/BecauseWeConnect-Regular.otf",
    "opentype/bwht/BecauseWeCreate-Regular.otf", "opentype/bwht/BecauseWeLearn-Regular.otf",
    "opentype/bwht/BecauseWeMentor-Regular.otf", "opentype/bwht/BecauseWeOrganize-Regular.otf",
    "opentype/comic-neue/ComicNeue-Regular.otf", "opentype/comic-neue/ComicNeue-Bold.otf",
    "opentype/comic-neue/ComicNeue-Italic.otf", "opentype/comic-neue/ComicNeue-Light.otf",
    "opentype/opendyslexic/OpenDyslexic-Regular.otf",
    "opentype/opendyslexic/OpenDyslexic-Italic.otf",
    "truetype/breip/Breip.ttf", "truetype/ecolier-court/Ecolier-court.ttf",
    "truetype/fifthhorseman/dkg.ttf", "truetype/fifthhorseman/dkgBd.ttf",
    "truetype/fifthhorseman/dkgIt.ttf", "truetype/humor-sans/Humor-Sans.ttf",
    "truetype/kristi/Kristi.ttf", "truetype/rufscript/Rufscript010.ttf",
    "truetype/liberation/LiberationSans-Regular.ttf",
    "truetype/freefont/FreeSerifItalic.ttf",
)  # fmt: skip


def listed_faces() -> tuple[Path, ...]:
    """Where the faces above would be: matplotlib's, then the Debian packages'."""
    import matplotlib

    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    return tuple([folder / f for f in FACES] + [SYSTEM_FONT_DIR / f for f in SYSTEM_FACES])


@cache
def font_paths() -> tuple[Path, ...]:
    """The listed faces this machine has, in the order listed."""
    return tuple(p for p in listed_faces() if p.is_file())


def missing_faces_notice() -> str | None:
    """What ``digit-train`` says when listed faces are missing, or None when none is: models
    trained on fewer faces differ from the ones README's tables measured."""
    listed, found = listed_faces(), font_paths()
    missing = [p.name for p in listed if p not in found]
    if not missing:
        return None
    names = ", ".join(missing[:3]) + (", ..." if len(missing) > 3 else "")
    return (
        f"{len(missing)} of {len(listed)} font faces for printed-style digits are not on this "
        f"machine ({names}); trained on the other {len(found)}, so the models differ from "
        "README's (`sudo make fonts` installs them)"
    )


def render(label: int, font: Path, rng: np.random.Generator) -> np.ndarray:
    """One digit, white on black, in ``font`` with a random size, stroke weight and slant."""
    from PIL import Image, ImageDraw, ImageFont

    size = int(rng.integers(40, 72))
    face = ImageFont.truetype(str(font), size)
    canvas = Image.new("L", (size * 2, size * 2), 0)
    ImageDraw.Draw(canvas).text((size // 2, size // 4), str(label), fill=255, font=face)
    glyph = np.asarray(canvas)
    weight = int(rng.integers(0, 1 + size // 24))  # bolder than the face, never blotted
    if weight:
        glyph = cv2.dilate(glyph, ellipse_kernel(weight))
    shear = rng.uniform(-0.25, 0.25)
    h, w = glyph.shape
    matrix = np.float32([[1, shear, -shear * h / 2], [0, 1, 0]])
    return cv2.warpAffine(glyph, matrix, (w, h), flags=cv2.INTER_LINEAR)


def font_options(stroke: float = DEFAULT_OPTIONS.stroke) -> NormalizeOptions:
    """The normalisation :func:`font_digits` reads its renders with (why: its docstring)."""
    return dataclasses.replace(DEFAULT_OPTIONS, stroke=stroke, open_light_ink=False)


def font_digits(
    per_class: int, seed: int, stroke: float = DEFAULT_OPTIONS.stroke
) -> tuple[np.ndarray, np.ndarray]:
    """``per_class`` digits of each class as float32 (N, 28, 28) in [0, 1], and their labels,
    normalised as the device will for this model (``stroke``: its stroke target).

    With one difference: the paper under these white-on-black renders is the plain median
    (``open_light_ink`` False), which hollows a bold face's strokes where the device keeps
    them whole. The models' recipes were chosen on digits made this way; made the device's
    way, 384 of 1,000 change and the retrained edgenet falls under its MNIST floor
    (docs/real-handwriting.md, "A white brush on black").
    """
    options = font_options(stroke)
    fonts = font_paths()
    if not fonts or per_class <= 0:
        return np.zeros((0, 28, 28), np.float32), np.zeros((0,), np.uint8)
    rng = np.random.default_rng([seed, 0xF0])
    images, labels = [], []
    for label in np.repeat(np.arange(10), per_class):
        result = normalize(render(int(label), fonts[rng.integers(len(fonts))], rng), options)
        if result.image is not None:
            images.append(result.image)
            labels.append(label)
    return np.stack(images).astype(np.float32), np.asarray(labels, np.uint8)

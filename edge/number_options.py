"""The settings of the number reader (:mod:`edge.number`): one frozen dataclass, its sizes as
fractions of a digit's height, so that one table says what every rule of the segmentation uses."""

from __future__ import annotations

from dataclasses import dataclass

from edge.normalize import DEFAULT_OPTIONS, NormalizeOptions
from edge.reread import REREAD_BELOW


@dataclass(frozen=True)
class NumberOptions:
    """The rules of segmentation, as fractions of the digit height where they are sizes."""

    first_size: int = 320  # the first look: the longer side shrunk to this
    digit_height: float = 40.0  # then rescaled so digits are about this tall (px) ...
    rescale_below: float = 34.0  # ... when they are shorter than this at the first look
    tiny: float = 16.0  # first-look digits shorter than this (px): the closer look goes wider
    tiny_reach: float = 3.0  # ... this many digit heights beyond them, left and right
    max_size: int = 1600  # never more than this on the longer side (time and memory)
    min_size: float = 0.025  # ink shorter than this fraction of the image's shorter side: speck
    speck: float = 0.3  # parts smaller than this (longer side, x digit height): not digits
    piece: float = 0.55  # parts shorter than this are pieces of a digit (the bar of a 5)
    overlap: float = 0.4  # a piece joins the digit it overlaps by this fraction of its width
    stack: float = 0.6  # two tall parts overlapping this much of the narrower: one digit
    local_floor: float = 0.4  # the local ink peak is at least this fraction of the image's
    window: float = 0.15  # first look: the local peak is the strongest ink this near (x side)
    closer_window: float = 0.5  # closer look: ... this near (x digit height)
    faint_line: float = 0.5  # a line of digits with fainter ink than this x the strongest: none
    faint_part: float = 0.3  # a digit-shaped part with fainter ink than this x the strongest: none
    dark_paper: float = 0.5  # ... or on paper darker than this x the brightest line's
    reread_below: float = REREAD_BELOW  # a digit read less surely is read again (edge.reread)
    small_digit: float = 0.45  # a lone piece this tall (x digit height) is a small digit
    max_width: float = 1.25  # a blob wider than this x its height is touching digits
    neck_width: float = 1.15  # ... and one wider than this, with a neck in its middle, two
    neck_ink: float = 0.15  # a neck: a column with no more ink than this x its height
    cut_pull: float = 1.0  # a cut a fifth of a digit off the even split costs this x the most ink
    line_length: float = 0.3  # straight ink this long (x the longer side): a ruled line
    line_over_digits: float = 1.5  # ... and (first look) this long x the typical part's height
    line_width: float = 0.12  # ... and thinner than this (x digit height)
    decimal_point: bool = False  # report a dot on the baseline between two digits as "."
    normalize: NormalizeOptions = DEFAULT_OPTIONS


DEFAULT_NUMBER_OPTIONS = NumberOptions()

"""Reading whole numbers: the segmentation rules one by one, then whole pages, then the model."""

from __future__ import annotations

import dataclasses
import itertools

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from edge import number as N
from edge import number_ink as NI
from edge import number_parts as NP
from edge import synth
from edge.model import open_model
from edge.normalize import normalize, to_gray
from edge.number_options import DEFAULT_NUMBER_OPTIONS, NumberOptions
from edge.pipeline import DigitReader
from edge.reread import SHIFTS
from edge.synth_numbers import number_set
from tests import model_zoo
from tests.edge.helpers import marker_digit, strip_on_a_desk

OPTIONS = DEFAULT_NUMBER_OPTIONS


def part(x0: int, y0: int, x1: int, y1: int, area: int | None = None, blob: int = 0) -> NP.Part:
    return NP.Part(
        x0, y0, x1, y1, area if area is not None else (x1 - x0) * (y1 - y0) // 3, (blob,)
    )


# -- the rules, on boxes --------------------------------------------------------------------------


def test_the_bar_of_a_five_joins_its_body():
    body, bar = part(10, 20, 40, 60), part(14, 8, 44, 14)
    joined = NP.join_broken([body, bar], 52.0, OPTIONS)
    assert len(joined) == 1 and (joined[0].y0, joined[0].y1) == (8, 60)


def test_the_two_strokes_of_a_four_join():
    corner, stem = part(10, 10, 40, 45), part(30, 5, 38, 60)  # an L and a long stem through it
    assert len(NP.join_broken([corner, stem], 55.0, OPTIONS)) == 1


def test_a_slanted_stroke_broken_in_two_joins():
    top, bottom = part(30, 0, 42, 28), part(20, 30, 33, 58)  # a 1 leaning right, pen skipped
    assert len(NP.join_broken([top, bottom], 58.0, OPTIONS)) == 1


def test_digits_side_by_side_and_in_two_lines_stay_apart():
    one, two = part(10, 10, 20, 60), part(24, 10, 50, 60)  # close, same rows
    below = part(12, 75, 40, 125)  # the next line: 15 px apart, same columns
    assert len(NP.join_broken([one, two, below], 50.0, OPTIONS)) == 3


def test_dots_and_dashes_alone_are_dropped_a_small_digit_is_kept():
    digit = part(10, 10, 40, 60)
    dot, dash = part(60, 52, 66, 58), part(80, 30, 110, 36)
    small = part(120, 35, 135, 60)  # half a digit tall, taller than wide
    kept = NP.join_broken([digit, dot, dash, small], 50.0, OPTIONS)
    assert [(p.x0, p.x1) for p in kept] == [(10, 40), (120, 135)]


def test_lines_follow_a_slope_and_are_read_top_to_bottom():
    # Two lines of five digits, each rising 4 px per digit (a slope of about 7 degrees).
    lower = [part(10 + 36 * i, 120 - 4 * i, 40 + 36 * i, 170 - 4 * i) for i in range(5)]
    upper = [part(10 + 36 * i, 20 - 4 * i + 20, 40 + 36 * i, 70 - 4 * i + 20) for i in range(5)]
    lines = NP.group_lines(lower[::-1] + upper)
    assert [[p.x0 for p in line] for line in lines] == [
        [p.x0 for p in upper],
        [p.x0 for p in lower],
    ]


def test_digits_of_different_sizes_share_a_line():
    big, small, big2 = part(10, 10, 50, 70), part(60, 40, 75, 68), part(85, 12, 120, 70)
    assert len(NP.group_lines([big, small, big2])) == 1


def test_typical_height_is_not_pulled_down_by_broken_halves():
    whole = [part(10 + 40 * i, 10, 35 + 40 * i, 60) for i in range(3)]
    halves = [part(200, 10, 225, 33), part(200, 36, 225, 60)]
    assert NP.typical_height(whole + halves, 4.0, 1000.0) == 50.0


def _blob_mask(width: int, height: int, shapes: list[tuple[str, tuple]]) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    for kind, args in shapes:
        if kind == "ellipse":
            cv2.ellipse(mask, *args, 255, 4)
        else:
            cv2.line(mask, *args, 255, 4)
    return mask


def test_touching_digits_are_split_at_the_thinnest_column():
    # "00": two rings touching at one point, 44 px tall, 80 px wide together.
    mask = _blob_mask(120, 80, [("ellipse", ((40, 40), (18, 22), 0, 0, 360)),
                                ("ellipse", ((78, 40), (18, 22), 0, 0, 360))])  # fmt: skip
    parts, outlines = NP.find_parts(mask)
    assert len(parts) == 1
    pieces = NP.split_touching(parts[0], parts[0].h, mask, outlines, OPTIONS)
    assert len(pieces) == 2
    assert abs(pieces[0].x1 - 59) <= 3  # cut where the rings touch
    assert all(p.h >= 0.9 * parts[0].h for p in pieces)


def test_narrow_digits_touching_at_a_neck_are_split():
    # "00" written narrow and joined by a short stroke (as a pen joins them): under rule 7's
    # 1.25 heights together, and the join is a neck.
    mask = _blob_mask(120, 80, [("ellipse", ((40, 40), (12, 22), 0, 0, 360)),
                                ("line", ((54, 40), (58, 40))),
                                ("ellipse", ((72, 40), (12, 22), 0, 0, 360))])  # fmt: skip
    parts, outlines = NP.find_parts(mask)
    assert len(parts) == 1
    assert OPTIONS.neck_width * parts[0].h < parts[0].w <= OPTIONS.max_width * parts[0].h
    pieces = NP.split_touching(parts[0], parts[0].h, mask, outlines, OPTIONS)
    assert len(pieces) == 2
    assert abs(pieces[0].x1 - 56) <= 2  # cut at the join


def test_a_wide_zero_is_not_split_at_its_middle():
    # Two strokes (its top and bottom) cross the middle of a wide 0: no neck.
    mask = _blob_mask(120, 80, [("ellipse", ((50, 40), (26, 22), 0, 0, 360))])
    parts, outlines = NP.find_parts(mask)
    assert len(parts) == 1 and parts[0].w > OPTIONS.neck_width * parts[0].h
    assert NP.split_touching(parts[0], parts[0].h, mask, outlines, OPTIONS) == [parts[0]]


def test_a_wide_zero_written_with_a_thin_pen_is_not_split_at_its_middle():
    # Its two strokes there hold less ink than a touch (8 px of 104): two strokes, no neck.
    mask = _blob_mask(200, 160, [("ellipse", ((90, 70), (60, 50), 0, 0, 360))])
    parts, outlines = NP.find_parts(mask)
    assert len(parts) == 1 and parts[0].w > OPTIONS.neck_width * parts[0].h
    column = NP.part_mask(parts[0], mask, outlines)[:, parts[0].w // 2]
    assert column.sum() < OPTIONS.neck_ink * parts[0].h and NP.ink_runs(column) == 2
    assert NP.split_touching(parts[0], parts[0].h, mask, outlines, OPTIONS) == [parts[0]]


def test_a_dot_and_a_dash_a_digit_apart_are_not_one_slanted_stroke():
    # Corners within 0.1 digit heights across, but 33 px (0.9 heights) apart up and down: the
    # remains of two ruled lines, not the halves of a stroke a line cut.
    dot, dash = NP.Part(233, 69, 236, 72, 6, (1,)), NP.Part(238, 34, 249, 36, 22, (2,))
    assert not NP.one_digit(dot, dash, 36.0, OPTIONS)
    upper, lower = NP.Part(240, 30, 250, 50, 60, (1,)), NP.Part(232, 53, 242, 72, 60, (2,))
    assert NP.one_digit(upper, lower, 36.0, OPTIONS)  # a stroke cut by a 3-px line: joined


def test_a_wide_digit_with_a_flat_tail_is_not_split():
    # A "2" whose base runs far right: wider than 1.25 heights, but the right part is flat.
    mask = _blob_mask(140, 80, [("ellipse", ((40, 30), (16, 14), 0, 180, 360)),
                                ("line", ((56, 30), (24, 62))),
                                ("line", ((24, 62), (110, 62)))])  # fmt: skip
    parts, outlines = NP.find_parts(mask)
    assert len(parts) == 1 and parts[0].w > OPTIONS.max_width * parts[0].h
    assert NP.split_touching(parts[0], parts[0].h, mask, outlines, OPTIONS) == [parts[0]]


def test_number_string_lines_and_low_confidence():
    d = [
        N.DigitInNumber("1", 0.99, (0, 0, 1, 1), 0),
        N.DigitInNumber("2", 0.40, (0, 0, 1, 1), 0),
        N.DigitInNumber("3", 0.95, (0, 0, 1, 1), 1),
    ]
    assert N.number_string(d) == "12\n3"
    assert N.number_string(d, min_confidence=0.5) == "1?\n3"
    d[0].unsure = True
    assert N.number_string(d) == "?2\n3"


def test_a_point_after_a_digit_is_in_the_string_and_its_record():
    d = [
        N.DigitInNumber("3", 0.99, (0, 0, 1, 1), 0, point_after=True),
        N.DigitInNumber("1", 0.99, (0, 0, 1, 1), 0),
        N.DigitInNumber("4", 0.99, (0, 0, 1, 1), 0),
    ]
    assert N.number_string(d) == "3.14"
    assert d[0].as_dict()["point_after"] is True and "point_after" not in d[1].as_dict()


# -- whole pages ----------------------------------------------------------------------------------

FONT = cv2.FONT_HERSHEY_SIMPLEX


def page(
    text: str,
    size: tuple[int, int] = (800, 400),
    scale: float = 3.0,
    gap: int = 30,
    angle: float = 0.0,
    grid: bool = False,
    specks: bool = False,
    table_edge: bool = False,
    shadow: bool = False,
) -> tuple[np.ndarray, list[float]]:
    """Dark digits on light paper (lines split by newlines), and the digits' x centres."""
    w, h = size
    img = np.full((h, w), 225, np.uint8)
    if grid:  # a light grid, 40 px squares, drawn under the ink
        for x in range(0, w, 40):
            cv2.line(img, (x, 0), (x, h), 170, 1)
        for y in range(0, h, 40):
            cv2.line(img, (0, y), (w, y), 170, 1)
    centres = []
    thickness = max(2, int(scale * 3))
    for row, line in enumerate(text.split("\n")):
        x = 60
        y = 60 + int(scale * 30) + row * int(scale * 45)
        for ch in line:
            (tw, _), _ = cv2.getTextSize(ch, FONT, scale, thickness)
            cv2.putText(img, ch, (x, y), FONT, scale, 30, thickness, cv2.LINE_AA)
            centres.append(x + tw / 2)
            x += tw + gap
    if specks:
        rng = np.random.default_rng(1)
        for _ in range(40):
            centre = (int(rng.integers(w)), int(rng.integers(h)))
            cv2.circle(img, centre, int(rng.integers(1, 3)), 60, -1)
    if angle:
        m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
        img = cv2.warpAffine(img, m, (w, h), borderValue=225)
    if table_edge:  # the page ends 40 px before the right edge: a dark table beyond
        img[:, w - 40 :] = 70
    if shadow:  # the phone's shadow over the left half
        img[:, : w // 2] = (img[:, : w // 2] * 0.55).astype(np.uint8)
    return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR), centres


def grid_photo(seed: int, text: str = "7644") -> tuple[np.ndarray, list[float]]:
    """Small dark digits low on squared paper, 640x480: the grid a fifth as dark as the pen,
    slightly rotated, under noise, so that only bits of its lines cross the ink threshold (a
    hundred of them, each about as tall as a tenth of the picture)."""
    rng = np.random.default_rng(seed)
    h, w, cell = 480, 640, 60
    img = np.full((h, w), 200.0, np.float32)
    for x in range(int(rng.integers(cell)), w, cell):
        cv2.line(img, (x, 0), (x + 12, h), 165, 2, cv2.LINE_AA)
    for y in range(int(rng.integers(cell)), h, cell):
        cv2.line(img, (0, y), (w, y + 8), 165, 2, cv2.LINE_AA)
    centres, x = [], 280
    for ch in text:
        (tw, _), _ = cv2.getTextSize(ch, FONT, 1.0, 2)
        cv2.putText(img, ch, (x, 400), FONT, 1.0, 40, 2, cv2.LINE_AA)
        centres.append(x + tw / 2)
        x += tw + 8
    img = cv2.GaussianBlur(img, (0, 0), 1.0) + rng.normal(0, 8.0, img.shape)
    return cv2.cvtColor(np.clip(img, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2BGR), centres


@pytest.mark.parametrize("seed", range(6))
def test_the_bits_of_a_faint_grid_are_neither_digits_nor_their_height(seed):
    """The grid's bits were the typical part: the digits, three times as tall, were dropped as
    too tall for a digit, and the bits in their line read as 1s (5-11 digits for 4)."""
    image, centres = grid_photo(seed)
    seg = N.segment(image)
    assert len(seg.digits) == 4
    assert np.allclose(_centres(seg), centres, atol=4)


def _centres(seg: N.Segmentation) -> list[float]:
    return [d.box[0] + d.box[2] / 2 for d in seg.digits]


@pytest.mark.parametrize(
    "variant",
    [
        {},
        {"grid": True},
        {"specks": True},
        {"table_edge": True},
        {"shadow": True},
        {"grid": True, "specks": True, "table_edge": True, "shadow": True},
    ],
    ids=["plain", "grid", "specks", "table-edge", "shadow", "all"],
)
def test_every_digit_found_in_order_on_a_real_looking_page(variant):
    image, centres = page("2024", **variant)
    seg = N.segment(image)
    assert not seg.reason
    assert len(seg.digits) == 4
    assert np.allclose(_centres(seg), centres, atol=12)
    for d in seg.digits:
        assert d.image.shape == (28, 28) and d.image.dtype == np.float32 and d.image.max() > 0


def test_a_number_cut_close_keeps_its_straight_strokes():
    """A picture cut to a number with a little paper around it: a third of its longer side is
    less than a digit's height, and the stem of the 1 was erased as a ruled line (7 of its 48
    pixels of ink were left). Cut close, each digit keeps the ink it has on the whole page."""
    image, _ = page("179", scale=2.0, gap=4)
    ys, xs = np.nonzero(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) < 128)
    margin = round(0.15 * (ys.max() - ys.min()))
    close = image[ys.min() - margin : ys.max() + margin, xs.min() - margin : xs.max() + margin]
    assert 0.3 * max(close.shape) < ys.max() - ys.min()  # the stems are as long as a "line"
    whole, cut = N.segment(image), N.segment(close)
    assert len(whole.digits) == len(cut.digits) == 3
    for a, b in zip(whole.digits, cut.digits, strict=True):
        assert (b.image > 0.5).sum() >= 0.8 * (a.image > 0.5).sum()


def _ink_box(image: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) < 200)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


@pytest.mark.parametrize("number", ["2024", "1479", "7350"])
def test_a_number_cut_with_no_margin_is_read_whole(number):
    """Cut exactly to its ink, every digit reaches the picture's edge; they were all dropped as
    digits the frame cuts off, and the picture read as "no digit"."""
    image, _ = page(number, scale=2.0, gap=6)
    x0, y0, x1, y1 = _ink_box(image)
    whole, cut = N.segment(image), N.segment(image[y0:y1, x0:x1])
    assert len(whole.digits) == len(cut.digits) == 4
    for a, b in zip(whole.digits, cut.digits, strict=True):
        assert abs((b.image > 0.5).sum() - (a.image > 0.5).sum()) <= 0.2 * (a.image > 0.5).sum()


def test_a_digit_the_frame_cuts_off_in_a_wider_picture_is_dropped():
    """Digits under half the picture's height: one the left edge cuts through is no digit."""
    image, centres = page("02024", size=(400, 300), scale=2.0, gap=6)
    left = round(centres[0]) - 8  # through the first 0, left of its middle
    seg = N.segment(image[:, left:])
    assert len(seg.digits) == 4
    assert np.allclose(_centres(seg), [c - left for c in centres[1:]], atol=12)


def test_a_desk_beside_a_number_cut_close_is_not_a_digit():
    """Cut close, with the dark desk beyond the paper down the whole left side: that is the
    picture's edge (edge.normalize.is_border), not a 1."""
    image, _ = page("2024", scale=2.0, gap=6)
    x0, y0, x1, y1 = _ink_box(image)
    cut = image[y0:y1, x0 - 30 : x1].copy()
    cut[:, :12] = 70
    assert len(N.segment(cut).digits) == 4


@pytest.mark.parametrize("angle, light_ink", [(0.0, False), (4.0, False), (4.0, True)])
def test_the_edges_of_a_strip_of_paper_on_a_desk_are_not_ones(angle, light_ink):
    """A strip of paper with a number on it, on a darker desk: the paper's estimate lags at
    the strip's ends, and the desk just beyond each was a band as dark as ink, read as a 1.
    The same with chalk on a dark board on a light wall."""
    image, _ = page("2024", scale=2.0, gap=8)
    x0, y0, x1, y1 = _ink_box(image)
    strip = image[y0 - 30 : y1 + 30, x0 - 25 : x1 + 25]
    frame = strip_on_a_desk(strip, desk=60, angle=angle)
    left, w = (640 - strip.shape[1]) // 2, strip.shape[1]  # where the frame's strip lies
    seg = N.segment(cv2.bitwise_not(frame) if light_ink else frame)
    assert len(seg.digits) == 4
    assert all(left < d.box[0] and d.box[0] + d.box[2] < left + w for d in seg.digits)


@pytest.mark.parametrize("dark_on_light", [True, False])
def test_a_side_at_the_pictures_edge_counts_as_paper(dark_on_light):
    """The strip beyond a box that reaches the picture's edge is empty, whatever the polarity
    (the property test found an empty strip of light ink raising AttributeError)."""
    gray = np.full((40, 40), 200 if dark_on_light else 50, np.uint8)
    assert not NI.beside_the_paper((30, 5, 10, 30), gray, dark_on_light, paper=150.0)
    assert not NI.beside_the_paper((0, 5, 10, 30), gray, dark_on_light, paper=150.0)


def test_a_sloped_line_is_one_line():
    image, _ = page("31415", angle=7.0)
    seg = N.segment(image)
    assert [d.line for d in seg.digits] == [0] * 5


def test_two_lines_are_read_top_to_bottom():
    image, centres = page("12\n345", size=(600, 500), scale=2.5)
    seg = N.segment(image)
    assert [d.line for d in seg.digits] == [0, 0, 1, 1, 1]
    assert np.allclose(_centres(seg), centres, atol=12)


def test_digits_of_different_sizes_in_one_line():
    img = np.full((300, 700), 225, np.uint8)
    for x, ch, scale in ((40, "7", 4.0), (170, "3", 2.2), (260, "8", 4.0), (390, "1", 2.6)):
        cv2.putText(img, ch, (x, 220), FONT, scale, 30, int(scale * 3), cv2.LINE_AA)
    assert len(N.segment(img).digits) == 4


def test_touching_digits_are_read_as_two():
    image, _ = page("00", gap=-16)  # the rings overlap
    seg = N.segment(image)
    assert len(seg.digits) == 2


def test_blank_and_textured_paper_have_no_digit():
    blank = np.full((480, 640, 3), 200, np.uint8)
    assert N.segment(blank).reason.startswith("no digit: blank")
    rng = np.random.default_rng(0)
    paper = np.clip(200 + rng.normal(0, 6, (480, 640)), 0, 255).astype(np.uint8)
    for _ in range(30):  # specks of dirt: no digit either
        cv2.circle(paper, (int(rng.integers(640)), int(rng.integers(480))), 2, 90, -1)
    seg = N.segment(paper)
    assert seg.digits == [] and seg.reason.startswith("no digit")


@st.composite
def any_image(draw) -> np.ndarray:
    h, w = draw(st.integers(1, 90)), draw(st.integers(1, 90))
    channels = draw(st.sampled_from([None, 3]))
    shape = (h, w) if channels is None else (h, w, channels)
    return draw(hnp.arrays(np.uint8, shape))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(any_image())
def test_any_image_gives_digits_or_a_reason_never_an_exception(image):
    seg = N.segment(image)
    assert bool(seg.digits) != bool(seg.reason)
    for d in seg.digits:
        assert d.image.shape == (28, 28) and np.isfinite(d.image).all()
        x, y, w, h = d.box
        assert 0 <= x < image.shape[1] and 0 <= y < image.shape[0] and w >= 1 and h >= 1


# -- with the model -------------------------------------------------------------------------------


POINTS = dataclasses.replace(OPTIONS, decimal_point=True)


def _points(image: np.ndarray, options: NumberOptions = POINTS) -> list[bool]:
    return [d.point_after for d in N.segment(image, options).digits]


@pytest.mark.parametrize("variant", [{}, {"grid": True}, {"angle": 4.0}, {"specks": True}],
                         ids=["plain", "grid", "sloped", "specks"])  # fmt: skip
def test_a_decimal_point_on_the_baseline_is_found_only_when_asked(variant):
    image, _ = page("3.14", **variant)
    assert _points(image) == [True, False, False]
    assert _points(image, OPTIONS) == [False, False, False]  # the default: no points
    assert _points(page("2024", **variant)[0]) == [False] * 4


def test_a_dot_off_the_baseline_or_two_points_in_a_line_are_not_a_decimal_point():
    image, centres = page("314", gap=50)
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    middle = round((centres[0] + centres[1]) / 2)
    cv2.circle(gray, (middle, 60 + 45), 6, 30, -1)  # half way up the digits, not on the line
    assert _points(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)) == [False] * 3
    assert _points(page("1.2.3")[0]) == [False] * 3  # a date, not a number's point


def test_decimal_points_of_synthetic_numbers_are_found_in_place(mnist_data):
    """Segmentation alone (no model): the point after the right digit in most numbers
    (docs/edge.md has the rate on 500, with the command)."""
    samples = number_set(mnist_data.x_test, mnist_data.y_test, 20, seed=6, length=(4, 6),
                         gap=(0.5, 4.0), point=True)  # fmt: skip
    in_place = 0
    for s in samples:
        after = s.number.index(".") - 1
        in_place += _points(s.image) == [i == after for i in range(len(s.number) - 1)]
    assert in_place >= 17


@pytest.fixture(scope="module")
def reader(test_models):
    return DigitReader(open_model(test_models / model_zoo.file_name("lenet", "int8")))


def test_synthetic_numbers_are_reproducible_and_keep_their_gaps(mnist_data):
    a = list(number_set(mnist_data.x_test, mnist_data.y_test, 5, seed=4, gap=(0.5, 4.0)))
    b = list(number_set(mnist_data.x_test, mnist_data.y_test, 5, seed=4, gap=(0.5, 4.0)))
    assert [s.number for s in a] == [s.number for s in b]
    assert all(np.array_equal(x.image, y.image) for x, y in zip(a, b, strict=True))
    assert all(s.min_gap >= 0.45 and s.image.shape == (480, 640, 3) for s in a)
    assert all(2 <= len(s.number) <= 10 for s in a)


def test_each_digit_reads_about_as_well_as_a_photo_of_it_alone(reader, mnist_data):
    """Segmentation loses little: the number reader's per-digit accuracy is within 4 points of
    the single-digit reader's on photos of the same MNIST digits alone (the fixture model is a
    small one, so both make mistakes)."""
    samples = list(number_set(mnist_data.x_test, mnist_data.y_test, 40, seed=5, length=4,
                              gap=(1.0, 4.0)))  # fmt: skip
    numbers = N.NumberReader(reader)
    rng = np.random.default_rng(5)
    right = alone = found = 0
    for s in samples:
        got = numbers.read(s.image).number
        found += len(got) == 4
        right += sum(a == b for a, b in zip(got, s.number, strict=False))
        for i, truth in zip(s.indices, s.number, strict=True):
            photo = synth.photograph(synth.mnist_ink(mnist_data.x_test[i], 80.0), rng)
            alone += reader.read(photo).label == truth
    assert found >= 39
    assert right >= alone - 0.04 * 4 * len(samples)


def test_number_reading_as_dict(reader):
    image, _ = page("2024")
    got = N.NumberReader(reader, min_confidence=0.0).read(image)
    record = got.as_dict()
    assert record["number"] == got.number and len(record["number"]) == 4
    assert [set(d) for d in record["digits"]] == [{"label", "probability", "box", "unsure"}] * 4
    assert record["lowest_probability"] == min(d["probability"] for d in record["digits"])
    assert record["no_digit"] is None
    blank = N.NumberReader(reader).read(np.full((240, 320), 200, np.uint8)).as_dict()
    assert blank["number"] == "" and blank["digits"] == [] and blank["no_digit"].startswith("no")


def test_a_single_digit_reads_the_same_with_or_without_number(reader):
    image, _ = page("7", size=(320, 240))
    alone = reader.read(image)
    assert normalize(image).found
    got = N.NumberReader(reader).read(image)
    assert got.number == alone.label


def _strip_photo(table: bool) -> tuple[np.ndarray, list[float]]:
    """A 3000x2000 photo of ten thin-stroked digits on ruled paper (what a phone gives), with
    maybe a dark textured table beyond a slanted page edge and a hard shadow across it all."""
    h, w = 2000, 3000
    alpha = np.zeros((h, w), np.float32)
    for y in range(80, h, 170):
        cv2.line(alpha, (0, y), (w, y + 60), 0.25, 3)  # ruled lines, sloped a little
    centres, x = [], 400
    for ch in "3752183097":
        cv2.putText(alpha, ch, (x, 1100), FONT, 4.0, 1.0, 4, cv2.LINE_AA)  # 3% strokes
        (tw, _), _ = cv2.getTextSize(ch, FONT, 4.0, 6)
        centres.append(x + tw / 2)
        x += tw + 70
    img = 205.0 - 100.0 * alpha
    if table:
        yy, xx = np.mgrid[0:h, 0:w]
        rng = np.random.default_rng(3)
        wood = cv2.resize(rng.normal(80, 25, (h // 8, w // 8)).astype(np.float32), (w, h))
        img = np.where(xx * 0.15 + yy < 300, wood, img)  # the table above the page's edge
        img = np.where(xx * 0.6 + yy * 0.2 < 900, img * 0.55, img)  # a hard shadow, left
    img = cv2.GaussianBlur(img, (0, 0), 2.5)
    return np.clip(img, 0, 255).astype(np.uint8), centres


@pytest.mark.parametrize("table", [False, True], ids=["ruled", "table-and-shadow"])
def test_a_phone_photo_of_a_strip(table):
    """Thin strokes that fade at the first look's 320 px are found at a larger look; a page
    edge with a hard shadow does not flip the polarity or add digits."""
    image, centres = _strip_photo(table)
    seg = N.segment(image)
    assert len(seg.digits) == 10, seg.reason
    assert np.allclose(_centres(seg), centres, atol=25)
    assert [d.line for d in seg.digits] == [0] * 10


def test_thin_ink_polarity():
    image, _ = _strip_photo(True)
    small = cv2.resize(image, (320, 213), interpolation=cv2.INTER_AREA)
    assert NI.thin_ink_is_dark(small)
    assert not NI.thin_ink_is_dark(255 - small)


@pytest.mark.parametrize(("digit", "stroke"), [(d, 12) for d in range(10)] + [(0, 20), (6, 20)])
def test_a_marker_digit_half_the_frame_tall_is_one_digit_seen_as_alone(digit, stroke):
    """Its polarity is dark ink (the votes at 1/4 and 1/8 scale see the bold strokes), so it is
    one whole digit, and the model gets the 28x28 it gets for the digit alone (within a
    pixel's shift of the centre of mass); before, the paper was taken for the ink and a 1
    had no digit, a 0 was three."""
    image = marker_digit(digit, stroke)
    assert NI.thin_ink_is_dark(to_gray(image))
    assert not NI.thin_ink_is_dark(255 - to_gray(image))
    seg = N.segment(image)
    assert len(seg.digits) == 1, seg.reason
    x, _, w, h = seg.digits[0].box
    assert h > 100 and 100 < x + w / 2 < 220  # the whole digit, in the middle
    alone, found = normalize(image).image, seg.digits[0].image
    shifts = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    assert min(np.abs(np.roll(found, s, (0, 1)) - alone).mean() for s in shifts) < 0.03


def test_an_mnist_sized_digit_has_its_polarity_and_ink(mnist_data):
    """A 28x28 digit, either way round, votes its polarity at half size only (its 1/4 and 1/8
    are 7 and 3 px, mostly the ellipse's border): before, 16 of these 300 (17 the other way
    round) voted the paper as the ink, and 20 were not one digit under --number."""
    digits = mnist_data.x_test[:300]
    assert not any(NI.thin_ink_is_dark(d) for d in digits)
    assert all(NI.thin_ink_is_dark(255 - d) for d in digits)
    found = [len(N.segment(255 - d).digits) for d in digits]
    # 4 are two pieces (two 0s, a 2, a 5: broken strokes)
    assert min(found) >= 1 and found.count(1) >= 290


def test_an_unsure_digit_is_read_again_shifted(reader, mnist_data):
    """Below ``reread_below`` the digit's probabilities are the mean over it and its 4
    one-pixel shifts (up, down, left, right); above, the single reading (the fixture model is
    never sure: its top probability stays under 0.4, so the threshold is moved instead)."""
    model, pixels = reader.model, mnist_data.x_test[0]
    always = N.NumberReader(reader, dataclasses.replace(OPTIONS, reread_below=1.01))
    never = N.NumberReader(reader, dataclasses.replace(OPTIONS, reread_below=0.0))
    assert np.array_equal(never.classify(pixels[None])[0], model.predict_pixels(pixels))
    assert sorted(SHIFTS) == [(-1, 0), (0, -1), (0, 1), (1, 0)]
    shifted = [np.roll(pixels, s, axis=(0, 1)) for s in [(0, 0), *SHIFTS]]
    mean = np.mean([model.predict_pixels(p) for p in shifted], axis=0)
    assert np.allclose(always.classify(pixels[None])[0], mean, atol=1e-6)
    assert not np.allclose(mean, model.predict_pixels(pixels), atol=1e-3)


def test_a_frames_digits_read_together_as_each_alone(reader, mnist_data):
    """classify() takes a frame's digits at once: each row is what the digit alone gives,
    the re-read ones (under the threshold) and the others alike."""
    pixels = mnist_data.x_test[:6]
    probs = reader.model.predict_pixels_many(pixels)
    cut = float(np.median(probs.max(axis=1)))  # about half of them re-read
    numbers = N.NumberReader(reader, dataclasses.replace(OPTIONS, reread_below=cut))
    together = numbers.classify(pixels)
    alone = np.concatenate([numbers.classify(p[None]) for p in pixels])
    np.testing.assert_array_equal(together, alone)
    reread = probs.max(axis=1) < cut
    assert 0 < reread.sum() < 6
    np.testing.assert_array_equal(together[~reread], probs[~reread])
    assert not np.allclose(together[reread], probs[reread], atol=1e-3)


def test_digits_are_normalised_as_the_model_asks_for_a_single_digit(test_models):
    """Without options, a number's digits get the reader's normalisation (the model's
    manifest: a model that wants strokes as drawn gets them unthinned), as its single digits
    do; given options win."""
    model = open_model(test_models / model_zoo.file_name("lenet", "int8"))
    drawn = dataclasses.replace(OPTIONS.normalize, stroke=0.0)
    reader = DigitReader(model, options=drawn)
    assert N.NumberReader(reader).options == dataclasses.replace(OPTIONS, normalize=drawn)
    assert N.NumberReader(reader, OPTIONS).options == OPTIONS
    image, _ = page("2024")
    found = N.segment(image, dataclasses.replace(OPTIONS, normalize=drawn)).digits
    got = N.NumberReader(reader).read(image).digits
    assert len(got) == len(found) == 4
    assert all(np.array_equal(g.image, f.image) for g, f in zip(got, found, strict=True))
    thinned = N.segment(image, OPTIONS).digits
    assert not all(np.array_equal(g.image, t.image) for g, t in zip(got, thinned, strict=True))
    once = DigitReader(model, options=drawn, reread_below=0.0)  # nor a second look, as alone
    assert N.NumberReader(once).options.reread_below == 0.0
    pixels = np.rint(found[0].image * 255).astype(np.uint8)
    assert np.array_equal(
        N.NumberReader(once).classify(pixels[None])[0], model.predict_pixels(pixels)
    )


@pytest.mark.parametrize("scale", [1.2, 1.6])
def test_tiny_digits_in_a_large_photo_are_all_found(scale):
    """A 6-digit number about 30 px tall, 2 px strokes, in a 1920x1080 photo: at the first
    look (320 px) the digits are 5 px and the 7s' and 1's thin strokes fade; the closer look
    reaches along the line beyond the digits it was shown (before: 4 and 3 of the 6)."""
    image = np.full((1080, 1920, 3), 225, np.uint8)
    cv2.putText(image, "382771", (800, 560), cv2.FONT_HERSHEY_SIMPLEX, scale, (40, 40, 60), 2,
                cv2.LINE_AA)  # fmt: skip
    located = N.locate(image)
    boxes = sorted((p.x0, p.x1) for p, _ in located.placed)
    assert len(boxes) == 6
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(boxes))  # side by side

"""Real-writing variation of training images: stroke width, elastic wobble, gaps, device framing."""

from __future__ import annotations

import numpy as np
import pytest

from edge.normalize import MNIST_BOX
from train import handwriting as hw


@pytest.fixture(scope="module")
def digits(mnist_data):
    return mnist_data.x_train[:64].astype(np.float32) / 255.0


def _ink(img: np.ndarray) -> float:
    return float((img > 0.5).sum())


def test_stroke_width_moves_both_ways(digits):
    img = digits[0]
    assert _ink(hw.stroke(img, 2)) > _ink(hw.stroke(img, 1)) > _ink(img) > _ink(hw.stroke(img, -1))
    assert hw.stroke(img, 0) is img
    blob = np.zeros((28, 28), np.float32)
    blob[14, 10:18] = 1.0  # a 1-px line eroded away is left as it was
    assert hw.stroke(blob, -2) is blob


def test_refit_frames_the_digit_as_the_device_does(digits):
    thick = hw.stroke(digits[1], 2)
    framed = hw.refit(thick)
    ys, xs = np.nonzero(framed > 0.05)
    assert max(ys.max() - ys.min(), xs.max() - xs.min()) + 1 <= MNIST_BOX + 1
    yy, xx = np.mgrid[0:28, 0:28]
    cy, cx = (framed * yy).sum() / framed.sum(), (framed * xx).sum() / framed.sum()
    assert abs(cy - 14) < 1 and abs(cx - 14) < 1
    assert framed.max() == 1.0


def test_elastic_and_gap_change_the_strokes_but_keep_the_ink(digits):
    rng = np.random.default_rng(0)
    img = digits[2]
    wobbled = hw.elastic(img, 34.0, 4.0, rng)
    assert not np.allclose(wobbled, img) and abs(wobbled.sum() - img.sum()) < 0.25 * img.sum()
    gapped = hw.gap(img, 3, rng)
    removed = _ink(img) - _ink(gapped)
    assert 1 <= removed <= 9


def test_vary_batch_is_reproducible_and_varies(digits, mnist_data):
    cfg = hw.WritingConfig()
    labels = mnist_data.y_train[:64]
    a = hw.vary_batch(digits, labels, cfg, np.random.default_rng(5))
    b = hw.vary_batch(digits, labels, cfg, np.random.default_rng(5))
    assert a.shape == digits.shape and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    changed = [not np.array_equal(x, y) for x, y in zip(a, digits, strict=True)]
    assert 0.5 < np.mean(changed) < 1.0  # most images, not all (some draw no variation)
    off = hw.WritingConfig(elastic=0, stroke=0, gap=0, flag=0, lowres=0, width=0)
    unchanged = hw.vary_batch(digits, labels, off, np.random.default_rng(5))
    np.testing.assert_array_equal(unchanged, digits)


def test_a_flag_is_drawn_from_the_top_of_a_one_down_to_the_left(mnist_data):
    ones = mnist_data.x_train[mnist_data.y_train == 1][:20].astype(np.float32) / 255.0
    rng = np.random.default_rng(3)
    for one in ones:
        flagged = hw.flag_one(one, rng)
        added = (flagged > 0.5) & ~(one > 0.5)
        assert added.sum() >= 3  # a visible stroke was added...
        ys, xs = np.nonzero(one > 0.5)
        ay, ax = np.nonzero(added)
        assert ay.mean() < ys.mean()  # ...in the upper half...
        assert ax.mean() < xs[ys == ys.min()].mean() + 1  # ...left of the top of the 1
    footed = hw.flag_one(ones[0], rng, foot=True)
    bottom = np.nonzero(ones[0] > 0.5)[0].max()
    assert (footed[bottom - 1 : bottom + 2] > 0.5).sum() > (
        ones[0][bottom - 1 : bottom + 2] > 0.5
    ).sum()


def test_only_ones_get_a_flag(digits, mnist_data):
    cfg = hw.WritingConfig(elastic=0, stroke=0, gap=0, flag=1.0, lowres=0, width=0)
    labels = mnist_data.y_train[:64]
    out = hw.vary_batch(digits, labels, cfg, np.random.default_rng(0))
    for img, flagged, y in zip(digits, out, labels, strict=True):
        assert np.array_equal(img, flagged) == (y != 1)


def test_a_slash_crosses_a_zero_and_reaches_past_its_loop(mnist_data):
    zeros = mnist_data.x_train[mnist_data.y_train == 0][:20].astype(np.float32) / 255.0
    rng = np.random.default_rng(4)
    drawn = 0
    for zero in zeros:
        slashed = hw.slash_zero(zero, rng)
        if slashed is zero:  # a slash that would fill the loop is not drawn
            continue
        drawn += 1
        assert hw.holes(slashed) >= 2  # the loop's inside, cut in two
        added = (slashed > 0.5) & ~(zero > 0.5)
        ys, xs = np.nonzero(zero > 0.5)
        cy, cx = (ys.min() + ys.max()) / 2, (xs.min() + xs.max()) / 2
        inside = added[round(cy) - 3 : round(cy) + 4, round(cx) - 3 : round(cx) + 4]
        assert inside.any()  # through the loop's middle...
        ay, ax = np.nonzero(added)  # ...and out of its box at both ends (below-left, above-right)
        assert ay.max() > ys.max() or ax.min() < xs.min() or ax.max() > xs.max()
        assert ay.min() < ys.min() or ax.max() > xs.max() or ax.min() < xs.min()
        assert (ay.max() - ay.min()) + (ax.max() - ax.min()) > (ys.max() - ys.min())
    assert drawn >= 12


def test_a_crossbar_crosses_a_sevens_stem_level(mnist_data):
    sevens = mnist_data.x_train[mnist_data.y_train == 7][:20].astype(np.float32) / 255.0
    rng = np.random.default_rng(5)
    for seven in sevens:
        crossed = hw.cross_seven(seven, rng)
        ay, ax = np.nonzero((crossed > 0.5) & ~(seven > 0.5))
        ys = np.nonzero(seven > 0.5)[0]
        assert ax.size >= 3 and ax.max() - ax.min() > ay.max() - ay.min()  # a level bar...
        assert ys.min() + 0.3 * (ys.max() - ys.min()) < ay.mean() < ys.max()  # ...below the top


def test_only_zeros_get_a_slash_and_sevens_a_crossbar(digits, mnist_data):
    off = dict(elastic=0, stroke=0, gap=0, flag=0, lowres=0, width=0)
    labels = mnist_data.y_train[:64]
    for marked, cfg in (
        (0, hw.WritingConfig(**off, slash=1.0)),
        (7, hw.WritingConfig(**off, crossbar=1.0)),
    ):
        out = hw.vary_batch(digits, labels, cfg, np.random.default_rng(0))
        changed = [not np.array_equal(img, v) for img, v in zip(digits, out, strict=True)]
        assert all(y == marked for y, c in zip(labels, changed, strict=True) if c)
        assert any(changed)


def test_low_resolution_blurs_but_keeps_the_digit(digits):
    img = digits[3]
    coarse = hw.low_resolution(img, 8)
    assert coarse.shape == img.shape and coarse.min() >= 0.0 and coarse.max() <= 1.0
    assert np.abs(coarse - img).mean() > 0.02  # detail lost...
    assert abs(coarse.sum() - img.sum()) < 0.15 * img.sum()  # ...ink kept
    assert np.abs(hw.low_resolution(img, 20) - img).mean() < np.abs(coarse - img).mean()


def _ink_box(img: np.ndarray) -> tuple[int, int]:
    ys, xs = np.nonzero(img > 0.5)
    return int(ys.max() - ys.min() + 1), int(xs.max() - xs.min() + 1)


def test_scale_width_makes_a_narrower_or_broader_hand_of_the_same_height(digits):
    img = digits[5]
    height, width = _ink_box(img)
    for factor in (0.6, 1.25):
        h, w = _ink_box(hw.scale_width(img, factor))
        assert h == height
        assert abs(w - factor * width) <= 2

"""Screen drawings: MNIST digits' pen paths, thinned to one pixel and drawn again with any pen."""

from __future__ import annotations

import cv2
import numpy as np

from edge import synth_screens as S
from edge.normalize import stroke_width


def _components(binary: np.ndarray) -> int:
    return cv2.connectedComponents(binary.astype(np.uint8), connectivity=8)[0] - 1


def test_thinning_leaves_a_connected_one_pixel_line():
    bar = np.zeros((40, 60), np.uint8)
    bar[15:26, 5:55] = 1  # 11 px thick
    ring = np.zeros((80, 80), np.uint8)
    cv2.circle(ring, (40, 40), 28, 1, 7)
    for shape in (bar, ring):
        line = S.skeleton(shape)
        assert line.sum() > 0 and (line <= shape).all()
        assert _components(line) == _components(shape)  # nothing broken off
        assert line.sum() < shape.sum() / 4  # a line, not a band
    assert (S.skeleton(bar).sum(axis=0)[12:48] == 1).all()  # one pixel across the bar
    ring_line = S.skeleton(ring)
    hole = np.zeros((82, 82), np.uint8)
    cv2.floodFill(ring_line.copy(), hole, (40, 40), 1)
    assert hole[1:-1, 1:-1].sum() > 0 and not hole[1:-1, 1:-1][0, 0]  # still a closed ring


def test_a_digits_pen_path_stays_in_one_piece(mnist_data):
    for digit in mnist_data.x_test[:20]:
        blobs = _components(cv2.resize(digit, (112, 112), interpolation=cv2.INTER_CUBIC) > 110)
        path = S.pen_path(digit)
        assert path.shape[1:] == (2, 2) and path.min() >= 0 and path.max() <= 1
        canvas = np.zeros((400, 400), np.uint8)
        for a, b in np.rint(path * 400).astype(np.int32):
            cv2.line(canvas, tuple(a), tuple(b), 255, 1, cv2.LINE_8)
        assert _components(canvas > 0) == blobs  # a 1-px pen draws each stroke unbroken


def test_screen_set_is_reproducible_and_varied(mnist_data):
    x, y = mnist_data.x_test[:50], mnist_data.y_test[:50]
    first = list(S.screen_set(x, y, 40, seed=3))
    again = list(S.screen_set(x, y, 40, seed=3))
    assert all(np.array_equal(a.image, b.image) for a, b in zip(first, again, strict=True))
    assert not np.array_equal(first[0].image, next(S.screen_set(x, y, 1, seed=4)).image)
    sides, dark, thin = set(), 0, 0
    for sample in first:
        gray = sample.image[:, :, 0]
        assert sample.image.shape[0] == sample.image.shape[1] and sample.label in set(y.tolist())
        paper = int(np.median(gray))
        ink = gray != paper
        assert 0.0005 < ink.mean() < 0.5
        ys, xs = np.nonzero(ink)
        assert ys.min() > 0 and xs.min() > 0 and ys.max() < len(gray) - 1  # on the canvas
        sides.add(len(gray))
        dark += paper == 255
        thin += stroke_width(ink.astype(np.uint8) * 255) <= 6
    assert len(sides) > 30 and min(sides) >= S.CANVAS[0] and max(sides) <= S.CANVAS[1]
    assert 15 <= dark <= 38  # both polarities
    assert thin >= 5  # thin pens as well as brushes

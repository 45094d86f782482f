"""Rendered printed-style digits: balanced, MNIST-shaped, reproducible, and only in training."""

import numpy as np
import pytest

import train.font_digits
from edge.normalize import normalize
from train.data import Splits
from train.epoch_data import TrainingNotice
from train.fitting import with_font_digits
from train.font_digits import (
    FACES,
    SYSTEM_FACES,
    font_digits,
    font_options,
    font_paths,
    missing_faces_notice,
    render,
)


def test_every_listed_face_is_installed():
    """matplotlib's faces come with it; the Debian ones with `make fonts` (CI runs it)."""
    assert len(font_paths()) == len(FACES) + len(SYSTEM_FACES)
    assert {p.suffix for p in font_paths()} == {".ttf", ".otf"}


def test_font_digits_follow_the_models_stroke_target():
    thinned, _ = font_digits(6, seed=3)
    as_drawn, _ = font_digits(6, seed=3, stroke=0.0)
    assert thinned.shape == as_drawn.shape
    assert (as_drawn > 0.5).sum() > (thinned > 0.5).sum()  # bold faces are not thinned


def test_digits_are_balanced_mnist_shaped_and_reproducible():
    x, y = font_digits(6, seed=3)
    assert x.shape == (60, 28, 28) and x.dtype == np.float32
    assert np.bincount(y, minlength=10).tolist() == [6] * 10
    assert x.min() >= 0.0 and x.max() == 1.0
    for img in x:  # fitted into MNIST's 20x20 box, centre of mass near (14, 14)
        rows, cols = np.nonzero(img)
        assert np.ptp(rows) < 20 and np.ptp(cols) < 20
        cy, cx = (
            (img * np.arange(28)[:, None]).sum() / img.sum(),
            (img * np.arange(28)).sum() / img.sum(),
        )
        assert abs(cy - 14) <= 1.5 and abs(cx - 14) <= 1.5
    again, _ = font_digits(6, seed=3)
    np.testing.assert_array_equal(x, again)
    other, _ = font_digits(6, seed=4)
    assert not np.array_equal(x, other)


def test_every_render_is_read_as_the_light_glyph_it_is():
    """The renders are white on black; the device's normalisation reads them as light ink. A
    rule for photos that took a bold light 0 for a sheet on a desk read 108 of 2,000 of them
    as their holes (dark writing on light), and the trained models lost MNIST accuracy
    (docs/edge.md, "polarity")."""
    options = font_options()
    fonts, rng = font_paths(), np.random.default_rng(5)
    for label in np.repeat(np.arange(10), 40):
        result = normalize(render(int(label), fonts[rng.integers(len(fonts))], rng), options)
        assert result.found and not result.inverted, label


def test_only_the_training_set_grows():
    z = np.zeros((5, 28, 28), np.float32)
    labels = np.arange(5, dtype=np.uint8)
    splits = Splits(z, labels, z, labels, z, labels)
    grown = with_font_digits(splits, 2, seed=0)
    assert len(grown.x_train) == 25 and len(grown.y_train) == 25
    assert grown.x_val is splits.x_val and grown.x_test is splits.x_test
    assert with_font_digits(splits, 0, seed=0) is splits


@pytest.fixture
def no_debian_fonts(tmp_path, monkeypatch):
    """This machine as it is before `make fonts`: matplotlib's faces only."""
    monkeypatch.setattr(train.font_digits, "SYSTEM_FONT_DIR", tmp_path)
    font_paths.cache_clear()
    yield
    font_paths.cache_clear()  # before the monkeypatch is undone: nothing reads it in between


def test_missing_faces_are_named_when_training_adds_font_digits(no_debian_fonts):
    total, missing = len(FACES) + len(SYSTEM_FACES), len(SYSTEM_FACES)
    assert len(font_paths()) == len(FACES)
    z = np.zeros((5, 28, 28), np.float32)
    splits = Splits(z, np.arange(5, dtype=np.uint8), z, z[:, 0, 0], z, z[:, 0, 0])
    with pytest.warns(TrainingNotice) as notices:
        grown = with_font_digits(splits, 2, seed=0)
    (notice,) = [str(w.message) for w in notices]
    assert notice.startswith(f"{missing} of {total} font faces for printed-style digits")
    assert "(BecauseWeBuild-Regular.otf, BecauseWeConnect-Regular.otf, " in notice
    assert f"trained on the other {len(FACES)}" in notice and "sudo make fonts" in notice
    assert len(grown.x_train) == 25  # still trained, on the faces there are


def test_no_notice_when_every_face_is_there():
    assert missing_faces_notice() is None

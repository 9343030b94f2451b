"""Random erasing against torchvision's draws (torchvision runs in a subprocess)."""

import importlib.util
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from keras_resnet.data import erasing

SCRIPT = pathlib.Path(__file__).parent / "fixtures" / "torch" / "erasing_references.py"


def _ours(count=4000):
    seeds = tf.random.experimental.stateless_split(tf.constant([3, 4], tf.int64), count)
    return np.array([[int(v) for v in erasing.erasing_box(seed, 60, 80)] for seed in seeds])


@pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("torch", "torchvision")),
    reason="needs torch and torchvision",
)
def test_rectangles_are_drawn_as_torchvisions(tmp_path):
    from scipy import stats

    subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "boxes.npz")], check=True)
    theirs = np.load(tmp_path / "boxes.npz")["boxes"]
    ours = _ours()
    # Each coordinate's distribution: the same law (two-sample KS over 4,000 draws each).
    for column, name in enumerate(("top", "left", "height", "width")):
        assert stats.ks_2samp(ours[:, column], theirs[:, column]).pvalue > 0.001, name
    # Every rectangle lies inside the image, with area and aspect in their ranges.
    top, left, h, w = ours.T
    assert (top + h <= 60).all() and (left + w <= 80).all()
    area = h * w / (60 * 80)
    assert area.min() > 0.015 and area.max() < 0.35


def test_erasing_writes_the_fill_inside_the_rectangle_only_with_its_probability():
    image = np.full((60, 80, 3), 7, np.uint8)
    seeds = tf.random.experimental.stateless_split(tf.constant([5, 6], tf.int64), 400)
    erased = [erasing.random_erasing(tf.constant(image), seed, 0.25).numpy() for seed in seeds]
    touched = np.array([(x != 7).any() for x in erased])
    assert 0.18 < touched.mean() < 0.32
    for x in np.array(erased)[touched][:20]:
        changed = (x != 7).all(axis=-1)
        rows, cols = np.nonzero(changed)
        # One rectangle, filled with ImageNet's mean colour.
        assert changed.sum() == (np.ptp(rows) + 1) * (np.ptp(cols) + 1)
        assert (x[changed] == erasing.IMAGENET_MEAN).all()

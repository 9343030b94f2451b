"""TrivialAugmentWide against torchvision's: the table of operations and magnitudes, and each
operation on a photograph at several magnitudes (torchvision runs in a subprocess)."""

import importlib.util
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from keras_resnet.data import trivial_augment

SCRIPT = pathlib.Path(__file__).parent / "fixtures" / "torch" / "trivial_augment_references.py"
GEOMETRIC = {"ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate"}

pytestmark = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("torch", "torchvision")),
    reason="needs torch and torchvision",
)


def _cases():
    cases = []
    for name, (magnitudes, signed) in trivial_augment.augmentation_space().items():
        if magnitudes.ndim == 0:
            cases.append((name, 0.0))
            continue
        for index in (1, 15, 30):
            cases.append((name, float(magnitudes[index])))
            if signed:
                cases.append((name, -float(magnitudes[index])))
    return cases


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    from sklearn.datasets import load_sample_images

    folder = tmp_path_factory.mktemp("trivial_augment")
    photo = tf.image.resize(load_sample_images().images[1], (60, 80), antialias=True)
    image = tf.cast(tf.round(photo), tf.uint8).numpy()
    cases = _cases()
    np.savez(folder / "inputs.npz", image=image, cases=np.array(cases, dtype=object))
    subprocess.run([sys.executable, str(SCRIPT), str(folder / "inputs.npz"),
                    str(folder / "out.npz")], check=True)
    return image, cases, dict(np.load(folder / "out.npz"))


def test_the_operations_and_magnitudes_are_torchvisions(reference):
    _, _, refs = reference
    space = trivial_augment.augmentation_space()
    assert list(space) == refs["names"].tolist()
    for name, (magnitudes, signed) in space.items():
        np.testing.assert_allclose(magnitudes, refs[f"space_{name}"], rtol=1e-6, err_msg=name)
        assert signed == bool(refs[f"signed_{name}"]), name


def test_each_operation_equals_torchvisions(reference):
    image, cases, refs = reference
    for index, (name, magnitude) in enumerate(cases):
        ours = trivial_augment.apply_op(tf.constant(image), name, magnitude).numpy()
        theirs = refs[f"case_{index}"]
        differ = np.abs(ours.astype(int) - theirs.astype(int))
        if name in GEOMETRIC:
            # Nearest-neighbour sampling: a pixel may round the other way on a tie.
            assert (differ == 0).mean() > 0.99, (name, magnitude, (differ == 0).mean())
        else:
            # Float32 blends may land a hair either side of an integer.
            assert differ.max() <= 1 and (differ == 0).mean() > 0.999, (name, magnitude)


def test_the_policy_runs_in_tf_data_and_draws_every_operation():
    image = np.random.default_rng(0).integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
    seeds = tf.random.experimental.stateless_split(tf.constant([1, 2], tf.int64), 280)
    ds = tf.data.Dataset.from_tensor_slices(seeds).map(
        lambda seed: trivial_augment.trivial_augment_wide(tf.constant(image), seed))
    outputs = [x.numpy() for x in ds]
    assert all(x.shape == image.shape and x.dtype == np.uint8 for x in outputs)
    # Each of 14 operations with probability 1/14: over 280 draws, most outputs differ
    # from the input, and about 1/14 (Identity, and ops that change nothing) equal it.
    unchanged = np.mean([np.array_equal(x, image) for x in outputs])
    assert 0.02 < unchanged < 0.2

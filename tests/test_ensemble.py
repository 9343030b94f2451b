"""The ensemble view of residual networks (Veit et al. 2016): deletion, reordering, paths."""

import itertools
import math

import keras
import numpy as np
import pytest
from conftest import randomize_batch_norms, randomize_weights

import keras_resnet
from keras_resnet import analysis, cifar


def outputs(model, x):
    return keras.ops.convert_to_numpy(model(x, training=False))


def random_resnet20(rng):
    """ResNet-20 (8 px, one channel) with every weight drawn, BN statistics included.

    At its initial values a BN is the identity and the last BN of a block
    is not zero, but drawn weights make every block change the output, so
    a block deleted or swapped in the wrong place shows.
    """
    model = cifar.ResNet20(input_shape=(8, 8, 1), classifier_activation=None)
    randomize_weights(model, rng)
    randomize_batch_norms(model, rng)
    return model


# Counting is graph inspection, the same on every backend: TensorFlow only.
@pytest.mark.parametrize("depth", [20, 32, 56])
def test_path_counts_are_binomial_for_cifar_resnets(depth):
    # He et al. 2015, sec. 4.2: 6n + 2 layers are three stages of n blocks.
    n = 3 * (depth - 2) // 6
    model = keras_resnet.build(f"resnet{depth}", input_shape=(8, 8, 3))
    counts = analysis.path_length_counts(model)
    assert counts == [math.comb(n, k) for k in range(n + 1)]
    assert sum(counts) == 2**n
    assert len(analysis.residual_blocks(model)) == n


def test_path_counts_of_keras_applications_resnet50():
    # keras.applications' own model: blocks 3 + 4 + 6 + 3.
    model = keras.applications.ResNet50(weights=None, input_shape=(32, 32, 3), classes=10)
    assert analysis.path_length_counts(model) == [math.comb(16, k) for k in range(17)]
    # Nested in a classifier, the backbone's blocks still count.
    inputs = keras.Input((32, 32, 3))
    wrapped = keras.Model(inputs, keras.layers.Dense(2)(model(inputs)))
    assert analysis.path_length_counts(wrapped)[1] == 16


def test_plain_network_has_no_paths():
    with pytest.raises(ValueError, match="Received: model='plain20'"):
        analysis.path_length_counts(keras_resnet.build("plain20", input_shape=(8, 8, 1)))


@pytest.mark.backend_agnostic
def test_deleting_no_block_and_one_block_agree_with_the_lesion_code(rng):
    model = random_resnet20(rng)
    x = rng.normal(size=(64, 8, 8, 1)).astype("float32")
    intact = outputs(model, x)
    np.testing.assert_allclose(outputs(analysis.delete_blocks(model, []), x), intact, rtol=1e-6)
    y = np.argmax(intact, axis=-1)
    y[::3] = (y[::3] + 1) % 10  # an intact accuracy of 2/3 rather than 1
    curve = analysis.deletion_curve(model, (x, y), ks=[0, 1], draws=None)
    assert curve.errors[0] == pytest.approx([np.mean(np.argmax(intact, -1) != y)])
    # k = 1 with every subset drawn: each block deleted once, in network order.
    lesion = analysis.lesion(model, (x, y))
    assert curve.errors[1] == pytest.approx([1 - a for a in lesion.accuracies.values()])
    assert len(set(curve.errors[1])) > 3  # the deletions are told apart


@pytest.mark.backend_agnostic
def test_deleting_two_blocks_is_deleting_one_then_the_other(rng):
    model = random_resnet20(rng)
    x = rng.normal(size=(4, 8, 8, 1)).astype("float32")
    pair = ["conv2_block2", "conv3_block1"]  # one identity block, one that downsamples
    both = outputs(analysis.delete_blocks(model, pair), x)
    in_turn = analysis.delete_block(analysis.delete_block(model, pair[0]), pair[1])
    np.testing.assert_allclose(both, outputs(in_turn, x), rtol=1e-5, atol=1e-6)
    assert np.max(np.abs(both - outputs(analysis.delete_block(model, pair[0]), x))) > 1e-3


@pytest.mark.backend_agnostic
def test_deleting_every_block_leaves_stem_shortcuts_and_head(rng):
    # He et al.'s option A: the shortcuts subsample by 2 and append zero
    # channels where a stage starts; the ReLU after each Add passes the
    # stem's non-negative output unchanged. What is left, in NumPy: the
    # stem's output at every 4th pixel, averaged, into the classifier.
    model = random_resnet20(rng)
    x = rng.normal(size=(4, 8, 8, 1)).astype("float32")
    stem = outputs(keras.Model(model.input, model.get_layer("conv1_relu").output), x)
    kernel, bias = model.get_layer("predictions").get_weights()
    expected = stem[:, ::4, ::4, :].mean(axis=(1, 2)) @ kernel[:16] + bias
    lesioned = analysis.delete_blocks(model, analysis.residual_blocks(model))
    np.testing.assert_allclose(outputs(lesioned, x), expected, rtol=1e-5, atol=1e-5)
    assert np.max(np.abs(expected - outputs(model, x))) > 1e-2


@pytest.mark.backend_agnostic
def test_deletion_curve_of_a_plain_network_skips_the_downsampling_blocks(rng):
    model = keras_resnet.build("plain20", input_shape=(8, 8, 1))
    x = rng.normal(size=(8, 8, 8, 1)).astype("float32")
    curve = analysis.deletion_curve(model, (x, np.zeros(8, "int64")), draws=2, ks=[0, 1, 7])
    # 9 blocks, 2 of which change the shape: 7 candidates, C(7, 7) = 1.
    assert [len(v) for v in curve.errors.values()] == [1, 2, 1]
    with pytest.raises(ValueError, match="Received: ks=\\[8\\]"):
        analysis.deletion_curve(model, (x, np.zeros(8, "int64")), ks=[8])


def reordered_by_hand(model, order):
    """A fresh ResNet-20 whose block at position p carries the weights of block order[p]."""
    clone = cifar.ResNet20(input_shape=(8, 8, 1), classifier_activation=None)
    clone.set_weights(model.get_weights())
    for position, block in order.items():
        for layer in clone.layers:
            if layer.name.startswith(position + "_") and layer.weights:
                source = model.get_layer(block + layer.name[len(position) :])
                layer.set_weights(source.get_weights())
    return clone


@pytest.mark.backend_agnostic
def test_swapping_blocks_equals_a_network_built_in_the_new_order(rng):
    model = random_resnet20(rng)
    x = rng.normal(size=(4, 8, 8, 1)).astype("float32")
    intact = outputs(model, x)
    np.testing.assert_allclose(outputs(analysis.swap_blocks(model, []), x), intact, rtol=1e-6)

    swapped = outputs(analysis.swap_blocks(model, [("conv3_block2", "conv3_block3")]), x)
    by_hand = reordered_by_hand(
        model, {"conv3_block2": "conv3_block3", "conv3_block3": "conv3_block2"}
    )
    np.testing.assert_allclose(swapped, outputs(by_hand, x), rtol=1e-5, atol=1e-6)
    assert np.max(np.abs(swapped - intact)) > 1e-3

    # Two swaps sharing a position: (1 2) then (2 3) gives the order 2, 3, 1.
    pairs = [("conv2_block1", "conv2_block2"), ("conv2_block2", "conv2_block3")]
    by_hand = reordered_by_hand(
        model,
        {
            "conv2_block1": "conv2_block2",
            "conv2_block2": "conv2_block3",
            "conv2_block3": "conv2_block1",
        },
    )
    np.testing.assert_allclose(
        outputs(analysis.swap_blocks(model, pairs), x), outputs(by_hand, x), rtol=1e-5, atol=1e-6
    )


@pytest.mark.backend_agnostic
def test_only_blocks_of_equal_shape_swap(rng):
    model = cifar.ResNet20(input_shape=(8, 8, 1))
    # The first block of stages 3 and 4 downsamples; stage 2's first keeps 16 channels.
    assert analysis.swappable_groups(model) == [
        ["conv2_block1", "conv2_block2", "conv2_block3"],
        ["conv3_block2", "conv3_block3"],
        ["conv4_block2", "conv4_block3"],
    ]
    with pytest.raises(ValueError, match="Received: pair \\('conv3_block1', 'conv3_block2'\\)"):
        analysis.swap_blocks(model, [("conv3_block1", "conv3_block2")])
    x = rng.normal(size=(4, 8, 8, 1)).astype("float32")
    curve = analysis.reorder_curve(model, (x, np.zeros(4, "int64")), ks=[0, 2], draws=3)
    assert [len(v) for v in curve.errors.values()] == [1, 3]


def linear_resnet(weights):
    """Blocks ``x + x @ W``: a single bias-free Dense as the branch, identity shortcuts."""
    d = weights[0].shape[0]
    inputs = keras.Input((d,))
    x = inputs
    for i, w in enumerate(weights, 1):
        dense = keras.layers.Dense(d, use_bias=False, name=f"conv2_block{i}_1_dense")
        branch = dense(x)
        dense.set_weights([w])
        x = keras.layers.Add(name=f"conv2_block{i}_add")([x, branch])
    return keras.Model(inputs, x, name="linear")


@pytest.mark.backend_agnostic
def test_gradient_of_single_paths_in_a_linear_network(rng):
    # Unraveled, x (I + W1)(I + W2)...(I + Wn) is a sum over subsets S of
    # blocks of x times the product of the W's in S: the path through S.
    n, d = 4, 3
    weights = [rng.normal(0, 0.6 / np.sqrt(d), (d, d)).astype("float32") for _ in range(n)]
    model = linear_resnet(weights)
    x = rng.normal(size=(5, d)).astype("float32")
    y = rng.normal(size=(5, d)).astype("float32")
    full = np.linalg.multi_dot([np.eye(d) + w for w in weights])
    # Loss: per example, the mean squared error over the d outputs; summed.
    d_out = 2.0 * (x @ full - y) / d
    blocks = [f"conv2_block{i}" for i in range(1, n + 1)]

    total = np.zeros_like(x)
    for k in range(n + 1):
        for subset in itertools.combinations(range(n), k):
            product = np.eye(d)
            for i in subset:
                product = product @ weights[i]
            expected = d_out @ product.T
            got = analysis.path_gradient(
                model, (x, y), [blocks[i] for i in subset], loss="mean_squared_error"
            )
            np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)
            total += got
    # All 2**n paths together carry the whole gradient.
    np.testing.assert_allclose(total, d_out @ full.T, rtol=1e-4, atol=1e-6)

    result = analysis.gradient_by_path_length(
        model, (x, y), samples=None, loss="mean_squared_error"
    )
    assert result.counts == [1, 4, 6, 4, 1]
    for k in range(n + 1):
        norms = []
        for subset in itertools.combinations(range(n), k):
            product = np.eye(d)
            for i in subset:
                product = product @ weights[i]
            norms.append(np.mean(np.linalg.norm(d_out @ product.T, axis=1)))
        assert result.magnitudes[k] == pytest.approx(norms, rel=1e-4)
        assert result.effective()[k] == pytest.approx(math.comb(n, k) * np.mean(norms), rel=1e-4)


@pytest.mark.backend_agnostic
def test_path_gradient_of_a_resnet_reaches_the_first_block(rng):
    model = random_resnet20(rng)
    x = rng.normal(size=(4, 8, 8, 1)).astype("float32")
    y = np.arange(4)
    grad = analysis.path_gradient(
        model,
        (x, y),
        ["conv2_block1", "conv4_block3"],
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None),
    )
    assert grad.shape == (4, 8, 8, 16)  # the stem's output, stage 2's width
    assert np.all(np.isfinite(grad)) and np.any(grad != 0)
    with pytest.raises(ValueError, match="Received: block='conv5_block1'"):
        analysis.path_gradient(model, (x, y), ["conv5_block1"])


def test_plots_write_png(tmp_path):
    curves = [
        analysis.ErrorCurve("resnet", "deletion", {0: [0.1], 1: [0.12, 0.15], 2: [0.2, 0.3]}),
        analysis.ErrorCurve("plain", "deletion", {0: [0.1], 1: [0.9, 0.85], 2: [0.9, 0.9]}),
    ]
    analysis.plot_error_curves(curves, tmp_path / "deletion.png")
    gradients = analysis.PathGradients("resnet", [1, 2, 1], {0: [1.0], 1: [0.3, 0.2], 2: [0.05]})
    analysis.plot_paths(gradients, tmp_path / "paths.png")
    for name in ("deletion.png", "paths.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deletion.png", "paths.png"]

"""Lesion study (Veit et al. 2016) on networks trained on real data (sklearn digits)."""

import keras
import numpy as np
import pytest

import keras_resnet
from keras_resnet import analysis, cifar


def digits(size=8):
    """sklearn's 8x8 digits, upsampled to ``size`` px, split 1400 / 397.

    The test trains at the native 8 px: on 2 shared CPU cores a training
    step costs about the same at 8 and 16 px (it is overhead-bound), and
    8 px leaves room for enough steps that BN's moving statistics settle.
    """
    from sklearn.datasets import load_digits

    data = load_digits()
    scale = size // 8
    x = data.images.astype("float32") / 16.0
    x = np.repeat(np.repeat(x, scale, axis=1), scale, axis=2)[..., None]
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order], data.target[order]
    return (x[:1400], y[:1400]), (x[1400:], y[1400:])


def test_deleting_a_zero_branch_changes_nothing(rng):
    # With every residual branch zero-initialised, a block computes
    # ReLU(shortcut + 0): deleting it must give exactly the same outputs,
    # projection blocks included.
    model = keras_resnet.ResNet18(
        weights=None, zero_init_gamma=True, input_shape=(32, 32, 3), classifier_activation=None
    )
    x = rng.normal(size=(2, 32, 32, 3)).astype("float32")
    intact = keras.ops.convert_to_numpy(model(x, training=False))
    for block in ("conv2_block1", "conv3_block1", "conv5_block2"):
        lesioned = analysis.delete_block(model, block)
        out = keras.ops.convert_to_numpy(lesioned(x, training=False))
        np.testing.assert_allclose(out, intact, rtol=1e-5, atol=1e-5)
        # The trained variables are shared, not copied.
        assert {id(w) for w in lesioned.weights} < {id(w) for w in model.weights}


def test_deleting_a_plain_block_passes_its_input_through(rng):
    model = cifar.Plain20(include_top=False, input_shape=(16, 16, 3))
    names = analysis.block_names(model)
    assert names == [f"conv{s}_block{b}" for s in (2, 3, 4) for b in (1, 2, 3)]
    # The downsampling blocks change the shape: they cannot be skipped.
    assert analysis.delete_block(model, "conv3_block1") is None
    lesioned = analysis.delete_block(model, "conv4_block3")
    x = rng.normal(size=(1, 16, 16, 3)).astype("float32")
    inner = keras.Model(model.input, model.get_layer("conv4_block2_out").output)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(lesioned(x, training=False)),
        keras.ops.convert_to_numpy(inner(x, training=False)),
        rtol=1e-6,
    )


def test_bad_arguments():
    model = cifar.ResNet20(include_top=False, input_shape=(16, 16, 3))
    with pytest.raises(ValueError, match="Received: block='conv9_block1'"):
        analysis.delete_block(model, "conv9_block1")
    with pytest.raises(ValueError, match="`data`"):
        analysis.lesion(model, np.zeros((2, 16, 16, 3)))


@pytest.mark.slow
def test_resnet_survives_deleting_a_block_and_plain_net_does_not(tmp_path):
    (x_train, y_train), test = digits()
    results = {}
    for name in ("resnet20", "plain20"):
        keras.utils.set_random_seed(0)
        model = keras_resnet.build(name, input_shape=(8, 8, 1))
        model.compile(
            keras.optimizers.SGD(0.05, momentum=0.9),
            "sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        model.fit(x_train, y_train, batch_size=32, epochs=5, verbose=0)
        results[name] = analysis.lesion(model, test, plot=tmp_path / f"{name}.png")
        assert (tmp_path / f"{name}.png").stat().st_size > 0

    resnet, plain = results["resnet20"], results["plain20"]
    assert resnet.baseline > 0.9  # trained: far above chance (0.1)
    assert plain.baseline > 0.2
    # Veit et al.: removing one block of a ResNet costs little; removing a
    # layer of a plain net breaks its only path (their Figure 3). Measured
    # as the share of the intact accuracy that is kept, median over blocks.
    resnet_kept = np.nanmedian(list(resnet.accuracies.values())) / resnet.baseline
    plain_kept = np.nanmedian(list(plain.accuracies.values())) / plain.baseline
    assert resnet_kept > 0.85, resnet
    assert plain_kept < 0.6, plain
    resnet_mean = np.nanmean(list(resnet.accuracies.values()))
    plain_mean = np.nanmean(list(plain.accuracies.values()))
    assert resnet_mean > plain_mean + 0.3, (resnet, plain)

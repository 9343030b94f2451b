"""Stochastic depth (Huang et al. 2016): the layer, the linear decay rule, saving."""

import keras
import numpy as np
import pytest

import keras_resnet
from keras_resnet import cifar
from keras_resnet.architectures import residual
from keras_resnet.architectures.layers import StochasticDepth


@pytest.mark.backend_agnostic
def test_inference_scales_by_survival_probability_deterministically(rng):
    x = rng.normal(size=(4, 5, 5, 3)).astype("float32")
    layer = StochasticDepth(0.7)
    first = keras.ops.convert_to_numpy(layer(x, training=False))
    second = keras.ops.convert_to_numpy(layer(x))
    # The paper's test-time rule: the branch times its survival probability.
    np.testing.assert_allclose(first, 0.7 * x, rtol=1e-6)
    np.testing.assert_array_equal(first, second)


@pytest.mark.backend_agnostic
def test_training_keeps_the_whole_batch_at_the_survival_rate(rng):
    x = rng.normal(size=(3, 4)).astype("float32") + 5.0  # never 0
    layer = StochasticDepth(0.7, seed=1)
    calls = 1000
    kept = 0
    for _ in range(calls):
        y = keras.ops.convert_to_numpy(layer(x, training=True))
        # One coin per call: the whole batch passes unscaled, or is zero.
        assert np.array_equal(y, x) or not y.any()
        kept += bool(y.any())
    rate = kept / calls
    sigma = (0.7 * 0.3 / calls) ** 0.5
    assert abs(rate - 0.7) < 4 * sigma, rate
    assert 0 < kept < calls  # random, not constant


@pytest.mark.backend_agnostic
def test_per_sample_mode_keeps_each_example_at_the_survival_rate(rng):
    x = np.ones((4000, 2, 2, 1), "float32")
    layer = StochasticDepth(0.6, per_sample=True, seed=3)
    y = keras.ops.convert_to_numpy(layer(x, training=True))
    kept = y.reshape(4000, -1).max(axis=1)
    assert set(np.unique(kept)) == {0.0, 1.0}
    sigma = (0.6 * 0.4 / 4000) ** 0.5
    assert abs(kept.mean() - 0.6) < 4 * sigma


def test_linear_decay_to_p_l():
    # p_l = 1 - l / L * (1 - p_L), l = 1..L (Huang et al., eq. 4); L = 9 for ResNet-20.
    model = cifar.ResNet20(survival_prob=0.5)
    drops = [layer for layer in model.layers if isinstance(layer, StochasticDepth)]
    assert [layer.name for layer in drops][0] == "conv2_block1_drop"
    expected = [1 - l / 9 * 0.5 for l in range(1, 10)]
    np.testing.assert_allclose([layer.survival_prob for layer in drops], expected)
    assert drops[-1].survival_prob == pytest.approx(0.5)
    # ImageNet families too: ResNet-50 has 16 blocks.
    resnet50 = keras_resnet.ResNet50(weights=None, survival_prob=0.8, input_shape=(32, 32, 3))
    probs = [layer.survival_prob for layer in resnet50.layers if isinstance(layer, StochasticDepth)]
    np.testing.assert_allclose(probs, [1 - l / 16 * 0.2 for l in range(1, 17)])
    assert resnet50.count_params() == keras_resnet.ResNet50(
        weights=None, input_shape=(32, 32, 3)
    ).count_params()


def test_models_without_the_option_have_no_drop_layers():
    model = keras_resnet.ResNet50V2(weights=None, input_shape=(32, 32, 3))
    assert not any(isinstance(layer, StochasticDepth) for layer in model.layers)


def test_model_is_deterministic_at_inference_and_random_in_training(rng):
    model = cifar.ResNet20(survival_prob=0.5)
    x = rng.normal(size=(2, 32, 32, 3)).astype("float32")
    a = keras.ops.convert_to_numpy(model(x, training=False))
    b = keras.ops.convert_to_numpy(model(x, training=False))
    np.testing.assert_array_equal(a, b)
    # BN uses batch statistics in training, the same for every call; only
    # the dropped blocks change between calls.
    outs = [keras.ops.convert_to_numpy(model(x, training=True)) for _ in range(6)]
    assert any(not np.allclose(outs[0], o) for o in outs[1:])


@pytest.mark.parametrize("value", [0.0, 1.5, True, "half"])
def test_bad_survival_prob_is_refused(value):
    with pytest.raises(ValueError, match="survival_prob"):
        residual.linear_survival_probs(4, value)
    with pytest.raises(ValueError, match="survival_prob"):
        StochasticDepth(value)


@pytest.mark.backend_agnostic
def test_keras_file_round_trip_in_safe_mode(tmp_path, rng):
    model = cifar.ResNet20(survival_prob=0.5, zero_init_gamma=True)
    x = rng.normal(size=(2, 32, 32, 3)).astype("float32")
    expected = keras.ops.convert_to_numpy(model(x, training=False))
    path = tmp_path / "resnet20_sd.keras"
    model.save(path)
    # No custom_objects: the layers are registered under "keras_resnet".
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(x, training=False)), expected, rtol=1e-5, atol=1e-6
    )
    drops = [layer for layer in loaded.layers if isinstance(layer, StochasticDepth)]
    assert len(drops) == 9 and drops[-1].survival_prob == pytest.approx(0.5)
    pads = [layer.name for layer in loaded.layers if type(layer).__name__ == "ZeroPadShortcut"]
    assert pads == ["conv3_block1_0_pad", "conv4_block1_0_pad"]

"""Shared fixtures: a clean Keras session per test, and backend helpers."""

import keras
import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _fresh_keras_session():
    """Resets layer-name counters and the global data format around each test."""
    data_format = keras.config.image_data_format()
    keras.backend.clear_session()
    yield
    keras.config.set_image_data_format(data_format)
    keras.backend.clear_session()


@pytest.fixture
def rng():
    return np.random.default_rng(0)


requires_tensorflow = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="needs the TensorFlow backend"
)


# Random weights for numerical comparisons. A model at its initial values hides
# mistakes: a fresh BatchNorm is the identity (gamma 1, beta 0, mean 0,
# variance 1), so a wrongly mapped or wrongly folded BN would still agree.
# These helpers work on Keras 3 and tf_keras (Keras 2) objects alike.


def _is_positive(weight_name):
    """Scales and variances must stay positive for BN to stay well defined."""
    return "gamma" in weight_name or "moving_variance" in weight_name


def randomize_weights(model, rng, *, trainable_layers_only=False):
    """Draws every weight of ``model`` (BN statistics included).

    Kernels are drawn with a 1/sqrt(fan-in) scale so activations stay O(1)
    through deep networks; gammas and variances uniformly in [0.5, 1.5].

    Args:
        model: A Keras 3 or tf_keras model.
        rng: A ``numpy.random.Generator``.
        trainable_layers_only: Leave layers without trainable weights as
            they are (a frozen constant kernel, say).
    """
    for layer in model.layers:
        if not layer.weights or (trainable_layers_only and not layer.trainable_weights):
            continue
        arrays = []
        for weight in layer.weights:
            shape = tuple(weight.shape)
            if _is_positive(weight.name):
                arrays.append(rng.uniform(0.5, 1.5, shape))
            else:
                fan_in = np.prod(shape[:-1]) if len(shape) > 1 else 10
                arrays.append(rng.normal(0, 1 / np.sqrt(fan_in), shape))
        layer.set_weights([a.astype("float32") for a in arrays])


def randomize_batch_norms(model, rng):
    """Gives every BatchNormalization layer affine parameters and moving statistics
    far from their initial values; other weights are left as they are."""
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            channels = layer.get_weights()[0].shape
            layer.set_weights([
                rng.uniform(0.5, 1.5, channels).astype("float32"),  # gamma
                rng.normal(0.0, 0.2, channels).astype("float32"),  # beta
                rng.normal(0.0, 0.2, channels).astype("float32"),  # moving mean
                rng.uniform(0.5, 2.0, channels).astype("float32"),  # moving variance
            ])


def relative_error(actual, expected):
    """The largest absolute difference, relative to the largest expected value."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    return float(np.max(np.abs(actual - expected)) / np.max(np.abs(expected)))

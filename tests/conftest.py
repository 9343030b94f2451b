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


def backend():
    return keras.backend.backend()


requires_tensorflow = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="needs the TensorFlow backend"
)

"""Numerical equality with independent implementations: Keras 2 (tf_keras)
weight files, and the two data formats against each other."""

import keras
import numpy as np
import pytest

import keras_resnet
from keras_resnet import preprocessing

import catalogue_rows
from conftest import randomize_batch_norms, relative_error, requires_tensorflow


@requires_tensorflow
@pytest.mark.slow
@pytest.mark.parametrize(
    "name, builder",
    [
        ("resnet50", "ResNet50"),
        ("resnet101", "ResNet101"),
        ("resnet152", "ResNet152"),
        ("resnet50v2", "ResNet50V2"),
        ("resnet101v2", "ResNet101V2"),
        ("resnet152v2", "ResNet152V2"),
    ],
)
def test_legacy_h5_from_tf_keras_loads_with_equal_outputs(name, builder, tmp_path, rng):
    tf_keras = pytest.importorskip("tf_keras")
    reference = getattr(tf_keras.applications, builder)(
        weights=None, input_shape=(64, 64, 3), classifier_activation=None
    )
    randomize_batch_norms(reference, rng)
    path = str(tmp_path / f"{name}.h5")
    reference.save_weights(path)  # the legacy HDF5 layout of Keras 2

    ours = keras_resnet.build(
        name, weights=path, input_shape=(64, 64, 3), classifier_activation=None
    )
    images = rng.uniform(0, 255, size=(2, 64, 64, 3)).astype("float32")
    x = keras_resnet.catalog.preprocess_input_for(name)(images)
    expected = reference.predict(x, verbose=0)
    actual = keras.ops.convert_to_numpy(ours.predict(x, verbose=0))
    assert relative_error(actual, expected) < 1e-5
    tf_keras.backend.clear_session()


@pytest.mark.backend_agnostic
@pytest.mark.parametrize("name", catalogue_rows.one_of_each_block())
def test_channels_first_shapes(name):
    keras.config.set_image_data_format("channels_first")
    model = keras_resnet.build(name, weights=None, include_top=False, input_shape=(3, 64, 96))
    channels = 512 if name == "resnet18" else 2048
    assert model.output_shape == (None, channels, 2, 3)
    size = keras_resnet.catalog.get(name).default_size  # 224; ecaresnet26t: 256
    assert keras_resnet.build(name, weights=None).input_shape == (None, 3, size, size)


@pytest.mark.backend_agnostic
@pytest.mark.parametrize("name", catalogue_rows.one_of_each_block())
def test_channels_first_numerics_equal_channels_last(name, rng):
    """The same weights give the same outputs in both layouts."""
    last = keras_resnet.build(name, weights=None, input_shape=(64, 64, 3), classes=10)
    randomize_batch_norms(last, rng)
    keras.config.set_image_data_format("channels_first")
    first = keras_resnet.build(name, weights=None, input_shape=(3, 64, 64), classes=10)
    # Kernels and BN vectors are stored the same way in both formats.
    first.set_weights(last.get_weights())

    images = rng.uniform(0, 255, size=(2, 64, 64, 3)).astype("float32")
    mode = keras_resnet.catalog.get(name).preprocessing
    x_last = preprocessing.preprocess_input(images, data_format="channels_last", mode=mode)
    x_first = preprocessing.preprocess_input(
        images.transpose(0, 3, 1, 2), data_format="channels_first", mode=mode
    )
    np.testing.assert_allclose(x_first, x_last.transpose(0, 3, 1, 2), rtol=1e-6)
    out_first = keras.ops.convert_to_numpy(_run(first, x_first))
    out_last = keras.ops.convert_to_numpy(last(x_last))
    assert relative_error(out_first, out_last) < 1e-5


def _run(model, x):
    """Runs ``model`` on ``x``; through XLA on TensorFlow.

    TensorFlow's own CPU convolution kernels take NHWC only: channels_first
    runs where oneDNN is enabled (by default on CPUs with AVX-512 VNNI, BF16
    or AMX) or under XLA, which compiles NCHW on every CPU.
    """
    if keras.backend.backend() != "tensorflow":
        return model(x)
    import tensorflow as tf

    return tf.function(lambda x: model(x, training=False), jit_compile=True)(x)

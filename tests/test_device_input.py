"""uint8 batches to the device: ``InputPreprocessing`` against the float pipeline and the formulas.

References: ``keras_resnet.preprocessing.preprocess_input`` (the float
convention of release 0.2), the float ``tf.data`` pipeline on the same
crops, AlexNet's published PCA eigenvectors, and binomial bounds for the
flip. Runs on every backend.
"""

import numpy as np
import pytest

import keras
from keras_resnet import data, training
from keras_resnet.data import device
from keras_resnet.preprocessing import preprocess_input
from keras_resnet.training import recipes

pytestmark = pytest.mark.backend_agnostic

MODES = ("caffe", "tf", "torch")


def images(n=8, size=16, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


@pytest.mark.parametrize("mode", MODES)
def test_inference_equals_preprocess_input_on_floats(mode):
    x = images()
    ours = numpy(device.InputPreprocessing(mode)(x, training=False))
    reference = preprocess_input(x.astype("float32"), mode=mode)
    np.testing.assert_allclose(ours, reference, rtol=1e-6, atol=1e-5)


def test_channels_first_transposes_after_preprocessing():
    x = images()
    ours = numpy(device.InputPreprocessing("torch", data_format="channels_first")(x))
    reference = preprocess_input(x.astype("float32"), mode="torch")
    np.testing.assert_allclose(ours, reference.transpose(0, 3, 1, 2), rtol=1e-6, atol=1e-5)


def test_uint8_pipeline_and_device_layer_equal_the_host_float_pipeline():
    # The same crops both ways: uint8 batches then the layer, against
    # make_dataset's host-side preprocessing (float32 batches).
    x = images(12, 20)
    labels = np.arange(12) % 3
    transform = data.eval_transform("imagenet", image_size=16)
    uint8 = next(iter(data.make_dataset(x, labels, transform=transform, batch_size=12)))[0]
    assert uint8.dtype.name == "uint8"
    host = data.make_dataset(
        x, labels, transform=transform, batch_size=12, preprocessing_mode="caffe",
        data_format="channels_last",
    )
    host = next(iter(host))[0].numpy()
    assert host.dtype == np.float32
    ours = numpy(device.InputPreprocessing("caffe")(uint8.numpy()))
    np.testing.assert_allclose(ours, host, rtol=1e-6, atol=1e-4)


def test_flip_flips_about_half_the_images_and_nothing_else():
    x = images(400, 8)
    layer = device.InputPreprocessing("tf", flip=True, seed=1)
    out = numpy(layer(x, training=True))
    plain = x / 127.5 - 1.0
    same = np.isclose(out, plain, atol=1e-6).reshape(400, -1).all(axis=1)
    mirrored = np.isclose(out, plain[:, :, ::-1], atol=1e-6).reshape(400, -1).all(axis=1)
    assert (same | mirrored).all()
    # Binomial(400, 1/2): 200 +- 3.9 standard deviations.
    assert 161 <= mirrored.sum() <= 239
    np.testing.assert_allclose(numpy(layer(x, training=False)), plain, atol=1e-6)


def test_lighting_noise_is_alexnets_pca_offset_per_image():
    n = 600
    x = np.full((n, 4, 4, 3), 128, np.uint8)
    layer = device.InputPreprocessing("tf", pca_std=0.1, seed=3)
    out = numpy(layer(x, training=True))
    offset = (out + 1.0) * 127.5 - 128.0  # Undo "tf" preprocessing.
    # One RGB offset per image, the same at every pixel.
    np.testing.assert_allclose(offset, np.broadcast_to(offset[:, :1, :1], offset.shape), atol=1e-3)
    rgb = offset[:, 0, 0]
    # offset = 255 * eigvec @ (alpha * eigval): solve for alpha, ~ N(0, 0.1).
    eigvec = np.array(device.PCA_EIGENVECTORS)
    eigval = np.array(device.PCA_EIGENVALUES)
    alpha = np.linalg.solve(eigvec, rgb.T / 255.0).T / eigval
    assert np.abs(alpha.mean(axis=0)).max() < 0.02
    np.testing.assert_allclose(alpha.std(axis=0), 0.1, rtol=0.12)


def test_mixed_precision_outputs_the_compute_dtype():
    layer = device.InputPreprocessing("torch", dtype="mixed_float16")
    assert keras.backend.standardize_dtype(layer(images()).dtype) == "float16"


def test_bad_mode_and_lighting_are_refused_in_one_line():
    with pytest.raises(ValueError, match="mode='bgr'"):
        device.InputPreprocessing("bgr")
    with pytest.raises(ValueError, match="pca_std=2"):
        device.InputPreprocessing("tf", pca_std=2)


@pytest.mark.parametrize("name", ["small-resnet", "resnet20"])
def test_weight_files_serve_the_model_with_and_without_the_layer(name, tmp_path):
    plain = training.build_model(name, classes=3, image_size=16)
    uint8 = training.build_model(
        name, classes=3, image_size=16, input_preprocessing={"flip": True, "pca_std": 0.1}
    )
    assert uint8.inputs[0].dtype == "uint8"
    plain.save_weights(tmp_path / "plain.weights.h5")
    uint8.load_weights(tmp_path / "plain.weights.h5")
    x = images(4)
    mode = training.preprocessing_mode(name)
    np.testing.assert_allclose(
        numpy(uint8.predict(x, verbose=0)),
        numpy(plain.predict(preprocess_input(x.astype("float32"), mode=mode), verbose=0)),
        rtol=1e-4, atol=1e-5,
    )
    uint8.save_weights(tmp_path / "uint8.weights.h5")
    again = training.build_model(name, classes=3, image_size=16)
    again.load_weights(tmp_path / "uint8.weights.h5")
    for a, b in zip(again.get_weights(), plain.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_uint8_model_saves_as_keras_in_safe_mode_and_trains_a_step(tmp_path):
    model = training.build_model(
        "small-resnet", classes=3, image_size=16, input_preprocessing={"flip": True}
    )
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    x = images(6)
    np.testing.assert_allclose(
        numpy(loaded.predict(x, verbose=0)), numpy(model.predict(x, verbose=0)), atol=1e-6
    )
    loaded.compile("sgd", "sparse_categorical_crossentropy")
    before = [w.copy() for w in loaded.get_weights()]
    loaded.fit(x, np.arange(6) % 3, batch_size=3, epochs=1, verbose=0)
    assert any(not np.array_equal(a, b) for a, b in zip(before, loaded.get_weights()))


def test_recipes_name_the_pipelines_augmentations():
    # recipes repeats the tuple so that a recipe is checked before TensorFlow loads.
    assert recipes.AUGMENTATIONS == data.AUGMENTATIONS
    for augmentation in data.AUGMENTATIONS:
        assert set(data.device_augmentation(augmentation)) == {"flip", "pca_std"}
    assert data.device_augmentation("imagenet") == {"flip": True, "pca_std": 0.1}
    assert data.device_augmentation("translate") == {"flip": False, "pca_std": 0.0}

"""preprocess_input against keras.applications' own; the shipped class index."""

import keras
import numpy as np
import pytest

import keras_resnet
from keras_resnet import preprocessing

pytestmark = pytest.mark.backend_agnostic

# keras.applications' preprocessing per family, the reference for ours.
KERAS_MODULES = {
    "resnet50": keras.applications.resnet,
    "resnet50v2": keras.applications.resnet_v2,
}


@pytest.mark.parametrize("mode", preprocessing.MODES)
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_matches_keras_imagenet_utils(mode, data_format, rng):
    shape = (2, 8, 8, 3) if data_format == "channels_last" else (2, 3, 8, 8)
    images = rng.uniform(0, 255, size=shape).astype("float32")
    expected = keras.applications.imagenet_utils.preprocess_input(
        images.copy(), data_format=data_format, mode=mode
    )
    ours = preprocessing.preprocess_input(images, data_format=data_format, mode=mode)
    np.testing.assert_allclose(ours, expected, rtol=1e-6, atol=1e-5)
    tensor = preprocessing.preprocess_input(
        keras.ops.convert_to_tensor(images), data_format=data_format, mode=mode
    )
    np.testing.assert_allclose(keras.ops.convert_to_numpy(tensor), expected, rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize("name", list(KERAS_MODULES))
def test_family_modes_match_keras(name, rng):
    images = rng.uniform(0, 255, size=(1, 8, 8, 3)).astype("float32")
    expected = KERAS_MODULES[name].preprocess_input(images.copy())
    actual = keras_resnet.catalog.preprocess_input_for(name)(images)
    np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-5)


def test_integer_images_are_converted_not_truncated():
    images = np.full((1, 2, 2, 3), 255, dtype="uint8")
    out = preprocessing.preprocess_input(images, mode="tf")
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, 1.0)


def test_bad_mode_and_format_are_named():
    with pytest.raises(ValueError, match="`mode`.*Received: mode='pytorch'"):
        preprocessing.preprocess_input(np.zeros((1, 4, 4, 3)), mode="pytorch")
    with pytest.raises(ValueError, match="`data_format`.*Received: data_format='NHWC'"):
        preprocessing.preprocess_input(np.zeros((1, 4, 4, 3)), data_format="NHWC")


def test_class_index_is_the_standard_imagenet_order():
    index = preprocessing.imagenet_class_index()
    wnids = [index[i][0] for i in range(1000)]
    assert len(set(wnids)) == 1000
    # ILSVRC-2012 orders its classes by WordNet id.
    assert wnids == sorted(wnids)
    assert index[0] == ("n01440764", "tench")
    assert index[281] == ("n02123045", "tabby")


def test_decode_predictions_orders_by_score():
    preds = np.zeros((2, 1000), dtype="float32")
    preds[0, [3, 281, 7]] = [0.2, 0.7, 0.1]
    preds[1, 999] = 1.0
    decoded = keras_resnet.decode_predictions(preds, top=3)
    assert [row[1] for row in decoded[0]] == ["tabby", "tiger_shark", "cock"]
    assert decoded[0][0][2] == pytest.approx(0.7)
    assert decoded[1][0][:2] == ("n15075141", "toilet_tissue")
    with pytest.raises(ValueError, match=r"Received: preds.shape=\(2, 10\)"):
        keras_resnet.decode_predictions(np.zeros((2, 10)))

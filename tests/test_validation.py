"""Every bad argument raises a ValueError that names it and echoes the value."""

import keras
import pytest

import keras_resnet

pytestmark = pytest.mark.backend_agnostic


def _raises(match, **kwargs):
    kwargs.setdefault("weights", None)
    with pytest.raises(ValueError, match=match):
        keras_resnet.ResNet50(**kwargs)


def test_weights_must_be_none_imagenet_or_an_existing_file():
    _raises(r"`weights`.*Received: weights='/no/such/file.h5'", weights="/no/such/file.h5")
    _raises(r"`weights`.*Received: weights=3", weights=3)


def test_unknown_weights_tag_lists_the_known_ones():
    _raises(r"imagenet.*Received: weights='imagenet21k'", weights="imagenet21k")


@pytest.mark.parametrize("classes", [0, -3, 2.5, "10", True])
def test_classes_must_be_a_positive_integer(classes):
    _raises(r"`classes`.*Received: classes=", classes=classes)


@pytest.mark.parametrize("shape", [(224, 224), (1, 224, 224, 3), 224])
def test_input_shape_must_be_three_dimensional(shape):
    _raises(r"`input_shape` must be a tuple of three integers.*Received: input_shape=", input_shape=shape)


@pytest.mark.parametrize("shape", [(64, 64, 0), (64, -1, 3), (64, 64, 2.5), (True, 64, 3)])
def test_input_shape_dimensions_must_be_positive_integers(shape):
    _raises(r"`input_shape` should hold positive integers.*Received: input_shape=", input_shape=shape, include_top=False)


def test_input_shape_sides_must_be_at_least_32():
    _raises(r"at least 32x32\. Received: input_shape=\(31, 64, 3\)", input_shape=(31, 64, 3), include_top=False)


def test_pretrained_weights_need_three_channels():
    _raises(
        r"3 input channels\. Received: input_shape=\(64, 64, 1\)",
        weights="imagenet",
        include_top=False,
        input_shape=(64, 64, 1),
    )


def test_pretrained_top_needs_the_training_resolution():
    _raises(r"should be \(224, 224, 3\)\. Received: input_shape=\(160, 160, 3\)",
            weights="imagenet", input_shape=(160, 160, 3))


def test_top_needs_a_static_input_shape():
    _raises(r"static `input_shape`\. Received: input_shape=\(None, None, 3\)",
            input_shape=(None, None, 3))


def test_unknown_pooling_is_an_error_not_ignored():
    _raises(r"`pooling`.*Received: pooling='mean'", include_top=False, pooling="mean")


def test_classifier_activation_with_pretrained_weights():
    _raises(r"`classifier_activation`.*Received: classifier_activation='sigmoid'",
            weights="imagenet", classifier_activation="sigmoid")


def test_valid_non_default_arguments_are_accepted():
    """The other side of the checks: what Keras accepts, we accept."""
    model = keras_resnet.ResNet50(weights=None, input_shape=(64, 64, 1), classes=7,
                                  classifier_activation="sigmoid")
    assert model.output_shape == (None, 7)
    model = keras_resnet.ResNet50(weights=None, include_top=False, pooling="max",
                                  input_shape=(None, 80, 3))
    assert model.output_shape == (None, 2048)
    if keras.config.image_data_format() == "channels_last":
        assert model.input_shape == (None, None, 80, 3)

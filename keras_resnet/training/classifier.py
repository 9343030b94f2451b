"""Classifiers for training, by catalogue name, at a chosen image size."""

import keras

from keras_resnet import catalog
from keras_resnet.architectures import cifar, common
from keras_resnet.data import device

#: The demo's network by name.
SMALL_MODEL = cifar.SMALL_RESNET


def model_names():
    """Names accepted by ``build_model``: every catalogued model."""
    return catalog.list_models(None, include_plain=True)


def preprocessing_mode(name, weights=None):
    """The ``preprocess_input`` mode ``build_model(name, weights=weights)`` expects."""
    return catalog.preprocessing_mode(name, weights)


def build_model(name, *, classes, image_size, weights=None, input_preprocessing=None):
    """Builds a classifier by name for ``classes`` classes at ``image_size``.

    With registered weights (``"imagenet"``) and ``classes != 1000`` the
    pretrained backbone gets a new, freshly initialised softmax classifier.

    Args:
        name: A catalogue name.
        classes: Number of classes.
        image_size: Input side.
        weights: ``None``, ``"imagenet"`` or a file.
        input_preprocessing: ``None``: the model takes preprocessed float
            inputs in Keras's data format (keras.applications' convention).
            A dict of ``data.device.InputPreprocessing`` options
            (``{"flip": True, "pca_std": 0.1}``, ``{}`` for none; ``"mode"``
            overrides the ``preprocess_input`` mode of ``name``): the model
            takes uint8 RGB, channels last, and its first layer does the
            rest on the device. The layer has no weights: weight files are
            the same either way.

    Raises:
        ValueError: For an unknown name, or weights the model cannot take.
    """
    weights = None if weights == "none" else weights
    shape = common.image_shape(image_size)
    if input_preprocessing is None:
        return catalog.build(name, weights=weights, classes=classes, input_shape=shape)
    # The layer is part of the network's own graph (not a nested model), so
    # every other layer keeps its name and weight path.
    inputs = keras.Input((image_size, image_size, 3), dtype="uint8")
    options = {"mode": preprocessing_mode(name, weights), **input_preprocessing}
    layer = device.InputPreprocessing(name="input_preprocessing", **options)
    return catalog.build(
        name, weights=weights, classes=classes, input_shape=shape, input_tensor=layer(inputs)
    )

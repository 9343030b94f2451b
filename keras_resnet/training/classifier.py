"""Classifiers for training, by catalogue name, at a chosen image size."""

from keras_resnet import catalog
from keras_resnet.architectures import cifar, common


#: The demo's network by name.
SMALL_MODEL = cifar.SMALL_RESNET


def model_names():
    """Names accepted by ``build_model``: every catalogued model."""
    return catalog.list_models(None, include_plain=True)


def preprocessing_mode(name, weights=None):
    """The ``preprocess_input`` mode ``build_model(name, weights=weights)`` expects."""
    return catalog.preprocessing_mode(name, weights)


def build_model(name, *, classes, image_size, weights=None):
    """Builds a classifier by name for ``classes`` classes at ``image_size``.

    With registered weights (``"imagenet"``) and ``classes != 1000`` the
    pretrained backbone gets a new, freshly initialised softmax classifier.

    Raises:
        ValueError: For an unknown name, or weights the model cannot take.
    """
    weights = None if weights == "none" else weights
    return catalog.build(
        name, weights=weights, classes=classes, input_shape=common.image_shape(image_size)
    )

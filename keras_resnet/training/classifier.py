"""Classifiers for training, by catalogue name, at a chosen image size."""

import os

import keras

from keras_resnet import catalog
from keras_resnet import weights as weights_lib
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


def build_model(name, *, classes, image_size, weights=None, input_preprocessing=None,
                **build_options):
    """Builds a classifier by name for ``classes`` classes at ``image_size``.

    With registered weights (``"imagenet"``) and ``classes != 1000`` the
    pretrained backbone gets a new, freshly initialised softmax classifier.

    Args:
        name: A catalogue name.
        classes: Number of classes.
        image_size: Input side; None for any (a recipe that evaluates at
            another size than it trains at, FixRes).
        weights: ``None``, ``"imagenet"`` or a file.
        input_preprocessing: ``None``: the model takes preprocessed float
            inputs in Keras's data format (keras.applications' convention).
            A dict of ``data.device.InputPreprocessing`` options
            (``{"flip": True, "pca_std": 0.1}``, ``{}`` for none; ``"mode"``
            overrides the ``preprocess_input`` mode of ``name``): the model
            takes uint8 RGB, channels last, and its first layer does the
            rest on the device. The layer has no weights: weight files are
            the same either way.
        **build_options: More arguments of the catalogue's builder
            (``classifier_activation``, ``drop_path``).

    Raises:
        ValueError: For an unknown name, or weights the model cannot take.
    """
    weights = None if weights == "none" else weights
    shape = common.image_shape(image_size)
    arguments = dict(weights=weights, classes=classes, input_shape=shape, **build_options)
    if input_preprocessing is not None:
        # The layer is part of the network's own graph (not a nested model), so
        # every other layer keeps its name and weight path.
        inputs = keras.Input((image_size, image_size, 3), dtype="uint8")
        options = {"mode": preprocessing_mode(name, weights), **input_preprocessing}
        layer = device.InputPreprocessing(name="input_preprocessing", **options)
        arguments["input_tensor"] = layer(inputs)
    if image_size is not None:
        return catalog.build(name, **arguments)
    # keras.applications' classifier wants a static size; the same layers,
    # named as its own, on a backbone of any size (a pretrained one's
    # classifier is then new, as for another number of classes).
    activation = arguments.pop("classifier_activation", "softmax")
    backbone = catalog.build(name, include_top=False, pooling="avg", **arguments)
    outputs = keras.layers.Dense(classes, activation=activation, name=weights_lib.HEAD)(
        backbone.output
    )
    return keras.Model(backbone.inputs, outputs, name=backbone.name)


def is_weights_file(weights):
    """Whether a ``--weights`` value names a file rather than ``none`` or a registered tag."""
    return weights not in (None, "none") and weights_lib.is_path(weights)


def load_weights_file(model, path, *, new_head=False):
    """Loads a weight file of any format the package reads into a ``build_model`` classifier.

    Args:
        model: A model from ``build_model`` (its classifier is the
            ``predictions`` layer).
        path: A ``.h5`` (Keras 2 / tf_keras), ``.weights.h5``, ``.keras``,
            ``.pth``, ``.pt``, ``.bin`` or ``.safetensors`` file.
        new_head: Fine-tuning: when the file's classifier is for another
            number of classes, or the file has none, load the backbone and
            keep the model's new classifier. Without it the file must hold
            a classifier of the model's width (evaluation, prediction).

    Returns:
        One line saying what was loaded, for the user.

    Raises:
        FileNotFoundError: If there is no file at ``path``.
        ValueError: If the file is unreadable (``WeightsFileError``), its
            backbone is another architecture's (``WeightsMismatchError``),
            or, without ``new_head``, its classifier is missing or of
            another width; each one line naming the file. In that last
            case the backbone has been loaded already.

    Example:
        >>> model = build_model("resnet18", classes=2, image_size=64)
        >>> load_weights_file(model, "r18.pth", new_head=True)
        "loaded the backbone of r18.pth; new 2-class classifier (the file's is for 1000 classes)"
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"weights file not found: {path}")
    classes = model.get_layer(weights_lib.HEAD).units
    # One pass over the file: the backbone must fit; the classifier is taken
    # only where it fits, and whether a new one will do is decided here.
    loaded = weights_lib.load_file(model, path, new_head=True)
    if loaded.head:
        return f"loaded {os.path.basename(path)}, its {classes}-class classifier included"
    if not new_head:
        found = (
            "the file has no classifier (a backbone-only file)" if loaded.classes is None
            else f"the file's classifier is for {loaded.classes} classes"
        )
        raise weights_lib.WeightsMismatchError(
            f"{path} does not fit model {model.name!r}: {found}, the model's for {classes}."
        )
    found = (
        "the file has none" if loaded.classes is None
        else f"the file's is for {loaded.classes} classes"
    )
    name = os.path.basename(path)
    return f"loaded the backbone of {name}; new {classes}-class classifier ({found})"

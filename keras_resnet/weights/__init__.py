"""Pretrained weights: the registry, verified downloads, and loading any file.

Modules:
    registry: one record per weight file (``registry.json``), ``register_weights``.
    download: fetching a record's file into the Keras cache, verified.
    loading: reading legacy ``.h5``, ``.weights.h5`` and ``.keras`` files.
    legacy_resnext: converting keras-applications' ResNeXt layout.

Example:
    >>> import keras_resnet
    >>> model = keras_resnet.ResNet50(weights=None, include_top=False)
    >>> keras_resnet.load_weights(model, "imagenet")          # registered tag
    >>> keras_resnet.load_weights(model, "/data/run/best.weights.h5")
"""

import os

from keras_resnet.weights.download import (
    WeightsDownloadError,
    WeightsIntegrityError,
    cache_dir,
    fetch,
)
from keras_resnet.weights.loading import HEAD, WeightsFileError, WeightsMismatchError, load_file
from keras_resnet.weights.registry import (
    URL_ENV,
    WeightsRecord,
    find,
    records,
    register_weights,
    resolve,
    tags,
)

__all__ = [
    "URL_ENV",
    "WeightsDownloadError",
    "WeightsFileError",
    "WeightsIntegrityError",
    "WeightsMismatchError",
    "WeightsRecord",
    "cache_dir",
    "check_weights_arg",
    "fetch",
    "find",
    "load_weights",
    "records",
    "register_weights",
    "resolve",
    "tags",
]


def is_path(weights):
    """True when ``weights`` is meant as a file rather than a registered tag.

    A registered tag wins over a same-named entry of the working directory
    (an ``imagenet/`` data folder is common), as in keras.applications.
    """
    if isinstance(weights, os.PathLike):
        return True
    text = str(weights)
    if os.sep in text or text.endswith((".h5", ".hdf5", ".keras")):
        return True
    if text in {record.tag for record in records()}:
        return False
    return os.path.exists(text)


def check_weights_arg(weights, *, model_name, include_top, classes):
    """Validates a builder's ``weights`` before the model is built.

    Raises:
        ValueError: For a missing file or a tag that serves no file for this
            model, top and number of classes.
    """
    if weights is None:
        return
    if is_path(weights):
        if not os.path.isfile(os.fspath(weights)):
            raise ValueError(
                "The `weights` argument should be None, a registered tag such as "
                f"'imagenet', or the path of an existing weights file. No file "
                f"at that path. Received: weights={weights!r}"
            )
        return
    resolve(model_name, weights, include_top=include_top, classes=classes)


def load_weights(model, weights, *, model_name=None, include_top=None, skip_head=False):
    """Loads a registered tag or a weight file into a built model.

    Args:
        model: A built Keras model (a ``keras_resnet`` builder's, or any model
            whose layer names match the file).
        weights: A tag registered for ``model_name`` (``"imagenet"``), or the
            path of a legacy ``.h5``, ``.weights.h5`` or ``.keras`` file.
        model_name: The registry key of the architecture; defaults to
            ``model.name``. Only used for tags.
        include_top: Whether ``model`` has its classifier; defaults to
            whether it has a ``predictions`` layer. Only used for tags.
        skip_head: Leave the ``predictions`` layer untouched (fine-tuning
            with another number of classes).

    Returns:
        ``model``, with the weights assigned.

    Raises:
        ValueError: For an unknown tag (and ``WeightsFileError`` or
            ``WeightsMismatchError``, both ``ValueError``, for an unreadable
            file or one that does not fit; the model is then unchanged).
        WeightsDownloadError: If a registered file cannot be downloaded.
    """
    if weights is None:
        return model
    if is_path(weights):
        load_file(model, os.fspath(weights), skip_head=skip_head)
        return model
    model_name = model_name or model.name
    head = _head(model)
    if include_top is None:
        include_top = head is not None
    classes = head.units if head is not None and hasattr(head, "units") else 1000
    record, fresh_head = resolve(model_name, weights, include_top=include_top, classes=classes)
    load_file(model, fetch(record), skip_head=skip_head or fresh_head)
    return model


def _head(model):
    try:
        return model.get_layer(HEAD)
    except ValueError:
        return None

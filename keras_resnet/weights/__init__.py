"""Pretrained weights: the registry, verified downloads, and loading any file.

Modules:
    registry: one record per weight file (``registry.json``), looked up by
        ``(model, tag, include_top)``.
    resolve: what a builder's ``weights=`` argument means, decided once.
    download: fetching a record's file into the Keras cache, verified.
    loading: reading legacy ``.h5``, ``.weights.h5`` and ``.keras`` files.
    archive: ``.keras`` archives unpacked in memory, their sizes checked first.
    errors: ``WeightsFileError`` and ``WeightsMismatchError``.
    layers: the layers of a model that own weights, as files are matched.
    legacy_resnext: converting keras-applications' ResNeXt layout.
    torch_files: PyTorch checkpoints (``.pth``, ``.safetensors``) read as numpy
        arrays, without torch and without running anything from them.
    torch_convert: torchvision's and timm's tensor names and layouts into
        this package's Keras layers, every shape checked first.

This layer knows weight files, not models: it never imports the
architectures or the catalogue (``keras_resnet.register_weights``, which
checks the model name against the catalogue, lives there).

Example:
    >>> import keras_resnet
    >>> model = keras_resnet.ResNet50(weights=None, include_top=False)
    >>> keras_resnet.load_weights(model, "imagenet")          # registered tag
    >>> keras_resnet.load_weights(model, "/data/run/best.weights.h5")
    >>> keras_resnet.load_weights(model, "resnet50-11ad3fa6.pth")    # torchvision's
"""

from keras_resnet import _deprecated
from keras_resnet.weights.download import (
    WeightsDownloadError,
    WeightsIntegrityError,
    cache_dir,
    fetch,
)
from keras_resnet.weights.loading import (
    HEAD,
    LoadedFile,
    WeightsFileError,
    WeightsMismatchError,
    file_classes,
    load_file,
)
from keras_resnet.weights.registry import (
    URL_ENV,
    WeightsRecord,
    canonical_tag,
    find,
    records,
    resolve,
    tags,
)
from keras_resnet.weights.resolve import (
    WeightsSource,
    is_path,
    load_source,
    load_weights,
    resolve_weights,
)
from keras_resnet.weights.torch_convert import load_torch_checkpoint
from keras_resnet.weights.torch_files import read_state_dict

__all__ = [
    "HEAD",
    "LoadedFile",
    "URL_ENV",
    "WeightsDownloadError",
    "WeightsFileError",
    "WeightsIntegrityError",
    "WeightsMismatchError",
    "WeightsRecord",
    "WeightsSource",
    "cache_dir",
    "canonical_tag",
    "fetch",
    "file_classes",
    "find",
    "is_path",
    "load_file",
    "load_source",
    "load_torch_checkpoint",
    "load_weights",
    "read_state_dict",
    "records",
    "resolve",
    "resolve_weights",
    "tags",
]

# `keras_resnet.weights.register_weights` moved to the catalogue (it checks
# the model name there); the old name keeps working, with a warning, for one
# release.
__getattr__ = _deprecated.module_getattr(__name__)

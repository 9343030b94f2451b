"""ResNet, ResNetV2, ResNeXt and DenseNet for Keras 3: build, load and train.

Keras's networks and torchvision's and timm's layouts (ResNet-B, -C, -D,
wide ResNet, ResNeXt 32x4d, SE-ResNet, ECA-ResNet, ResNet-RS ...), built as
PyTorch builds them, with their published weights; feature backbones
(``feature_backbone``) of any of them.

The package, lowest layer first (each imports only the layers below it):
``preprocessing``; ``weights`` (registry, downloads, files); ``architectures``
(layers, blocks, factories, tables); ``catalog`` (every model by name);
``data``, ``deploy``, ``analysis``; ``training``; ``bench``; ``cli``.

Example:
    >>> from keras_resnet import ResNet50
    >>> base = ResNet50(weights=None, include_top=False, pooling="avg")
"""

import importlib

from keras_resnet import _conflicts, _deprecated, _startup

# Before anything imports TensorFlow (this package, or the user's `import
# keras` after this line): its native start-up log stays quiet unless the
# user set TF_CPP_MIN_LOG_LEVEL.
_startup.quiet_native_log()

# Where each public name lives, besides the families' builders
# (``architectures.family.exports``: ``ResNet50``, ``DenseNet121`` ...).
# Resolved on first use (PEP 562), so that `keras-resnet --help` and
# `import keras_resnet.cli` do not pay for importing Keras and its backend.
_EXPORTS = {
    "feature_backbone": "architectures.features",
    "build": "catalog",
    "list_models": "catalog",
    "register_weights": "catalog",
    "decode_predictions": "preprocessing",
    "preprocess_input": "preprocessing",
    "load_weights": "weights",
    "optimize_for_inference": "deploy",
}
# The parts of the package, and two families' modules users reach directly
# (``keras_resnet.cifar.ResNet56()``, ``keras_resnet.blocks.stack1``).
_SUBMODULES = {
    "analysis": "analysis",
    "architectures": "architectures",
    "bench": "bench",
    "catalog": "catalog",
    "cli": "cli",
    "data": "data",
    "deploy": "deploy",
    "preprocessing": "preprocessing",
    "training": "training",
    "weights": "weights",
    "blocks": "architectures.blocks",
    "cifar": "architectures.cifar",
}

# Old flat module paths (keras_resnet.models ...) keep importing for one
# release, with a DeprecationWarning: see _deprecated.py.
_deprecated.install()
_conflicts.warn_if_shadowed()


def _family_exports():
    _startup.import_keras()
    from keras_resnet.architectures import family

    return family.exports()


def __getattr__(name):
    if name in _EXPORTS:
        _startup.import_keras()
        module = importlib.import_module(f"keras_resnet.{_EXPORTS[name]}")
        value = getattr(module, name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"keras_resnet.{_SUBMODULES[name]}")
    if f"keras_resnet.{name}" in _deprecated.MODULES:
        return importlib.import_module(f"keras_resnet.{name}")
    if name == "__all__":
        # Everything the families export is public; so is ``blocks``, the
        # building blocks of the factory ``ResNet``.
        return [*_family_exports(), *_EXPORTS, "blocks"]
    # The families' builders are capitalised (``ResNet50``, ``ARCHITECTURES``):
    # any other name misses without importing Keras.
    if name[:1].isupper():
        exported = _family_exports()
        if name in exported:
            globals()[name] = exported[name]
            return exported[name]
    raise AttributeError(f"module 'keras_resnet' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS) | set(_SUBMODULES) | set(__getattr__("__all__")))


__version__ = "0.2.0"

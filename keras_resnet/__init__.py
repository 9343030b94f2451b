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

# Where each public name lives. Resolved on first use (PEP 562), so that
# `keras-resnet --help` and `import keras_resnet.cli` do not pay for
# importing Keras and its backend.
_EXPORTS = {
    "ARCHITECTURES": "architectures.resnet",
    "ResNet": "architectures.resnet",
    "ResNet18": "architectures.resnet",
    "ResNet34": "architectures.resnet",
    "ResNet50": "architectures.resnet",
    "ResNet101": "architectures.resnet",
    "ResNet152": "architectures.resnet",
    "ResNet50V2": "architectures.resnet",
    "ResNet101V2": "architectures.resnet",
    "ResNet152V2": "architectures.resnet",
    "ResNeXt50": "architectures.resnet",
    "ResNeXt101": "architectures.resnet",
    "ResNet50B": "architectures.resnet",
    "ResNet101B": "architectures.resnet",
    "ResNet152B": "architectures.resnet",
    "ResNet50C": "architectures.resnet",
    "ResNet18D": "architectures.resnet",
    "ResNet34D": "architectures.resnet",
    "ResNet50D": "architectures.resnet",
    "ResNet101D": "architectures.resnet",
    "ResNet152D": "architectures.resnet",
    "WideResNet50_2": "architectures.resnet",
    "WideResNet101_2": "architectures.resnet",
    "ResNeXt50_32x4d": "architectures.resnet",
    "ResNeXt101_32x8d": "architectures.resnet",
    "ResNeXt101_64x4d": "architectures.resnet",
    "DenseNet121": "architectures.densenet",
    "DenseNet169": "architectures.densenet",
    "DenseNet201": "architectures.densenet",
    "DenseNet161": "architectures.densenet",
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
    raise AttributeError(f"module 'keras_resnet' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS) | set(_SUBMODULES))


__version__ = "0.2.0"

# Everything above is public; so is ``blocks``, the building blocks of the
# factory ``ResNet``.
__all__ = [*_EXPORTS, "blocks"]

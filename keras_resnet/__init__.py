"""ResNet, ResNetV2 and ResNeXt for Keras 3: build, load and train.

Example:
    >>> from keras_resnet import ResNet50
    >>> base = ResNet50(weights=None, include_top=False, pooling="avg")
"""

import importlib

# Where each public name lives. Resolved on first use (PEP 562), so that
# `keras-resnet --help` and `import keras_resnet.cli` do not pay for
# importing Keras and its backend.
_EXPORTS = {
    "ARCHITECTURES": "models",
    "ResNet": "models",
    "ResNet18": "models",
    "ResNet34": "models",
    "ResNet50": "models",
    "ResNet101": "models",
    "ResNet152": "models",
    "ResNet50V2": "models",
    "ResNet101V2": "models",
    "ResNet152V2": "models",
    "ResNeXt50": "models",
    "ResNeXt101": "models",
    "build": "models",
    "list_models": "models",
    "decode_predictions": "preprocessing",
    "preprocess_input": "preprocessing",
    "load_weights": "weights",
    "register_weights": "weights",
    "optimize_for_inference": "inference",
}
_SUBMODULES = ("analysis", "blocks", "cifar", "complexity", "data", "inference", "layers",
               "models", "performance", "preprocessing", "recipes", "training", "weights")


def __getattr__(name):
    if name in _EXPORTS:
        module = importlib.import_module(f"keras_resnet.{_EXPORTS[name]}")
        value = getattr(module, name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"keras_resnet.{name}")
    raise AttributeError(f"module 'keras_resnet' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS) | set(_SUBMODULES))


__version__ = "0.1.0"

__all__ = [
    "ARCHITECTURES",
    "ResNet",
    "ResNet18",
    "ResNet34",
    "ResNet50",
    "ResNet101",
    "ResNet152",
    "ResNet50V2",
    "ResNet101V2",
    "ResNet152V2",
    "ResNeXt50",
    "ResNeXt101",
    "blocks",
    "build",
    "decode_predictions",
    "list_models",
    "load_weights",
    "optimize_for_inference",
    "preprocess_input",
    "register_weights",
]

"""ResNet, ResNetV2 and ResNeXt for Keras 3: build, load and train.

Example:
    >>> from keras_resnet import ResNet50
    >>> base = ResNet50(weights=None, include_top=False, pooling="avg")
"""

from keras_resnet import blocks
from keras_resnet.models import (
    ARCHITECTURES,
    ResNet,
    ResNet18,
    ResNet34,
    ResNet50,
    ResNet50V2,
    ResNet101,
    ResNet101V2,
    ResNet152,
    ResNet152V2,
    ResNeXt50,
    ResNeXt101,
    build,
    list_models,
)
from keras_resnet.inference import optimize_for_inference
from keras_resnet.preprocessing import decode_predictions, preprocess_input

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
    "optimize_for_inference",
    "preprocess_input",
]

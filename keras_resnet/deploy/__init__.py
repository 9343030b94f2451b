"""Deployment: the fast inference path and what the hardware computes natively.

Modules:
    hardware: native bfloat16, GPU compute capability, ``resolve_precision``.
    graph: a functional model's graph, read from its public config.
    folding: BatchNorm folded into the convolution before it.
    compiled: ``optimize_for_inference``, a compiled ``InferenceModel``.

Example:
    >>> import keras_resnet
    >>> fast = keras_resnet.optimize_for_inference(keras_resnet.ResNet50(weights=None))
"""

from keras_resnet.deploy.compiled import PRECISIONS, InferenceModel, optimize_for_inference
from keras_resnet.deploy.folding import fold_batch_norms
from keras_resnet.deploy.hardware import (
    cpu_has_bfloat16,
    gpu_compute_capability,
    hardware_has_bfloat16,
    resolve_precision,
)

__all__ = [
    "PRECISIONS",
    "InferenceModel",
    "cpu_has_bfloat16",
    "fold_batch_norms",
    "gpu_compute_capability",
    "hardware_has_bfloat16",
    "optimize_for_inference",
    "resolve_precision",
]

"""Deployment: the fast inference path and what the hardware computes natively.

Modules:
    hardware: native bfloat16, GPU compute capability, ``resolve_precision``.
    graph: a functional model's graph, read from its public config.
    folding: BatchNorm folded into the convolution before it.
    compiled: ``optimize_for_inference``, a compiled ``InferenceModel``.
    export: ``export``, a uint8-in, probabilities-out model for SavedModel,
        ONNX, OpenVINO, LiteRT or ``.keras``, verified in its runtime.
    runtimes: exported models opened in their runtimes (``load_exported``)
        and their metadata.

Example:
    >>> import keras_resnet
    >>> fast = keras_resnet.optimize_for_inference(keras_resnet.ResNet50(weights=None))
"""

from keras_resnet.deploy.compiled import PRECISIONS, InferenceModel, optimize_for_inference
from keras_resnet.deploy.export import FORMATS, ExportError, export, serving_model
from keras_resnet.deploy.folding import fold_batch_norms
from keras_resnet.deploy.hardware import (
    cpu_has_bfloat16,
    gpu_compute_capability,
    hardware_has_bfloat16,
    resolve_precision,
)
from keras_resnet.deploy.runtimes import load as load_exported
from keras_resnet.deploy.runtimes import read_metadata as read_export_metadata

__all__ = [
    "FORMATS",
    "PRECISIONS",
    "ExportError",
    "InferenceModel",
    "cpu_has_bfloat16",
    "export",
    "fold_batch_norms",
    "gpu_compute_capability",
    "hardware_has_bfloat16",
    "load_exported",
    "optimize_for_inference",
    "read_export_metadata",
    "resolve_precision",
    "serving_model",
]

"""PyTorch state dicts (torchvision and timm ResNets) into this package's Keras layers.

Tensors are matched by name: every builder here keeps Keras's layer names
(``conv2_block1_1_conv``), and torchvision's and timm's module names map
onto them by rule:

==============================  ======================================
PyTorch module                  Keras layer
==============================  ======================================
``conv1``, ``bn1``              ``conv1_conv``, ``conv1_bn``
``conv1.0/.1/.3/.4/.6``         ``conv1_1_conv``, ``conv1_1_bn``,
(timm's deep stem, C and D)     ``conv1_2_conv``, ``conv1_2_bn``,
                                ``conv1_3_conv``; ``bn1`` is then
                                ``conv1_3_bn``
``layer{i}.{j}.conv{k}/bn{k}``  ``conv{i+1}_block{j+1}_{k}_conv/_bn``
``layer{i}.{j}.downsample.0/1`` ``conv{i+1}_block{j+1}_0_conv/_0_bn``
``...downsample.1/2`` (ResNet-D ``_0_conv/_0_bn`` (``downsample.0`` is
average-pool shortcut)          the pool, without weights)
``layer{i}.{j}.se.fc1/fc2``     ``conv{i+1}_block{j+1}_se_reduce``,
(squeeze-and-excitation)        ``_se_expand``
``layer{i}.{j}.se.conv`` (ECA)  ``conv{i+1}_block{j+1}_eca_conv``
``maxpool.0/.1`` (ResNet-RS's   ``pool1_conv``, ``pool1_bn``
convolution in its place)
``fc``                          ``predictions``
==============================  ======================================

Convolution weights (out, in/groups, kh, kw) become Keras kernels (kh, kw,
in/groups, out), in either data format, and ECA's 1-D ones (out, in, k)
become (k, in, out); linear weights (out, in) become
(in, out); BatchNorm's weight, bias, running_mean and running_var become
gamma, beta, moving_mean and moving_variance; ``num_batches_tracked`` is
dropped. Every tensor and every Keras weight is paired and its shape checked
before anything is assigned: a checkpoint that does not fit leaves the model
as it was, and the error names the first tensor or layer that did not fit.
"""

import os
import re

import numpy as np

from keras_resnet.weights import torch_files
from keras_resnet.weights.errors import WeightsMismatchError
from keras_resnet.weights.layers import weighted_layers

_HEAD = "predictions"
_DEEP_STEM = {"0": "conv1_1_conv", "1": "conv1_1_bn", "3": "conv1_2_conv",
              "4": "conv1_2_bn", "6": "conv1_3_conv"}
_BLOCK = re.compile(r"layer(\d+)\.(\d+)\.(conv|bn)(\d+)")
_SHORTCUT = re.compile(r"(layer(\d+)\.(\d+)\.downsample)\.(\d+)")
_ATTENTION = re.compile(r"layer(\d+)\.(\d+)\.se\.(fc1|fc2|conv)")
_ATTENTION_LAYERS = {"fc1": "se_reduce", "fc2": "se_expand", "conv": "eca_conv"}
_STEM_POOL = {"maxpool.0": "pool1_conv", "maxpool.1": "pool1_bn"}
_CONV_PARAMETERS = {"weight": "kernel", "bias": "bias"}  # Conv2d and Linear
_BN_PARAMETERS = {
    "weight": "gamma", "bias": "beta", "running_mean": "moving_mean",
    "running_var": "moving_variance",
}
_DROPPED = ("num_batches_tracked",)


def load_torch_checkpoint(model, path, *, skip_head=False):
    """Loads a PyTorch checkpoint (``.pth``, ``.pt``, ``.bin``, ``.safetensors``) into ``model``.

    Args:
        model: A built ``keras_resnet`` model whose architecture is the
            checkpoint's (torchvision or timm names).
        path: The checkpoint; read by ``torch_files.read_state_dict``, which
            never runs anything from it.
        skip_head: Leave the ``predictions`` layer as it is (fine-tuning
            with another number of classes); the checkpoint's ``fc`` is ignored.

    Returns:
        ``model``.

    Raises:
        WeightsFileError: If the file cannot be read or is refused.
        WeightsMismatchError: If it does not fit the model; nothing is assigned.
    """
    path = os.fspath(path)
    state_dict = torch_files.read_state_dict(path)
    assign(torch_to_keras(state_dict, model, source=path, skip_head=skip_head))
    return model


def torch_to_keras(state_dict, model, *, source="the checkpoint", skip_head=False):
    """Pairs every Keras weight of ``model`` with its PyTorch tensor, converted.

    The classifier is the one part that may go unpaired: a model without
    ``predictions`` (``include_top=False``) ignores the checkpoint's ``fc``,
    and so does ``skip_head=True``.

    Args:
        state_dict: Tensor name to ``numpy.ndarray`` (``read_state_dict``'s).
        model: A built Keras model.
        source: How to name the checkpoint in errors (its path).
        skip_head: Leave the ``predictions`` layer out.

    Returns:
        A list of ``(keras variable, numpy array)``, the arrays in the
        variables' layout and dtype.

    Raises:
        WeightsMismatchError: For the first tensor or weight without its
            counterpart, or of another shape.
    """
    def mismatch(detail):
        return WeightsMismatchError(f"{source} does not fit model {model.name!r}: {detail}")

    layers = {layer.name: layer for layer in weighted_layers(model)}
    tensors = {k: v for k, v in state_dict.items() if k.rsplit(".", 1)[-1] not in _DROPPED}
    skip = skip_head or _HEAD not in layers
    by_layer, unused = _by_keras_layer(tensors), []
    for layer_name, params in by_layer.items():
        if layer_name == _HEAD and skip:
            continue
        if layer_name not in layers:
            unused.extend(key for key, _ in params.values())
    pairs = []
    for name, layer in layers.items():
        if name == _HEAD and skip_head:
            continue
        params = by_layer.get(name, {})
        for variable in layer.weights:
            pairs.append(_pair(variable, layer, params, mismatch))
        extra = set(params) - {_short_name(v) for v in layer.weights}
        unused.extend(params[p][0] for p in sorted(extra))
    unused += [key for key in tensors if _keras_place(key, tensors) is None]
    if unused:
        first = min(unused, key=list(tensors).index)
        place = _keras_place(first, tensors)
        where = (
            f"it would go to layer {place[0]!r}, which the model does not have"
            if place and place[0] not in layers
            else "the model has no weight for it" if place
            else "its name is neither torchvision's nor timm's ResNet layout"
        )
        raise mismatch(
            f"tensor {first!r} of shape {tuple(tensors[first].shape)} has no place in the "
            f"model ({where}; {len(unused)} such tensors). The checkpoint is for another "
            "architecture or depth."
        )
    return pairs


def assign(pairs):
    """Assigns ``(variable, array)`` pairs from ``torch_to_keras``."""
    for variable, array in pairs:
        variable.assign(array)


def classes(state_dict):
    """The checkpoint's classifier width (rows of ``fc.weight``), or None without one."""
    fc = state_dict.get("fc.weight")
    return int(fc.shape[0]) if fc is not None and fc.ndim == 2 else None


def _pair(variable, layer, params, mismatch):
    weight = _short_name(variable)
    expected = tuple(variable.shape)
    if weight not in params:
        if layer.name == _HEAD:
            hint = _head_hint()
        elif weight == "bias":
            # The likeliest case: torchvision's ResNet-50 into keras.applications'.
            hint = (
                " This model's convolutions have biases, as keras.applications' "
                "ResNet50/101/152; PyTorch's have none: build the torchvision layout "
                "(resnet50b, ...) for this checkpoint."
            )
        else:
            hint = " The checkpoint is for another architecture or depth."
        raise mismatch(
            f"the checkpoint has no tensor for layer {layer.name!r} ({weight}, shape "
            f"{expected}).{hint}"
        )
    key, array = params[weight]
    converted = _to_keras_layout(array, weight, len(expected))
    if converted is None or tuple(converted.shape) != expected:
        torch_layout = _to_torch_shape(expected)
        raise mismatch(
            f"tensor {key!r} of shape {tuple(array.shape)} does not fit layer "
            f"{layer.name!r} ({weight}), which expects {expected} (PyTorch layout "
            f"{torch_layout})."
            + (_head_hint() if layer.name == _HEAD
               else " The checkpoint is for another architecture.")
        )
    return variable, np.asarray(converted, dtype=variable.dtype)


def _by_keras_layer(tensors):
    """Keras layer name -> {keras weight name: (torch key, array)}."""
    by_layer = {}
    for key, array in tensors.items():
        place = _keras_place(key, tensors)
        if place is not None:
            by_layer.setdefault(place[0], {})[place[1]] = (key, array)
    return by_layer


def _keras_place(key, tensors):
    """``(keras layer, keras weight)`` a torch tensor goes to, or None."""
    module, _, param = key.rpartition(".")
    layer = _keras_layer(module, tensors)
    if layer is None:
        return None
    weight = (_BN_PARAMETERS if layer.endswith("_bn") else _CONV_PARAMETERS).get(param)
    return None if weight is None else (layer, weight)


def _keras_layer(module, tensors):
    if module == "conv1":
        return "conv1_conv"
    if module == "bn1":
        return "conv1_3_bn" if "conv1.0.weight" in tensors else "conv1_bn"
    if module == "fc":
        return _HEAD
    if module.startswith("conv1.") and module[len("conv1."):] in _DEEP_STEM:
        return _DEEP_STEM[module[len("conv1."):]]
    if module in _STEM_POOL:
        return _STEM_POOL[module]
    match = _BLOCK.fullmatch(module)
    if match:
        stage, block, kind, index = match.groups()
        return f"conv{int(stage) + 1}_block{int(block) + 1}_{index}_{kind}"
    match = _ATTENTION.fullmatch(module)
    if match:
        stage, block, part = match.groups()
        return f"conv{int(stage) + 1}_block{int(block) + 1}_{_ATTENTION_LAYERS[part]}"
    match = _SHORTCUT.fullmatch(module)
    if match:
        prefix, stage, block, index = match.groups()
        # ResNet-D's shortcut is (AvgPool, Conv, BN): its weights start at 1.
        first = 1 if f"{prefix}.2.weight" in tensors else 0
        kind = {first: "conv", first + 1: "bn"}.get(int(index))
        if kind:
            return f"conv{int(stage) + 1}_block{int(block) + 1}_0_{kind}"
    return None


def _to_keras_layout(array, weight, ndim):
    if array.ndim != ndim:
        return None
    if weight == "kernel" and ndim == 4:
        return np.transpose(array, (2, 3, 1, 0))
    if weight == "kernel" and ndim in (2, 3):
        return np.transpose(array)  # axes reversed: Linear's and Conv1d's layouts
    return array


def _to_torch_shape(shape):
    if len(shape) == 4:
        return (shape[3], shape[2], shape[0], shape[1])
    return tuple(reversed(shape)) if len(shape) in (2, 3) else shape


def _short_name(variable):
    # Keras 3 names variables "kernel"; older paths read "conv1_conv/kernel:0".
    return variable.name.rsplit("/", 1)[-1].split(":", 1)[0]


def _head_hint():
    return (
        " To fine-tune with another number of classes, load the backbone only: "
        "keras_resnet.load_weights(model, path, skip_head=True)."
    )

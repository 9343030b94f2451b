"""BatchNorm folded into the convolution before it: one biased convolution per pair.

``W' = W * s``, ``b' = (b - mean) * s + beta`` with ``s = gamma / sqrt(var +
eps)`` per output channel. This covers v1 blocks, v2's post-conv BNs and
ResNeXt's grouped convolutions. BNs that follow something else (v2's
``preact_bn`` after an ``Add``, its ``post_bn``) are left as they are: in
inference mode a BN is already a per-channel scale and shift.

The graph is read from the model's config (``Model.get_config()``, the
description ``.keras`` files store), so only public Keras APIs are used.
"""

import keras
import numpy as np

from keras_resnet.deploy.graph import read_graph

_CONVOLUTIONS = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)


def _channel_axis(conv):
    return 1 if conv.data_format == "channels_first" else conv.rank + 1


def _foldable_pairs(model, graph):
    """Maps the name of each BN that can be folded to the convolution before it.

    A BN folds when it is called once, its only input is the output of a
    convolution called once, nothing else reads that output, and the BN
    normalizes the convolution's channel axis.
    """
    pairs = {}
    for layer in model.layers:
        if not isinstance(layer, keras.layers.BatchNormalization):
            continue
        nodes = graph.calls.get(layer.name, [])
        if len(nodes) != 1 or len(nodes[0]) != 1:
            continue
        tensor = nodes[0][0]
        conv = model.get_layer(tensor[0])
        if not isinstance(conv, _CONVOLUTIONS) or len(graph.calls[conv.name]) != 1:
            continue
        rank = conv.rank + 2
        if layer.axis % rank != _channel_axis(conv) or graph.consumers(tensor) != 1:
            continue
        pairs[layer.name] = conv.name
    return pairs


def _folded_weights(conv, bn):
    """The kernel and bias of one convolution that computes ``bn(conv(x))``."""
    kernel = keras.ops.convert_to_numpy(conv.kernel).astype("float64")
    bias = (
        keras.ops.convert_to_numpy(conv.bias).astype("float64")
        if conv.use_bias
        else np.zeros(kernel.shape[-1])
    )
    mean = keras.ops.convert_to_numpy(bn.moving_mean).astype("float64")
    variance = keras.ops.convert_to_numpy(bn.moving_variance).astype("float64")
    gamma = (
        keras.ops.convert_to_numpy(bn.gamma).astype("float64") if bn.scale else 1.0
    )
    beta = keras.ops.convert_to_numpy(bn.beta).astype("float64") if bn.center else 0.0
    scale = gamma / np.sqrt(variance + bn.epsilon)
    # Keras kernels are (*spatial, in / groups, out) in either data format.
    return [
        (kernel * scale).astype("float32"),
        ((bias - mean) * scale + beta).astype("float32"),
    ]


def fold_batch_norms(model, *, dtype=None):
    """Returns a copy of ``model`` with each conv + BatchNorm pair as one biased conv.

    The copy has the same layers, names, topology and outputs, minus the folded
    BN layers. BNs that do not directly follow a convolution are kept.

    Args:
        model: A functional ``keras.Model`` (any model of this package or of
            keras.applications).
        dtype: Optional dtype policy name for every layer of the copy (e.g.
            ``"bfloat16"``) except the last one, which keeps float32 so that the
            classifier and its softmax stay in full precision.

    Returns:
        A new ``keras.Model`` in inference form (its folded layers no longer
        learn batch statistics, so it is not for training).

    Raises:
        ValueError: If ``model`` is not a functional model.
    """
    graph = read_graph(model)
    pairs = _foldable_pairs(model, graph)
    folded_convs = set(pairs.values())
    last = graph.output_layers()

    def clone_layer(layer):
        config = layer.get_config()
        if layer.name in folded_convs:
            config["use_bias"] = True
        if dtype is not None and layer.name not in last:
            config["dtype"] = dtype
        return layer.__class__.from_config(config)

    def call_layer(layer, *args, **kwargs):
        if layer.name in pairs:  # Folded: the BN is the identity now.
            return args[0]
        return layer(*args, **kwargs)

    folded = keras.models.clone_model(
        model, clone_function=clone_layer, call_function=call_layer
    )
    for layer in folded.layers:
        if not layer.weights:
            continue
        if layer.name in folded_convs:
            bn_name = next(b for b, c in pairs.items() if c == layer.name)
            values = _folded_weights(model.get_layer(layer.name), model.get_layer(bn_name))
        else:
            values = model.get_layer(layer.name).get_weights()
        layer.set_weights(values)
    return folded

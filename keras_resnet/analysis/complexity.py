"""Counting a model's parameters and multiply-adds from its layers."""

import keras


def _spatial_size(shape):
    if keras.config.image_data_format() == "channels_last":
        return shape[1] * shape[2]
    return shape[2] * shape[3]


def multiply_adds(model):
    """Counts the multiply-adds of one forward pass over one image.

    Convolutions and dense layers only, as the paper counts FLOPs (its
    "3.6 billion FLOPs" for ResNet-34 are multiply-adds). Batch norm,
    activations, pooling and additions are left out.

    Args:
        model: A built functional model with a static input size.

    Returns:
        The number of multiply-adds, an int.

    Raises:
        ValueError: If a convolution's output size is not static.
    """
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            out_shape = layer.output.shape
            if None in out_shape[1:]:
                raise ValueError(
                    "Multiply-adds need a static input size. Received a model "
                    f"with input shape {model.input_shape}"
                )
            kernel = layer.kernel.shape  # (kh, kw, in / groups, out)
            per_position = kernel[0] * kernel[1] * kernel[2] * kernel[3]
            total += per_position * _spatial_size(out_shape)
        elif isinstance(layer, keras.layers.Dense):
            total += layer.kernel.shape[0] * layer.kernel.shape[1]
    return int(total)


def count_params(model, trainable_only=False):
    """Counts a model's parameters, optionally only the trainable ones."""
    weights = model.trainable_weights if trainable_only else model.weights
    return int(sum(keras.ops.size(w) for w in weights))

"""Input preprocessing and prediction decoding for ImageNet models.

Each family was trained with its own input convention, and feeding it any
other one silently costs accuracy:

* ``"caffe"`` (ResNet v1): RGB to BGR, then the ImageNet mean per channel is
  subtracted; no scaling.
* ``"tf"`` (ResNet v2): scaled to [-1, 1].
* ``"torch"`` (ResNeXt, ResNet-18/34): scaled to [0, 1], then normalised by
  the ImageNet mean and standard deviation per channel.

``decode_predictions`` reads the 1000-class ImageNet index shipped inside the
package, so it never downloads anything.
"""

import functools
import json
import os

import keras
import numpy as np

MODES = ("caffe", "tf", "torch")

# The constants of each convention; the tf.data pipeline applies the same ones.
CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)
TORCH_MEAN = (0.485, 0.456, 0.406)
TORCH_STD = (0.229, 0.224, 0.225)

CLASS_INDEX_PATH = os.path.join(os.path.dirname(__file__), "imagenet_class_index.json")


def preprocess_input(x, data_format=None, mode="caffe"):
    """Preprocesses a batch of RGB images with pixel values in [0, 255].

    Args:
        x: A NumPy array or backend tensor, 3-D or 4-D, RGB channels.
        data_format: ``"channels_last"`` or ``"channels_first"``; defaults to
            the global Keras image data format.
        mode: ``"caffe"``, ``"tf"`` or ``"torch"`` (see the module docstring).

    Returns:
        A float array or tensor of the same shape (float32, or the input's
        floating dtype).

    Raises:
        ValueError: For an unknown ``mode`` or ``data_format``, an input
            that is not numbers, or one whose channel axis does not hold 3
            (RGB) values.
    """
    if mode not in MODES:
        raise ValueError(f"`mode` should be one of {MODES}. Received: mode={mode!r}")
    data_format = data_format or keras.config.image_data_format()
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(
            "`data_format` should be 'channels_last' or 'channels_first'. "
            f"Received: data_format={data_format!r}"
        )
    if isinstance(x, (np.ndarray, list, tuple)):
        x = np.asarray(x)
        if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
            raise ValueError(
                "`preprocess_input` expects an array of pixel values (numbers). "
                f"Received: x of dtype {x.dtype}"
            )
        _check_rgb(x.shape, data_format)
        if not np.issubdtype(x.dtype, np.floating):
            x = x.astype(keras.config.floatx())
        ops = np
    elif hasattr(x, "shape") and hasattr(x, "dtype"):  # A tensor of any backend or tf.data.
        ops = keras.ops
        _check_rgb(tuple(x.shape), data_format)
        if not keras.backend.standardize_dtype(x.dtype).startswith(("float", "bfloat")):
            x = keras.ops.cast(x, keras.config.floatx())
    else:
        raise ValueError(
            "`preprocess_input` expects a NumPy array or a tensor of RGB images. "
            f"Received: x of type {type(x).__name__}"
        )
    dtype = x.dtype

    # Per-channel constants shaped to broadcast along the channel axis.
    def per_channel(values):
        shape = (3,) if data_format == "channels_last" else (3, 1, 1)
        return np.asarray(values, dtype=keras.backend.standardize_dtype(dtype)).reshape(shape)

    if mode == "tf":
        return x / 127.5 - 1.0
    if mode == "torch":
        return (x / 255.0 - per_channel(TORCH_MEAN)) / per_channel(TORCH_STD)
    # caffe
    if data_format == "channels_last":
        x = ops.flip(x, axis=-1)
    else:
        x = ops.flip(x, axis=-3)
    return x - per_channel(CAFFE_BGR_MEAN)


def _check_rgb(shape, data_format):
    """Raises ValueError unless ``shape`` is an image or a batch with 3 channels."""
    axis = -1 if data_format == "channels_last" else -3
    layout = "(..., height, width, 3)" if axis == -1 else "(..., 3, height, width)"
    if len(shape) < 3 or shape[axis] not in (3, None):
        raise ValueError(
            f"`preprocess_input` expects RGB images of shape {layout} ({data_format}). "
            f"Received: x.shape={tuple(shape)}"
        )


@functools.lru_cache(maxsize=1)
def imagenet_class_index():
    """Returns ``{index: (wordnet_id, name)}`` for the 1000 ImageNet classes."""
    with open(CLASS_INDEX_PATH) as f:
        return {int(k): tuple(v) for k, v in json.load(f).items()}


def decode_predictions(preds, top=5):
    """Decodes a batch of ImageNet predictions into the ``top`` classes.

    Args:
        preds: Array-like of shape ``(samples, 1000)``: probabilities or logits.
        top: How many classes to return per sample, from 1 to 1000.

    Returns:
        One list per sample of ``(wordnet_id, class_name, score)`` tuples,
        highest score first.

    Raises:
        ValueError: If ``preds`` is not a ``(samples, 1000)`` batch, or
            ``top`` is not an integer from 1 to 1000.
    """
    if isinstance(top, bool) or not isinstance(top, (int, np.integer)) or not 1 <= top <= 1000:
        raise ValueError(
            f"`top` should be an integer from 1 to 1000. Received: top={top!r}"
        )
    preds = keras.ops.convert_to_numpy(preds)
    if preds.ndim != 2 or preds.shape[1] != 1000:
        raise ValueError(
            "`decode_predictions` expects a batch of predictions of shape "
            f"(samples, 1000). Received: preds.shape={preds.shape}"
        )
    index = imagenet_class_index()
    results = []
    for pred in preds:
        best = np.argsort(pred)[::-1][:top]
        results.append([(*index[int(i)], float(pred[i])) for i in best])
    return results

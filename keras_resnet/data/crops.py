"""Crop windows in the source image's coordinates, chosen before anything is decoded.

Each augmentation here is computed from the image's height and width alone
(a JPEG states them in its header: ``tf.io.extract_jpeg_shape``), as the
window of source pixels that the augmented image shows. Decoding then reads
only that window (``keras_resnet.data.decoding.decode_view``) and resamples
only the crop: the same views as resizing the whole image and cropping it,
for a fraction of the work.

* ``scale_augmentation_window``: the ResNet paper's (He et al. 2015, section
  3.4): shorter side resized to ``S``, uniform over the integers in
  ``scale``, then a ``size`` x ``size`` crop at a uniformly random place.
* ``random_resized_crop_window``: Inception's (Szegedy et al. 2015), as
  torchvision's ``RandomResizedCrop`` samples it: area a fraction of the
  image uniform in ``area``, aspect ratio log-uniform in ``ratio``, up to 10
  attempts, then a centre crop of the ratio clamped into ``ratio``.
* ``center_window``: evaluation's shorter side ``resize`` then centre
  ``size`` crop.

All take ``shape``, an int32 ``[height, width]`` tensor, and return a
float32 ``[top, left, height, width]`` tensor in source pixels (continuous
coordinates: pixel ``i`` spans ``[i, i + 1)``). The paper's and the
evaluation's windows are the exact preimages of the crop of the resized
image (``transforms.resize_shorter_side`` rounds the resized sides to whole
pixels, so they are fractional); random-resized-crop's are whole pixels, as
torchvision's. They are TF ops, for ``tf.data``.
"""

import math

import tensorflow as tf


def scale_augmentation_window(shape, *, size=224, scale=(256, 480)):
    """The paper's scale augmentation as the window of source pixels it shows.

    Args:
        shape: int32 ``[height, width]`` of the source image.
        size: Side of the crop in the resized image.
        scale: ``(low, high)``: the resized shorter side ``S`` is uniform over
            the integers ``low..high``; ``low >= size``.

    Returns:
        float32 ``[top, left, height, width]``: the crop at integer offsets
        ``(y, x)`` of the image resized to shorter side ``S``, mapped back.
    """
    low, high = scale
    if not size <= low <= high:
        raise ValueError(
            f"`scale` should satisfy size <= low <= high (size={size}). Received: scale={scale!r}"
        )
    resized_shorter = tf.random.uniform([], low, high + 1, dtype=tf.int32)
    return _window_of_crop(shape, resized_shorter, size, _uniform_offset)


def random_resized_crop_window(shape, *, area=(0.08, 1.0), ratio=(3 / 4, 4 / 3), attempts=10):
    """Inception's random-resized-crop window, as torchvision samples it.

    Each of ``attempts`` candidates draws an area fraction uniform in
    ``area`` and an aspect ratio (width / height) log-uniform in ``ratio``;
    the first that fits inside the image is placed uniformly at random. If
    none fits, the centre crop of the whole image with its aspect ratio
    clamped into ``ratio``.

    Returns:
        float32 ``[top, left, height, width]``, whole pixels.
    """
    if not 0 < area[0] <= area[1] <= 1:
        raise ValueError(f"`area` should satisfy 0 < low <= high <= 1. Received: area={area!r}")
    if not 0 < ratio[0] <= ratio[1]:
        raise ValueError(f"`ratio` should satisfy 0 < low <= high. Received: ratio={ratio!r}")
    shape = tf.cast(shape, tf.int32)
    height, width = shape[0], shape[1]
    h_f, w_f = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
    # All candidates at once; the first that fits is the one a loop would keep.
    target = h_f * w_f * tf.random.uniform([attempts], area[0], area[1])
    log_ratio = tf.random.uniform([attempts], math.log(ratio[0]), math.log(ratio[1]))
    aspect = tf.exp(log_ratio)
    w = tf.cast(tf.round(tf.sqrt(target * aspect)), tf.int32)
    h = tf.cast(tf.round(tf.sqrt(target / aspect)), tf.int32)
    fits = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    first = tf.argmax(tf.cast(fits, tf.int32), output_type=tf.int32)

    def sampled():
        ch, cw = h[first], w[first]
        return tf.stack([_uniform_offset(height - ch), _uniform_offset(width - cw), ch, cw])

    def fallback():
        in_ratio = w_f / h_f
        cw = tf.where(
            in_ratio < ratio[0], w_f, tf.where(in_ratio > ratio[1], tf.round(h_f * ratio[1]), w_f)
        )
        ch = tf.where(
            in_ratio < ratio[0], tf.round(w_f / ratio[0]), tf.where(in_ratio > ratio[1], h_f, h_f)
        )
        ch = tf.clip_by_value(tf.cast(ch, tf.int32), 1, height)
        cw = tf.clip_by_value(tf.cast(cw, tf.int32), 1, width)
        return tf.stack([(height - ch) // 2, (width - cw) // 2, ch, cw])

    return tf.cast(tf.cond(tf.reduce_any(fits), sampled, fallback), tf.float32)


def center_window(shape, *, size=224, resize=256):
    """Evaluation's view: shorter side ``resize``, centre ``size`` crop, in source pixels.

    Returns:
        float32 ``[top, left, height, width]``.
    """
    if not 0 < size <= resize:
        raise ValueError(
            f"`resize` should be at least `size` ({size}). Received: resize={resize!r}"
        )
    return _window_of_crop(shape, tf.constant(resize), size, lambda room: room // 2)


def torchvision_center_window(shape, *, size=224, resize=256):
    """torchvision's evaluation view (``Resize(resize)``, ``CenterCrop(size)``), in source pixels.

    As ``center_window``, with torchvision's rounding, which timm's
    evaluation transform shares: the longer side is truncated
    (``int(resize * long / short)``) and the crop's offset is
    ``round((side - size) / 2)``, halves to even (Python's ``round``).
    Published PyTorch accuracies were measured with exactly this view.

    Returns:
        float32 ``[top, left, height, width]``.
    """
    if not 0 < size <= resize:
        raise ValueError(
            f"`resize` should be at least `size` ({size}). Received: resize={resize!r}"
        )
    source = tf.cast(shape, tf.float32)
    short = tf.reduce_min(source)
    new = tf.where(
        source == short, float(resize), tf.math.floor(resize * source / short)
    )
    new = tf.cast(new, tf.int32)
    # tf.round rounds halves to even, as Python's round.
    offset = lambda room: tf.cast(tf.round(tf.cast(room, tf.float32) / 2), tf.int32)  # noqa: E731
    return _window_of_resized(shape, new, size, offset)


def resized_shape(shape, shorter):
    """``transforms.resize_shorter_side``'s output shape: shorter side ``shorter``, int32."""
    shape = tf.cast(shape, tf.float32)
    new = tf.cast(tf.round(shape * tf.cast(shorter, tf.float32) / tf.reduce_min(shape)), tf.int32)
    return tf.maximum(new, tf.cast(shorter, tf.int32))  # rounding must not undercut


def _window_of_crop(shape, shorter, size, offset):
    """The source window of the ``size`` crop at ``offset(room)`` of the resized image."""
    return _window_of_resized(shape, resized_shape(shape, shorter), size, offset)


def _window_of_resized(shape, new, size, offset):
    """The source window of the ``size`` crop at ``offset(room)`` of ``shape`` resized to ``new``."""
    y, x = offset(new[0] - size), offset(new[1] - size)
    # Each axis has its own scale: the resized sides are rounded separately.
    scale = tf.cast(new, tf.float32) / tf.cast(shape, tf.float32)
    return tf.stack(
        [
            tf.cast(y, tf.float32) / scale[0],
            tf.cast(x, tf.float32) / scale[1],
            size / scale[0],
            size / scale[1],
        ]
    )


def _uniform_offset(room):
    """An integer uniform over ``0..room`` (``room >= 0``)."""
    return tf.random.uniform([], 0, tf.maximum(room, 0) + 1, dtype=tf.int32)

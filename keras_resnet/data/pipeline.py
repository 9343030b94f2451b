"""Datasets: a recipe's transforms over image files or arrays, batched for ``fit``.

The model family's ``preprocess_input`` mode is applied last, and the result
is transposed for the ``channels_first`` data format. A dataset never drops
an element: the i-th result belongs to the i-th file.
"""

import os

import numpy as np
import tensorflow as tf

from keras_resnet.data.transforms import (
    cifar_train_transform,
    decode_image,
    imagenet_eval_transform,
    imagenet_train_transform,
    preprocess,
    resize_shorter_side,
    resize_square,
    ten_crop,
)


def training_transform(augmentation, *, image_size):
    """The per-image training transform of a recipe's ``augmentation``.

    ``"imagenet"``: the paper's scale augmentation to ``image_size`` crops
    (shorter side in [256, 480] scaled by ``image_size / 224``).
    ``"cifar"`` / ``"translate"``: resize to ``image_size``, then pad-and-crop
    (with / without flip). ``"none"``: the evaluation transform.
    """
    if augmentation == "imagenet":
        lo, hi = round(256 * image_size / 224), round(480 * image_size / 224)
        return lambda x: imagenet_train_transform(x, size=image_size, scale=(lo, hi))
    if augmentation in ("cifar", "translate"):
        pad = max(1, round(4 * image_size / 32))
        flip = augmentation == "cifar"
        return lambda x: cifar_train_transform(
            resize_square(x, image_size), pad=pad, flip=flip
        )
    if augmentation == "none":
        return eval_transform(augmentation, image_size=image_size)
    raise ValueError(f"Unknown augmentation. Received: augmentation={augmentation!r}")


def eval_transform(augmentation, *, image_size):
    """The deterministic evaluation transform matching a training augmentation.

    ImageNet-style data: shorter side ``image_size * 256 / 224``, centre crop.
    Small-image data (CIFAR, digits): a plain resize to ``image_size``.
    """
    if augmentation == "imagenet":
        resize = round(256 * image_size / 224)
        return lambda x: imagenet_eval_transform(x, size=image_size, resize=resize)
    return lambda x: resize_square(x, image_size)


def ten_crop_transform(augmentation, *, image_size):
    """Per-image 10-crop transform: (10, size, size, 3) after the evaluation resize."""
    if augmentation == "imagenet":
        resize = round(256 * image_size / 224)
        return lambda x: ten_crop(resize_shorter_side(x, resize), image_size)
    # Small images: crop the padded image so the crops keep the full digit.
    pad = max(1, round(4 * image_size / 32))
    return lambda x: ten_crop(
        tf.pad(resize_square(x, image_size), [[pad, pad], [pad, pad], [0, 0]]), image_size
    )


def make_dataset(
    images,
    labels,
    *,
    transform,
    preprocessing_mode,
    batch_size,
    num_classes=None,
    shuffle=False,
    seed=None,
    drop_remainder=False,
    data_format=None,
):
    """A batched, parallel, prefetched ``tf.data.Dataset`` of (image, label).

    Files are not checked here: a file that cannot be decoded stops the
    iteration with TensorFlow's error (check them first with
    ``verify_images`` or ``check_image``, which use the same decoder).

    Args:
        images: A list of file paths (``str``, ``bytes`` or path-like), or
            an array of RGB images (N, H, W, 3) with values in [0, 255].
        labels: Integer labels, one per image; ``None`` for images only.
        transform: Function of one float32 HWC image (a training, evaluation
            or 10-crop transform above).
        preprocessing_mode: The model family's ``preprocess_input`` mode.
        batch_size: Global batch size.
        num_classes: If given, labels are one-hot (as label smoothing needs).
        shuffle: Shuffle every epoch (training).
        seed: Shuffle seed, for reproducible order.
        drop_remainder: Drop the last partial batch.
        data_format: ``"channels_last"`` or ``"channels_first"``; defaults to
            Keras's global setting.

    Returns:
        A ``tf.data.Dataset``.
    """
    import keras

    data_format = data_format or keras.config.image_data_format()
    from_files = isinstance(images, (list, tuple)) and (
        not images or isinstance(images[0], (str, bytes, os.PathLike))
    )
    n = len(images)
    if labels is not None and len(labels) != n:
        raise ValueError(
            f"`labels` must have one entry per image. Received: {len(labels)} labels "
            f"for {n} images"
        )
    if from_files:
        # Bytes: a name that is not UTF-8 (surrogate escapes in Python) is no tf.string.
        paths = tf.constant([os.fsencode(p) for p in images], dtype=tf.string)
        source = tf.data.Dataset.from_tensor_slices(paths)
    else:
        source = tf.data.Dataset.from_tensor_slices(np.asarray(images, dtype=np.float32))
    if labels is not None:
        source = tf.data.Dataset.zip(
            source, tf.data.Dataset.from_tensor_slices(np.asarray(labels, np.int32))
        )
    else:
        source = source.map(lambda x: (x,))
    if shuffle:
        source = source.shuffle(min(n, 10_000), seed=seed, reshuffle_each_iteration=True)

    def load(x, *label):
        image = decode_image(x) if from_files else x
        image = preprocess(transform(image), preprocessing_mode)
        if data_format == "channels_first":
            image = tf.experimental.numpy.moveaxis(image, -1, -3)
        if not label:
            return image
        y = label[0]
        if num_classes is not None:
            y = tf.one_hot(y, num_classes)
        return image, y

    # No ignore_errors: a dropped file would give every later result to the
    # file before it wherever results are paired with the list of paths.
    dataset = source.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=not shuffle)
    return dataset.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)

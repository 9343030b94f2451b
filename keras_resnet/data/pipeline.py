"""Datasets: a recipe's transforms over image files, records or arrays, batched for ``fit``.

Batches leave the host as uint8 RGB, channels last: a quarter of float32's
bytes to copy and ship to the accelerator. The rest of the input's work, the
random flip, the PCA lighting noise and the family's ``preprocess_input``, runs
on the device in the model's first layer (``keras_resnet.data.device``);
``device_augmentation(augmentation)`` says which of it an augmentation asks for.

Files are decoded by the transform itself (``transform.decode``): a random
crop is chosen from the JPEG header and only that window is decoded
(``keras_resnet.data.decoding``).

A dataset never drops an element: the i-th result belongs to the i-th file.
"""

import dataclasses
import os
from collections.abc import Callable

import numpy as np
import tensorflow as tf

from keras_resnet.data import crops, decoding, policies
from keras_resnet.data.transforms import decode_image, preprocess, resize_shorter_side, ten_crop
from keras_resnet.weights import registry

#: Training augmentations: the paper's scale augmentation ("imagenet"),
#: Inception's random-resized-crop ("inception"), CIFAR's pad-and-crop with
#: ("cifar") and without ("translate") the flip, and none.
AUGMENTATIONS = ("imagenet", "inception", "cifar", "translate", "none")

# Augmentations of ImageNet-style photographs (evaluated with a centre crop);
# the others are for small images (evaluated with a plain resize).
_PHOTO_AUGMENTATIONS = ("imagenet", "inception")


@dataclasses.dataclass(frozen=True)
class CropTransform:
    """A view chosen as a window of source pixels, resized to ``size``; uint8 out.

    Attributes:
        window: Function of int32 ``[height, width]`` returning the source
            window ``[top, left, height, width]`` (``keras_resnet.data.crops``).
        size: Output side.
        exact: ``True``: the exact view, antialiased (``decoding.decode_view``:
            the float pipeline's pixels). ``False``: whole-pixel window, plain
            bilinear (``decoding.decode_crop``), about 1.5x faster; training
            uses it, evaluation the exact view.
        interpolation: The exact view's kernel, ``"bilinear"`` or
            ``"bicubic"`` (``decoding.INTERPOLATIONS``).
        accurate: Decode JPEGs as PIL does (``decoding.decode_view``), for
            the PyTorch publishers' evaluation views.
    """

    window: Callable
    size: int
    exact: bool = True
    interpolation: str = "bilinear"
    accurate: bool = False

    def decode(self, contents):
        """Reads the window from a file's bytes (crop, then decode)."""
        if self.exact:
            return decoding.decode_view(
                contents, self.window, self.size, self.interpolation, accurate=self.accurate
            )
        return decoding.decode_crop(contents, self.window, self.size)

    def __call__(self, image):
        """The same view of an already decoded image (HWC, any dtype)."""
        return decoding.view_of(image, self.window, self.size, self.interpolation)


@dataclasses.dataclass(frozen=True)
class ImageTransform:
    """A transform of the whole decoded image; uint8 out.

    Attributes:
        function: Function of one decoded HWC image returning uint8.
        min_side: Where the transform first shrinks the image's shorter side
            to this, a JPEG is decoded at the DCT scale that keeps at least
            this many pixels; ``None`` decodes in full.
    """

    function: Callable
    min_side: int | None = None

    def decode(self, contents):
        if self.min_side is None:
            return self(decoding.decode_rgb(contents))
        return self(decoding.decode_reduced(contents, self.min_side))

    def __call__(self, image):
        return self.function(image)


def _paper_scale(image_size):
    """The paper's shorter-side range [256, 480] at 224 px, scaled to ``image_size``."""
    return round(256 * image_size / 224), round(480 * image_size / 224)


def _eval_resize(image_size):
    return round(256 * image_size / 224)


def _pad(image_size):
    return max(1, round(4 * image_size / 32))


def _square(size):
    return lambda image: decoding.resize_to(tf.cast(image, tf.float32), size)


def training_transform(augmentation, *, image_size, augment=None, random_erasing=0.0):
    """The per-image training transform of a recipe's ``augmentation`` (uint8 out).

    ``"imagenet"``: the paper's scale augmentation to ``image_size`` crops
    (shorter side in [256, 480] scaled by ``image_size / 224``).
    ``"inception"``: random-resized-crop (area 8% to 100%, aspect 3/4 to 4/3).
    Both decode only the crop and resize it with plain bilinear
    interpolation (``CropTransform(exact=False)``).
    ``"cifar"`` / ``"translate"``: resize to ``image_size``, then pad-and-crop.
    ``"none"``: the evaluation transform. The flip and lighting noise are the
    device's (``device_augmentation``).

    ``augment`` (a recipe's automatic policy, ``"ta_wide"`` or a RandAugment
    string) and ``random_erasing`` (a probability) follow the crop
    (``policies.PolicyTransform``).
    """
    crop = _crop_transform(augmentation, image_size=image_size)
    if augment is None and not random_erasing:
        return crop
    return policies.PolicyTransform(
        crop, image_size, augment=augment, random_erasing=random_erasing or 0.0
    )


def _crop_transform(augmentation, *, image_size):
    _check_augmentation(augmentation)
    if augmentation == "imagenet":
        scale = _paper_scale(image_size)
        return CropTransform(
            lambda shape: crops.scale_augmentation_window(shape, size=image_size, scale=scale),
            image_size,
            exact=False,
        )
    if augmentation == "inception":
        return CropTransform(crops.random_resized_crop_window, image_size, exact=False)
    if augmentation in ("cifar", "translate"):
        pad, square = _pad(image_size), _square(image_size)

        def pad_and_crop(image):
            padded = tf.pad(square(image), [[pad, pad], [pad, pad], [0, 0]])
            return tf.image.random_crop(padded, [image_size, image_size, 3])

        return ImageTransform(pad_and_crop)
    return eval_transform(augmentation, image_size=image_size)


def device_augmentation(augmentation):
    """The on-device part of a training augmentation: ``{"flip": bool, "pca_std": float}``."""
    _check_augmentation(augmentation)
    return {
        "flip": augmentation in ("imagenet", "inception", "cifar"),
        # AlexNet's lighting noise is the paper's; Inception-style recipes omit it.
        "pca_std": 0.1 if augmentation == "imagenet" else 0.0,
    }


def eval_transform(augmentation, *, image_size, resize=None):
    """The deterministic evaluation transform matching a training augmentation (uint8 out).

    Photographs: shorter side ``resize`` (default ``image_size * 256 / 224``;
    a recipe's ``eval_resize``, torchvision's 232 for 224), centre crop (only
    the crop is decoded). Small-image data (CIFAR, digits): a plain resize.
    """
    _check_augmentation(augmentation)
    if augmentation in _PHOTO_AUGMENTATIONS:
        resize = resize or _eval_resize(image_size)
        return CropTransform(
            lambda shape: crops.center_window(shape, size=image_size, resize=resize), image_size
        )
    return ImageTransform(_square(image_size))


def eval_transform_for(model_name, weights):
    """The evaluation transform a registered weight file was measured with (uint8 out).

    torchvision and timm state theirs (``WeightsRecord.eval_transform``:
    shorter side, centre crop, interpolation); e.g. torchvision's ResNet-50
    ``imagenet1k_v2``: shorter side 232, centre 224, bilinear; timm's
    ``resnet50d`` ``a1_in1k``: 235, 224, bicubic, with torchvision's
    rounding of sizes and offsets (``crops.torchvision_center_window``),
    which timm shares. Files that state none
    (Keras's) get the standard 256 / 224 bilinear view. The mean and std are
    the model's ``preprocess_input`` mode (``catalog.preprocessing_mode``),
    which the registry records alongside.

    Args:
        model_name: The catalogue name (``"resnet50b"``).
        weights: A registered tag (``"imagenet1k_v2"``).

    Returns:
        A ``CropTransform`` (crop, then decode).
    """
    tags = registry.tags(model_name)
    weights = registry.canonical_tag(model_name, weights)
    if weights not in tags:
        raise ValueError(
            f"`weights` should be a tag registered for {model_name!r} ({tags or 'none'}). "
            f"Received: weights={weights!r}"
        )
    stated = [r.eval_transform for r in registry.records(model_name) if r.tag == weights]
    spec = next((s for s in stated if s), None)
    if spec is None:
        return eval_transform("imagenet", image_size=224)
    size, resize = spec["crop"], spec["resize"]
    return CropTransform(
        lambda shape: crops.torchvision_center_window(shape, size=size, resize=resize),
        size,
        interpolation=spec["interpolation"],
        accurate=True,  # PIL's decoding, as the publishers measured
    )


def ten_crop_transform(augmentation, *, image_size):
    """Per-image 10-crop transform: uint8 (10, size, size, 3) after the evaluation resize."""
    _check_augmentation(augmentation)
    if augmentation in _PHOTO_AUGMENTATIONS:
        resize = _eval_resize(image_size)
        return ImageTransform(
            lambda x: decoding.to_uint8(
                ten_crop(resize_shorter_side(tf.cast(x, tf.float32), resize), image_size)
            ),
            min_side=resize,
        )
    # Small images: crop the padded image so the crops keep the full digit.
    pad, square = _pad(image_size), _square(image_size)
    return ImageTransform(
        lambda x: ten_crop(tf.pad(square(x), [[pad, pad], [pad, pad], [0, 0]]), image_size)
    )


def _check_augmentation(augmentation):
    if augmentation not in AUGMENTATIONS:
        raise ValueError(
            f"`augmentation` should be one of {AUGMENTATIONS}. "
            f"Received: augmentation={augmentation!r}"
        )


def make_dataset(
    images,
    labels,
    *,
    transform,
    batch_size,
    preprocessing_mode=None,
    num_classes=None,
    shuffle=False,
    seed=None,
    drop_remainder=False,
    data_format=None,
    order=None,
    batch_transform=None,
):
    """A batched, parallel, prefetched ``tf.data.Dataset`` of (image, label).

    Files are not checked here: a file that cannot be decoded stops the
    iteration with TensorFlow's error (check them first with
    ``verify_images`` or ``check_image``, which use the same decoder).

    Args:
        images: A list of file paths (``str``, ``bytes`` or path-like), or
            an array of RGB images (N, H, W, 3) with values in [0, 255].
        labels: Integer labels, one per image; ``None`` for images only.
        transform: A transform of this module (``training_transform``,
            ``eval_transform``, ``ten_crop_transform``): uint8 out, files
            decoded by the transform. A plain function of one float32 HWC
            image (the 0.2 interface) still works, decoded in full.
        batch_size: Global batch size.
        preprocessing_mode: ``None`` (default): uint8 batches, channels last,
            for a model whose first layer preprocesses
            (``keras_resnet.data.device``). A ``preprocess_input`` mode
            instead gives float32 batches preprocessed on the host, in
            ``data_format``, for a model without that layer.
        num_classes: If given, labels are one-hot (as label smoothing needs).
        shuffle: Shuffle every epoch (training).
        seed: Shuffle seed, for reproducible order.
        drop_remainder: Drop the last partial batch.
        data_format: With ``preprocessing_mode``: ``"channels_last"`` or
            ``"channels_first"``; defaults to Keras's global setting.
        order: A dataset of indices giving each epoch's order instead of
            ``shuffle`` (repeated augmentation: ``repeated.order_dataset``).
        batch_transform: A function of each batch ``(images, labels)``
            returning a new pair (MixUp/CutMix: ``mixing.mix_batch``).

    Returns:
        A ``tf.data.Dataset``.
    """
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
        tensors = (tf.constant([os.fsencode(p) for p in images], dtype=tf.string),)
    else:
        array = np.asarray(images)
        tensors = (array if array.dtype == np.uint8 else array.astype(np.float32),)
    if labels is not None:
        tensors += (np.asarray(labels, np.int32),)
    if order is not None:
        tensors = tuple(tf.constant(t) for t in tensors)
        source = order.map(lambda i: tuple(tf.gather(t, i) for t in tensors))
    else:
        source = tf.data.Dataset.from_tensor_slices(tensors)
    if shuffle and order is None:
        source = source.shuffle(min(n, 10_000), seed=seed, reshuffle_each_iteration=True)

    def read(x):
        if not from_files:
            return transform(x)
        if hasattr(transform, "decode"):
            return transform.decode(tf.io.read_file(x))
        return transform(decode_image(x))

    # No ignore_errors: a dropped file would give every later result to the
    # file before it wherever results are paired with the list of paths.
    dataset = source.map(
        _loader(read, preprocessing_mode, num_classes, data_format),
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=not shuffle,
    )
    return _batched(dataset, batch_size, drop_remainder, batch_transform)


def records_dataset(
    records,
    *,
    transform,
    batch_size,
    preprocessing_mode=None,
    num_classes=None,
    shuffle_buffer=0,
    seed=None,
    drop_remainder=False,
    data_format=None,
    batch_transform=None,
):
    """``make_dataset`` over a dataset of ``(file contents, label)`` (``shard_records``).

    Args:
        records: A ``tf.data.Dataset`` of (scalar ``tf.string``, int label).
        shuffle_buffer: Records shuffled in a buffer of this many (0: none);
            shards are interleaved already, so a few thousand suffice.
        Others: as ``make_dataset``.
    """
    if shuffle_buffer:
        records = records.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    dataset = records.map(
        _loader(transform.decode, preprocessing_mode, num_classes, data_format),
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=not shuffle_buffer,
    )
    return _batched(dataset, batch_size, drop_remainder, batch_transform)


def _batched(dataset, batch_size, drop_remainder, batch_transform):
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    if batch_transform is not None:
        dataset = dataset.map(batch_transform, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)


def _loader(read, preprocessing_mode, num_classes, data_format):
    """The per-element function: read, optionally preprocess on the host, label."""
    if preprocessing_mode is not None:
        import keras

        data_format = data_format or keras.config.image_data_format()

    def load(x, *label):
        image = read(x)
        if preprocessing_mode is not None:
            image = preprocess(tf.cast(image, tf.float32), preprocessing_mode)
            if data_format == "channels_first":
                image = tf.experimental.numpy.moveaxis(image, -1, -3)
        if not label:
            return image
        y = label[0]
        if num_classes is not None:
            y = tf.one_hot(y, num_classes)
        return image, y

    return load

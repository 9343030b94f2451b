"""Input pipelines on ``tf.data``: image folders, the paper's augmentations, digits.

Images travel through the pipeline as float32 RGB in [0, 255], height x width
x channels; the model family's ``preprocess_input`` mode is applied last, and
the result is transposed for the ``channels_first`` data format.

Transforms (He et al. 2015, section 3.4 and 4.2; Krizhevsky et al. 2012):

* ``imagenet_train_transform``: shorter side resized to a random length in
  [256, 480], random 224x224 crop, horizontal flip, PCA colour jitter.
* ``imagenet_eval_transform``: shorter side 256, centre 224x224 crop.
* ``cifar_train_transform``: 4-pixel zero padding, random crop back to the
  original size, horizontal flip (``flip=False`` for digits).
* ``ten_crop``: four corners and the centre, and their mirror images.

TensorFlow is imported here on purpose: ``tf.data`` is the point of the
module. It feeds Keras on every backend.
"""

import concurrent.futures
import dataclasses
import logging
import os

import numpy as np
import tensorflow as tf

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")

# AlexNet's PCA of ImageNet RGB pixels (values in [0, 1]), as published with
# fb.resnet.torch; eigenvalues are scaled to [0, 255] where they are used.
_PCA_EIGVAL = np.array([0.2175, 0.0188, 0.0045], dtype=np.float32)
_PCA_EIGVEC = np.array(
    [
        [-0.5675, 0.7192, 0.4009],
        [-0.5808, -0.0045, -0.8140],
        [-0.5836, -0.6948, 0.4203],
    ],
    dtype=np.float32,
)

_CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)
_TORCH_MEAN = (0.485, 0.456, 0.406)
_TORCH_STD = (0.229, 0.224, 0.225)


# ----------------------------------------------------------------------------
# Image folders
# ----------------------------------------------------------------------------


@dataclasses.dataclass
class ImageFolder:
    """Files of a class-per-sub-folder dataset.

    Attributes:
        paths: Image paths, sorted by class then file name.
        labels: Integer label of each path.
        class_names: Sub-folder names, sorted; label ``i`` is ``class_names[i]``.
        skipped: ``(path, reason)`` of each file left out as unreadable.
    """

    paths: list
    labels: np.ndarray
    class_names: list
    skipped: list = dataclasses.field(default_factory=list)

    def __len__(self):
        return len(self.paths)


def find_images(directory, *, class_names=None):
    """Lists the images of a class-per-sub-folder dataset.

    Args:
        directory: A folder with one sub-folder of JPEG/PNG files per class.
        class_names: Expected classes, in label order (e.g. the training
            set's, when listing a validation folder). Defaults to the sorted
            sub-folder names.

    Returns:
        An ``ImageFolder`` (nothing verified yet, ``skipped`` empty).

    Raises:
        ValueError: If the folder does not exist, has no class sub-folders,
            has a class sub-folder without images, or lacks an expected class.
    """
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise ValueError(f"Data folder not found. Received: data={directory!r}")
    found = sorted(
        entry.name for entry in os.scandir(directory) if entry.is_dir() and not entry.name.startswith(".")
    )
    if not found:
        raise ValueError(
            "Data folder has no class sub-folders (expected one folder of images "
            f"per class). Received: data={directory!r}"
        )
    if class_names is None:
        class_names = found
    missing = sorted(set(class_names) - set(found))
    if missing:
        raise ValueError(
            f"Data folder lacks class folder(s) {missing}. Received: data={directory!r}"
        )
    paths, labels = [], []
    for label, name in enumerate(class_names):
        folder = os.path.join(directory, name)
        files = sorted(
            f for f in os.listdir(folder)
            if f.lower().endswith(IMAGE_EXTENSIONS) and not f.startswith(".")
        )
        if not files:
            raise ValueError(
                f"Class folder {name!r} has no JPEG or PNG images. "
                f"Received: data={directory!r}"
            )
        paths.extend(os.path.join(folder, f) for f in files)
        labels.extend([label] * len(files))
    return ImageFolder(paths, np.asarray(labels, dtype=np.int32), list(class_names))


def check_image(path):
    """Returns None if ``path`` decodes fully as an RGB-convertible image, else the reason."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            if image.format not in ("JPEG", "PNG", "MPO"):
                return f"not a JPEG or PNG file ({image.format})"
            image.load()  # a full decode: truncated files fail here
    except Exception as e:  # PIL raises many types for broken files
        return f"{type(e).__name__}: {e}"
    return None


def verify_images(folder, *, workers=None):
    """Decodes every file once and drops the unreadable ones, reporting each by path.

    A file that would crash (or, worse, be silently replaced) in the middle
    of an epoch is found here, before training, instead.

    Args:
        folder: An ``ImageFolder``.
        workers: Threads decoding in parallel (PIL releases the GIL).

    Returns:
        A new ``ImageFolder`` without the bad files; they are listed in
        ``skipped`` and logged as warnings.
    """
    workers = workers or min(16, (os.cpu_count() or 1) * 2)
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        reasons = list(pool.map(check_image, folder.paths))
    keep = [i for i, reason in enumerate(reasons) if reason is None]
    skipped = [(p, r) for p, r in zip(folder.paths, reasons) if r is not None]
    for path, reason in skipped:
        logger.warning("skipping unreadable image %s (%s)", path, reason)
    return ImageFolder(
        [folder.paths[i] for i in keep],
        folder.labels[keep],
        folder.class_names,
        folder.skipped + skipped,
    )


def image_folder(directory, *, class_names=None, verify=True):
    """``find_images`` then, unless ``verify=False``, ``verify_images``."""
    folder = find_images(directory, class_names=class_names)
    return verify_images(folder) if verify else folder


def decode_image(path):
    """Reads a JPEG or PNG file as float32 RGB in [0, 255] (a TF op)."""
    image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    image.set_shape([None, None, 3])
    return tf.cast(image, tf.float32)


# ----------------------------------------------------------------------------
# Transforms of one image, float32 HWC in [0, 255]
# ----------------------------------------------------------------------------


def resize_shorter_side(image, side):
    """Resizes so that the shorter side is ``side`` pixels, keeping the aspect ratio."""
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    scale = tf.cast(side, tf.float32) / tf.reduce_min(shape)
    new = tf.cast(tf.round(shape * scale), tf.int32)
    new = tf.maximum(new, tf.cast(side, tf.int32))  # rounding must not undercut
    return tf.image.resize(image, new, method="bilinear", antialias=True)


def center_crop(image, size):
    """The central ``size`` x ``size`` window."""
    shape = tf.shape(image)
    top = (shape[0] - size) // 2
    left = (shape[1] - size) // 2
    return image[top : top + size, left : left + size, :]


def pca_lighting(image, std=0.1, *, seed=None):
    """AlexNet's colour jitter: adds ``eigvec @ (alpha * eigval)``, alpha ~ N(0, std)."""
    if std <= 0:
        return image
    alpha = tf.random.normal([3], stddev=std, seed=seed)
    rgb = tf.linalg.matvec(_PCA_EIGVEC, alpha * _PCA_EIGVAL) * 255.0
    return image + rgb


def imagenet_train_transform(image, *, size=224, scale=(256, 480), pca_std=0.1):
    """The paper's training augmentation of one image (section 3.4).

    Args:
        image: float32 HWC RGB in [0, 255].
        size: Side of the square crop.
        scale: Range of the resized shorter side, both ends included.
        pca_std: Standard deviation of AlexNet's PCA lighting noise (0 = off).

    Returns:
        A ``size`` x ``size`` x 3 float32 image, roughly in [0, 255].
    """
    side = tf.random.uniform([], scale[0], scale[1] + 1, dtype=tf.int32)
    image = resize_shorter_side(image, side)
    image = tf.image.random_crop(image, [size, size, 3])
    image = tf.image.random_flip_left_right(image)
    return pca_lighting(image, pca_std)


def imagenet_eval_transform(image, *, size=224, resize=256):
    """Shorter side ``resize``, then the centre ``size`` x ``size`` crop."""
    return center_crop(resize_shorter_side(image, resize), size)


def cifar_train_transform(image, *, pad=4, flip=True):
    """The paper's CIFAR augmentation: zero-pad ``pad`` pixels, random crop back, flip."""
    shape = tf.shape(image)
    padded = tf.pad(image, [[pad, pad], [pad, pad], [0, 0]])
    image = tf.image.random_crop(padded, [shape[0], shape[1], 3])
    if flip:
        image = tf.image.random_flip_left_right(image)
    return image


def ten_crop(image, size):
    """The four corner crops, the centre crop, and their mirror images.

    Args:
        image: float32 HWC image at least ``size`` on each side.
        size: Side of the square crops.

    Returns:
        A (10, size, size, channels) tensor: top-left, top-right, bottom-left,
        bottom-right, centre, then the same five flipped left-right.
    """
    shape = tf.shape(image)
    h, w = shape[0], shape[1]
    crops = [
        image[:size, :size],
        image[:size, w - size :],
        image[h - size :, :size],
        image[h - size :, w - size :],
        center_crop(image, size),
    ]
    crops = tf.stack(crops)
    return tf.concat([crops, tf.reverse(crops, axis=[2])], axis=0)


def preprocess(image, mode):
    """``keras_resnet.preprocessing.preprocess_input`` as TF ops (channels last).

    The Keras version dispatches on the Keras backend, which under JAX cannot
    run inside a ``tf.data`` graph; this one always can.
    """
    if mode == "tf":
        return image / 127.5 - 1.0
    if mode == "torch":
        return (image / 255.0 - _TORCH_MEAN) / _TORCH_STD
    if mode == "caffe":
        return tf.reverse(image, axis=[-1]) - _CAFFE_BGR_MEAN
    raise ValueError(f"`mode` should be 'caffe', 'tf' or 'torch'. Received: mode={mode!r}")


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
            _resize_square(x, image_size), pad=pad, flip=flip
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
    return lambda x: _resize_square(x, image_size)


def ten_crop_transform(augmentation, *, image_size):
    """Per-image 10-crop transform: (10, size, size, 3) after the evaluation resize."""
    if augmentation == "imagenet":
        resize = round(256 * image_size / 224)
        return lambda x: ten_crop(resize_shorter_side(x, resize), image_size)
    # Small images: crop the padded image so the crops keep the full digit.
    pad = max(1, round(4 * image_size / 32))
    return lambda x: ten_crop(
        tf.pad(_resize_square(x, image_size), [[pad, pad], [pad, pad], [0, 0]]), image_size
    )


def _resize_square(image, size):
    return tf.image.resize(image, [size, size], method="bilinear")


# ----------------------------------------------------------------------------
# Datasets
# ----------------------------------------------------------------------------


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

    Args:
        images: A list of file paths, or an array of RGB images
            (N, H, W, 3) with values in [0, 255].
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
    from_files = isinstance(images, (list, tuple)) and (not images or isinstance(images[0], str))
    n = len(images)
    if labels is not None and len(labels) != n:
        raise ValueError(
            f"`labels` must have one entry per image. Received: {len(labels)} labels "
            f"for {n} images"
        )
    if from_files:
        source = tf.data.Dataset.from_tensor_slices(list(images))
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

    dataset = source.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=not shuffle)
    if from_files:
        # A file that went bad after verification must not stop a long run;
        # it is logged by TensorFlow and dropped.
        dataset = dataset.ignore_errors(log_warning=True)
    return dataset.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)


# ----------------------------------------------------------------------------
# The embedded default dataset
# ----------------------------------------------------------------------------

DIGITS_CLASS_NAMES = [str(i) for i in range(10)]


def load_digits(*, seed=0, test_fraction=0.2, val_fraction=0.1):
    """scikit-learn's 1,797 scanned 8x8 handwritten digits, split reproducibly.

    The split is stratified by class and fixed by ``seed``: the same call
    gives the same images in the same subsets on every machine.

    Args:
        seed: Seed of the split.
        test_fraction: Share of all images held out for the test set.
        val_fraction: Share of all images held out for validation.

    Returns:
        A dict with ``"train"``, ``"val"`` and ``"test"``, each a pair
        ``(images, labels)``: uint8 RGB images (N, 8, 8, 3) in [0, 255]
        (the 17 grey levels stretched) and int32 labels; and
        ``"class_names"``.
    """
    from sklearn import datasets
    from sklearn.model_selection import train_test_split

    digits = datasets.load_digits()
    images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)
    images = np.repeat(images[..., None], 3, axis=-1)
    labels = digits.target.astype(np.int32)
    rest_x, test_x, rest_y, test_y = train_test_split(
        images, labels, test_size=test_fraction, random_state=seed, stratify=labels
    )
    train_x, val_x, train_y, val_y = train_test_split(
        rest_x,
        rest_y,
        test_size=val_fraction / (1 - test_fraction),
        random_state=seed,
        stratify=rest_y,
    )
    return {
        "train": (train_x, train_y),
        "val": (val_x, val_y),
        "test": (test_x, test_y),
        "class_names": list(DIGITS_CLASS_NAMES),
    }

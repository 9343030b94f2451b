"""Input pipelines on ``tf.data``: image folders, the paper's augmentations, the digits.

Modules:
    folders: class-per-sub-folder datasets, every image checked once with
        the pipeline's own decoder; ``printable`` file names.
    transforms: per-image float32 transforms and preprocessing (TF ops), the
        reference the uint8 pipeline is tested against.
    crops: the augmentations' crop windows in source pixels, chosen before
        decoding.
    decoding: crop-then-decode and DCT-scaled JPEG decoding, uint8 out.
    pipeline: ``make_dataset``, ``records_dataset`` and the transforms a
        recipe's augmentation names; uint8 batches.
    device: ``InputPreprocessing``, the flip, lighting noise and
        ``preprocess_input`` on the accelerator (``keras.ops``).
    digits: scikit-learn's digits, the embedded dataset of the demo.
    atomic: JSON files written whole or not at all (index, markers, caches).
    shards: the sharded TFRecord format of a prepared dataset; ``read_index``,
        ``shard_records`` (undecoded images and labels for ``tf.data``).
    prepare: ``prepare_shards``, an image folder written as shards, resumably.
    orientation: EXIF orientation as TF ops: read from a JPEG's bytes,
        applied to decoded pixels and to crop windows.
    headers: an image file's size from its header, refused over
        ``MAX_PIXELS`` before decoding.

TensorFlow is imported here on purpose: ``tf.data`` is the point of this
part of the package. It feeds Keras on every backend.
"""

import logging

from keras_resnet import _startup

# The package's lines are for applications that set up logging; without a
# handler of theirs Python's last resort would print every warning on
# stderr, next to the line the command line itself prints for the same file.
logging.getLogger(__name__).addHandler(logging.NullHandler())

# tf.data is the point of this part: if TensorFlow is missing, one line says so.
_startup.import_tensorflow("keras_resnet.data reads images")

from keras_resnet.data.crops import (
    center_window,
    torchvision_center_window,
    random_resized_crop_window,
    scale_augmentation_window,
)
from keras_resnet.data.device import InputPreprocessing
from keras_resnet.data.digits import DIGITS_CLASS_NAMES, load_digits
from keras_resnet.data.folders import (
    IMAGE_EXTENSIONS,
    ImageFolder,
    check_image,
    find_images,
    image_folder,
    printable,
    verify_images,
)
from keras_resnet.data.headers import MAX_PIXELS
from keras_resnet.data.pipeline import (
    AUGMENTATIONS,
    CropTransform,
    ImageTransform,
    device_augmentation,
    eval_transform,
    eval_transform_for,
    make_dataset,
    records_dataset,
    ten_crop_transform,
    training_transform,
)
from keras_resnet.data.prepare import prepare_shards
from keras_resnet.data.shards import (
    SHARD_FORMAT,
    DamagedShard,
    ShardFile,
    ShardIndex,
    damage,
    damaged_shards_named,
    is_prepared,
    read_index,
    shard_records,
    worker_shards,
)
from keras_resnet.data.transforms import (
    center_crop,
    cifar_train_transform,
    decode_image,
    imagenet_eval_transform,
    imagenet_train_transform,
    pca_lighting,
    preprocess,
    resize_shorter_side,
    ten_crop,
)

__all__ = [
    "AUGMENTATIONS",
    "DIGITS_CLASS_NAMES",
    "IMAGE_EXTENSIONS",
    "MAX_PIXELS",
    "SHARD_FORMAT",
    "CropTransform",
    "DamagedShard",
    "ImageFolder",
    "ImageTransform",
    "InputPreprocessing",
    "ShardFile",
    "ShardIndex",
    "center_crop",
    "center_window",
    "torchvision_center_window",
    "check_image",
    "cifar_train_transform",
    "damage",
    "damaged_shards_named",
    "decode_image",
    "device_augmentation",
    "eval_transform",
    "eval_transform_for",
    "find_images",
    "image_folder",
    "imagenet_eval_transform",
    "imagenet_train_transform",
    "is_prepared",
    "load_digits",
    "make_dataset",
    "pca_lighting",
    "prepare_shards",
    "preprocess",
    "printable",
    "random_resized_crop_window",
    "read_index",
    "records_dataset",
    "resize_shorter_side",
    "scale_augmentation_window",
    "shard_records",
    "ten_crop",
    "ten_crop_transform",
    "training_transform",
    "verify_images",
    "worker_shards",
]

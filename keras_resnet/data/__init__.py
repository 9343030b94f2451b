"""Input pipelines on ``tf.data``: image folders, the paper's augmentations, the digits.

Modules:
    folders: class-per-sub-folder datasets, every image checked once with
        the pipeline's own decoder; ``printable`` file names.
    transforms: per-image decoding, augmentations and preprocessing (TF ops).
    pipeline: ``make_dataset`` and the transforms a recipe's augmentation names.
    digits: scikit-learn's digits, the embedded dataset of the demo.

TensorFlow is imported here on purpose: ``tf.data`` is the point of this
part of the package. It feeds Keras on every backend.
"""

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
from keras_resnet.data.pipeline import (
    eval_transform,
    make_dataset,
    ten_crop_transform,
    training_transform,
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
    "DIGITS_CLASS_NAMES",
    "IMAGE_EXTENSIONS",
    "ImageFolder",
    "center_crop",
    "check_image",
    "cifar_train_transform",
    "decode_image",
    "eval_transform",
    "find_images",
    "image_folder",
    "imagenet_eval_transform",
    "imagenet_train_transform",
    "load_digits",
    "make_dataset",
    "pca_lighting",
    "preprocess",
    "printable",
    "resize_shorter_side",
    "ten_crop",
    "ten_crop_transform",
    "training_transform",
    "verify_images",
]

"""Transforms of one image on ``tf.data``: float32 RGB in [0, 255], height x width x channels.

The paper's augmentations (He et al. 2015, section 3.4 and 4.2; Krizhevsky
et al. 2012):

* ``imagenet_train_transform``: shorter side resized to a random length in
  [256, 480], random 224x224 crop, horizontal flip, PCA colour jitter.
* ``imagenet_eval_transform``: shorter side 256, centre 224x224 crop.
* ``cifar_train_transform``: 4-pixel zero padding, random crop back to the
  original size, horizontal flip (``flip=False`` for digits).
* ``ten_crop``: four corners and the centre, and their mirror images.

``preprocess`` applies a family's input convention (the constants of
``keras_resnet.preprocessing``) as TensorFlow ops.
"""

import numpy as np
import tensorflow as tf

from keras_resnet import preprocessing
from keras_resnet.data import crops, device, orientation

# AlexNet's PCA of ImageNet RGB pixels, as the device-side layer uses them.
_PCA_EIGVAL = np.array(device.PCA_EIGENVALUES, dtype=np.float32)
_PCA_EIGVEC = np.array(device.PCA_EIGENVECTORS, dtype=np.float32)


def decode_image(path):
    """Reads a JPEG or PNG file as float32 RGB in [0, 255], shown upright (a TF op).

    A JPEG's EXIF orientation is applied (``keras_resnet.data.orientation``).
    """
    contents = tf.io.read_file(path)
    image = tf.io.decode_image(contents, channels=3, expand_animations=False)
    image = orientation.upright(image, orientation.orientation_of(contents))
    image.set_shape([None, None, 3])
    return tf.cast(image, tf.float32)


def resize_shorter_side(image, side):
    """Resizes so that the shorter side is ``side`` pixels, keeping the aspect ratio."""
    new = crops.resized_shape(tf.shape(image)[:2], side)
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
        return (image / 255.0 - preprocessing.TORCH_MEAN) / preprocessing.TORCH_STD
    if mode == "caffe":
        return tf.reverse(image, axis=[-1]) - preprocessing.CAFFE_BGR_MEAN
    raise ValueError(f"`mode` should be 'caffe', 'tf' or 'torch'. Received: mode={mode!r}")

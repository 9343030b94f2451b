"""Random erasing (Zhong et al. 2020) on uint8 images in tf.data, with torchvision's draw.

torchvision's ``RandomErasing(p, scale=(0.02, 0.33), ratio=(0.3, 3.3))``:
with probability ``p`` a rectangle of ``scale`` of the image's area and
aspect ratio ``ratio`` (log-uniform) is filled; up to ten draws are tried
until one fits inside the image, and if none does the image is left alone.
torchvision erases after normalisation with ``value=0``, the dataset's mean
colour; here the image is still uint8, so the fill is that mean in pixel
units (``fill``), rounded to the nearest level: at most half a level from
torchvision's. tests/test_erasing.py compares the rectangles' sizes with
torchvision's draws.

Reference:
    Zhong, Zheng, Kang, Li, Yang. Random Erasing Data Augmentation. AAAI 2020.
"""

import math

import tensorflow as tf

#: ImageNet's mean colour in pixel units, torchvision's ``Normalize`` mean times 255.
IMAGENET_MEAN = (124, 116, 104)


def erasing_box(seed, height, width, *, scale=(0.02, 0.33), ratio=(0.3, 3.3), tries=10):
    """torchvision's ``RandomErasing.get_params``: ``(top, left, h, w)``, or h = 0 for none.

    Args:
        seed: A stateless seed, shape ``(2,)``.
        height, width: The image's size (Python ints).
        scale: The rectangle's area as a fraction of the image's, a range.
        ratio: Its aspect ratio (height over width), a range, drawn log-uniformly.
        tries: Draws tried before giving up, as torchvision's ten.
    """
    seeds = tf.random.experimental.stateless_split(seed, 4)
    area = height * width * tf.random.stateless_uniform([tries], seeds[0], scale[0], scale[1])
    aspect = tf.exp(tf.random.stateless_uniform(
        [tries], seeds[1], math.log(ratio[0]), math.log(ratio[1])))
    # int(round(x)): Python's round is half-to-even, as tf.round.
    h = tf.cast(tf.round(tf.sqrt(area * aspect)), tf.int32)
    w = tf.cast(tf.round(tf.sqrt(area / aspect)), tf.int32)
    fits = tf.logical_and(h < height, w < width)
    first = tf.argmax(tf.cast(fits, tf.int32), output_type=tf.int32)
    found = tf.reduce_any(fits)
    h = tf.where(found, h[first], 0)
    w = tf.where(found, w[first], 0)
    top = tf.random.stateless_uniform([], seeds[2], 0, height - h + 1, tf.int32)
    left = tf.random.stateless_uniform([], seeds[3], 0, width - w + 1, tf.int32)
    return top, left, h, w


def random_erasing(image, seed, probability, *, fill=IMAGENET_MEAN, **box_args):
    """Erases one rectangle of a ``(height, width, 3)`` uint8 image with ``probability``.

    Args:
        image: The uint8 image, of static size.
        seed: A stateless seed, shape ``(2,)``.
        probability: The chance that the image is erased at all (the
            recipe's ``random_erasing``).
        fill: The colour written into the rectangle.
        **box_args: ``erasing_box``'s ``scale``, ``ratio``, ``tries``.
    """
    height, width = image.shape[0], image.shape[1]
    coin_seed, box_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    top, left, h, w = erasing_box(box_seed, height, width, **box_args)
    rows = tf.range(height)[:, None]
    cols = tf.range(width)[None, :]
    inside = (rows >= top) & (rows < top + h) & (cols >= left) & (cols < left + w)
    erase = tf.random.stateless_uniform([], coin_seed) < probability
    inside = tf.logical_and(inside, erase)[..., None]
    return tf.where(inside, tf.constant(fill, tf.uint8), image)

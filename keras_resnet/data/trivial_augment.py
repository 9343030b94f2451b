"""TrivialAugmentWide (Muller and Hutter 2021) on uint8 images in tf.data, as torchvision has it.

One operation per image, chosen uniformly from 14, at a magnitude chosen
uniformly from 31 bins (torchvision's ``TrivialAugmentWide``, the
``ta_wide`` of its V2 recipe), with a random sign for the signed ones.
Each operation follows torchvision's tensor path (``_apply_op``) on a
``(height, width, 3)`` uint8 image: the colour operations blend in float32
and truncate to uint8 as ``torch.Tensor.to(torch.uint8)`` does; the
geometric ones use torchvision's inverse affine matrix, nearest-neighbour
sampling and zeros outside the image. Keras ships RandAugment and AugMix
layers but not this policy, hence this module. tests/test_trivial_augment.py
compares the table and every operation with torchvision's.

Reference:
    Muller, Hutter. TrivialAugment: Tuning-free Yet State-of-the-Art Data
    Augmentation. ICCV 2021.
"""

import math

import numpy as np
import tensorflow as tf

NUM_BINS = 31


def augmentation_space(num_bins=NUM_BINS):
    """Every operation's magnitudes and whether they take a random sign, in torchvision's order."""
    def linear(start, stop, num):  # torch.linspace's float32 values
        return np.linspace(start, stop, num).astype(np.float32)

    return {
        "Identity": (np.array(0.0), False),
        "ShearX": (linear(0.0, 0.99, num_bins), True),
        "ShearY": (linear(0.0, 0.99, num_bins), True),
        "TranslateX": (linear(0.0, 32.0, num_bins), True),
        "TranslateY": (linear(0.0, 32.0, num_bins), True),
        "Rotate": (linear(0.0, 135.0, num_bins), True),
        "Brightness": (linear(0.0, 0.99, num_bins), True),
        "Color": (linear(0.0, 0.99, num_bins), True),
        "Contrast": (linear(0.0, 0.99, num_bins), True),
        "Sharpness": (linear(0.0, 0.99, num_bins), True),
        "Posterize": (8 - np.round(np.arange(num_bins) / ((num_bins - 1) / 6)).astype(int), False),
        "Solarize": (linear(255.0, 0.0, num_bins), False),
        "AutoContrast": (np.array(0.0), False),
        "Equalize": (np.array(0.0), False),
    }


OPERATIONS = tuple(augmentation_space())


def _blend(image, other, ratio):
    # torchvision's ratio is a Python float: 1 - ratio is taken in float64, and
    # both weights meet the image in float32.
    ratio = tf.cast(ratio, tf.float64)
    mine, theirs = tf.cast(ratio, tf.float32), tf.cast(1.0 - ratio, tf.float32)
    mixed = mine * tf.cast(image, tf.float32) + theirs * tf.cast(other, tf.float32)
    return tf.cast(tf.clip_by_value(mixed, 0.0, 255.0), tf.uint8)


def _grayscale(image):
    rgb = tf.cast(image, tf.float32)
    gray = 0.2989 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]
    return tf.cast(gray, tf.uint8)[..., None]


def _inverse_affine(center, angle, translate, shear):
    """torchvision's ``_get_inverse_affine_matrix`` (scale 1) in tf ops: six entries.

    Angles in degrees; any argument may be a tensor.
    """
    radians = math.pi / 180.0
    rot = tf.cast(angle, tf.float32) * radians
    sx = tf.cast(shear[0], tf.float32) * radians
    sy = tf.cast(shear[1], tf.float32) * radians
    cx, cy = center
    tx, ty = (tf.cast(t, tf.float32) for t in translate)
    a = tf.cos(rot - sy) / tf.cos(sy)
    b = -tf.cos(rot - sy) * tf.tan(sx) / tf.cos(sy) - tf.sin(rot)
    c = tf.sin(rot - sy) / tf.cos(sy)
    d = -tf.sin(rot - sy) * tf.tan(sx) / tf.cos(sy) + tf.cos(rot)
    m0, m1, m3, m4 = d, -b, -c, a
    m2 = m0 * (-cx - tx) + m1 * (-cy - ty) + cx
    m5 = m3 * (-cx - tx) + m4 * (-cy - ty) + cy
    return m0, m1, m2, m3, m4, m5


def _affine(image, *, angle=0.0, translate=(0.0, 0.0), shear=(0.0, 0.0), corner=False):
    """The image through torchvision's affine map: nearest pixel, zeros outside.

    torchvision's matrix works in coordinates centred on the image (pixel
    centres at half-integers); ``corner`` puts the origin at the top-left
    corner, as its shears do (``center=[0, 0]``).
    """
    height, width = image.shape[0], image.shape[1]
    center = (-width * 0.5, -height * 0.5) if corner else (0.0, 0.0)
    m0, m1, m2, m3, m4, m5 = _inverse_affine(center, angle, translate, shear)
    # Output pixel (x, y) -> centred (x - ox, y - oy) -> input centred -> input pixel.
    ox, oy = width * 0.5 - 0.5, height * 0.5 - 0.5
    transform = tf.stack([
        m0, m1, m2 + ox - m0 * ox - m1 * oy,
        m3, m4, m5 + oy - m3 * ox - m4 * oy,
        0.0, 0.0,
    ])
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=image[None],
        transforms=transform[None],
        output_shape=tf.constant([height, width], tf.int32),
        fill_value=0.0,
        interpolation="NEAREST",
        fill_mode="CONSTANT",
    )[0]


def _sharpness(image, factor):
    kernel = np.ones((3, 3), np.float32)
    kernel[1, 1] = 5.0
    kernel = np.tile((kernel / kernel.sum())[:, :, None, None], (1, 1, 3, 1))
    blurred = tf.nn.depthwise_conv2d(
        tf.cast(image, tf.float32)[None], kernel, strides=[1, 1, 1, 1], padding="VALID"
    )[0]
    inner = tf.cast(tf.round(blurred), tf.uint8)
    degenerate = tf.pad(inner, [[1, 1], [1, 1], [0, 0]])
    border = tf.pad(tf.zeros_like(inner, tf.bool), [[1, 1], [1, 1], [0, 0]], constant_values=True)
    return _blend(image, tf.where(border, image, degenerate), factor)


def _autocontrast(image):
    pixels = tf.cast(image, tf.float32)
    low = tf.reduce_min(pixels, axis=[0, 1], keepdims=True)
    high = tf.reduce_max(pixels, axis=[0, 1], keepdims=True)
    flat = tf.equal(high, low)
    scale = tf.where(flat, 1.0, 255.0 / tf.where(flat, 1.0, high - low))
    low = tf.where(flat, 0.0, low)
    return tf.cast(tf.clip_by_value((pixels - low) * scale, 0.0, 255.0), tf.uint8)


def _equalize_channel(channel):
    values = tf.cast(channel, tf.int32)
    hist = tf.math.bincount(tf.reshape(values, [-1]), minlength=256, maxlength=256)
    last_nonzero = tf.gather(hist, tf.reduce_max(tf.where(hist > 0)))
    step = (tf.reduce_sum(hist) - tf.cast(last_nonzero, tf.int32)) // 255
    safe = tf.maximum(step, 1)
    lut = (tf.cumsum(hist) + step // 2) // safe
    lut = tf.clip_by_value(tf.concat([[0], lut[:-1]], 0), 0, 255)
    return tf.where(step == 0, channel, tf.cast(tf.gather(lut, values), tf.uint8))


def apply_op(image, name, magnitude):
    """One operation of the policy on a ``(height, width, 3)`` uint8 image.

    torchvision's ``_apply_op`` with nearest-neighbour sampling and zeros
    outside the image (``TrivialAugmentWide``'s defaults).

    ``magnitude`` (a number or a float32 scalar tensor) carries its sign.
    """
    # As torchvision: the factor 1 + magnitude in float64 (a Python float).
    factor = 1.0 + tf.cast(magnitude, tf.float64)
    magnitude = tf.cast(magnitude, tf.float32)
    if name == "Identity":
        return image
    if name in ("ShearX", "ShearY"):
        shear = tf.atan(magnitude) * (180.0 / math.pi)
        return _affine(image, shear=(shear, 0.0) if name == "ShearX" else (0.0, shear),
                       corner=True)
    if name in ("TranslateX", "TranslateY"):
        shift = tf.cast(tf.cast(magnitude, tf.int32), tf.float32)  # int(): towards zero
        return _affine(image, translate=(shift, 0.0) if name == "TranslateX" else (0.0, shift))
    if name == "Rotate":
        return _affine(image, angle=-magnitude)
    if name == "Brightness":
        return _blend(image, tf.zeros_like(image), factor)
    if name == "Color":
        return _blend(image, _grayscale(image), factor)
    if name == "Contrast":
        mean = tf.reduce_mean(tf.cast(_grayscale(image), tf.float32))
        return _blend(image, mean, factor)
    if name == "Sharpness":
        return _sharpness(image, factor)
    if name == "Posterize":
        dropped = tf.bitwise.left_shift(1, 8 - tf.cast(magnitude, tf.int32))
        return tf.bitwise.bitwise_and(image, tf.cast((256 - dropped) % 256, tf.uint8))
    if name == "Solarize":
        return tf.where(tf.cast(image, tf.float32) >= magnitude, 255 - image, image)
    if name == "AutoContrast":
        return _autocontrast(image)
    if name == "Equalize":
        return tf.stack([_equalize_channel(image[..., c]) for c in range(3)], axis=-1)
    raise ValueError(f"`name` should be one of {OPERATIONS}. Received: name={name!r}")


def trivial_augment_wide(image, seed):
    """One draw of the policy on a uint8 image of static size, for ``tf.data``.

    torchvision's draw: an operation uniformly, then one of its 31
    magnitudes uniformly, then a fair sign for the signed ones.

    Args:
        image: ``(height, width, 3)`` uint8 tensor.
        seed: A stateless seed, shape ``(2,)``.

    Returns:
        The augmented uint8 image.
    """
    space = augmentation_space()
    seeds = tf.random.experimental.stateless_split(seed, 3)
    op = tf.random.stateless_uniform([], seeds[0], 0, len(space), tf.int32)
    bin_index = tf.random.stateless_uniform([], seeds[1], 0, NUM_BINS, tf.int32)
    sign = tf.where(tf.random.stateless_uniform([], seeds[2], 0, 2, tf.int32) == 1, -1.0, 1.0)

    def branch(name, magnitudes, signed):
        if magnitudes.ndim == 0:
            return lambda: apply_op(image, name, 0.0)
        magnitude = tf.gather(tf.constant(magnitudes, tf.float32), bin_index)
        return lambda: apply_op(image, name, magnitude * sign if signed else magnitude)

    return tf.switch_case(op, [branch(*entry[:1], *entry[1]) for entry in space.items()])

"""RandAugment (Cubuk et al. 2020) on uint8 images in tf.data, as timm has it (ResNet strikes back).

timm's ``rand_augment_transform`` for the strings of "ResNet strikes back"
(``rand-m7-mstd0.5-inc1`` for A1 and A2, ``rand-m6-mstd0.5-inc1`` for A3),
as ``create_transform`` builds it for a 224 px ImageNet training: two
layers, each an operation chosen uniformly (with replacement) from timm's
15 "increasing" operations and applied with probability 0.5, at a magnitude
drawn per operation from ``gauss(m, mstd)`` clipped to [0, 10], with a fair
sign for the signed ones. timm runs PIL; every operation here follows PIL's
C code on a ``(height, width, 3)`` uint8 image: ``Image.blend``'s float32
``a + f * (b - a)`` truncated, ``convert("L")``'s fixed-point luma, the SMOOTH
filter's float32 sums, and ``Image.transform``'s affine sampling (pixel
centres at half-integers, edge pixels clamped, ImageNet's mean colour where
the source point falls outside, bilinear or PIL's a = -1 bicubic, truncated).

Resampling: timm's train.py defaults ``--train-interpolation`` to 'random',
for which ``create_transform`` sets no ``interpolation`` hparam, so every
geometric operation picks PIL's bilinear or bicubic with probability 1/2;
so does ``rand_augment`` here.

``keras.layers.RandAugment`` is another policy: 11 operations (no Invert
nor SolarizeAdd), every chosen operation always applied (no probability
0.5), strengths drawn uniformly from ``factor`` instead of ``gauss(m, 0.5)``
on timm's 0-10 scale, and Keras's own fill and resampling rather than PIL's.
tests/test_rand_augment.py compares the table and every operation with timm's.

References:
    Cubuk, Zoph, Shlens, Le. RandAugment: Practical automated data
    augmentation with a reduced search space. CVPR Workshops 2020.
    Wightman, Touvron, Jegou. ResNet strikes back: An improved training
    procedure in timm. 2021 (timm's ``timm/data/auto_augment.py``).
"""

import math
import re
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from keras_resnet.data import trivial_augment

LEVEL_DENOM = 10.0
#: timm's fill: ``round(255 * x)`` of ImageNet's mean, as ``create_transform`` passes it.
FILL = (124, 116, 104)
#: The largest translation as a fraction of the image's side (timm's ``translate_pct``).
TRANSLATE_PCT = 0.45

# The public functions hold no Python control flow on tensors: left to autograph
# (as tf.data's map does by default), converting them would triple the tracing time.
_plain = tf.autograph.experimental.do_not_convert


def _signed(value, negate):
    return tf.where(negate, -value, value)


def _enhance(level, negate):
    # 1 + or - up to 0.9, never below 0.1: 1.0 is "no change" for PIL's enhancers.
    return tf.maximum(1.0 + _signed((level / LEVEL_DENOM) * 0.9, negate), 0.1)


def _int(value):
    return tf.cast(value, tf.int32)  # Python's int() truncates towards zero, as a cast.


#: Level (0 to 10, float64) and sign to the PIL operation's argument, timm's
#: ``_RAND_INCREASING_TRANSFORMS`` in its order; None for operations without one.
LEVEL_TO_ARG = {
    "AutoContrast": None,
    "Equalize": None,
    "Invert": None,
    "Rotate": lambda level, negate: _signed((level / LEVEL_DENOM) * 30.0, negate),
    "PosterizeIncreasing": lambda level, negate: 4 - _int((level / LEVEL_DENOM) * 4),
    "SolarizeIncreasing": lambda level, negate: 256 - tf.minimum(
        256, _int((level / LEVEL_DENOM) * 256)),
    "SolarizeAdd": lambda level, negate: tf.minimum(128, _int((level / LEVEL_DENOM) * 110)),
    "ColorIncreasing": _enhance,
    "ContrastIncreasing": _enhance,
    "BrightnessIncreasing": _enhance,
    "SharpnessIncreasing": _enhance,
    "ShearX": lambda level, negate: _signed((level / LEVEL_DENOM) * 0.3, negate),
    "ShearY": lambda level, negate: _signed((level / LEVEL_DENOM) * 0.3, negate),
    "TranslateXRel": lambda level, negate: _signed((level / LEVEL_DENOM) * TRANSLATE_PCT, negate),
    "TranslateYRel": lambda level, negate: _signed((level / LEVEL_DENOM) * TRANSLATE_PCT, negate),
}
OPERATIONS = tuple(LEVEL_TO_ARG)
GEOMETRIC = ("Rotate", "ShearX", "ShearY", "TranslateXRel", "TranslateYRel")


class Settings(NamedTuple):
    """A RandAugment string's settings, with timm's defaults for what it leaves out."""

    magnitude: int
    magnitude_std: float
    num_layers: int = 2
    prob: float = 0.5
    operations: tuple = OPERATIONS


_SECTION = re.compile(r"(mstd|m|n|p|inc)(\d+(?:\.\d+)?)")


def parse(config):
    """timm's ``rand-...`` string: ``m`` (magnitude), ``mstd``, ``n`` (layers), ``p``, ``inc1``.

    Only the increasing table (``inc1``) is implemented, the one "ResNet
    strikes back" trains with; ``mmax``, ``t`` and unknown sections are refused.

    Args:
        config: e.g. ``"rand-m7-mstd0.5-inc1"``.

    Returns:
        ``Settings``.
    """
    sections = config.split("-") if isinstance(config, str) else []
    found = {}
    for section in sections[1:]:
        match = _SECTION.fullmatch(section)
        if match is None or match[1] in found:
            found = None
            break
        found[match[1]] = match[2]
    if (not sections or sections[0] != "rand" or found is None or found.get("inc") != "1"
            or "m" not in found or any("." in found.get(k, "") for k in ("m", "n", "inc"))):
        raise ValueError(
            "`config` should be a timm RandAugment string 'rand-m<int>-inc1' with optional "
            "-mstd<float>, -n<int>, -p<float> sections, e.g. 'rand-m7-mstd0.5-inc1'. "
            f"Received: config={config!r}")
    std = float(found.get("mstd", 0.0))
    return Settings(magnitude=int(found["m"]), magnitude_std=math.inf if std > 100 else std,
                    num_layers=int(found.get("n", 2)), prob=float(found.get("p", 0.5)))


def _pil_blend(degenerate, image, factor):
    """``Image.blend(degenerate, image, factor)``: float32 ``d + f * (i - d)``, truncated."""
    factor = tf.cast(tf.cast(factor, tf.float64), tf.float32)  # C's float alpha
    low = tf.cast(degenerate, tf.float32)
    mixed = low + factor * (tf.cast(image, tf.float32) - low)
    return tf.cast(tf.clip_by_value(mixed, 0.0, 255.0), tf.uint8)


def _pil_luma(image):
    """``convert("L")``: ITU-R 601-2 luma in 16-bit fixed point, rounded (int32, no channel)."""
    rgb = tf.cast(image, tf.int32)
    return (rgb[..., 0] * 19595 + rgb[..., 1] * 38470 + rgb[..., 2] * 7471 + 0x8000) // 65536


def _pil_smooth(image):
    """``filter(ImageFilter.SMOOTH)``: the float32 sums of PIL's 3x3 loop, border pixels kept."""
    side, centre = np.float32(1) / np.float32(13), np.float32(5) / np.float32(13)
    pixels = tf.cast(image, tf.float32)
    height = image.shape[0]

    def row(dy, weight):  # (left * w0 + middle * w1) + right * w2, as PIL's KERNEL1x3
        line = pixels[1 + dy:height - 1 + dy]
        return (line[:, :-2] * side + line[:, 1:-1] * weight) + line[:, 2:] * side

    total = ((0.5 + row(1, side)) + row(0, centre)) + row(-1, side)
    inner = tf.cast(tf.clip_by_value(total, 0.0, 255.0), tf.uint8)
    border = tf.pad(tf.zeros_like(inner, tf.bool), [[1, 1], [1, 1], [0, 0]], constant_values=True)
    return tf.where(border, image, tf.pad(inner, [[1, 1], [1, 1], [0, 0]]))


def _pil_autocontrast(image):
    """``ImageOps.autocontrast``: per channel ``int(i * scale + offset)`` in float64."""
    pixels = tf.cast(image, tf.float64)
    low = tf.reduce_min(pixels, axis=[0, 1])
    high = tf.reduce_max(pixels, axis=[0, 1])
    flat = high <= low
    scale = 255.0 / tf.where(flat, tf.ones_like(high), high - low)
    stretched = tf.cast(tf.clip_by_value(pixels * scale + -low * scale, 0.0, 255.0), tf.uint8)
    return tf.where(flat, image, stretched)


def _cubic(v1, v2, v3, v4, d):
    # PIL's BICUBIC macro: a = -1, evaluated in this order in double.
    p1 = v2
    p2 = -v1 + v3
    p3 = 2 * (v1 - v2) + v3 - v4
    p4 = -v1 + v2 - v3 + v4
    return p1 + d * (p2 + d * (p3 + d * p4))


def _pil_affine(image, matrix, bicubic, fill):
    """``image.transform(size, AFFINE, matrix, resample, fillcolor=fill)`` for an RGB image.

    ``matrix`` maps an output pixel's centre (x + 0.5, y + 0.5) to the source
    point; a source point outside [0, width) x [0, height) takes ``fill``,
    otherwise the neighbours are clamped to the image. ``bicubic`` may be a
    bool tensor, as timm's random choice per operation.
    """
    height, width = image.shape[0], image.shape[1]
    a0, a1, a2, a3, a4, a5 = (tf.cast(value, tf.float64) for value in matrix)
    xs = tf.range(width, dtype=tf.float64)[None, :] + 0.5
    ys = tf.range(height, dtype=tf.float64)[:, None] + 0.5
    xin = a0 * xs + a1 * ys + a2
    yin = a3 * xs + a4 * ys + a5
    inside = (xin >= 0.0) & (xin < width) & (yin >= 0.0) & (yin < height)
    xin, yin = xin - 0.5, yin - 0.5
    x, y = tf.floor(xin), tf.floor(yin)
    dx, dy = (xin - x)[..., None], (yin - y)[..., None]
    # Clipped before the cast only so that far-away points stay in int32.
    x = tf.cast(tf.clip_by_value(x, -4.0, width + 4.0), tf.int32)
    y = tf.cast(tf.clip_by_value(y, -4.0, height + 4.0), tf.int32)
    flat = tf.reshape(tf.cast(image, tf.float64), [height * width, -1])

    def tap(row, column):
        rows = tf.clip_by_value(y + row, 0, height - 1)
        columns = tf.clip_by_value(x + column, 0, width - 1)
        return tf.gather(flat, rows * width + columns)

    def bilinear():
        top = tap(0, 0) + (tap(0, 1) - tap(0, 0)) * dx
        bottom = tap(1, 0) + (tap(1, 1) - tap(1, 0)) * dx
        return top + (bottom - top) * dy

    def cubic():
        rows = [_cubic(*(tap(r, c) for c in (-1, 0, 1, 2)), dx) for r in (-1, 0, 1, 2)]
        return _cubic(*rows, dy)

    if isinstance(bicubic, bool):
        values = cubic() if bicubic else bilinear()
    else:
        values = tf.cond(tf.cast(bicubic, tf.bool), cubic, bilinear)
    sampled = tf.cast(tf.clip_by_value(values, 0.0, 255.0), tf.uint8)
    return tf.where(inside[..., None], sampled, tf.constant(fill, tf.uint8))


def _rotation(degrees, width, height):
    """``Image.rotate``'s matrix about the centre, as PIL computes it in Python floats."""
    angle = -(tf.math.floormod(tf.cast(degrees, tf.float64), 360.0) * (math.pi / 180.0))

    def round15(value):  # round(value, 15), to the last bit but for ties of the decimal
        return tf.round(value * 1e15) / 1e15

    a = e = round15(tf.cos(angle))
    b, d = round15(tf.sin(angle)), round15(-tf.sin(angle))
    cx, cy = width / 2, height / 2
    c = a * -cx + b * -cy + 0.0 + cx
    f = d * -cx + e * -cy + 0.0 + cy
    return a, b, c, d, e, f


def _matrix(name, arg, width, height):
    """The six PIL affine coefficients timm passes for a geometric operation, float64."""
    if name == "Rotate":
        matrix = _rotation(arg, width, height)
    elif name == "ShearX":
        matrix = (1.0, arg, 0.0, 0.0, 1.0, 0.0)
    elif name == "ShearY":
        matrix = (1.0, 0.0, 0.0, arg, 1.0, 0.0)
    elif name == "TranslateXRel":
        matrix = (1.0, 0.0, arg * width, 0.0, 1.0, 0.0)
    else:
        matrix = (1.0, 0.0, 0.0, 0.0, 1.0, arg * height)
    return tf.stack([_float64(value) for value in matrix])


def _colour_op(image, name, arg):
    height, width = image.shape[0], image.shape[1]
    if name == "AutoContrast":
        return _pil_autocontrast(image)
    if name == "Equalize":  # torchvision's equalize is PIL's lookup table
        return tf.stack([trivial_augment._equalize_channel(image[..., c]) for c in range(3)], -1)
    if name == "Invert":
        return 255 - image
    if name == "PosterizeIncreasing":  # same bit mask as PIL's
        return trivial_augment.apply_op(image, "Posterize", arg)
    if name == "SolarizeIncreasing":  # same lookup table as PIL's: invert from the threshold on
        return trivial_augment.apply_op(image, "Solarize", arg)
    if name == "SolarizeAdd":
        pixels = tf.cast(image, tf.int32)
        added = tf.where(pixels < 128, tf.minimum(255, pixels + arg), pixels)
        return tf.cast(added, tf.uint8)
    if name == "ColorIncreasing":
        gray = tf.cast(_pil_luma(image), tf.uint8)[..., None]
        return _pil_blend(tf.broadcast_to(gray, image.shape), image, arg)
    if name == "ContrastIncreasing":
        luma = tf.cast(_pil_luma(image), tf.float64)
        # ImageStat's mean, rounded half up to an integer grey.
        mean = tf.floor(tf.reduce_sum(luma) / float(height * width) + 0.5)
        return _pil_blend(mean, image, arg)
    if name == "BrightnessIncreasing":
        return _pil_blend(tf.zeros_like(image), image, arg)
    return _pil_blend(_pil_smooth(image), image, arg)  # SharpnessIncreasing


def _float64(value):
    # A Python float straight to float64: tf.cast would pass it through float32 first.
    return tf.cast(value, tf.float64) if hasattr(value, "dtype") else tf.constant(value, tf.float64)


def _argument(name, magnitude_level, negate):
    level = tf.clip_by_value(_float64(magnitude_level), 0.0, LEVEL_DENOM)  # timm's clip
    level_to_arg = LEVEL_TO_ARG[name]
    return None if level_to_arg is None else level_to_arg(level, negate)


@_plain
def apply_op(image, name, magnitude_level, *, negate=False, bicubic=False, fill=FILL):
    """One operation of the policy on a ``(height, width, 3)`` uint8 image, deterministically.

    timm's ``AugmentOp`` with ``prob=1`` and no magnitude noise: the level is
    clipped to [0, 10], turned into the PIL operation's argument by
    ``LEVEL_TO_ARG`` and the operation applied.

    Args:
        image: uint8 tensor of static size.
        name: One of ``OPERATIONS``.
        magnitude_level: The level, 0 to 10 (a number or scalar tensor).
        negate: Whether a signed operation's argument is negated (timm's
            ``_randomly_negate``); a bool or bool scalar tensor.
        bicubic: PIL's bicubic instead of bilinear for the geometric
            operations; a bool or bool scalar tensor.
        fill: The colour where a geometric operation's source is outside the image.

    Returns:
        The uint8 image.
    """
    if name not in LEVEL_TO_ARG:
        raise ValueError(f"`name` should be one of {OPERATIONS}. Received: name={name!r}")
    arg = _argument(name, magnitude_level, negate)
    if name in GEOMETRIC:
        matrix = _matrix(name, arg, image.shape[1], image.shape[0])
        return _pil_affine(image, tf.unstack(matrix), bicubic, fill)
    return _colour_op(image, name, arg)


@_plain
def draw(seed, config):
    """The policy's random choices for one image, ``num_layers`` of each.

    Args:
        seed: A stateless seed, shape ``(2,)``.
        config: A RandAugment string or ``Settings``.

    Returns:
        A dict of ``(num_layers,)`` tensors: ``op`` (int32 index into
        ``OPERATIONS``), ``apply`` (bool), ``level`` (float64, clipped),
        ``negate`` (bool) and ``bicubic`` (bool).
    """
    settings = config if isinstance(config, Settings) else parse(config)
    n = settings.num_layers
    seeds = tf.random.experimental.stateless_split(seed, 5)
    op = tf.random.stateless_uniform([n], seeds[0], 0, len(settings.operations), tf.int32)
    # timm skips an operation when random() > prob.
    apply = tf.random.stateless_uniform([n], seeds[1], dtype=tf.float64) <= settings.prob
    if settings.magnitude_std == math.inf:
        level = tf.random.stateless_uniform([n], seeds[2], 0.0, settings.magnitude, tf.float64)
    else:
        noise = tf.random.stateless_normal([n], seeds[2], dtype=tf.float64)
        level = settings.magnitude + settings.magnitude_std * noise
    return {
        "op": op,
        "apply": apply,
        "level": tf.clip_by_value(level, 0.0, LEVEL_DENOM),
        "negate": tf.random.stateless_uniform([n], seeds[3], dtype=tf.float64) > 0.5,
        "bicubic": tf.random.stateless_uniform([n], seeds[4], 0, 2, tf.int32) == 1,
    }


@_plain
def rand_augment(image, seed, config, *, fill=FILL):
    """One draw of timm's RandAugment on a uint8 image of static size, for ``tf.data``.

    Args:
        image: ``(height, width, 3)`` uint8 tensor.
        seed: A stateless seed, shape ``(2,)``.
        config: A RandAugment string, e.g. ``"rand-m7-mstd0.5-inc1"``, or ``Settings``.
        fill: The colour geometric operations bring in (timm's ``img_mean``).

    Returns:
        The augmented uint8 image, same shape.
    """
    settings = config if isinstance(config, Settings) else parse(config)
    choices = draw(seed, settings)
    shape = image.shape
    height, width = shape[0], shape[1]
    identity = tf.constant([1.0, 0.0, 0.0, 0.0, 1.0, 0.0], tf.float64)
    for layer in range(settings.num_layers):
        level, negate = choices["level"][layer], choices["negate"][layer]

        # Each branch returns (image, matrix, geometric): the geometric operations share one
        # sampler below instead of tracing five, for a graph of a third of the nodes.
        def branch(name, image=image, level=level, negate=negate):
            def run():
                arg = _argument(name, level, negate)
                if name in GEOMETRIC:
                    return image, _matrix(name, arg, width, height), tf.constant(True)
                return _colour_op(image, name, arg), identity, tf.constant(False)
            return run

        def chosen(image=image, layer=layer):
            result, matrix, geometric = tf.switch_case(
                choices["op"][layer], [branch(name) for name in settings.operations])
            return tf.cond(geometric, lambda: _pil_affine(
                image, tf.unstack(matrix), choices["bicubic"][layer], fill), lambda: result)

        image = tf.cond(choices["apply"][layer], chosen, lambda image=image: image)
        image = tf.ensure_shape(image, shape)
    return image

"""Decoding image files to uint8 RGB, reading no more of a JPEG than the view needs.

Two savings over decoding the whole image and resizing it:

* **Crop, then decode.** A random or centre view is chosen in source pixels
  from the JPEG header (``keras_resnet.data.crops``); ``decode_and_crop_jpeg``
  decodes only the blocks under it, and only they are resampled.
* **DCT scaling.** libjpeg can decode at 1/2, 1/4 or 1/8 of the size by
  dropping high frequencies, for a fraction of the work. It is used only where
  the decoded pixels still outnumber the output's (the view's shorter side at
  that ratio is at least the output size), so no detail the output could show
  is lost.

Resampling is ``tf.image.resize``'s own (bilinear, antialiased: the
``ScaleAndTranslate`` op with a triangle kernel), given the view's exact
scale and offset, so a view equals the crop of the resized whole image that
the float pipeline (``keras_resnet.data.transforms``) computes, up to JPEG's
chroma rounding at the decoded window's edge.

PNG, GIF, BMP and anything else ``tf.io.decode_image`` reads fall back to a
full decode, then the same resampling.

Every view is of the image as shown: a JPEG's EXIF orientation
(``keras_resnet.data.orientation``) is applied. Windows are chosen in the
shown image (its height and width swapped for orientations 5-8), mapped to
the stored pixels, which are decoded as before (only the window), then
turned; a file without the tag is read exactly as it is stored. Everything returns uint8 RGB: four
times fewer bytes than float32 to batch, copy and ship to the accelerator.
"""

import tensorflow as tf

from keras_resnet.data import orientation as exif

# libjpeg's scale denominators, smallest first.
DCT_RATIOS = (1, 2, 4, 8)

#: Interpolations of the exact view: ``ScaleAndTranslate``'s kernel and its
#: radius in output pixels. "bicubic" is Keys' cubic with a = -0.5, PIL's
#: BICUBIC (what timm's and torchvision's evaluation transforms use on PIL
#: images), antialiased as PIL is when shrinking.
INTERPOLATIONS = {"bilinear": ("triangle", 1.0), "bicubic": ("keyscubic", 2.0)}


def decode_rgb(contents):
    """Any supported image file as uint8 RGB (H, W, 3), decoded in full, shown upright."""
    image = tf.io.decode_image(contents, channels=3, expand_animations=False)
    image = exif.upright(image, exif.orientation_of(contents))
    image.set_shape([None, None, 3])
    return image


def to_uint8(image):
    """Rounds a float image in about [0, 255] to uint8, saturating."""
    return tf.saturate_cast(tf.round(image), tf.uint8)


def resize_to(image, size):
    """Resizes to ``size`` x ``size`` (bilinear, antialiased when shrinking), uint8."""
    resized = tf.image.resize(image, [size, size], method="bilinear", antialias=True)
    return to_uint8(resized)


def dct_ratio_index(shorter, min_side):
    """Index into ``DCT_RATIOS`` of the largest ratio with ``shorter // ratio >= min_side``.

    The ratios that keep enough pixels are a prefix of ``DCT_RATIOS``, so
    counting them gives the index (0, ratio 1, when none does).
    """
    shorter = tf.cast(shorter, tf.int32)
    fits = [tf.cast(shorter // r >= min_side, tf.int32) for r in DCT_RATIOS[1:]]
    return tf.add_n(fits)


def decode_view(contents, window, size, interpolation="bilinear", *, accurate=False):
    """The source ``window`` of an image file, resampled to ``size`` x ``size`` uint8.

    Args:
        contents: The file's bytes (a scalar ``tf.string``).
        window: float32 ``[top, left, height, width]`` in the pixels of the
            image as shown (``keras_resnet.data.crops``), or a function of
            the int32 ``[height, width]`` returning one (it then sees the
            shown shape: the JPEG header's, swapped for EXIF orientations
            5-8, or the decoded image's for other formats).
        size: Output side.
        interpolation: ``"bilinear"`` or ``"bicubic"`` (``INTERPOLATIONS``).
        accurate: Decode JPEGs with libjpeg's accurate integer DCT, as PIL
            does, instead of TensorFlow's default fast one (measured on a
            photograph: the fast DCT is 0.8 levels darker on average than
            PIL's decode, the accurate one equal). For views that must be
            the PyTorch publishers' own.
    """
    _check_interpolation(interpolation)
    dct_method = "INTEGER_ACCURATE" if accurate else ""
    choose = window if callable(window) else (lambda shape: window)

    def jpeg(stored, orientation):
        shown = exif.displayed_shape(stored, orientation)
        view = tf.cast(choose(shown), tf.float32)
        ratio_index = dct_ratio_index(tf.minimum(view[2], view[3]), size)
        # The stored pixels under the shown view are decoded, then turned
        # upright, and resampled in the shown image's coordinates.
        stored_view = exif.stored_window(view, shown, orientation)
        branches = [
            (
                lambda r=r: _decode_jpeg_around(
                    contents, stored, stored_view, size, r, interpolation, dct_method
                )
            )
            for r in DCT_RATIOS
        ]
        # switch_case: the ratio is an attribute of the op, not a tensor input.
        image, start, end = tf.switch_case(ratio_index, branches)
        ratio = tf.cast(tf.gather(DCT_RATIOS, ratio_index), tf.float32)
        return _resample(
            exif.upright(image, orientation), view, size,
            origin=exif.shown_origin(start, end, shown, orientation), ratio=ratio,
            interpolation=interpolation,
        )

    def other():
        image = decode_rgb(contents)
        return view_of(image, choose, size, interpolation)

    image = tf.cond(tf.io.is_jpeg(contents), lambda: _by_orientation(contents, jpeg), other)
    image.set_shape([size, size, 3])
    return image


def _by_orientation(contents, read):
    """``read(stored shape, orientation)`` of a JPEG.

    No branch around the decode (a ``tf.cond`` around it costs an eighth of
    the decode's time in ``tf.data``): the window mapping runs for every
    file, and for orientation 1 it selects the very numbers it was given,
    so a file without the tag is read exactly as before.
    """
    return read(tf.io.extract_jpeg_shape(contents)[:2], exif.jpeg_orientation(contents))


def decode_crop(contents, window, size):
    """The fast variant of ``decode_view``, for training: whole pixels, no antialiasing.

    The window is rounded to whole source pixels, decoded (at a DCT scale
    where that keeps at least ``size`` pixels), and resized with plain
    bilinear interpolation, as TensorFlow's reference ImageNet pipeline
    (``decode_and_crop_jpeg`` then ``tf.image.resize``) does. A view differs
    from ``decode_view``'s by the rounding (under half a source pixel), by
    aliasing where the crop shrinks by more than about 1.5, and by truncating
    rather than rounding to uint8; the windows' distribution is the same.
    """
    choose = window if callable(window) else (lambda shape: window)

    def whole_pixels(view, shape):
        start = tf.cast(tf.round(view[:2]), tf.int32)
        extent = tf.maximum(tf.cast(tf.round(view[2:]), tf.int32), 1)
        start = tf.clip_by_value(start, 0, shape - 1)
        return tf.concat([start, tf.minimum(extent, shape - start)], axis=0)

    def jpeg(stored, orientation):
        shown = exif.displayed_shape(stored, orientation)
        crop = whole_pixels(tf.cast(choose(shown), tf.float32), shown)
        index = dct_ratio_index(tf.minimum(crop[2], crop[3]), size)
        # Whole shown pixels are whole stored pixels: the same crop, turned.
        crop = exif.stored_window(crop, shown, orientation)
        branches = [(lambda r=r: _decode_and_crop(contents, crop, r)) for r in DCT_RATIOS]
        return exif.upright(tf.switch_case(index, branches), orientation)

    def other():
        image = decode_rgb(contents)
        shape = tf.shape(image)[:2]
        crop = whole_pixels(tf.cast(choose(shape), tf.float32), shape)
        return image[crop[0] : crop[0] + crop[2], crop[1] : crop[1] + crop[3]]

    image = tf.cond(tf.io.is_jpeg(contents), lambda: _by_orientation(contents, jpeg), other)
    # Bilinear interpolation of uint8 pixels stays in [0, 255]; truncating
    # (a bias of half a level, which training does not see) instead of
    # rounding saves a pass over the pixels, a tenth of the time.
    image = tf.cast(tf.image.resize(image, [size, size], method="bilinear"), tf.uint8)
    image.set_shape([size, size, 3])
    return image


def _decode_and_crop(contents, crop, ratio):
    """Decodes the whole-pixel ``crop`` at 1/``ratio`` scale (its pixels rounded down)."""
    if ratio == 1:
        return tf.io.decode_and_crop_jpeg(contents, crop, channels=3)
    scaled = tf.concat([crop[:2] // ratio, tf.maximum(crop[2:] // ratio, 1)], axis=0)
    return tf.io.decode_and_crop_jpeg(contents, scaled, channels=3, ratio=ratio)


def view_of(image, window, size, interpolation="bilinear"):
    """``decode_view`` for a decoded HWC image (any dtype): the window, resampled, uint8."""
    _check_interpolation(interpolation)
    view = tf.cast(window(tf.shape(image)[:2]) if callable(window) else window, tf.float32)
    return _resample(image, view, size, origin=tf.zeros([2]), ratio=1, interpolation=interpolation)


def _check_interpolation(interpolation):
    if interpolation not in INTERPOLATIONS:
        raise ValueError(
            f"`interpolation` should be one of {sorted(INTERPOLATIONS)}. "
            f"Received: interpolation={interpolation!r}"
        )


def _decode_jpeg_around(contents, shape, view, size, ratio, interpolation, dct_method):
    """Decodes, at 1/``ratio`` scale, the blocks under ``view`` and its filter's margin.

    Returns:
        ``(pixels, start, end)``: the decoded blocks and the stored pixels
        ``[start, end)`` (per axis, int32) they cover.
    """
    scale = size / tf.maximum(view[2:], 1e-6)
    radius = INTERPOLATIONS[interpolation][1]
    # The antialiasing kernel reaches radius / scale source pixels to each
    # side when shrinking, radius when enlarging; one pixel more for rounding.
    margin = tf.math.ceil(radius * tf.maximum(1.0 / scale, 1.0)) + 1.0
    start = tf.clip_by_value(tf.math.floor(view[:2] - margin), 0.0, tf.cast(shape, tf.float32))
    end = tf.clip_by_value(
        tf.math.ceil(view[:2] + view[2:] + margin), 0.0, tf.cast(shape, tf.float32)
    )
    start, end = tf.cast(start, tf.int32), tf.cast(end, tf.int32)
    # In the scaled image (ceil(shape / ratio) pixels): whole scaled pixels
    # covering [start, end).
    scaled_start = start // ratio
    scaled_end = tf.minimum(-(-end // ratio), -(-shape // ratio))
    extent = tf.maximum(scaled_end - scaled_start, 1)
    crop = tf.concat([scaled_start, extent], axis=0)
    if ratio == 1:
        image = tf.io.decode_and_crop_jpeg(contents, crop, channels=3, dct_method=dct_method)
    else:
        image = tf.io.decode_and_crop_jpeg(
            contents, crop, channels=3, ratio=ratio, dct_method=dct_method
        )
    return image, scaled_start * ratio, (scaled_start + extent) * ratio


def _resample(image, view, size, *, origin, ratio, interpolation="bilinear"):
    """``view`` of ``image`` (whose pixel (0, 0) is source ``origin``, at 1/``ratio``) to uint8.

    Output coordinate = scale * input coordinate + translation, in the
    continuous coordinates ``ScaleAndTranslate`` uses.
    """
    scale = size / view[2:]
    resampled = tf.raw_ops.ScaleAndTranslate(
        images=image[None],
        size=[size, size],
        scale=scale * ratio,
        translation=scale * (origin - view[:2]),
        kernel_type=INTERPOLATIONS[interpolation][0],
        antialias=True,
    )
    return to_uint8(resampled[0])


def decode_reduced(contents, min_side):
    """The whole image as uint8 RGB, DCT-reduced while its shorter side stays >= ``min_side``.

    Shown upright (EXIF orientation applied).
    """

    def jpeg():
        index = dct_ratio_index(tf.reduce_min(tf.io.extract_jpeg_shape(contents)[:2]), min_side)
        branches = [
            (lambda r=r: tf.io.decode_jpeg(contents, channels=3, ratio=r)) for r in DCT_RATIOS
        ]
        return exif.upright(tf.switch_case(index, branches), exif.jpeg_orientation(contents))

    image = tf.cond(tf.io.is_jpeg(contents), jpeg, lambda: decode_rgb(contents))
    image.set_shape([None, None, 3])
    return image

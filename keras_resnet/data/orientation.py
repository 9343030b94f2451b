"""EXIF orientation: how a photograph's stored pixels are turned to be shown upright.

A camera writes the sensor's rows as they come and records in the EXIF tag
0x0112 how a viewer must turn them: a phone held upright stores a landscape
image and the tag 6 (turn 90 degrees clockwise). Browsers, photo viewers and
PIL's ``ImageOps.exif_transpose`` show the turned image; so does every path
of this package that reads images (the tag is read from the file's bytes,
as TF ops, so records and files are read alike).

The eight values, as the displayed image ``D`` of the stored ``A``
(``H`` x ``W``): 1 ``A``; 2 ``A`` mirrored left-right; 3 turned 180
degrees; 4 mirrored top-bottom; 5 transposed (``D[i, j] = A[j, i]``);
6 turned 90 degrees clockwise; 7 transposed across the other diagonal;
8 turned 90 degrees counter-clockwise. Each is a transpose (5-8), then a
top-bottom and/or left-right mirror: ``(value - 1) % 4`` is 0 none, 1
left-right, 2 both, 3 top-bottom. A file without the tag, with a value
outside 1-8, or with EXIF that cannot be parsed is shown as stored (1).

Only JPEG's EXIF (the APP1 segment) is read: it is where cameras and phones
write the tag.
"""

import tensorflow as tf

#: The EXIF tag of the orientation.
ORIENTATION_TAG = 0x0112

# The bytes of a JPEG searched for its EXIF orientation. The EXIF standard
# puts APP1 right after SOI (or after JFIF's APP0), and IFD0, whose entries
# are sorted by tag, holds the orientation (0x0112) among its first: within
# the first two hundred bytes or so of the file in practice.
_HEAD_BYTES = 1024

# IFD entries of the orientation: tag 0x0112, type SHORT (3), count 1, as
# little-endian ("II") and big-endian ("MM") EXIF writes them.
_LITTLE_ENTRY = (0x12, 0x01, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00)
_BIG_ENTRY = (0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01)
_EXIF_HEADER = tuple(b"Exif\x00\x00")


def jpeg_orientation(contents):
    """The orientation (int32 1-8) a JPEG's EXIF states; 1 without one.

    Finds, in the file's first ``_HEAD_BYTES``, EXIF's header
    (``Exif\\0\\0``) and after it the first IFD entry of the orientation
    tag (its 8 bytes of tag, type and count in either byte order). A pattern
    search rather than a walk of the segments and IFDs: a few dozen
    vectorized ops, no loop and no branch (a ``tf.while_loop`` walk cost
    ``tf.data`` three times as much per image). Anything
    else (no EXIF, EXIF further in, a value outside 1-8, a file that is no
    JPEG) gives 1: the image is shown as stored.

    Args:
        contents: An image file's bytes (scalar ``tf.string``).
    """
    head = tf.io.decode_raw(tf.strings.substr(contents, 0, _HEAD_BYTES), tf.uint8)
    head = tf.cast(tf.pad(head, [[0, _HEAD_BYTES + 10 - tf.shape(head)[0]]]), tf.int32)

    def byte(i):  # byte i of the 10 at every offset
        return head[i : i + _HEAD_BYTES]

    def matches(pattern):
        return tf.reduce_all(tf.stack([tf.equal(byte(i), b) for i, b in enumerate(pattern)]), 0)

    little = matches(_LITTLE_ENTRY) & tf.equal(byte(9), 0)
    big = matches(_BIG_ENTRY) & tf.equal(byte(8), 0)
    exif = matches(_EXIF_HEADER)
    exif_at = tf.argmax(tf.cast(exif, tf.int32), output_type=tf.int32)
    entry = (little | big) & (tf.range(_HEAD_BYTES) > exif_at)
    at = tf.argmax(tf.cast(entry, tf.int32), output_type=tf.int32)
    value = tf.where(little[at], head[at + 8], head[at + 9])
    is_jpeg = tf.equal(head[0], 0xFF) & tf.equal(head[1], 0xD8)
    found = is_jpeg & exif[exif_at] & entry[at]
    return tf.where(found & (value >= 1) & (value <= 8), value, 1)


def orientation_of(contents):
    """The orientation (int32 1-8) of any image file's bytes: a JPEG's EXIF, else 1."""
    return jpeg_orientation(contents)


def _flips(orientation):
    """``(transpose, top_bottom, left_right)`` booleans of an orientation."""
    k = (orientation - 1) % 4
    return orientation >= 5, (k == 2) | (k == 3), (k == 1) | (k == 2)


def displayed_shape(shape, orientation):
    """The shown ``[height, width]`` of a stored ``shape`` (int32): swapped for 5-8."""
    transpose, _, _ = _flips(orientation)
    return tf.where(transpose, tf.reverse(shape, [0]), shape)


def upright(image, orientation):
    """``image`` (HWC, stored pixels) as shown: transposed and mirrored as its orientation says.

    One branch: orientation 1 hands the image through untouched (a reverse
    over no axes would still copy it); the others ``turn`` it.
    """
    turned = tf.cond(
        tf.equal(orientation, 1), lambda: tf.identity(image), lambda: turn(image, orientation)
    )
    turned.set_shape([None, None, image.shape[-1]])
    return turned


def turn(image, orientation):
    """``upright`` without its branch: a transpose and a reverse, perm and axes as tensors."""
    transpose, top_bottom, left_right = _flips(orientation)
    perm = tf.where(transpose, [1, 0, 2], [0, 1, 2])
    axes = tf.boolean_mask(tf.constant([0, 1]), tf.stack([top_bottom, left_right]))
    turned = tf.reverse(tf.transpose(image, perm), axes)
    turned.set_shape([None, None, image.shape[-1]])
    return turned


def stored_window(window, shown, orientation):
    """The stored pixels under a window of the shown image.

    Args:
        window: ``[top, left, height, width]`` in the shown image (any
            numeric dtype; whole pixels stay whole).
        shown: The shown ``[height, width]`` (``displayed_shape``).
        orientation: int32 1-8.

    Returns:
        ``[top, left, height, width]`` in the stored image, same dtype.
    """
    transpose, top_bottom, left_right = _flips(orientation)
    shown = tf.cast(shown, window.dtype)
    top = tf.where(top_bottom, shown[0] - window[0] - window[2], window[0])
    left = tf.where(left_right, shown[1] - window[1] - window[3], window[1])
    unmirrored = tf.stack([top, left, window[2], window[3]])
    return tf.where(transpose, tf.gather(unmirrored, [1, 0, 3, 2]), unmirrored)


def shown_origin(start, end, shown, orientation):
    """Where a stored block ``[start, end)`` (per stored axis) begins in the shown image.

    A mirrored axis runs backwards: the block's last stored pixel comes
    first, at ``side - end``. With ``start``/``end`` in stored pixels of a
    block decoded at 1/r scale (``start``, ``end`` multiples of r), the
    turned block's pixel k is centred at ``origin + (k + 0.5) * r`` in the
    shown image, as the unturned one's at ``start + (k + 0.5) * r``.

    Returns:
        float32 ``[top, left]`` in the shown image.
    """
    transpose, top_bottom, left_right = _flips(orientation)
    start, end = tf.cast(start, tf.float32), tf.cast(end, tf.float32)
    start = tf.where(transpose, tf.reverse(start, [0]), start)
    end = tf.where(transpose, tf.reverse(end, [0]), end)
    shown = tf.cast(shown, tf.float32)
    mirrored = tf.stack([top_bottom, left_right])
    return tf.where(mirrored, shown - end, start)

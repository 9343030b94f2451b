"""What an image file's header says about its size, read before anything is decoded.

A file of a few hundred bytes can claim 50000 x 50000 pixels: decoding it
would ask for 7.5 GB before finding out that the data is not there (and
libjpeg prints "Image too large" on the way). ``size_problem`` reads the
header alone (JPEG's SOF segment, PNG's IHDR, GIF's screen, BMP's info
header, WebP's VP8/VP8L/VP8X chunk) and refuses an image of more than
``MAX_PIXELS`` pixels, by its size, in one line.

The bound is TensorFlow's own for JPEG (its decoder refuses an RGB image of
2**29 bytes or more, 178,956,970 pixels), which is also PIL's
decompression-bomb limit (twice ``Image.MAX_IMAGE_PIXELS``): one bound for
every format, so a PNG or GIF too large to be a JPEG is refused as well.
"""

import os
import struct

#: The most pixels an image may have: TensorFlow's JPEG limit, (2**29 - 1) // 3.
MAX_PIXELS = (2**29 - 1) // 3

# JPEG's start-of-frame markers (the frame header states the size): C0-CF
# except DHT (C4), JPG (C8) and DAC (CC).
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def header_size(path):
    """``(width, height)`` as the file's header states it, or None if it states none we read.

    Args:
        path: An image file (``str``, ``bytes`` or path-like).

    Returns:
        Two ints, or None for an unknown format, a header cut short, or an
        unreadable file (the decoder then says what is wrong).
    """
    try:
        with open(os.fspath(path), "rb") as f:
            head = f.read(32)
            if head.startswith(b"\xff\xd8"):
                return _jpeg_size(f)
    except OSError:
        return None
    return _other_size(head)


def size_problem(path):
    """None if the header states at most ``MAX_PIXELS`` pixels (or no size), else the reason.

    The reason is one line: ``its header claims 50000 x 50000 pixels, more
    than the 178,956,970 an image may have; not decoded``.
    """
    size = header_size(path)
    if size is None or size[0] * size[1] <= MAX_PIXELS:
        return None
    return (
        f"its header claims {size[0]} x {size[1]} pixels, more than the "
        f"{MAX_PIXELS:,} an image may have; not decoded"
    )


def _jpeg_size(f):
    """The size in the first frame header, walking the segments from just after SOI."""
    f.seek(2)
    while True:
        head = f.read(4)
        if len(head) < 4 or head[0] != 0xFF:
            return None
        marker = head[1]
        if marker == 0xFF:  # a fill byte before the marker
            f.seek(-3, os.SEEK_CUR)
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length
            f.seek(-2, os.SEEK_CUR)
            continue
        if marker in (0xD9, 0xDA):  # the end, or the data before any frame
            return None
        length = struct.unpack(">H", head[2:])[0]
        if marker in _SOF_MARKERS:
            frame = f.read(5)
            if len(frame) < 5:
                return None
            height, width = struct.unpack(">HH", frame[1:5])
            return width, height
        if length < 2:
            return None
        f.seek(length - 2, os.SEEK_CUR)


def _other_size(head):
    """PNG, GIF, BMP or WebP size from the first 32 bytes."""
    if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR" and len(head) >= 24:
        return struct.unpack(">II", head[16:24])
    if head[:6] in (b"GIF87a", b"GIF89a") and len(head) >= 10:
        return struct.unpack("<HH", head[6:10])
    if head.startswith(b"BM") and len(head) >= 26:
        width, height = struct.unpack("<ii", head[18:26])
        return abs(width), abs(height)  # a negative height: rows stored top-down
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP" and len(head) >= 30:
        kind = head[12:16]
        if kind == b"VP8X":
            return (
                int.from_bytes(head[24:27], "little") + 1,
                int.from_bytes(head[27:30], "little") + 1,
            )
        if kind == b"VP8L":
            bits = int.from_bytes(head[21:25], "little")
            return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        if kind == b"VP8 ":
            width, height = struct.unpack("<HH", head[26:30])
            return width & 0x3FFF, height & 0x3FFF
    return None

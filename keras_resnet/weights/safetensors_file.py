"""The ``.safetensors`` format, read without the safetensors library and checked as it checks.

A file is an 8-byte little-endian header length, a JSON header naming each
tensor's dtype, shape and byte range, then the data section. Nothing in the
header is trusted: a header that lies (a name given twice, two tensors on
the same bytes, a range that does not match its shape) would hand one
tensor's numbers to another, so the whole header is checked before any
tensor is read.
"""

import json
import math
import os
import struct
import typing

import numpy as np

from keras_resnet.weights.errors import WeightsFileError, first_line, truncated_file

_DTYPES = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2",
    "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
    "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?", "C64": "<c8",
}
# Every dtype the format defines. The 8-bit and smaller floats have no numpy
# type and are refused by name; anything else is not a safetensors file.
_FORMAT_DTYPES = (
    *_DTYPES, "F4", "F6_E2M3", "F6_E3M2", "F8_E5M2", "F8_E4M3", "F8_E8M0",
    "F8_E4M3FNUZ", "F8_E5M2FNUZ",
)
# The safetensors library refuses larger headers too.
_MAX_HEADER = 100 << 20

class _Entry(typing.NamedTuple):
    """One tensor of a safetensors header, checked: its byte range is relative to the data."""

    name: str
    dtype: str
    shape: tuple
    begin: int
    end: int


class _JSONObject(list):
    """A JSON object as its (key, value) pairs, so that a repeated key stays visible."""


def read(path):
    """Reads a ``.safetensors`` file after checking its header as the format requires.

    The header must be a JSON object (UTF-8, no key repeated, ``NaN`` and
    ``Infinity`` refused as the library refuses them) mapping each tensor's
    name to its dtype, shape and ``data_offsets``, and ``__metadata__`` (if
    present) to a map of strings. Each byte range must hold exactly shape x
    dtype bytes, and the ranges, sorted, must tile the data section: each
    tensor starting where the one before ends, from byte 0 to the last byte
    of the file. A header that says otherwise would hand one tensor's bytes
    to another (or keep the last of two entries of one name), so it is
    refused before any tensor is read.
    """
    size = os.path.getsize(path)
    try:
        with open(path, "rb") as f:
            prefix = f.read(8)
            if len(prefix) < 8:
                raise truncated_file(path, "safetensors", f"{size} bytes, no header")
            length = struct.unpack("<Q", prefix)[0]
            if length > size - 8:
                raise truncated_file(
                    path, "safetensors", f"its header declares {length} bytes, the file "
                    f"holds {size - 8} after the length"
                )
            if length > _MAX_HEADER:
                raise _invalid(
                    path, f"its header declares {length} bytes, more than the {_MAX_HEADER} "
                    "a safetensors reader accepts"
                )
            entries = _safetensors_header(f.read(length), path)
            _check_layout(entries, path, start=8 + length, size=size)
            return {entry.name: _safetensor(f, path, entry, 8 + length) for entry in entries}
    except OSError as e:
        raise truncated_file(path, "safetensors", first_line(e)) from None


def _safetensors_header(raw, path):
    """The tensors a header declares, in its order, each field checked."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _invalid(path, f"its header is not UTF-8 text ({first_line(e)})") from None
    try:
        header = json.loads(text, object_pairs_hook=_JSONObject, parse_constant=_no_constant)
    except (ValueError, RecursionError) as e:  # RecursionError: arrays nested too deep
        raise _invalid(path, f"its header is not valid JSON ({first_line(e)})") from None
    if not isinstance(header, _JSONObject):
        raise _invalid(path, f"its header is not a JSON object (it is a {_json_type(header)})")
    fields = _unique(header, path, "its header names")
    metadata = fields.pop("__metadata__", None)
    if metadata is not None:
        values = _unique(metadata, path, "its __metadata__ names") if isinstance(
            metadata, _JSONObject
        ) else None
        if values is None:
            raise _invalid(
                path, f"its __metadata__ is a {_json_type(metadata)}, not a map of strings "
                "to strings"
            )
        for key, value in values.items():
            if not isinstance(value, str):
                raise _invalid(
                    path, f"its __metadata__ maps {key!r} to a {_json_type(value)} "
                    f"({value!r:.40}), not a string"
                )
    return [_header_entry(path, name, info) for name, info in fields.items()]


def _header_entry(path, name, info):
    if not isinstance(info, _JSONObject):
        raise _invalid(
            path, f"tensor {name!r} is described by a {_json_type(info)}, not an object "
            "of dtype, shape and data_offsets"
        )
    fields = _unique(info, path, f"tensor {name!r} names")
    for field in ("dtype", "shape", "data_offsets"):
        if field not in fields:
            raise _invalid(path, f"tensor {name!r} has no {field!r}")
    dtype, shape, offsets = fields["dtype"], fields["shape"], fields["data_offsets"]
    if dtype not in _FORMAT_DTYPES:
        raise _invalid(path, f"tensor {name!r} has dtype {dtype!r}, not a safetensors dtype")
    if dtype not in _DTYPES:
        raise WeightsFileError(
            f"{path} holds tensor {name!r} of dtype {dtype}, which is not read here "
            f"(read: {', '.join(_DTYPES)})."
        )
    if not (isinstance(shape, list) and not isinstance(shape, _JSONObject)
            and all(_natural(n) for n in shape)):
        raise _invalid(
            path, f"tensor {name!r} has shape {_show(shape)}: expected a list of "
            "non-negative integers"
        )
    if not (isinstance(offsets, list) and not isinstance(offsets, _JSONObject)
            and len(offsets) == 2 and all(_natural(n) for n in offsets)
            and offsets[0] <= offsets[1]):
        raise _invalid(
            path, f"tensor {name!r} has data_offsets {_show(offsets)}: expected [begin, end], "
            "integers with 0 <= begin <= end"
        )
    begin, end = offsets
    # Python's integers do not overflow: a shape whose product wraps around in
    # 64 bits is caught here rather than matched to a small range.
    expected = math.prod(shape) * np.dtype(_DTYPES[dtype]).itemsize
    if end - begin != expected:
        raise _invalid(
            path, f"tensor {name!r} of shape {shape} and dtype {dtype} needs {expected} "
            f"bytes, its data_offsets {begin}..{end} span {end - begin}"
        )
    return _Entry(name, dtype, tuple(shape), begin, end)


def _check_layout(entries, path, *, start, size):
    """Refuses byte ranges that overlap, leave a gap, or do not end where the file ends.

    Sorted by their offsets, as the format orders them (the JSON's own order
    is free), each range must begin where the one before ends: several empty
    tensors may sit at one offset, but no byte belongs to two tensors or to
    none.
    """
    position, owner = 0, None  # owner: the last tensor holding bytes, which ends at position
    for entry in sorted(entries, key=lambda e: (e.begin, e.end)):
        if entry.begin < position:
            if entry.end > entry.begin:
                raise _invalid(
                    path, f"tensors {owner.name!r} and {entry.name!r} share bytes "
                    f"{entry.begin}..{min(entry.end, position)} of the data section"
                )
            raise _invalid(
                path, f"tensor {entry.name!r} (empty) is placed at byte {entry.begin}, inside "
                f"tensor {owner.name!r} (bytes {owner.begin}..{owner.end} of the data section)"
            )
        if entry.begin > position:
            raise _invalid(
                path, f"no tensor holds bytes {position}..{entry.begin} of the data section "
                f"(before tensor {entry.name!r})"
            )
        if entry.end > entry.begin or owner is None:
            owner = entry
        position = entry.end
    available = size - start
    if position > available:
        raise truncated_file(
            path, "safetensors", f"tensor {owner.name!r} ends at byte {start + position}, "
            f"the file at {size}"
        )
    if position < available:
        raise _invalid(
            path, f"no tensor holds its last {available - position} bytes (bytes "
            f"{position}..{available} of the data section)"
        )


def _safetensor(f, path, entry, start):
    f.seek(start + entry.begin)
    data = f.read(entry.end - entry.begin)
    if len(data) != entry.end - entry.begin:
        # The file shrank after its size was checked.
        raise truncated_file(path, "safetensors", f"tensor {entry.name!r} is cut short")
    array = np.frombuffer(data, dtype=_DTYPES[entry.dtype]).reshape(entry.shape)
    return bfloat16_to_float32(array) if entry.dtype == "BF16" else array.astype(
        array.dtype.newbyteorder("="), copy=True
    )


def _unique(pairs, path, where):
    """A JSON object's pairs as a dict; a key named twice makes the object ambiguous."""
    fields = {}
    for key, value in pairs:
        if key in fields:
            raise _invalid(path, f"{where} {key!r} twice")
        fields[key] = value
    return fields


def _no_constant(name):
    raise ValueError(f"{name} is not a JSON value")


def _natural(n):
    return isinstance(n, int) and not isinstance(n, bool) and n >= 0


def _json_type(value):
    if isinstance(value, _JSONObject):
        return "JSON object"
    return {list: "list", str: "string", bool: "boolean", int: "number", float: "number",
            type(None): "null"}.get(type(value), type(value).__name__)


def _show(value):
    text = json.dumps(dict(value) if isinstance(value, _JSONObject) else value)
    return text if len(text) <= 40 else text[:37] + "..."


def _invalid(path, detail):
    return WeightsFileError(f"{path} is not a valid safetensors file: {detail}.")


def bfloat16_to_float32(bits):
    """bfloat16 values stored as uint16 bits, as float32 (exact: bfloat16 is float32's top half)."""
    return (bits.astype(np.uint32) << 16).view(np.float32)

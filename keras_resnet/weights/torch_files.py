"""Reading PyTorch checkpoints into numpy arrays, without torch and without running them.

Handled formats, recognised by their first bytes (a file's suffix only
decides which reader explains a damaged file):

* ``.safetensors``: an 8-byte little-endian header length, a JSON header of
  dtype, shape and byte offsets, then raw little-endian data. Parsed here
  (no dependency), the header checked as the format requires before any
  tensor is read: names unique, each byte range exactly shape x dtype, the
  ranges tiling the data section (no byte shared, none left over).
* ``torch.save`` files since torch 1.6 (``.pth``, ``.pt``, ``.bin``): a zip
  of ``<archive>/data.pkl``, one ``<archive>/data/<key>`` record per storage,
  and ``<archive>/byteorder``. The pickle is read by ``_TensorUnpickler``,
  which resolves only the names a state dict of tensors needs (the tensor
  and parameter rebuilders, the storage types, ``collections.OrderedDict``),
  as torch's ``weights_only=True`` does; it never imports torch, and any
  other name (``os.system``, ``builtins.eval``) stops the read before
  anything is called.
* Files of ``torch.save`` before 1.6 (a bare pickle) are refused: reading
  them needs the full unpickler. Loading them in a current torch and saving
  again gives the zip format.

Whatever the file, a failure is one ``WeightsFileError`` naming the file.
"""

import collections
import io
import json
import math
import os
import pickle
import struct
import typing
import zipfile
import zlib

import numpy as np

from keras_resnet.weights import archive
from keras_resnet.weights.errors import WeightsFileError, first_line

#: Suffixes read as PyTorch checkpoints even when damaged past recognition.
SUFFIXES = (".pth", ".pt", ".bin", ".safetensors")

_SAFETENSORS_DTYPES = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2",
    "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
    "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?", "C64": "<c8",
}
# Every dtype the format defines. The 8-bit and smaller floats have no numpy
# type and are refused by name; anything else is not a safetensors file.
_SAFETENSORS_FORMAT_DTYPES = (
    *_SAFETENSORS_DTYPES, "F4", "F6_E2M3", "F6_E3M2", "F8_E5M2", "F8_E4M3", "F8_E8M0",
    "F8_E4M3FNUZ", "F8_E5M2FNUZ",
)
# The safetensors library refuses larger headers too.
_MAX_HEADER = 100 << 20
_STORAGE_DTYPES = {
    "DoubleStorage": "f8", "FloatStorage": "f4", "HalfStorage": "f2",
    "BFloat16Storage": "u2", "LongStorage": "i8", "IntStorage": "i4",
    "ShortStorage": "i2", "CharStorage": "i1", "ByteStorage": "u1", "BoolStorage": "?",
}
# A state dict's pickle is a few hundred kilobytes even for ResNet-152.
_MAX_PICKLE = 64 << 20
_ZIP_ERRORS = (zipfile.BadZipFile, EOFError, OSError, zlib.error, RuntimeError, NotImplementedError)
# Where training scripts put the weights inside a larger checkpoint (timm,
# torchvision's reference scripts, ``torch.save({"model": sd})``).
_NESTED_KEYS = ("state_dict", "model")


def is_torch_file(path):
    """Whether ``path`` is a PyTorch checkpoint (by content, or by suffix when unreadable)."""
    return _kind(path) is not None


def read_state_dict(path):
    """The tensors of a PyTorch checkpoint, as numpy arrays, by their state-dict names.

    Tensors come back in their own dtype, except bfloat16, which numpy lacks:
    it is widened to float32 (exactly). A checkpoint whose top level is
    ``{"state_dict": ...}`` or ``{"model": ...}`` gives that dict, and a
    ``module.`` prefix (``DataParallel``) is removed.

    Args:
        path: A ``.safetensors`` file, or a ``torch.save`` zip file.

    Returns:
        A dict from tensor name to ``numpy.ndarray``, in file order.

    Raises:
        WeightsFileError: If the file is not a checkpoint, is truncated or
            corrupt, is of torch's pre-1.6 format, or its pickle names
            anything but tensor data (nothing of it is executed).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No weight file at {path}")
    kind = _kind(path)
    if kind == "safetensors":
        tensors = _read_safetensors(path)
    elif kind == "zip":
        tensors = _read_torch_zip(path)
    elif kind == "legacy":
        raise WeightsFileError(
            f"{path} is a PyTorch file of the format before torch 1.6, which cannot be "
            "read without running its pickle; save it again with a current torch "
            "(torch.save(torch.load(path, weights_only=True), new_path)) or as .safetensors."
        )
    elif os.path.getsize(path) == 0:
        raise WeightsFileError(f"{path} is empty (0 bytes): not a PyTorch checkpoint.")
    else:
        raise WeightsFileError(
            f"{path} is not a PyTorch checkpoint: neither a torch.save zip file nor "
            f"safetensors (it starts with {_head(path, 8)!r})."
        )
    return _state_dict(tensors, path)


def _kind(path):
    head = _head(path, 9)
    suffix = os.path.splitext(path)[1].lower()
    if len(head) == 9 and head[8:9] == b"{" and (
        struct.unpack("<Q", head[:8])[0] <= os.path.getsize(path)
    ):
        return "safetensors"
    if suffix == ".safetensors":
        return "safetensors"
    if head.startswith(archive.ZIP_SIGNATURE):
        if suffix in SUFFIXES or _pickle_name(path):
            return "zip"
        return None
    # torch.save's old format starts with a pickle (PROTO opcode, protocol 2).
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "legacy"
    return "unknown" if suffix in SUFFIXES else None


def _head(path, n):
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except OSError:
        return b""


def _state_dict(tensors, path):
    """The weights inside a checkpoint's top level, with ``module.`` removed."""
    if isinstance(tensors, dict) and not _all_arrays(tensors):
        nested = [tensors[k] for k in _NESTED_KEYS if isinstance(tensors.get(k), dict)]
        tensors = nested[0] if nested else tensors
    if not isinstance(tensors, dict) or not tensors or not _all_arrays(tensors):
        what = (
            f"a {type(tensors).__name__}" if not isinstance(tensors, dict)
            else f"keys {sorted(map(str, tensors))[:6]}"
        )
        raise WeightsFileError(
            f"{path} holds no state dict of tensors ({what}); expected the model's "
            "state_dict(), alone or under 'state_dict' or 'model'."
        )
    if all(str(k).startswith("module.") for k in tensors):
        tensors = {k[len("module."):]: v for k, v in tensors.items()}
    return {str(k): v for k, v in tensors.items()}


def _all_arrays(mapping):
    return all(isinstance(v, np.ndarray) for v in mapping.values())


# safetensors


class _Entry(typing.NamedTuple):
    """One tensor of a safetensors header, checked: its byte range is relative to the data."""

    name: str
    dtype: str
    shape: tuple
    begin: int
    end: int


class _JSONObject(list):
    """A JSON object as its (key, value) pairs, so that a repeated key stays visible."""


def _read_safetensors(path):
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
                raise _truncated(path, "safetensors", f"{size} bytes, no header")
            length = struct.unpack("<Q", prefix)[0]
            if length > size - 8:
                raise _truncated(
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
        raise _truncated(path, "safetensors", first_line(e)) from None


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
    if dtype not in _SAFETENSORS_FORMAT_DTYPES:
        raise _invalid(path, f"tensor {name!r} has dtype {dtype!r}, not a safetensors dtype")
    if dtype not in _SAFETENSORS_DTYPES:
        raise WeightsFileError(
            f"{path} holds tensor {name!r} of dtype {dtype}, which is not read here "
            f"(read: {', '.join(_SAFETENSORS_DTYPES)})."
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
    expected = math.prod(shape) * np.dtype(_SAFETENSORS_DTYPES[dtype]).itemsize
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
        raise _truncated(
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
        raise _truncated(path, "safetensors", f"tensor {entry.name!r} is cut short")
    array = np.frombuffer(data, dtype=_SAFETENSORS_DTYPES[entry.dtype]).reshape(entry.shape)
    return _bfloat16_to_float32(array) if entry.dtype == "BF16" else array.astype(
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


def _bfloat16_to_float32(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32)


def _truncated(path, what, detail):
    return WeightsFileError(
        f"{path} is a truncated or corrupt {what} file ({detail}). Download or save it again."
    )


# torch.save's zip format


def _pickle_name(path):
    """The ``<archive>/data.pkl`` record of a torch zip file, or None."""
    try:
        with zipfile.ZipFile(path) as z:
            return _find_pickle(z.namelist())
    except _ZIP_ERRORS:
        return None


def _find_pickle(names):
    found = [n for n in names if n.endswith("data.pkl") and n.count("/") <= 1]
    return min(found, key=len) if found else None


def _read_torch_zip(path):
    try:
        with zipfile.ZipFile(path) as z:
            name = _find_pickle(z.namelist())
            if name is None:
                raise WeightsFileError(
                    f"{path} is a zip file without data.pkl: not a torch.save checkpoint "
                    "(a .keras archive has another suffix)."
                )
            prefix = name[: -len("data.pkl")]
            _check_sizes(z, path)
            order = "big" if _record(z, prefix + "byteorder", b"little") == b"big" else "little"
            unpickler = _TensorUnpickler(z, prefix, path, order)
            return unpickler.load()
    except WeightsFileError:
        raise
    except _ZIP_ERRORS as e:
        raise _truncated(path, "PyTorch (zip)", first_line(e)) from None
    except Exception as e:  # noqa: BLE001 - nothing of the file runs; any damage is one line
        raise WeightsFileError(
            f"{path} is a corrupt PyTorch file: its pickle cannot be read ({first_line(e)})."
        ) from None


def _record(z, name, default):
    return z.read(name).strip() if name in z.namelist() else default


def _check_sizes(z, path):
    """Refuses members whose declared sizes could exhaust memory, before inflating any."""
    total = sum(info.file_size for info in z.infolist())
    if total > archive.MAX_ARCHIVE_BYTES:
        raise WeightsFileError(
            f"{path} unpacks to {total} bytes, more than the {archive.MAX_ARCHIVE_BYTES} "
            "bytes a checkpoint may hold here."
        )
    for info in z.infolist():
        if info.file_size > max(archive.MAX_EXPANSION * info.compress_size, 1 << 20):
            raise WeightsFileError(
                f"{path} looks like a zip bomb: its member {info.filename} unpacks to "
                f"{info.file_size} bytes from {info.compress_size} (torch stores them "
                "uncompressed). Refused before unpacking."
            )


class _StorageType:
    """What a storage class name (``torch.FloatStorage``) stands for: a dtype."""

    def __init__(self, name, dtype):
        self.name, self.dtype = name, np.dtype(dtype)


class _TensorUnpickler(pickle.Unpickler):
    """Rebuilds a pickled state dict's tensors as numpy arrays; resolves no other name."""

    def __init__(self, z, prefix, path, byteorder):
        self._zip, self._prefix, self._path = z, prefix, path
        self._order = ">" if byteorder == "big" else "<"
        self._storages = {}
        info = z.getinfo(prefix + "data.pkl")
        if info.file_size > _MAX_PICKLE:
            raise WeightsFileError(
                f"{path} has a {info.file_size}-byte pickle: not a state dict of tensors."
            )
        super().__init__(io.BytesIO(z.read(info)))

    def find_class(self, module, name):
        allowed = {
            # A state dict's own class; its ``_metadata`` attribute comes back too.
            ("collections", "OrderedDict"): collections.OrderedDict,
            ("torch._utils", "_rebuild_tensor_v2"): self._rebuild_tensor,
            ("torch._utils", "_rebuild_tensor"): self._rebuild_tensor,
            ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
            ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
        }
        if (module, name) in allowed:
            return allowed[module, name]
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name, self._order + _STORAGE_DTYPES[name])
        raise WeightsFileError(
            f"refused to load {self._path}: its pickle names {module}.{name}, not tensor "
            "data (only torch tensors are read from PyTorch files; nothing was run)."
        )

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType)):
            raise WeightsFileError(
                f"{self._path} is a corrupt PyTorch file: unexpected storage reference "
                f"{pid!r:.80}."
            )
        _, storage_type, key, _, numel = pid
        if key not in self._storages:
            name = f"{self._prefix}data/{key}"
            nbytes = int(numel) * storage_type.dtype.itemsize
            try:
                info = self._zip.getinfo(name)
            except KeyError:
                raise WeightsFileError(
                    f"{self._path} is a truncated or corrupt PyTorch file: its pickle "
                    f"refers to storage {name}, which the archive lacks."
                ) from None
            if info.file_size != nbytes:
                raise WeightsFileError(
                    f"{self._path} is a corrupt PyTorch file: storage {name} holds "
                    f"{info.file_size} bytes, its pickle declares {numel} x "
                    f"{storage_type.name} ({nbytes} bytes)."
                )
            data = np.frombuffer(self._zip.read(info), dtype=storage_type.dtype)
            self._storages[key] = (storage_type, data)
        return self._storages[key]

    def _rebuild_tensor(self, storage, offset, size, stride, *unused):
        storage_type, data = storage
        size, stride = tuple(int(n) for n in size), tuple(int(n) for n in stride)
        if len(size) != len(stride) or offset < 0 or min(stride, default=0) < 0:
            raise ValueError(f"bad tensor geometry: size {size}, stride {stride}")
        if 0 not in size:
            last = offset + sum((n - 1) * s for n, s in zip(size, stride))
            if last >= data.size:
                raise WeightsFileError(
                    f"{self._path} is a corrupt PyTorch file: a tensor of size {size}, "
                    f"stride {stride} and offset {offset} reaches element {last} of a "
                    f"{data.size}-element storage."
                )
            view = np.lib.stride_tricks.as_strided(
                data[offset:], size, tuple(s * data.itemsize for s in stride), writeable=False
            )
        else:
            view = np.zeros(size, data.dtype)
        array = np.array(view, dtype=view.dtype.newbyteorder("="), copy=True, order="C")
        return _bfloat16_to_float32(array) if storage_type.name == "BFloat16Storage" else array


def _rebuild_parameter(data, requires_grad, backward_hooks, state=None):
    return data

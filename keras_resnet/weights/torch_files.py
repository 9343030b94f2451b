"""Reading PyTorch checkpoints into numpy arrays, without torch and without running them.

Handled formats, recognised by their first bytes (a file's suffix only
decides which reader explains a damaged file):

* ``.safetensors``: an 8-byte little-endian header length, a JSON header of
  dtype, shape and byte offsets, then raw little-endian data. Parsed by
  ``safetensors_file`` (no dependency), the header checked as the format
  requires before any tensor is read.
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
import os
import pickle
import struct
import zipfile
import zlib

import numpy as np

from keras_resnet.weights import archive, safetensors_file
from keras_resnet.weights.errors import WeightsFileError, first_line, truncated_file
from keras_resnet.weights.safetensors_file import bfloat16_to_float32

#: Suffixes read as PyTorch checkpoints even when damaged past recognition.
SUFFIXES = (".pth", ".pt", ".bin", ".safetensors")

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
        tensors = safetensors_file.read(path)
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
        raise truncated_file(path, "PyTorch (zip)", first_line(e)) from None
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
        return bfloat16_to_float32(array) if storage_type.name == "BFloat16Storage" else array


def _rebuild_parameter(data, requires_grad, backward_hooks, state=None):
    return data

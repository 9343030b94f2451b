"""Reading weight files of every Keras format into a built model.

Handled formats:

* legacy Keras 2 ``.h5`` (``save_weights("x.h5")`` or ``save("x.h5")`` in
  tf.keras / tf_keras), including keras-applications' ResNeXt files, whose
  grouped convolutions are converted (see ``legacy_resnext``);
* Keras 3 ``.weights.h5``;
* Keras 3 ``.keras`` archives (their ``model.weights.h5``);
* PyTorch checkpoints (``.pth``, ``.pt``, ``.bin``, ``.safetensors``), read
  without running them and converted (``torch_files``, ``torch_convert``).

Layers are matched by name (the Keras names every builder keeps). Every
layer is checked before anything is assigned, so a file that does not fit
leaves the model as it was and the error names the first layer that differs
with both shapes. Files whose layer names share nothing with the model are
matched in order, as Keras does.

Whatever the file, a failure is one ``WeightsFileError`` (unreadable) or
``WeightsMismatchError`` (another model) with a one-line message. A
``.keras`` archive is unpacked in memory, its declared sizes checked first
(``archive``): a few megabytes of zip must not become gigabytes of memory.
"""

import contextlib
import dataclasses
import os

import numpy as np

from keras_resnet.weights import archive, legacy_resnext, torch_convert, torch_files
from keras_resnet.weights.errors import WeightsFileError, WeightsMismatchError, first_line
from keras_resnet.weights.layers import weighted_layers

#: Name of the classifier layer, the one part that fine-tuning replaces.
HEAD = "predictions"
# keras-applications named the classifier "probs"; its files (Keras's
# published ones among them) keep that name.
_HEAD_ALIASES = (HEAD, "probs")
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


@dataclasses.dataclass(frozen=True)
class LoadedFile:
    """What ``load_file`` assigned.

    Attributes:
        path: The weight file.
        classes: The width of the file's classifier, or None when the file
            has none (a backbone saved with ``include_top=False``).
        head: Whether the model's classifier took the file's weights (False
            for a model without one, and for a classifier left initialised).
    """

    path: str
    classes: int | None
    head: bool


def load_file(model, path, *, skip_head=False, new_head=False):
    """Loads the weight file at ``path`` into ``model``.

    Shapes are checked from the file's metadata first; then every array is
    read; only then is anything assigned. A file that does not fit or cannot
    be read leaves the model as it was, and peak memory stays near the
    model's own size (keras-applications' ResNeXt files are mostly the
    summing kernels, which are converted one layer at a time).

    Args:
        model: A built Keras model.
        path: A ``.h5`` (legacy), ``.weights.h5`` or ``.keras`` file, or a
            PyTorch checkpoint (torchvision's or timm's layer names).
        skip_head: Leave the ``predictions`` layer as it is, whatever the
            file holds for it (fine-tuning with another number of classes).
        new_head: Leave the ``predictions`` layer as it is only when the
            file's classifier does not fit it (another number of classes)
            or the file has none; a fitting classifier is loaded. The
            backbone must fit either way.

    Returns:
        A ``LoadedFile``: the file's number of classes and whether the
        classifier was loaded.

    Raises:
        WeightsFileError: If the file is unreadable, naming why.
        WeightsMismatchError: If the file does not fit the model; the model
            is left unchanged.
    """
    path = os.fspath(path)
    head = _model_head(model)
    if os.path.isfile(path) and torch_files.is_torch_file(path):
        state_dict = torch_files.read_state_dict(path)
        fc = state_dict.get("fc.weight")
        # (out, in) in PyTorch: the Keras kernel's shape reversed.
        kernel = tuple(fc.shape[::-1]) if fc is not None and fc.ndim == 2 else None
        skip = skip_head or (new_head and not _head_fits(head, kernel))
        torch_convert.assign(
            torch_convert.torch_to_keras(state_dict, model, source=path, skip_head=skip)
        )
        return LoadedFile(path, torch_convert.classes(state_dict), head is not None and not skip)
    zipped = _is_archive(path)
    with _open_hdf5(path, zipped=zipped) as f:
        try:
            entries = _read_hdf5(f, path)
            if entries is None:
                plan = None
            else:
                kernel = _file_head_kernel(entries)
                skip = skip_head or (new_head and not _head_fits(head, kernel))
                plan = [
                    (layer, [np.asarray(a) for a in arrays])
                    for layer, arrays in _plan(model, entries, path, skip_head=skip)
                ]
        except (OSError, KeyError, RuntimeError, UnicodeError) as e:
            # h5py's errors for a file cut or damaged inside: OSError when a
            # read fails, KeyError for an object the metadata names but the
            # file lacks, RuntimeError for a broken B-tree or heap,
            # UnicodeError for a damaged name.
            raise WeightsFileError(
                f"{path} is truncated or corrupt: reading its weights failed "
                f"({first_line(e)}). Download or save it again."
            ) from None
    if plan is None:
        # A file without layer names: Keras loads it whole, or refuses it.
        _keras_load(model, path)
        return LoadedFile(path, head.units if head is not None else None, head is not None)
    for layer, arrays in plan:
        layer.set_weights(arrays)
    loaded = {layer.name for layer, _ in plan}
    return LoadedFile(
        path, None if kernel is None else int(kernel[-1]), HEAD in loaded
    )


def file_classes(path):
    """The number of classes of a weight file's classifier, or None when it has none.

    Reads the file's metadata (HDF5) or its tensors (PyTorch); assigns
    nothing. A Keras 3 file without layer names (from before Keras 3.x named
    them) cannot say, and counts as having none.

    Raises:
        WeightsFileError: If the file is unreadable.
    """
    path = os.fspath(path)
    if os.path.isfile(path) and torch_files.is_torch_file(path):
        return torch_convert.classes(torch_files.read_state_dict(path))
    with _open_hdf5(path, zipped=_is_archive(path)) as f:
        try:
            entries = _read_hdf5(f, path)
        except (OSError, KeyError, RuntimeError, UnicodeError) as e:
            raise WeightsFileError(
                f"{path} is truncated or corrupt: reading its weights failed "
                f"({first_line(e)}). Download or save it again."
            ) from None
        kernel = None if entries is None else _file_head_kernel(entries)
    return None if kernel is None else int(kernel[-1])


def _model_head(model):
    """The model's ``predictions`` layer, or None."""
    try:
        return model.get_layer(HEAD)
    except ValueError:
        return None


def _head_fits(head, kernel):
    """Whether a file's classifier kernel (Keras layout, or None) fits the model's classifier."""
    return head is not None and kernel is not None and tuple(head.weights[0].shape) == kernel


def _file_head_kernel(entries):
    """The shape of the file's classifier kernel (the 2-D array of its head), or None."""
    for alias in _HEAD_ALIASES:
        for _, array in entries.get(alias, ()):
            if len(array.shape) == 2:
                return tuple(array.shape)
    return None


@contextlib.contextmanager
def _open_hdf5(path, *, zipped):
    """Opens the HDF5 weights of a ``.h5`` file or inside a ``.keras`` archive."""
    import h5py

    if zipped:
        source, what = archive.unpack_weights(path), f"The weights inside {path} are"
    else:
        source, what = path, f"{path} is"
    try:
        f = h5py.File(source, "r")
    except OSError as e:
        raise WeightsFileError(
            f"{what} a truncated or corrupt HDF5 file ({first_line(e)}). "
            "Download or save it again."
        ) from None
    with f:
        yield f


def _is_archive(path):
    """Whether ``path`` is a zip (``.keras``) rather than HDF5; refuses anything else.

    Decided by the first bytes, not by the name or by ``zipfile.is_zipfile``
    (which needs the end of the file): a truncated archive is still an archive.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No weight file at {path}")
    with open(path, "rb") as f:
        head = f.read(8)
    if not head:
        raise WeightsFileError(f"{path} is empty (0 bytes): not a weight file.")
    if head.startswith(archive.ZIP_SIGNATURE):
        return True
    import h5py

    if head != _HDF5_SIGNATURE and not h5py.is_hdf5(path):
        raise WeightsFileError(
            f"{path} is not a weight file: neither HDF5 (.h5, .weights.h5) nor "
            f"a .keras archive (it starts with {head!r})."
        )
    return False


def _read_hdf5(f, path):
    """Maps layer names to ``[(weight name or None, dataset)]``, in file order.

    Datasets are read later, when needed. Returns None for a Keras 3 file
    without layer names (left to ``model.load_weights``).
    """
    if "layer_names" in f.attrs:
        return _read_legacy(f)
    if "model_weights" in f and "layer_names" in f["model_weights"].attrs:
        return _read_legacy(f["model_weights"])
    if "layers" in f:
        return _read_keras3(f)
    raise WeightsFileError(
        f"{path} is HDF5 but holds no Keras weights (no 'layer_names' or 'layers')."
    )


def _read_legacy(group):
    entries = {}
    for name in _strings(group.attrs["layer_names"]):
        layer_group = group[name]
        weight_names = _strings(layer_group.attrs.get("weight_names", []))
        if weight_names:
            entries[name] = [
                (_short_name(w), layer_group[w]) for w in weight_names
            ]
    return entries


def _read_keras3(f):
    entries = {}
    pending = [f["layers"]]
    while pending:
        layers_group = pending.pop(0)
        for key in layers_group:
            group = layers_group[key]
            if "layers" in group:
                pending.append(group["layers"])
            variables = group.get("vars")
            if variables is None or not len(variables):
                continue
            name = variables.attrs.get("name")
            if name is None:
                # Keras before 3.x wrote no layer names: let Keras match them.
                return None
            entries[_string(name)] = [
                (None, variables[str(i)]) for i in range(len(variables))
            ]
    return entries


def _plan(model, entries, path, *, skip_head):
    """Pairs model layers with file arrays, checking everything first."""
    layers = weighted_layers(model)
    if not {layer.name for layer in layers} & set(entries):
        return _plan_in_order(model, layers, entries, path, skip_head=skip_head)
    try:
        return _plan_by_name(model, layers, entries, path, skip_head=skip_head)
    except WeightsMismatchError:
        # Keras matches legacy files by order; a file whose layers fit in
        # order but carry other names (Keras 2's DenseNet files name the stem
        # "conv1/conv") loads as it would in Keras.
        try:
            return _plan_in_order(model, layers, entries, path, skip_head=skip_head)
        except WeightsMismatchError:
            pass
        raise


def _plan_by_name(model, layers, entries, path, *, skip_head):
    by_name = {layer.name: layer for layer in layers}
    head_entry = next((alias for alias in _HEAD_ALIASES if alias in entries), None)
    plan, used = [], set()
    for layer in layers:
        if layer.name == HEAD and skip_head:
            continue
        expected = [tuple(w.shape) for w in layer.weights]
        if layer.name == HEAD:
            if head_entry is None:
                # A file without the top: the classifier stays initialised.
                continue
            entries = {**entries, HEAD: entries[head_entry]}
        if layer.name not in entries:
            raise WeightsMismatchError(
                f"{path} does not fit model {model.name!r}: the file has no weights for "
                f"layer {layer.name!r} (shapes {expected}). The file is for another "
                "architecture or depth."
            )
        used.add(layer.name)
        arrays = _convert_legacy(layer, entries, used)
        arrays = _ordered(layer, arrays)
        found = [tuple(a.shape) for a in arrays]
        if found != expected:
            raise WeightsMismatchError(
                f"{path} does not fit model {model.name!r}: layer {layer.name!r} "
                f"expects shapes {expected}, the file holds {found}."
                + (_head_hint() if layer.name == HEAD else
                   " The file is for another architecture.")
            )
        plan.append((layer, arrays))
    extra = [
        name
        for name in entries
        if name not in used and name not in by_name and name not in _HEAD_ALIASES
    ]
    if extra:
        shapes = [tuple(a.shape) for _, a in entries[extra[0]]]
        raise WeightsMismatchError(
            f"{path} does not fit model {model.name!r}: the file holds weights for "
            f"layer {extra[0]!r} (shapes {shapes}), which the model does not have "
            f"({len(extra)} such layers). The file is for a deeper or another architecture."
        )
    return plan


def _plan_in_order(model, layers, entries, path, *, skip_head=False):
    """Pairs layers and file entries by position, every shape checked.

    The classifier is left out on both sides when it is skipped, and on the
    model's side when the file has none (it then stays initialised, as when
    matching by name).
    """
    if skip_head or not any(alias in entries for alias in _HEAD_ALIASES):
        layers = [layer for layer in layers if layer.name != HEAD]
        entries = {name: arrays for name, arrays in entries.items() if name not in _HEAD_ALIASES}
    file_layers = list(entries.items())
    if len(file_layers) != len(layers):
        raise WeightsMismatchError(
            f"{path} does not fit model {model.name!r}: no layer name in common, and "
            f"the file has {len(file_layers)} layers with weights where the model has "
            f"{len(layers)} (the file starts with {file_layers[0][0]!r}, the model "
            f"with {layers[0].name!r})."
        )
    plan = []
    for layer, (file_name, weights) in zip(layers, file_layers):
        arrays = [a for _, a in weights]
        expected = [tuple(w.shape) for w in layer.weights]
        found = [tuple(a.shape) for a in arrays]
        if expected != found:
            raise WeightsMismatchError(
                f"{path} does not fit model {model.name!r} (matched in order, no "
                f"common layer names): layer {layer.name!r} expects shapes {expected}, "
                f"the file's layer {file_name!r} holds {found}."
            )
        plan.append((layer, arrays))
    return plan


def _convert_legacy(layer, entries, used):
    """Returns the layer's arrays, turning a legacy ResNeXt pair into one kernel."""
    weights = entries[layer.name]
    groups = getattr(layer, "groups", 1)
    if not layer.weights or groups <= 1:
        return weights
    kernel_shape = tuple(layer.weights[0].shape)
    if not legacy_resnext.looks_depthwise(kernel_shape, [a.shape for _, a in weights], groups):
        return weights
    summing = None
    if layer.name.endswith("_conv"):
        gconv_name = layer.name[: -len("_conv")] + "_gconv"
        if gconv_name in entries:
            summing = entries[gconv_name][0][1]
            used.add(gconv_name)
    kernel = legacy_resnext.grouped_kernel(weights[0][1], groups, summing, layer_name=layer.name)
    return [("kernel", kernel)]


def _ordered(layer, weights):
    """The arrays in the layer's variable order (legacy files name them)."""
    names = [name for name, _ in weights]
    wanted = [w.name.rsplit("/", 1)[-1] for w in layer.weights]
    if None not in names and len(set(names)) == len(names) and sorted(names) == sorted(wanted):
        lookup = dict(weights)
        return [lookup[name] for name in wanted]
    return [array for _, array in weights]


def _keras_load(model, path):
    try:
        model.load_weights(path)
    except OSError as e:
        raise WeightsFileError(
            f"{path} is truncated or corrupt: Keras could not read it ({first_line(e)})."
        ) from None
    except (ValueError, KeyError) as e:
        raise WeightsMismatchError(
            f"{path} does not fit model {model.name!r}: {first_line(e)}"
        ) from None


def _head_hint():
    return (
        " To fine-tune with another number of classes, load the backbone only: "
        "keras_resnet.load_weights(model, path, skip_head=True), or a file "
        "saved with include_top=False."
    )


def _strings(values):
    return [_string(v) for v in values]


def _string(value):
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def _short_name(weight_name):
    # "conv1_conv/kernel:0" -> "kernel"
    return weight_name.rsplit("/", 1)[-1].split(":", 1)[0]

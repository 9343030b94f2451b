"""PyTorch checkpoints: read without torch and without running them, converted, checked first.

torch is not needed: real files written by torch 2.13 (``fixtures/torch``,
``make_fixtures.py`` writes them) check the reader against what torch saved,
and ``_write_pth`` below writes torch's zip format from numpy (a pickle of
``torch._utils._rebuild_tensor_v2`` calls on persistent storage ids, the
storages as raw records) for models too large to keep as fixtures.
"""

import json
import pathlib
import re
import struct
import zipfile

import keras
import numpy as np
import pytest
from conftest import randomize_weights

import keras_resnet
from keras_resnet import cli
from keras_resnet.weights import WeightsFileError, WeightsMismatchError, torch_convert
from keras_resnet.weights.torch_files import read_state_dict

FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "torch"
SHAPE = (32, 32, 3)


# A writer of torch's zip format, from numpy: the pickle opcodes torch.save emits.


class Global:
    def __init__(self, module, name):
        self.module, self.name = module, name


class Reduce:
    def __init__(self, func, args):
        self.func, self.args = func, args


class Tensor:
    """A tensor as torch pickles it: a view (size, stride, offset) of a storage."""

    def __init__(self, key, storage, size, stride, offset=0):
        self.key, self.storage, self.size, self.stride, self.offset = (
            key, storage, size, stride, offset,
        )


_STORAGE = {"float32": "FloatStorage", "float16": "HalfStorage", "int64": "LongStorage",
            "float64": "DoubleStorage", "int32": "IntStorage", "uint8": "ByteStorage"}


def _emit(obj, out):
    if isinstance(obj, Global):
        out += b"c" + f"{obj.module}\n{obj.name}\n".encode()
    elif isinstance(obj, Reduce):
        _emit(obj.func, out)
        _emit(tuple(obj.args), out)
        out += b"R"
    elif isinstance(obj, Tensor):
        _emit(Global("torch._utils", "_rebuild_tensor_v2"), out)
        out += b"("
        pid = ("storage", Global("torch", _STORAGE[str(obj.storage.dtype)]), obj.key, "cpu",
               obj.storage.size)
        _emit(pid, out)
        out += b"Q"
        for item in (obj.offset, tuple(obj.size), tuple(obj.stride), False,
                     Reduce(Global("collections", "OrderedDict"), ())):
            _emit(item, out)
        out += b"tR"
    elif isinstance(obj, bool):
        out += b"\x88" if obj else b"\x89"
    elif isinstance(obj, int):
        out += b"J" + struct.pack("<i", obj)
    elif isinstance(obj, str):
        data = obj.encode()
        out += b"X" + struct.pack("<I", len(data)) + data
    elif isinstance(obj, tuple):
        out += b"(" + b"".join(bytes(_emit(x, bytearray())) for x in obj) + b"t"
    elif isinstance(obj, dict):
        _emit(Reduce(Global("collections", "OrderedDict"), ()), out)
        out += b"("
        for k, v in obj.items():
            _emit(k, out)
            _emit(v, out)
        out += b"u"
    else:
        raise TypeError(type(obj))
    return out


def _write_pth(path, tree, storages, *, drop=(), byteorder="little"):
    """Writes ``tree`` (dicts of ``Tensor``) as torch.save does; ``storages``: key -> array."""
    pickled = bytes(_emit(tree, bytearray(b"\x80\x02"))) + b"."
    name = pathlib.Path(path).stem
    order = "<" if byteorder == "little" else ">"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr(f"{name}/data.pkl", pickled)
        z.writestr(f"{name}/byteorder", byteorder)
        for key, array in storages.items():
            if key not in drop:
                data = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder(order))
                z.writestr(f"{name}/data/{key}", data.tobytes())
        z.writestr(f"{name}/version", "3\n")
    return path


def _contiguous(key, array):
    array = np.require(array, requirements="C")  # ascontiguousarray makes 0-d 1-d
    flat = array.reshape(-1)
    strides = tuple(s // array.itemsize for s in array.strides)
    return Tensor(key, flat, array.shape, strides), flat


def _write_state_dict(path, state_dict, *, permuted=()):
    """A ``{name: array}`` as a .pth; names in ``permuted`` (4-D) are saved as torch
    saves ``kernel.permute(3, 2, 0, 1)`` of a Keras-layout kernel: not contiguous."""
    tree, storages = {}, {}
    for i, (name, array) in enumerate(state_dict.items()):
        key = str(i)
        if name in permuted:
            keras_layout = np.ascontiguousarray(np.transpose(array, (2, 3, 1, 0)))
            step = [s // array.itemsize for s in keras_layout.strides]
            storage = keras_layout.reshape(-1)
            tree[name] = Tensor(key, storage, array.shape, (step[3], step[2], step[0], step[1]))
        else:
            tree[name], storage = _contiguous(key, array)
        storages[key] = storage
    return _write_pth(path, tree, storages)


def _write_safetensors(path, state_dict):
    header, offset, blobs = {}, 0, []
    codes = {"float32": "F32", "float16": "F16", "int64": "I64"}
    for name, array in state_dict.items():
        data = np.ascontiguousarray(array).tobytes()
        header[name] = {"dtype": codes[str(array.dtype)], "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header).encode()
    pathlib.Path(path).write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))
    return path


def _torchvision_names(model):
    """The model's weights under torchvision's names, in PyTorch layout (an independent
    inverse of the converter's table), with BatchNorm's ``num_batches_tracked``."""
    bn = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean",
          "moving_variance": "running_var"}
    state_dict = {}
    for layer in model.layers:
        if not layer.weights:
            continue
        parts = layer.name.split("_")
        if layer.name == "predictions":
            module = "fc"
        elif parts[0] == "conv1":
            module = "conv1" if parts[1] == "conv" else "bn1"
        else:
            stage, block, index, kind = int(parts[0][4:]), int(parts[1][5:]), parts[2], parts[3]
            where = f"layer{stage - 1}.{block - 1}"
            if index == "0":
                module = f"{where}.downsample.{0 if kind == 'conv' else 1}"
            else:
                module = f"{where}.{kind}{index}"
        for weight in layer.weights:
            value = np.asarray(weight.numpy())
            if weight.name == "kernel":
                value = value.transpose((3, 2, 0, 1)) if value.ndim == 4 else value.T
                state_dict[f"{module}.weight"] = np.ascontiguousarray(value)
            elif weight.name in bn:
                state_dict[f"{module}.{bn[weight.name]}"] = value
            else:
                state_dict[f"{module}.{weight.name}"] = value
        if isinstance(layer, keras.layers.BatchNormalization):
            state_dict[f"{module}.num_batches_tracked"] = np.array(1234, dtype=np.int64)
    return state_dict


@pytest.fixture(scope="module")
def resnet18_checkpoint(tmp_path_factory):
    """A ResNet18 with random weights, its outputs, and its torchvision-named state dict."""
    keras.backend.clear_session()
    model = keras_resnet.build("resnet18", weights=None, input_shape=SHAPE, classes=7)
    randomize_weights(model, np.random.default_rng(0))
    x = np.random.default_rng(1).uniform(0, 255, (2, *SHAPE)).astype("float32")
    state_dict = _torchvision_names(model)
    folder = tmp_path_factory.mktemp("r18")
    kernels = [k for k, v in state_dict.items() if v.ndim == 4]
    path = _write_state_dict(folder / "resnet18.pth", state_dict, permuted=kernels[::2])
    weights = [np.asarray(w) for w in model.get_weights()]
    return path, state_dict, weights, x, keras.ops.convert_to_numpy(model(x, training=False))


def _fresh_resnet18(**kwargs):
    kwargs.setdefault("classes", 7)
    return keras_resnet.build("resnet18", weights=None, input_shape=SHAPE, **kwargs)


def _assert_unchanged(model, before):
    for got, want in zip(model.get_weights(), before):
        np.testing.assert_array_equal(got, want)


# (a) The reader against files torch itself wrote.


@pytest.mark.backend_agnostic
@pytest.mark.parametrize(
    "name, expected",
    [("dtypes.pth", "dtypes.npz"), ("dtypes.safetensors", "dtypes.npz"),
     ("nested.pth", "nested.npz")],
)
def test_real_torch_files_read_as_torch_saved_them(name, expected):
    got, want = read_state_dict(FIXTURES / name), dict(np.load(FIXTURES / expected))
    if name.endswith(".safetensors"):  # safetensors holds no shared or strided views
        want = {k: v for k, v in want.items() if k not in ("base", "transposed")}
    # nested.pth: the dict under "state_dict", "module." removed; torch's order kept
    # (safetensors sorts its header).
    assert list(got) == list(want) if name.endswith(".pth") else sorted(got) == sorted(want)
    for key, array in want.items():
        assert got[key].dtype == array.dtype and got[key].shape == array.shape, key
        np.testing.assert_array_equal(got[key], array, err_msg=key)
        assert got[key].flags.c_contiguous and got[key].flags.writeable


@pytest.mark.backend_agnostic
def test_the_numpy_writer_agrees_with_torch_on_strided_views(tmp_path):
    # The hand-written writer checked against torch's own file: the same views
    # (torch wrote transposed, offset and strided views of one storage).
    real = read_state_dict(FIXTURES / "dtypes.pth")
    base = real["base"]
    tree = {"base": Tensor("0", base.reshape(-1), (6, 10), (10, 1)),
            "transposed": Tensor("0", base.reshape(-1), (10, 6), (1, 10)),
            "offset": Tensor("0", base.reshape(-1), (3, 4), (10, 1), offset=23),
            "strided": Tensor("0", base.reshape(-1), (3, 4), (20, 3))}
    ours = read_state_dict(_write_pth(tmp_path / "views.pth", tree, {"0": base}))
    for key in tree:
        np.testing.assert_array_equal(ours[key], real[key], err_msg=key)


@pytest.mark.backend_agnostic
def test_a_big_endian_file_reads_the_same_numbers(tmp_path):
    # torch writes its machine's byte order and says which in <archive>/byteorder.
    arrays = {"a": np.linspace(-2, 2, 12, dtype="float32").reshape(3, 4),
              "b": np.arange(-3, 3, dtype="int64")}
    tree, storages = {}, {}
    for key, (name, array) in enumerate(arrays.items()):
        tree[name], storages[str(key)] = _contiguous(str(key), array)
    got = read_state_dict(_write_pth(tmp_path / "big.pth", tree, storages, byteorder="big"))
    for name, array in arrays.items():
        np.testing.assert_array_equal(got[name], array)
        assert got[name].dtype.isnative


# (b) ResNet18 from a torchvision-named checkpoint of its own weights.


@pytest.mark.backend_agnostic
@pytest.mark.parametrize("kind", ["pth", "safetensors"])
def test_resnet18_round_trip_through_torch_layout(resnet18_checkpoint, tmp_path, kind):
    path, state_dict, weights, x, expected = resnet18_checkpoint
    if kind == "safetensors":
        path = _write_safetensors(tmp_path / "resnet18.safetensors", state_dict)
    model = keras_resnet.build("resnet18", weights=str(path), input_shape=SHAPE, classes=7)
    for got, want in zip(model.get_weights(), weights, strict=True):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model(x, training=False)), expected)


@pytest.mark.backend_agnostic
@pytest.mark.parametrize("name", ["model.pth", "model.pt", "pytorch_model.bin"])
def test_a_bare_file_name_is_a_path(resnet18_checkpoint, tmp_path, monkeypatch, name):
    # No separator: the suffix says it is a file, not a registered tag.
    path, _, weights, _, _ = resnet18_checkpoint
    (tmp_path / name).write_bytes(path.read_bytes())
    monkeypatch.chdir(tmp_path)
    model = keras_resnet.build("resnet18", weights=name, input_shape=SHAPE, classes=7)
    np.testing.assert_array_equal(model.get_weights()[0], weights[0])


@pytest.mark.backend_agnostic
def test_nested_and_data_parallel_checkpoints(resnet18_checkpoint, tmp_path):
    _, state_dict, weights, _, _ = resnet18_checkpoint
    tree, storages = {}, {}
    for i, (name, array) in enumerate(state_dict.items()):
        tree["module." + name], storages[str(i)] = _contiguous(str(i), array)
    nested = _write_pth(tmp_path / "train.pth", {"model": tree, "epoch": 90}, storages)
    model = _fresh_resnet18()
    keras_resnet.load_weights(model, nested)
    for got, want in zip(model.get_weights(), weights, strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.mark.backend_agnostic
def test_without_top_and_skip_head(resnet18_checkpoint):
    path, _, weights, _, _ = resnet18_checkpoint
    backbone = keras_resnet.build(
        "resnet18", weights=str(path), input_shape=SHAPE, include_top=False
    )
    for got, want in zip(backbone.get_weights(), weights[:-2], strict=True):
        np.testing.assert_array_equal(got, want)  # the checkpoint's fc is ignored
    model = _fresh_resnet18(classes=3)
    head = [w.copy() for w in model.get_layer("predictions").get_weights()]
    keras_resnet.load_weights(model, path, skip_head=True)
    for got, want in zip(model.get_layer("predictions").get_weights(), head):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(model.get_weights()[0], weights[0])


@pytest.mark.backend_agnostic
def test_timm_deep_stem_and_average_pool_shortcut_names():
    # timm's resnet50d: conv1 is (conv, bn, relu, conv, bn, relu, conv), bn1 its
    # last BN; the D shortcut is (AvgPool, conv, bn), so its weights start at 1.
    inputs = keras.Input((8, 8, 3))
    x = inputs
    for name, filters in [("conv1_1", 4), ("conv1_2", 4), ("conv1_3", 6)]:
        x = keras.layers.Conv2D(filters, 3, use_bias=False, name=f"{name}_conv")(x)
        x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    x = keras.layers.Conv2D(5, 1, use_bias=False, name="conv3_block1_0_conv")(x)
    x = keras.layers.BatchNormalization(name="conv3_block1_0_bn")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(2, name="predictions")(x))
    rng = np.random.default_rng(0)
    shapes = {"conv1.0": (4, 3, 3, 3), "conv1.3": (4, 4, 3, 3), "conv1.6": (6, 4, 3, 3),
              "layer2.0.downsample.1": (5, 6, 1, 1)}
    state_dict = {}
    for conv, bn in [("conv1.0", "conv1.1"), ("conv1.3", "conv1.4"), ("conv1.6", "bn1"),
                     ("layer2.0.downsample.1", "layer2.0.downsample.2")]:
        state_dict[f"{conv}.weight"] = rng.normal(size=shapes[conv]).astype("float32")
        for p in ("weight", "bias", "running_mean", "running_var"):
            state_dict[f"{bn}.{p}"] = rng.uniform(0.5, 1.5, shapes[conv][0]).astype("float32")
    state_dict["fc.weight"] = rng.normal(size=(2, 5)).astype("float32")
    state_dict["fc.bias"] = rng.normal(size=2).astype("float32")
    torch_convert.assign(torch_convert.torch_to_keras(state_dict, model))
    kernel = model.get_layer("conv1_3_conv").kernel.numpy()
    np.testing.assert_array_equal(kernel, state_dict["conv1.6.weight"].transpose(2, 3, 1, 0))
    np.testing.assert_array_equal(
        model.get_layer("conv1_3_bn").moving_variance.numpy(), state_dict["bn1.running_var"]
    )
    np.testing.assert_array_equal(
        model.get_layer("conv3_block1_0_bn").gamma.numpy(),
        state_dict["layer2.0.downsample.2.weight"],
    )
    np.testing.assert_array_equal(
        model.get_layer("predictions").kernel.numpy(), state_dict["fc.weight"].T
    )


# (c) A pickle that names anything but tensor data runs nothing.


@pytest.mark.backend_agnostic
@pytest.mark.parametrize(
    "module, name", [("os", "system"), ("posix", "system"), ("builtins", "eval"),
                     ("subprocess", "call")],
)
def test_a_pickle_naming_a_callable_is_refused_and_runs_nothing(tmp_path, module, name):
    marker = tmp_path / "pwned"
    command = f"open({str(marker)!r}, 'w')" if name == "eval" else f"touch {marker}"
    weights = np.ones(3, "float32")
    tree = {"fc.bias": Tensor("0", weights, (3,), (1,)),
            "payload": Reduce(Global(module, name), (command,))}
    path = _write_pth(tmp_path / "model.pth", tree, {"0": weights})
    model = _fresh_resnet18()
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(WeightsFileError) as info:
        keras_resnet.load_weights(model, path)
    message = str(info.value)
    assert len(message.splitlines()) == 1, message
    assert f"refused to load {path}: its pickle names {module}.{name}" in message
    assert not marker.exists()
    _assert_unchanged(model, before)


@pytest.mark.backend_agnostic
def test_the_inst_opcode_is_refused_too(tmp_path):
    marker = tmp_path / "pwned"
    pickled = b"\x80\x02(X" + struct.pack("<I", len(f"touch {marker}")) + (
        f"touch {marker}".encode() + b"ios\nsystem\n."
    )
    path = tmp_path / "inst.pth"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("inst/data.pkl", pickled)
    with pytest.raises(WeightsFileError, match="names os.system"):
        read_state_dict(path)
    assert not marker.exists()


# (d) Damaged files: one line, naming the file.


def _refused(path, *words):
    model = _fresh_resnet18()
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(WeightsFileError) as info:
        keras_resnet.load_weights(model, path)
    message = str(info.value)
    assert len(message.splitlines()) == 1 and str(path) in message, message
    for word in words:
        assert word in message, message
    _assert_unchanged(model, before)


@pytest.mark.backend_agnostic
@pytest.mark.parametrize("kind", ["pth", "safetensors"])
@pytest.mark.parametrize("keep", [4, 64, 0.5, -1])
def test_a_truncated_checkpoint_is_one_line(resnet18_checkpoint, tmp_path, kind, keep):
    source, state_dict = resnet18_checkpoint[:2]
    if kind == "safetensors":
        source = _write_safetensors(tmp_path / "full.safetensors", state_dict)
    data = source.read_bytes()
    path = tmp_path / f"cut.{kind}"
    path.write_bytes(data[: keep if isinstance(keep, int) else int(len(data) * keep)])
    _refused(path, "truncated")


@pytest.mark.backend_agnostic
def test_damaged_storages_are_one_line(tmp_path):
    data = np.arange(6, dtype="float32")
    tree = {"fc.bias": Tensor("0", data, (6,), (1,))}
    _refused(_write_pth(tmp_path / "missing.pth", tree, {"0": data}, drop=("0",)),
             "storage missing/data/0, which the archive lacks")
    _refused(_write_pth(tmp_path / "short.pth", tree, {"0": data[:4]}),
             "holds 16 bytes, its pickle declares 6 x FloatStorage (24 bytes)")
    beyond = {"fc.bias": Tensor("0", data, (4,), (2,))}
    _refused(_write_pth(tmp_path / "beyond.pth", beyond, {"0": data}), "reaches element 6")


@pytest.mark.backend_agnostic
def test_a_zip_bomb_is_refused_before_it_is_unpacked(tmp_path):
    import tracemalloc

    numel = 64 << 20  # 256 MB of float32 zeros, deflated to about 250 KB
    tree = {"fc.bias": Tensor("0", np.zeros(1, "float32"), (numel,), (1,))}
    tree["fc.bias"].storage = np.lib.stride_tricks.as_strided(
        np.zeros(1, "float32"), (numel,), (0,)
    )
    path = tmp_path / "bomb.pth"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("bomb/data.pkl", bytes(_emit(tree, bytearray(b"\x80\x02"))) + b".")
        with z.open("bomb/data/0", "w", force_zip64=True) as member:
            for _ in range(numel * 4 >> 20):
                member.write(bytes(1 << 20))
    model = _fresh_resnet18()
    tracemalloc.start()
    try:
        with pytest.raises(WeightsFileError) as info:
            keras_resnet.load_weights(model, path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 << 20, f"unpacked before refusing: {peak} bytes at the peak"
    message = str(info.value)
    assert len(message.splitlines()) == 1, message
    for word in (str(path), "zip bomb", "bomb/data/0", f"{numel * 4} bytes"):
        assert word in message, message


@pytest.mark.backend_agnostic
def test_old_format_and_non_checkpoints_are_one_line(tmp_path):
    _refused(FIXTURES / "legacy.pth", "before torch 1.6", "save it again")
    text = tmp_path / "notes.pth"
    text.write_text("version https://git-lfs.github.com/spec/v1\n")
    _refused(text, "not a PyTorch checkpoint")
    nothing = _write_pth(tmp_path / "epoch.pth", {"epoch": 3}, {})
    _refused(nothing, "no state dict of tensors")


# (e) Another architecture or shape: the tensor named, nothing assigned.


@pytest.mark.backend_agnostic
def test_another_architecture_names_the_tensor(resnet18_checkpoint, tmp_path):
    path = resnet18_checkpoint[0]
    deeper = keras_resnet.build("resnet34", weights=None, input_shape=SHAPE, classes=7)
    resnet34 = _write_state_dict(tmp_path / "resnet34.pth", _torchvision_names(deeper))
    model = _fresh_resnet18()
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(WeightsMismatchError) as info:
        keras_resnet.load_weights(model, resnet34)
    assert "tensor 'layer1.2.conv1.weight' of shape (64, 64, 3, 3)" in str(info.value)
    assert "'conv2_block3_1_conv', which the model does not have" in str(info.value)
    _assert_unchanged(model, before)

    before = [w.copy() for w in deeper.get_weights()]
    with pytest.raises(WeightsMismatchError, match="no tensor for layer 'conv2_block3_1_conv'"):
        keras_resnet.load_weights(deeper, path)
    _assert_unchanged(deeper, before)


@pytest.mark.backend_agnostic
def test_a_torchvision_resnet50_into_keras_resnet50_says_which_to_build(tmp_path):
    # Same layer names and kernel shapes, but keras.applications' convolutions
    # have biases (and the stride in the 1x1): the error points to resnet50b.
    rng = np.random.default_rng(0)
    model = keras_resnet.build("resnet50", weights=None, input_shape=SHAPE, classes=7)
    conv_bias = re.compile(r"(.*\.)?(conv\d|downsample\.0)\.bias")
    state_dict = {
        k: rng.normal(size=v.shape).astype(v.dtype)
        for k, v in _torchvision_names(model).items() if not conv_bias.fullmatch(k)
    }
    path = _write_state_dict(tmp_path / "resnet50-0676ba61.pth", state_dict)
    with pytest.raises(WeightsMismatchError) as info:
        keras_resnet.load_weights(model, path)
    message = str(info.value)
    assert "no tensor for layer 'conv1_conv' (bias, shape (64,))" in message
    assert "resnet50b" in message and len(message.splitlines()) == 1


@pytest.mark.backend_agnostic
@pytest.mark.parametrize(
    "key, shape, words",
    [("layer2.0.conv1.weight", (128, 64, 1, 1),
      ("tensor 'layer2.0.conv1.weight' of shape (128, 64, 1, 1) does not fit layer "
       "'conv3_block1_1_conv' (kernel), which expects (3, 3, 64, 128) (PyTorch layout "
       "(128, 64, 3, 3))")),
     ("fc.weight", (1000, 512), "skip_head=True")],
)
def test_a_tensor_of_another_shape_is_named(resnet18_checkpoint, tmp_path, key, shape, words):
    state_dict = dict(resnet18_checkpoint[1])
    state_dict[key] = np.zeros(shape, "float32")
    path = _write_state_dict(tmp_path / "wrong.pth", state_dict)
    model = _fresh_resnet18()
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(WeightsMismatchError) as info:
        keras_resnet.load_weights(model, path)
    assert words in str(info.value) and len(str(info.value).splitlines()) == 1
    _assert_unchanged(model, before)


# (f) keras-resnet weights convert.


@pytest.mark.backend_agnostic
def test_cli_convert_writes_a_keras_file(resnet18_checkpoint, tmp_path, capsys):
    path, _, weights, _, _ = resnet18_checkpoint
    out = tmp_path / "r18.weights.h5"
    assert cli.main(["weights", "convert", str(path), "--model", "resnet18", "-o", str(out)]) == 0
    assert "7 classes" in capsys.readouterr().out
    assert [p.name for p in tmp_path.iterdir()] == ["r18.weights.h5"]  # no temporary left
    model = keras_resnet.build("resnet18", weights=str(out), input_shape=SHAPE, classes=7)
    for got, want in zip(model.get_weights(), weights, strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.mark.backend_agnostic
@pytest.mark.parametrize(
    "change, words",
    [({"--model": "resnet99"}, "unknown model 'resnet99'"),
     ({"--model": "resnet34"}, "does not fit model"),
     ({"-o": "out.h5"}, "must be a .weights.h5 file"),
     ({"SRC": "legacy"}, "before torch 1.6")],
)
def test_cli_convert_bad_input_is_one_line(resnet18_checkpoint, tmp_path, capsys, change, words):
    args = {"SRC": str(resnet18_checkpoint[0]), "--model": "resnet18",
            "-o": str(tmp_path / "out.weights.h5")}
    args.update(change)
    if args["SRC"] == "legacy":
        args["SRC"] = str(FIXTURES / "legacy.pth")
    argv = ["weights", "convert", args["SRC"], "--model", args["--model"], "-o", args["-o"]]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and words in err, err
    assert not any(tmp_path.iterdir())


# The oracle: torchvision's and timm's ResNets run by torch itself.


def _torch_python():
    """A Python with torch: KERAS_RESNET_TORCH_PYTHON, or this one if it has torch."""
    import importlib.util
    import os
    import sys

    if os.environ.get("KERAS_RESNET_TORCH_PYTHON"):
        return os.environ["KERAS_RESNET_TORCH_PYTHON"]
    return sys.executable if importlib.util.find_spec("torch") else None


@pytest.mark.slow
@pytest.mark.backend_agnostic
@pytest.mark.skipif(_torch_python() is None, reason="needs torch (KERAS_RESNET_TORCH_PYTHON)")
@pytest.mark.parametrize(
    "name",
    ["resnet18", "resnet50b", "resnet50c", "resnet50d", "resnext50_32x4d", "wide_resnet50_2"],
)
def test_checkpoints_saved_by_torch_give_torchs_logits(tmp_path, name):
    import subprocess

    from keras_resnet import catalog

    if name not in catalog.list_models(None):
        pytest.skip(f"{name} is not in the catalogue")
    script = FIXTURES / "torch_resnets.py"
    subprocess.run([_torch_python(), str(script), name, str(tmp_path)], check=True)
    data = np.load(tmp_path / f"{name}.npz")
    files = [p for p in (tmp_path / f"{name}.pth", tmp_path / f"{name}.safetensors") if p.exists()]
    for path in files:
        model = catalog.build(
            name, weights=str(path), input_shape=(64, 64, 3), classes=10,
            classifier_activation=None,
        )
        logits = keras.ops.convert_to_numpy(model(data["x"], training=False))
        # Seen with torch 2.13: 2.8e-7 to 1.5e-6 (resnet50d).
        error = np.max(np.abs(logits - data["logits"])) / np.max(np.abs(data["logits"]))
        assert error < 1e-5, (path.name, error)
        keras.backend.clear_session()

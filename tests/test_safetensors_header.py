"""A lying ``.safetensors`` header is refused in one line; a valid one reads as the library reads.

Every file here is written by the safetensors library (``safetensors.numpy``)
and, for the refusals, then edited: its JSON header rewritten (keys may be
repeated, which no JSON object of Python's can hold, so the header is kept
as a list of pairs), its 8-byte length prefix patched, its data section cut
or extended. For each edited file the library itself is the referee: it
refuses the file too (the package never accepts what the library refuses),
and the package's refusal is one line naming the file and the problem. The
one place the package is stricter: a repeated tensor name the library would
resolve silently (it keeps the last entry) is refused as well.
"""

import json
import pathlib
import struct

import keras
import numpy as np
import pytest
import safetensors.numpy
from conftest import randomize_weights
from safetensors import SafetensorError
from test_torch_checkpoints import _torchvision_names

import keras_resnet
from keras_resnet import cli
from keras_resnet.weights import WeightsFileError
from keras_resnet.weights.torch_files import read_state_dict

SHAPE = (32, 32, 3)


# Writing and editing files.


def _small(path):
    """A small state dict written by the library: float32 kernels, an int64 scalar."""
    rng = np.random.default_rng(0)
    tensors = {
        "conv1.weight": rng.standard_normal((4, 3, 3, 3)).astype("float32"),
        "bn1.num_batches_tracked": np.array(7, dtype="int64"),
        "fc.weight": rng.standard_normal((10, 4)).astype("float32"),
        "fc.bias": rng.standard_normal(10).astype("float32"),
        "layer1.0.bn1.running_var": rng.uniform(0.5, 2, 4).astype("float32"),
    }
    safetensors.numpy.save_file(tensors, str(path), metadata={"format": "pt"})
    return path


def _split(path):
    """(header as a list of (key, value) pairs, data section) of a file."""
    raw = pathlib.Path(path).read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8 : 8 + length], object_pairs_hook=list), raw[8 + length :]


def _offsets(pairs):
    """Each tensor's (begin, end) in the data section, by name, as the library wrote it."""
    return {key: tuple(dict(info)["data_offsets"]) for key, info in pairs
            if key != "__metadata__"}


def _entry(dtype, shape, begin, end):
    return [("dtype", dtype), ("shape", list(shape)), ("data_offsets", [begin, end])]


def _text(value):
    """JSON of a value whose objects are lists of pairs (so keys may repeat)."""
    if isinstance(value, list) and all(isinstance(p, tuple) for p in value) and value:
        return "{" + ",".join(f"{json.dumps(k)}:{_text(v)}" for k, v in value) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_text(v) for v in value) + "]"
    return json.dumps(value)


def _write(path, pairs, data, *, header=None, length=None):
    """Writes a header (pairs, or raw text or bytes) and a data section; the prefix
    is the header's length unless ``length`` patches it."""
    text = header if header is not None else _text(pairs)
    text = text.encode() if isinstance(text, str) else text
    prefix = struct.pack("<Q", len(text) if length is None else length)
    pathlib.Path(path).write_bytes(prefix + text + data)
    return path


def _edited(tmp_path, name, edit):
    """A library-written file, its header pairs given to ``edit`` (which returns the
    new pairs, or (pairs, data), or a dict of ``_write`` keywords)."""
    source = _small(tmp_path / "source.safetensors")
    pairs, data = _split(source)
    result = edit(pairs, data)
    path = tmp_path / f"{name}.safetensors"
    if isinstance(result, dict):
        return _write(path, pairs, data, **result), pairs
    if isinstance(result, tuple):
        result, data = result
    return _write(path, result, data), pairs


def _replace(pairs, name, info):
    return [(k, info if k == name else v) for k, v in pairs]


def _library_refuses(path):
    with pytest.raises(SafetensorError):
        safetensors.numpy.load_file(str(path))


def _ours_refuses(path, *words):
    with pytest.raises(WeightsFileError) as info:
        read_state_dict(path)
    message = str(info.value)
    assert len(message.splitlines()) == 1, message
    assert str(path) in message, message
    for word in words:
        assert word in message, message
    return message


# Each lie, as (name, edit, words the refusal must hold). The words are
# computed from the library's own header, never copied from the reader.


def _duplicate_into_conv1(pairs, data):
    # The issue's file: a second ``fc.bias`` of the right size, pointed into
    # the first bytes of ``conv1.weight``.
    begin = _offsets(pairs)["conv1.weight"][0]
    return [*pairs, ("fc.bias", _entry("F32", (10,), begin, begin + 40))]


def _shared_with_conv1(pairs, data):
    # ``fc.bias`` (a unique name) pointed into ``conv1.weight``.
    begin = _offsets(pairs)["conv1.weight"][0] + 8
    return _replace(pairs, "fc.bias", _entry("F32", (10,), begin, begin + 40))


def _conv1_bytes(pairs):
    begin = _offsets(pairs)["conv1.weight"][0] + 8
    return f"{begin}..{begin + 40}"


def _middle_removed(pairs, data):
    # A tensor whose bytes lie between others, left out of the header: a gap.
    middle = sorted(_offsets(pairs).items(), key=lambda item: item[1])[2][0]
    return [(k, v) for k, v in pairs if k != middle]


def _middle_gap(pairs):
    begin, end = sorted(_offsets(pairs).values())[2]
    return f"{begin}..{end}"


def _last_removed(pairs, data):
    last = max(_offsets(pairs).items(), key=lambda item: item[1])[0]
    return [(k, v) for k, v in pairs if k != last]


def _last_size(pairs):
    begin, end = max(_offsets(pairs).values())
    return f"{end - begin} bytes"


def _last_name(pairs):
    return repr(max(_offsets(pairs).items(), key=lambda item: item[1])[0])


def _wrong_shape(pairs, data):
    begin, end = _offsets(pairs)["fc.bias"]
    return _replace(pairs, "fc.bias", _entry("F32", (9,), begin, end))


def _reversed_offsets(pairs, data):
    begin, end = _offsets(pairs)["fc.bias"]
    return _replace(pairs, "fc.bias", _entry("F32", (10,), end, begin))


def _empty_inside(pairs, data):
    # An empty tensor (no bytes) placed inside another tensor's bytes: the
    # format puts each tensor after the one before, so the library refuses it.
    begin = _offsets(pairs)["conv1.weight"][0] + 8
    return [*pairs, ("extra", _entry("F32", (0,), begin, begin))]


def _field(name, field, value):
    def edit(pairs, data):
        info = [(f, value if f == field else v) for f, v in dict(pairs)[name]]
        return _replace(pairs, name, info)
    return edit


def _metadata(value):
    def edit(pairs, data):
        return _replace(pairs, "__metadata__", value)
    return edit


def _repeated_field(pairs, data):
    info = dict(pairs)["fc.bias"]
    return _replace(pairs, "fc.bias", [*info, ("shape", [10])])


def _missing_field(pairs, data):
    info = [(f, v) for f, v in dict(pairs)["fc.bias"] if f != "dtype"]
    return _replace(pairs, "fc.bias", info)


LIES = [
    ("duplicate-name", _duplicate_into_conv1, lambda p: ["'fc.bias'", "twice"]),
    ("shared-bytes", _shared_with_conv1,
     lambda p: ["tensors 'conv1.weight' and 'fc.bias' share bytes", _conv1_bytes(p)]),
    ("gap", _middle_removed, lambda p: ["no tensor", _middle_gap(p)]),
    ("uncovered-end", _last_removed, lambda p: [_last_size(p), "no tensor"]),
    ("trailing-bytes", lambda p, d: (p, d + bytes(16)), lambda p: ["16 bytes", "no tensor"]),
    ("truncated", lambda p, d: (p, d[:-4]), lambda p: ["truncated", _last_name(p)]),
    ("wrong-shape", _wrong_shape, lambda p: ["'fc.bias'", "[9]", "36 bytes", "40"]),
    ("reversed-offsets", _reversed_offsets, lambda p: ["'fc.bias'", "data_offsets"]),
    ("empty-inside", _empty_inside, lambda p: ["'extra'", "'conv1.weight'"]),
    ("unknown-dtype", _field("fc.bias", "dtype", "F99"), lambda p: ["'fc.bias'", "F99"]),
    ("lowercase-dtype", _field("fc.bias", "dtype", "f32"), lambda p: ["'fc.bias'", "f32"]),
    ("float-shape", _field("fc.bias", "shape", [10.0]), lambda p: ["'fc.bias'", "shape"]),
    ("negative-shape", _field("fc.bias", "shape", [-10]), lambda p: ["'fc.bias'", "shape"]),
    ("boolean-shape", _field("fc.bias", "shape", [True, 10]), lambda p: ["'fc.bias'", "shape"]),
    ("float-offsets", _field("fc.bias", "data_offsets", [0.0, 40]),
     lambda p: ["'fc.bias'", "data_offsets"]),
    ("three-offsets", _field("fc.bias", "data_offsets", [0, 40, 40]),
     lambda p: ["'fc.bias'", "data_offsets"]),
    ("repeated-field", _repeated_field, lambda p: ["'shape'", "twice"]),
    ("missing-field", _missing_field, lambda p: ["'fc.bias'", "dtype"]),
    ("entry-not-object", lambda p, d: _replace(p, "fc.bias", [1, 2]), lambda p: ["'fc.bias'"]),
    ("metadata-int", _metadata([("format", 1)]), lambda p: ["__metadata__", "'format'"]),
    ("metadata-list", _metadata(["pt"]), lambda p: ["__metadata__"]),
    ("metadata-twice", lambda p, d: [("__metadata__", [("a", "b")]), *p],
     lambda p: ["'__metadata__'", "twice"]),
    ("header-nan", lambda p, d: {"header": _text(p)[:-1] + ',"x":NaN}'}, lambda p: ["NaN"]),
    ("header-array", lambda p, d: {"header": "[]"}, lambda p: ["JSON object"]),
    ("header-garbage", lambda p, d: {"header": _text(p) + "x"}, lambda p: ["header"]),
    ("header-not-utf8", lambda p, d: {"header": _text(p)[:-1].encode() + b',"\xff":1}'},
     lambda p: ["UTF-8"]),
    ("length-past-end", lambda p, d: {"length": 10 ** 6}, lambda p: ["1000000", "header"]),
    ("length-cuts-header", lambda p, d: {"length": 20}, lambda p: ["header"]),
]


@pytest.mark.backend_agnostic
@pytest.mark.parametrize("name, edit, words", LIES, ids=[lie[0] for lie in LIES])
def test_a_lying_header_is_refused_as_the_library_refuses_it(tmp_path, name, edit, words):
    path, pairs = _edited(tmp_path, name, edit)
    _library_refuses(path)
    _ours_refuses(path, *words(pairs))


@pytest.mark.backend_agnostic
def test_the_issues_file_names_both_tensors_and_the_bytes(tmp_path):
    path, pairs = _edited(tmp_path, "r50", _shared_with_conv1)
    begin = _offsets(pairs)["conv1.weight"][0] + 8
    message = _ours_refuses(path)
    assert f"tensors 'conv1.weight' and 'fc.bias' share bytes {begin}..{begin + 40}" in message


@pytest.mark.backend_agnostic
@pytest.mark.parametrize("where", ["same-entry", "shorter-first"])
def test_a_duplicate_the_library_resolves_silently_is_refused(tmp_path, where):
    # The library keeps the last of two equal names; which one the writer
    # meant is unknown, so the package refuses both forms.
    def edit(pairs, data):
        begin, end = _offsets(pairs)["fc.bias"]
        first = dict(pairs)["fc.bias"] if where == "same-entry" else _entry(
            "F32", (5,), begin, begin + 20
        )
        return [("fc.bias", first), *pairs]

    path, _ = _edited(tmp_path, where, edit)
    assert sorted(safetensors.numpy.load_file(str(path))) == sorted(
        k for k, _ in _split(tmp_path / "source.safetensors")[0] if k != "__metadata__"
    )
    _ours_refuses(path, "'fc.bias'", "twice")


# Valid files: the package reads what the library reads.


def _assert_same(path):
    want = safetensors.numpy.load_file(str(path))
    got = read_state_dict(path)
    assert sorted(got) == sorted(want)
    for key, array in want.items():
        assert got[key].dtype == array.dtype and got[key].shape == array.shape, key
        np.testing.assert_array_equal(got[key], array, err_msg=key)


@pytest.mark.backend_agnostic
def test_valid_files_read_as_the_library_reads_them(tmp_path):
    rng = np.random.default_rng(3)
    tensors = {
        "f64": rng.standard_normal((2, 3)),
        "f32": rng.standard_normal((3, 2, 2)).astype("float32"),
        "f16": rng.standard_normal(5).astype("float16"),
        "i64": rng.integers(-(2**62), 2**62, (4,), dtype="int64"),
        "i32": rng.integers(-(2**30), 2**30, (2, 2), dtype="int32"),
        "i16": rng.integers(-3000, 3000, (3,), dtype="int16"),
        "i8": rng.integers(-100, 100, (7,), dtype="int8"),
        "u8": rng.integers(0, 255, (3, 1), dtype="uint8"),
        "u16": rng.integers(0, 60000, (2,), dtype="uint16"),
        "u32": rng.integers(0, 2**31, (2,), dtype="uint32"),
        "u64": rng.integers(0, 2**62, (2,), dtype="uint64"),
        "bool": rng.integers(0, 2, (3,)).astype(bool),
        "c64": (rng.standard_normal(3) + 1j * rng.standard_normal(3)).astype("complex64"),
        "empty": np.zeros((0,), "float32"),
        "empty2": np.zeros((3, 0), "int64"),
        "scalar": np.array(2.5, "float32"),
        "scalar_int": np.array(-4, "int64"),
    }
    path = tmp_path / "dtypes.safetensors"
    safetensors.numpy.save_file(tensors, str(path), metadata={"format": "np", "note": "ok"})
    _assert_same(path)
    safetensors.numpy.save_file({"only": np.zeros((0,), "float32")}, str(tmp_path / "e.st"))
    # One empty tensor and nothing else: a file with an empty data section.
    got = read_state_dict(tmp_path / "e.st")
    assert list(got) == ["only"] and got["only"].shape == (0,)


@pytest.mark.backend_agnostic
@pytest.mark.parametrize(
    "name, edit",
    [
        # The format sorts tensors by offset, not by their place in the JSON.
        ("reordered", lambda p, d: p[::-1]),
        # Fields the format does not define are ignored by the library.
        ("extra-field", lambda p, d: _replace(
            p, "fc.bias", [*dict(p)["fc.bias"], ("comment", "x")])),
        ("metadata-null", _metadata(None)),
        ("no-metadata", lambda p, d: [(k, v) for k, v in p if k != "__metadata__"]),
        ("padded-header", lambda p, d: {"header": "  " + _text(p) + "      "}),
        # Two empty tensors at one offset share no byte.
        ("empty-tensors", lambda p, d: [
            *p, ("a", _entry("F32", (0,), len(d), len(d))),
            ("b", _entry("I64", (2, 0), len(d), len(d))),
        ]),
    ],
)
def test_headers_the_library_accepts_are_accepted(tmp_path, name, edit):
    path, _ = _edited(tmp_path, name, edit)
    _assert_same(path)


# The public paths: loading into a model, and the command that converts.


@pytest.fixture(scope="module")
def lying_resnet18(tmp_path_factory):
    """A ResNet18 state dict written by the library, then edited so that ``fc.bias``
    points into ``conv1.weight`` (as a second entry, and as the only one)."""
    keras.backend.clear_session()
    model = keras_resnet.build("resnet18", weights=None, input_shape=SHAPE, classes=10)
    randomize_weights(model, np.random.default_rng(0))
    folder = tmp_path_factory.mktemp("lying")
    good = folder / "good.safetensors"
    safetensors.numpy.save_file(_torchvision_names(model), str(good))
    pairs, data = _split(good)
    files = {"good": good}
    for name, edit in (("duplicate", _duplicate_into_conv1), ("shared", _shared_with_conv1)):
        files[name] = _write(folder / f"r18-{name}.safetensors", edit(pairs, data), data)
        _library_refuses(files[name])
    return files


@pytest.mark.backend_agnostic
@pytest.mark.parametrize("name, words", [("duplicate", "twice"), ("shared", "share bytes")])
def test_load_weights_refuses_and_leaves_the_model_as_it_was(lying_resnet18, name, words):
    model = keras_resnet.build("resnet18", weights=None, input_shape=SHAPE, classes=10)
    before = [np.array(w) for w in model.get_weights()]
    path = lying_resnet18[name]
    with pytest.raises(WeightsFileError) as info:
        keras_resnet.load_weights(model, str(path))
    message = str(info.value)
    assert len(message.splitlines()) == 1 and str(path) in message and words in message
    for got, want in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(got, want)
    # The same model takes the unedited file: the refusal is the header's doing.
    keras_resnet.load_weights(model, str(lying_resnet18["good"]))


@pytest.mark.backend_agnostic
@pytest.mark.parametrize("name, words", [("duplicate", "twice"), ("shared", "share bytes")])
def test_convert_writes_nothing(lying_resnet18, tmp_path, capsys, name, words):
    out = tmp_path / "out"
    out.mkdir()
    target = out / "r18.weights.h5"
    argv = ["weights", "convert", str(lying_resnet18[name]), "--model", "resnet18",
            "-o", str(target)]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert str(lying_resnet18[name]) in err and words in err and "Traceback" not in err, err
    assert not any(out.iterdir())

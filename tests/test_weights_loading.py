"""Loading every file format users have, and failing clearly on the rest."""

import os
import shutil

import keras
import numpy as np
import pytest

import keras_resnet
from keras_resnet.weights import WeightsFileError, WeightsMismatchError

from conftest import randomize_weights, requires_tensorflow

SHAPE = (32, 32, 3)


@pytest.fixture(scope="module")
def saved_resnet18(tmp_path_factory):
    """A ResNet18 with random weights saved in the three Keras 3 formats."""
    keras.backend.clear_session()
    model = keras_resnet.ResNet18(weights=None, input_shape=SHAPE, classes=7)
    randomize_weights(model, np.random.default_rng(0))
    folder = tmp_path_factory.mktemp("r18")
    paths = {
        "weights.h5": folder / "r18.weights.h5",
        "keras": folder / "r18.keras",
        "legacy.h5": folder / "r18.h5",
    }
    model.save_weights(paths["weights.h5"])
    model.save(paths["keras"])
    model.save(paths["legacy.h5"])  # Keras 3 still writes the legacy HDF5 layout
    x = np.random.default_rng(1).uniform(0, 255, (2, *SHAPE)).astype("float32")
    return paths, x, keras.ops.convert_to_numpy(model(x, training=False))


@pytest.mark.backend_agnostic
@pytest.mark.parametrize("kind", ["weights.h5", "keras", "legacy.h5"])
def test_every_keras_format_round_trips(saved_resnet18, kind):
    paths, x, expected = saved_resnet18
    model = keras_resnet.ResNet18(weights=str(paths[kind]), input_shape=SHAPE, classes=7)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x, training=False)), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.backend_agnostic
def test_load_weights_on_a_built_model_and_pathlike(saved_resnet18):
    paths, x, expected = saved_resnet18
    model = keras_resnet.ResNet18(weights=None, input_shape=SHAPE, classes=7)
    assert keras_resnet.load_weights(model, paths["weights.h5"]) is model
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x, training=False)), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.backend_agnostic
def test_another_architecture_names_the_layer_and_both_shapes(saved_resnet18):
    paths, _, _ = saved_resnet18
    model = keras_resnet.ResNet34(weights=None, input_shape=SHAPE, classes=7)
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(WeightsMismatchError) as info:
        keras_resnet.load_weights(model, paths["weights.h5"])
    # ResNet34 has a third block in conv2 that ResNet18's file lacks.
    assert "'conv2_block3_1_conv'" in str(info.value)
    assert "(3, 3, 64, 64)" in str(info.value)
    for got, want in zip(model.get_weights(), before):
        np.testing.assert_array_equal(got, want)  # nothing assigned


@pytest.mark.backend_agnostic
def test_mismatched_shape_names_both_shapes(saved_resnet18):
    paths, _, _ = saved_resnet18
    model = keras_resnet.ResNet18(weights=None, input_shape=SHAPE, classes=3)
    with pytest.raises(WeightsMismatchError) as info:
        keras_resnet.load_weights(model, paths["keras"])
    message = str(info.value)
    assert "'predictions'" in message
    assert "[(512, 3), (3,)]" in message and "[(512, 7), (7,)]" in message
    assert "skip_head=True" in message


@pytest.mark.backend_agnostic
def test_skip_head_loads_the_backbone(saved_resnet18):
    paths, x, _ = saved_resnet18
    reference = keras_resnet.ResNet18(
        weights=str(paths["weights.h5"]), input_shape=SHAPE, include_top=False, pooling="avg"
    )
    model = keras_resnet.ResNet18(weights=None, input_shape=SHAPE, classes=3)
    keras_resnet.load_weights(model, paths["weights.h5"], skip_head=True)
    features = keras.Model(model.input, model.get_layer("avg_pool").output)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(features(x)), keras.ops.convert_to_numpy(reference(x)), rtol=1e-5, atol=1e-6)


@pytest.mark.backend_agnostic
@pytest.mark.parametrize(
    "content, words",
    [
        (b"", "empty"),
        (b"<html>404 Not Found</html>", "not a weight file"),
    ],
)
def test_not_a_weight_file(tmp_path, content, words):
    path = tmp_path / "bad.h5"
    path.write_bytes(content)
    with pytest.raises(WeightsFileError, match=words):
        keras_resnet.ResNet18(weights=str(path), input_shape=SHAPE)


@pytest.mark.backend_agnostic
@pytest.mark.parametrize("kind", ["weights.h5", "keras"])
def test_truncated_file_says_so(saved_resnet18, tmp_path, kind):
    paths, _, _ = saved_resnet18
    source = paths[kind]
    path = tmp_path / source.name
    path.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    with pytest.raises(WeightsFileError, match="truncated"):
        keras_resnet.ResNet18(weights=str(path), input_shape=SHAPE, classes=7)


@pytest.mark.backend_agnostic
def test_missing_path_names_it(tmp_path):
    with pytest.raises(ValueError, match="No file at that path.*Received: weights="):
        keras_resnet.ResNet18(weights=str(tmp_path / "nope.weights.h5"))


def _tf_keras_saved(tmp_path, builder, *, save_model):
    """A tf_keras (Keras 2) application with random weights, saved as legacy .h5."""
    import tf_keras

    model = builder(weights=None, input_shape=(32, 32, 3), classifier_activation=None)
    randomize_weights(model, np.random.default_rng(0))
    path = str(tmp_path / f"{model.name}.h5")
    if save_model:
        model.save(path)  # the whole model: weights under "model_weights"
    else:
        model.save_weights(path)
    x = np.random.default_rng(2).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    expected = model(x, training=False).numpy()
    tf_keras.backend.clear_session()
    return path, x, expected


@requires_tensorflow
@pytest.mark.slow
@pytest.mark.parametrize(
    "name, save_model", [("ResNet50", False), ("ResNet50V2", True)]
)
def test_tf_keras_legacy_h5_gives_the_same_outputs(tmp_path, name, save_model):
    import tf_keras

    path, x, expected = _tf_keras_saved(
        tmp_path, getattr(tf_keras.applications, name), save_model=save_model
    )
    model = getattr(keras_resnet, name)(
        weights=path, input_shape=(32, 32, 3), classifier_activation=None
    )
    got = keras.ops.convert_to_numpy(model(x, training=False))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


@requires_tensorflow
def test_loading_inside_a_mirrored_strategy(saved_resnet18):
    import tensorflow as tf

    paths, x, expected = saved_resnet18
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        model = keras_resnet.ResNet18(
            weights=str(paths["weights.h5"]), input_shape=SHAPE, classes=7
        )
        other = keras_resnet.ResNet18(weights=None, input_shape=SHAPE, classes=7)
        keras_resnet.load_weights(other, paths["keras"])
    assert isinstance(model.weights[0].value, tf.distribute.DistributedValues)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x, training=False)), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(other(x, training=False), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.backend_agnostic
def test_copied_file_loads_like_the_original(saved_resnet18, tmp_path):
    # A file renamed by the user (no .keras suffix) is recognised by content.
    paths, x, expected = saved_resnet18
    renamed = tmp_path / "best_checkpoint"
    shutil.copy(paths["keras"], renamed)
    assert os.path.exists(renamed)
    model = keras_resnet.ResNet18(weights=None, input_shape=SHAPE, classes=7)
    keras_resnet.load_weights(model, renamed)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x, training=False)), expected, rtol=1e-5, atol=1e-6)


def _rename_layer(path, old, new):
    """Renames a layer inside a legacy .h5 file, as another tool may have named it."""
    import h5py

    with h5py.File(path, "r+") as f:
        root = f["model_weights"] if "model_weights" in f else f
        root.move(old, new)
        group = root[new]
        group.move(old, new)
        group.attrs["weight_names"] = [
            _text(name).replace(f"{old}/", f"{new}/", 1).encode()
            for name in group.attrs["weight_names"]
        ]
        root.attrs["layer_names"] = [
            (new if _text(name) == old else _text(name)).encode()
            for name in root.attrs["layer_names"]
        ]


def _text(value):
    return value.decode() if isinstance(value, bytes) else str(value)


@pytest.mark.backend_agnostic
@pytest.mark.parametrize(
    "old, new",
    [
        ("predictions", "probs"),  # keras-applications' classifier name
        ("conv3_block1_1_conv", "conv2d_12"),  # any other name: matched in order, as Keras does
    ],
)
def test_legacy_file_with_other_layer_names(saved_resnet18, tmp_path, old, new):
    paths, x, expected = saved_resnet18
    path = tmp_path / "renamed.h5"
    shutil.copy(paths["legacy.h5"], path)
    _rename_layer(path, old, new)
    model = keras_resnet.ResNet18(weights=str(path), input_shape=SHAPE, classes=7)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x, training=False)), expected, rtol=1e-5, atol=1e-6)


# Files that are not what they claim: one WeightsFileError, one line, no raw
# h5py or zipfile traceback, and nothing assigned.


def _assert_refused(path, *, words):
    model = keras_resnet.ResNet18(weights=None, input_shape=SHAPE, classes=7)
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(WeightsFileError) as info:
        keras_resnet.load_weights(model, path)
    message = str(info.value)
    assert len(message.splitlines()) == 1, message
    assert str(path) in message
    for word in words:
        assert word in message, message
    for got, want in zip(model.get_weights(), before):
        np.testing.assert_array_equal(got, want)
    return message


@pytest.mark.backend_agnostic
@pytest.mark.parametrize("kind", ["weights.h5", "keras", "legacy.h5"])
@pytest.mark.parametrize("keep", [64, 0.1, 0.5, 0.9, -1])
def test_a_truncated_file_is_one_clear_error(saved_resnet18, tmp_path, kind, keep):
    # Cut anywhere: in the header, in the metadata, in the arrays, one byte short.
    paths, _, _ = saved_resnet18
    source = paths[kind].read_bytes()
    end = keep if isinstance(keep, int) else int(len(source) * keep)
    path = tmp_path / paths[kind].name
    path.write_bytes(source[:end])
    words = ["truncated", ".keras archive"] if kind == "keras" else ["truncated"]
    _assert_refused(path, words=words)


@pytest.mark.backend_agnostic
@pytest.mark.parametrize("name", ["notes.h5", "notes.weights.h5", "notes.keras"])
def test_a_text_file_with_a_weights_name_is_one_clear_error(tmp_path, name):
    # What a git-lfs checkout without LFS leaves in place of a weights file.
    path = tmp_path / name
    path.write_text(
        "version https://git-lfs.github.com/spec/v1\n"
        "oid sha256:4d473c1dd8becc155b73f8504c6f6626\nsize 94765736\n"
    )
    _assert_refused(path, words=["not a weight file"])


@pytest.mark.backend_agnostic
def test_a_damaged_layer_name_is_one_clear_error(saved_resnet18, tmp_path):
    # A flipped bit in the metadata leaves a name that is not UTF-8.
    import h5py

    paths, _, _ = saved_resnet18
    path = tmp_path / "damaged.h5"
    shutil.copy(paths["legacy.h5"], path)
    with h5py.File(path, "r+") as f:
        names = [_text(name).encode() for name in f["model_weights"].attrs["layer_names"]]
        names[1] = b"conv1_\xffconv"
        f["model_weights"].attrs["layer_names"] = names
    _assert_refused(path, words=["corrupt"])


def _zip_bomb(path, *, unpacked):
    """A real .keras-shaped archive whose weights member inflates to ``unpacked`` zeros."""
    import zipfile

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("config.json", "{}")
        with z.open("model.weights.h5", "w", force_zip64=True) as member:
            zeros = bytes(1 << 20)
            for _ in range(unpacked >> 20):
                member.write(zeros)
    return path


@pytest.mark.backend_agnostic
def test_a_zip_bomb_is_refused_before_it_is_unpacked(tmp_path):
    import tracemalloc

    path = _zip_bomb(tmp_path / "bomb.keras", unpacked=200 << 20)
    assert path.stat().st_size < 1 << 20  # 200 MB of zeros deflate to ~200 KB
    model = keras_resnet.ResNet18(weights=None, input_shape=SHAPE, classes=7)
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
    for word in (str(path), "model.weights.h5", f"{200 << 20} bytes"):
        assert word in message, message


@pytest.mark.backend_agnostic
def test_an_archive_larger_than_the_limit_is_refused(saved_resnet18, monkeypatch):
    # Keras stores .keras members uncompressed: nothing looks like a bomb,
    # only the size is over the limit.
    from keras_resnet.weights import archive

    paths, _, _ = saved_resnet18
    assert archive.MAX_ARCHIVE_BYTES == 2 << 30
    monkeypatch.setattr(archive, "MAX_ARCHIVE_BYTES", 1 << 20)
    _assert_refused(paths["keras"], words=[str(1 << 20), "bytes"])

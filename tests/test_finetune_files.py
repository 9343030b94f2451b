"""Fine-tuning from a weight file of any format, with or without a classifier.

``keras-resnet train --model NAME --weights FILE --data DIR`` takes every
checkpoint the package reads (``.pth``, ``.safetensors``, Keras 2 ``.h5``,
``.weights.h5``, ``.keras``): a classifier for another number of classes, or
none, gives way to a new one, said in one line. The files are written here
from a model with random weights (torch state dicts by an independent
inverse of the converter's naming table, ``test_torch_checkpoints``; Keras 2
files by tf_keras), so no network is needed; every check compares the built
model with the arrays of the model the file was written from.
"""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from conftest import randomize_weights, requires_tensorflow
from test_torch_checkpoints import _torchvision_names, _write_safetensors, _write_state_dict

import keras_resnet
from keras_resnet import cli, training
from keras_resnet.cli.commands import train
from keras_resnet.training.classifier import load_weights_file

SIZE = 32
HEAD = "predictions"


def _layer_arrays(model):
    """``{layer name: [arrays]}`` of every layer with weights."""
    return {
        layer.name: [np.asarray(w) for w in layer.get_weights()]
        for layer in model.layers
        if layer.weights
    }


def _assert_backbone_is(model, source):
    """Every layer but the classifier holds exactly the source model's arrays."""
    arrays = _layer_arrays(model)
    backbone = [name for name in source if name != HEAD]
    assert sorted(name for name in arrays if name != HEAD) == sorted(backbone)
    for name in backbone:
        for got, want in zip(arrays[name], source[name]):
            np.testing.assert_array_equal(got, want, err_msg=name)


def _without_top(model):
    return keras.Model(model.inputs, model.get_layer("avg_pool").output, name=model.name)


@pytest.fixture(scope="module")
def resnet18_files(tmp_path_factory):
    """A 10-class ResNet-18 with random weights, saved in every format, with and without top.

    Returns ``({layer: arrays}, {(kind, top): path})``.
    """
    keras.backend.clear_session()
    model = keras_resnet.build("resnet18", weights=None, input_shape=(SIZE, SIZE, 3), classes=10)
    randomize_weights(model, np.random.default_rng(0))
    folder = tmp_path_factory.mktemp("resnet18")
    state_dict = _torchvision_names(model)
    headless = {k: v for k, v in state_dict.items() if not k.startswith("fc.")}
    files = {}
    for top, tensors in ((True, state_dict), (False, headless)):
        stem = folder / ("r18" if top else "r18-notop")
        files["pth", top] = _write_state_dict(f"{stem}.pth", tensors)
        files["safetensors", top] = _write_safetensors(f"{stem}.safetensors", tensors)
        saved = model if top else _without_top(model)
        saved.save_weights(f"{stem}.weights.h5")
        files["weights.h5", top] = f"{stem}.weights.h5"
        saved.save(f"{stem}.keras")
        files["keras", top] = f"{stem}.keras"
    return _layer_arrays(model), {key: str(path) for key, path in files.items()}


@pytest.fixture(scope="module")
def two_class_folder(tmp_path_factory):
    """Six PNGs per class: bright noise ("day") and dark noise ("night"), 40 px."""
    from PIL import Image

    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for name, scale in (("day", 1), ("night", 4)):
        (root / name).mkdir()
        for i in range(6):
            pixels = rng.integers(0, 256, (40, 40, 3)) // scale
            Image.fromarray(pixels.astype(np.uint8)).save(root / name / f"{i}.png")
    return root


def _fresh_classifier(name="resnet18", classes=2):
    """What ``train`` builds: uint8 in, the preprocessing in the first layer."""
    return training.build_model(name, classes=classes, image_size=SIZE, input_preprocessing={})


@pytest.mark.parametrize("top", [True, False], ids=["10-class-top", "no-top"])
@pytest.mark.parametrize("kind", ["pth", "safetensors", "weights.h5", "keras"])
def test_the_backbone_loads_and_a_new_two_class_head_is_made(resnet18_files, kind, top):
    source, files = resnet18_files
    model = _fresh_classifier()
    initial_head = [np.asarray(w) for w in model.get_layer(HEAD).get_weights()]
    note = load_weights_file(model, files[kind, top], new_head=True)
    _assert_backbone_is(model, source)
    head = model.get_layer(HEAD).get_weights()
    assert head[0].shape == (512, 2)
    for got, initial in zip(head, initial_head):
        np.testing.assert_array_equal(got, initial)  # left as initialised
    name = os.path.basename(files[kind, top])
    why = "the file's is for 10 classes" if top else "the file has none"
    assert note == f"loaded the backbone of {name}; new 2-class classifier ({why})"


def test_a_classifier_of_the_right_width_is_loaded_too(resnet18_files, tmp_path):
    source, files = resnet18_files
    ten = _fresh_classifier(classes=10)
    assert load_weights_file(ten, files["pth", True], new_head=True) == (
        "loaded r18.pth, its 10-class classifier included"
    )
    for got, want in zip(ten.get_layer(HEAD).get_weights(), source[HEAD]):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("top", [True, False], ids=["10-class-top", "no-top"])
def test_without_new_head_the_classifier_must_fit(resnet18_files, top):
    # What evaluate and predict ask: a file they can classify with.
    _, files = resnet18_files
    path = files["safetensors", top]
    with pytest.raises(ValueError) as raised:
        load_weights_file(_fresh_classifier(), path, new_head=False)
    message = str(raised.value)
    assert len(message.splitlines()) == 1 and path in message
    assert ("classifier is for 10 classes" if top else "has no classifier") in message


@pytest.mark.filterwarnings("ignore:You are saving your model as an HDF5 file")
@pytest.mark.parametrize(
    "how", ["save_weights", "save_weights_notop", "save"], ids=["weights", "notop", "model"]
)
def test_keras2_h5_files_of_tf_keras(tmp_path, how):
    # Files written by Keras 2 itself: keras.applications' ResNet-50 in tf_keras
    # has the layer names of this package's resnet50.
    tf_keras = pytest.importorskip("tf_keras")
    top = how != "save_weights_notop"
    theirs = tf_keras.applications.ResNet50(
        weights=None, include_top=top, classes=10, input_shape=(SIZE, SIZE, 3)
    )
    randomize_weights(theirs, np.random.default_rng(1))
    path = str(tmp_path / "r50.h5")
    (theirs.save if how == "save" else theirs.save_weights)(path)
    source = _layer_arrays(theirs)
    model = _fresh_classifier("resnet50")
    note = load_weights_file(model, path, new_head=True)
    _assert_backbone_is(model, source)
    assert model.get_layer(HEAD).get_weights()[0].shape == (2048, 2)
    assert note.startswith("loaded the backbone of r50.h5; new 2-class classifier")


class _WeightsAtStart(keras.callbacks.Callback):
    """Keeps the model's arrays as training starts (after building and loading)."""

    def on_train_begin(self, logs=None):
        self.arrays = _layer_arrays(self.model)


def _train(argv, capsys):
    """Runs ``keras-resnet train`` in this process; returns (arrays at start, stdout)."""
    start = _WeightsAtStart()
    assert train.run(cli.build_parser().parse_args(argv), callbacks=[start]) == 0
    return start.arrays, capsys.readouterr().out


def _train_argv(model, weights, data, run_dir):
    return [
        "train", "--model", model, "--weights", str(weights), "--data", str(data),
        "--epochs", "1", "--image-size", str(SIZE), "--run-dir", str(run_dir), "--verbose", "0",
    ]


def _error_line(capsys, argv):
    status = cli.main(argv)
    err = capsys.readouterr().err.strip()
    assert status == 2 and len(err.splitlines()) == 1, err
    return err


@requires_tensorflow
@pytest.mark.slow
def test_train_from_a_headless_safetensors_then_evaluate_and_predict(
    resnet18_files, two_class_folder, tmp_path, capsys
):
    source, files = resnet18_files
    run_dir = tmp_path / "run"
    arrays, out = _train(
        _train_argv("resnet18", files["safetensors", False], two_class_folder, run_dir), capsys
    )
    notes = [line for line in out.splitlines() if "r18-notop.safetensors" in line]
    assert notes == [
        "train: loaded the backbone of r18-notop.safetensors; new 2-class classifier "
        "(the file has none)"
    ], out
    for name in source:
        if name != HEAD:
            for got, want in zip(arrays[name], source[name]):
                np.testing.assert_array_equal(got, want, err_msg=name)
    assert arrays[HEAD][0].shape == (512, 2)
    log = training.read_log(str(run_dir / "log.csv"))
    assert len(log) == 1 and np.isfinite(float(log[0]["loss"]))
    assert json.loads((run_dir / "run.json").read_text())["classes"] == 2

    # The fine-tuned file outside its run directory: --model NAME --weights FILE.
    tuned = tmp_path / "tuned.weights.h5"
    tuned.write_bytes((run_dir / "final.weights.h5").read_bytes())
    given = ["--model", "resnet18", "--weights", str(tuned), "--image-size", str(SIZE)]
    assert cli.main(["evaluate", *given, "--data", str(two_class_folder)]) == 0
    assert "(12 images, tuned.weights.h5)" in capsys.readouterr().out
    image = str(two_class_folder / "day" / "0.png")
    assert cli.main(["predict", *given, image]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0] == image and sorted(row.split()[1] for row in rows[1:]) == ["0", "1"]

    # The files themselves have no 2-class classifier: one line each.
    for top, words in ((False, "has no classifier"), (True, "classifier is for 10 classes")):
        path = files["safetensors", top]
        argv = ["evaluate", "--model", "resnet18", "--weights", path,
                "--data", str(two_class_folder), "--image-size", str(SIZE)]
        err = _error_line(capsys, argv)
        assert path in err and words in err and "keras-resnet train" in err


@requires_tensorflow
@pytest.mark.slow
def test_train_from_a_keras2_h5_with_a_10_class_top(two_class_folder, tmp_path, capsys):
    tf_keras = pytest.importorskip("tf_keras")
    theirs = tf_keras.applications.ResNet50(
        weights=None, classes=10, input_shape=(SIZE, SIZE, 3)
    )
    randomize_weights(theirs, np.random.default_rng(2))
    path = tmp_path / "r50.h5"
    theirs.save_weights(str(path))
    source = _layer_arrays(theirs)
    arrays, out = _train(
        _train_argv("resnet50", path, two_class_folder, tmp_path / "run"), capsys
    )
    assert (
        "train: loaded the backbone of r50.h5; new 2-class classifier "
        "(the file's is for 10 classes)"
    ) in out.splitlines(), out
    for name in source:
        if name != HEAD:
            for got, want in zip(arrays[name], source[name]):
                np.testing.assert_array_equal(got, want, err_msg=name)
    assert arrays[HEAD][0].shape == (2048, 2)
    assert len(training.read_log(str(tmp_path / "run" / "log.csv"))) == 1


def test_a_file_for_another_backbone_is_one_line(resnet18_files, two_class_folder, tmp_path,
                                                 capsys):
    _, files = resnet18_files
    path = files["pth", True]
    err = _error_line(
        capsys, _train_argv("resnet34", path, two_class_folder, tmp_path / "run")
    )
    assert err.startswith("keras-resnet train: error: ")
    assert path in err and "does not fit model 'resnet34'" in err


def test_a_missing_weights_file_is_one_line(two_class_folder, tmp_path, capsys):
    missing = tmp_path / "nowhere.pth"
    err = _error_line(capsys, _train_argv("resnet18", missing, two_class_folder, tmp_path / "r"))
    assert f"--weights: no file at {missing}" in err


# torch is made unimportable in the child: the package reads .pth files itself.
_NO_TORCH = textwrap.dedent("""
    import sys

    class NoTorch:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("torch", "torchvision", "timm"):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)

    sys.meta_path.insert(0, NoTorch())
""")

_CHILD = textwrap.dedent("""
    import shutil, sys
    from keras_resnet import cli

    pth, data, run_dir, tuned = sys.argv[1:]
    assert cli.main(["train", "--model", "resnet18", "--weights", pth, "--data", data,
                     "--epochs", "1", "--image-size", "32", "--run-dir", run_dir,
                     "--verbose", "0"]) == 0
    shutil.copy(run_dir + "/final.weights.h5", tuned)
    assert cli.main(["predict", "--model", "resnet18", "--weights", tuned,
                     "--image-size", "32", data + "/night/0.png"]) == 0
    print("torch imported:", "torch" in sys.modules)
""")


@requires_tensorflow
@pytest.mark.slow
def test_a_pth_file_fine_tunes_without_torch(resnet18_files, two_class_folder, tmp_path):
    _, files = resnet18_files
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(_NO_TORCH)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(tmp_path / "site"), *filter(None, [os.environ.get("PYTHONPATH")])]
    ), KERAS_BACKEND="tensorflow")
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, files["pth", True], str(two_class_folder),
         str(tmp_path / "run"), str(tmp_path / "tuned.weights.h5")],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert (
        "train: loaded the backbone of r18.pth; new 2-class classifier "
        "(the file's is for 10 classes)"
    ) in lines, result.stdout
    assert "torch imported: False" in lines
    assert f"{two_class_folder}/night/0.png" in lines

"""``keras-resnet predict``: each result belongs to its file; bad files and weights said in one line.

Most tests need no training: a "brightness" model (global average pooling,
then a fixed 2-way softmax) stands in for the run's architecture, so the
right answer for every image is known in closed form. Its weights travel
through a real weights file, so they are loaded the way a run's are.
"""

import json
import math
import os

import keras
import numpy as np
import pytest

from keras_resnet import cli, training
from test_data import non_utf8_path, write_png_with_bad_crc

# Nothing here needs the TensorFlow backend: CI reruns it under JAX.
pytestmark = pytest.mark.backend_agnostic

CLASS_NAMES = ["bright", "dark"]
IMAGE_SIZE = 8
# logits = (3m, -3m) for an image of mean preprocessed value m (3 channels).
_KERNEL = np.array([[1.0, -1.0]] * 3, dtype="float32")


def brightness_model(
    name="brightness", *, classes=2, image_size=IMAGE_SIZE, weights=None, input_preprocessing=None
):
    """Stands in for ``training.build_model``: class 0 ("bright") for bright images.

    With ``input_preprocessing`` it takes uint8 images through the package's
    own first layer, as ``build_model`` does.
    """
    from keras_resnet.data import device

    if input_preprocessing is None:
        inputs = x = keras.Input((image_size, image_size, 3))
    else:
        inputs = keras.Input((image_size, image_size, 3), dtype="uint8")
        x = device.InputPreprocessing(**{"mode": "tf", **input_preprocessing})(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = keras.layers.Dense(classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)


def expected_top(gray):
    """(class name, score) the brightness model gives a uniform image of ``gray``.

    The "tf" preprocessing maps ``gray`` to ``m = gray / 127.5 - 1``; the
    softmax of (3m, -3m) gives "bright" ``1 / (1 + exp(-6m))``.
    """
    bright = 1.0 / (1.0 + math.exp(-6.0 * (gray / 127.5 - 1.0)))
    return ("bright", bright) if bright >= 0.5 else ("dark", 1.0 - bright)


def write_gray(path, gray, size=(12, 10)):
    from PIL import Image

    Image.fromarray(np.full((*size, 3), gray, np.uint8)).save(path, format="PNG")
    return str(path)


def make_brightness_run(root, monkeypatch):
    """A run directory of the brightness model under ``root``: run.json and best.weights.h5.

    ``training.build_model`` builds the brightness model for the test's duration.
    """
    monkeypatch.setattr(training, "build_model", brightness_model)
    run_dir = root / "run"
    run_dir.mkdir()
    config = {
        "model": "brightness", "classes": 2, "class_names": CLASS_NAMES,
        "image_size": IMAGE_SIZE, "preprocessing": "tf", "augmentation": "cifar",
        "data": str(root / "data"), "seed": 0,
    }
    (run_dir / "run.json").write_text(json.dumps(config))
    model = brightness_model()
    model.get_layer("predictions").set_weights([_KERNEL, np.zeros(2, "float32")])
    model.save_weights(run_dir / "best.weights.h5")
    return run_dir


@pytest.fixture
def brightness_run(tmp_path, monkeypatch):
    return make_brightness_run(tmp_path, monkeypatch)


def blocks(output):
    """``[(header line, [(class, score), ...]), ...]`` of predict's output."""
    result = []
    for line in output.splitlines():
        if line.startswith("  "):
            _, name, score = line.split()
            result[-1][1].append((name, float(score)))
        else:
            result.append((line, []))
    return result


def error_line(capsys, argv):
    """Runs the CLI, expecting exit status 2 and exactly one line on stderr."""
    status = cli.main(argv)
    err = capsys.readouterr().err.strip()
    assert status == 2, err
    assert len(err.splitlines()) == 1, err
    return err


def test_each_prediction_belongs_to_its_file(brightness_run, tmp_path, capsys):
    # The unreadable file comes first: TensorFlow dropping it used to give
    # every later file the prediction of the next one.
    bad = write_png_with_bad_crc(str(tmp_path / "bad.png"), gray=250)
    grays = [30, 200, 90, 250]
    files = [write_gray(tmp_path / f"{i}.png", g) for i, g in enumerate(grays)]
    assert cli.main(["predict", "--run-dir", str(brightness_run), bad, *files]) == 0
    out = blocks(capsys.readouterr().out)
    assert [header for header, _ in out[1:]] == files
    assert out[0][0].startswith(f"skipped unreadable image {bad}: ")
    assert out[0][1] == []
    for (path, rows), gray in zip(out[1:], grays):
        name, score = expected_top(gray)
        assert rows[0][0] == name, path
        assert rows[0][1] == pytest.approx(score, abs=6e-5), path
        assert [n for n, _ in rows] == [name] + [n for n in CLASS_NAMES if n != name]


def test_file_names_that_are_not_utf8(brightness_run, tmp_path, capsys):
    odd = non_utf8_path(tmp_path)
    write_gray(odd, 220)
    odd_bad = non_utf8_path(tmp_path, b"\xfe\xff.png")
    write_png_with_bad_crc(odd_bad)
    plain = write_gray(tmp_path / "plain.png", 20)
    assert cli.main(["predict", "--run-dir", str(brightness_run), odd_bad, odd, plain]) == 0
    out = blocks(capsys.readouterr().out)
    # Names that are not UTF-8 are shown as the repr of their bytes.
    assert out[0][0].startswith(f"skipped unreadable image {os.fsencode(odd_bad)!r}: ")
    assert [header for header, _ in out[1:]] == [repr(os.fsencode(odd)), plain]
    assert out[1][1][0] == ("bright", pytest.approx(expected_top(220)[1], abs=6e-5))
    assert out[2][1][0] == ("dark", pytest.approx(expected_top(20)[1], abs=6e-5))


def test_only_unreadable_images_is_one_line(brightness_run, tmp_path, capsys):
    bad = write_png_with_bad_crc(str(tmp_path / "bad.png"))
    err = error_line(capsys, ["predict", "--run-dir", str(brightness_run), bad])
    assert "no readable image" in err


def _text_file(run_dir):
    path = run_dir / "notes.txt"
    path.write_text("these are not weights\n")
    return path, "is not a weight file"


def _truncated_file(run_dir):
    good = (run_dir / "best.weights.h5").read_bytes()
    path = run_dir / "truncated.weights.h5"
    path.write_bytes(good[: len(good) // 2])
    return path, "truncated or corrupt"


def _other_architecture(run_dir):
    # Same layer names, another width: a 5-class head.
    path = run_dir / "five.weights.h5"
    brightness_model(classes=5).save_weights(path)
    return path, "does not fit"


@pytest.mark.parametrize("make", [_text_file, _truncated_file, _other_architecture])
def test_a_wrong_weights_file_is_one_line(brightness_run, tmp_path, capsys, make):
    weights, message = make(brightness_run)
    image = write_gray(tmp_path / "x.png", 100)
    # The run directory is found from the weights file's folder.
    err = error_line(capsys, ["predict", "--weights", str(weights), image])
    assert err.startswith("keras-resnet predict: error: ")
    assert str(weights) in err and message in err


@pytest.mark.slow
def test_weights_of_another_real_architecture_is_one_line(tmp_path, capsys):
    # The same check with the package's own models: a resnet20 file given to
    # a small-resnet run.
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    config = {
        "model": "small-resnet", "classes": 2, "class_names": CLASS_NAMES, "image_size": 16,
        "preprocessing": "tf", "augmentation": "cifar",
    }
    (run_dir / "run.json").write_text(json.dumps(config))
    weights = run_dir / "resnet20.weights.h5"
    training.build_model("resnet20", classes=2, image_size=16).save_weights(weights)
    image = write_gray(tmp_path / "x.png", 100)
    err = error_line(capsys, ["predict", "--weights", str(weights), image])
    assert str(weights) in err and "does not fit model" in err


def _catalogue_file(tmp_path, *, classes, include_top=True):
    """A resnet20 (catalogued, tiny) weights file with random weights, and its model."""
    from conftest import randomize_weights

    model = training.build_model("resnet20", classes=classes, image_size=16)
    if not include_top:
        model = keras.Model(model.inputs, model.get_layer("avg_pool").output)
    randomize_weights(model, np.random.default_rng(classes))
    path = tmp_path / f"resnet20-{classes if include_top else 'notop'}.weights.h5"
    model.save_weights(path)
    return path, model


def test_model_and_a_weights_file_classify_into_the_files_classes(tmp_path, capsys):
    # A 3-class file outside any run directory: its classes are shown by index,
    # with the scores of the same network built and loaded by Keras itself.
    from keras_resnet import data

    path, _ = _catalogue_file(tmp_path, classes=3)
    images = [write_gray(tmp_path / f"{g}.png", g, size=(16, 16)) for g in (40, 220)]
    argv = ["predict", "--model", "resnet20", "--weights", str(path), "--image-size", "16"]
    assert cli.main(argv + images) == 0
    out = blocks(capsys.readouterr().out)
    reference = training.build_model(
        "resnet20", classes=3, image_size=16,
        input_preprocessing={"mode": training.preprocessing_mode("resnet20")},
    )
    reference.load_weights(path)
    batch = next(iter(data.make_dataset(
        images, None, transform=data.eval_transform("imagenet", image_size=16), batch_size=2
    ).as_numpy_iterator()))
    expected = np.asarray(reference.predict_on_batch(batch))
    for (header, rows), probs in zip(out, expected):
        assert sorted(name for name, _ in rows) == ["0", "1", "2"], header
        order = np.argsort(-probs)
        assert [name for name, _ in rows] == [str(i) for i in order]
        np.testing.assert_allclose([s for _, s in rows], probs[order], atol=6e-5)


def test_model_and_a_file_without_classifier_is_one_line(tmp_path, capsys):
    path, _ = _catalogue_file(tmp_path, classes=3, include_top=False)
    image = write_gray(tmp_path / "x.png", 100)
    err = error_line(capsys, ["predict", "--model", "resnet20", "--weights", str(path), image])
    assert str(path) in err and "has no classifier" in err and "keras-resnet train" in err

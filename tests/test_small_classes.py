"""Classes too small to hold out a validation image: refused, or named, never a Keras warning.

An image folder without a validation split gives a tenth of each class (at
least one image) to validation, and only from classes of 2 or more images: a
class's single image is its training set. When no class can give an image
there is no validation split at all, and ``train`` refuses in one line before
it writes anything; when only some classes cannot, it trains and names them.
Either way Keras never gets an empty validation set (which it answers with
"Your input ran out of data" and an epoch without ``val_*`` scores).
"""

import os
import warnings

import numpy as np
import pytest
from PIL import Image

from keras_resnet import cli
from keras_resnet.training import inputs

pytestmark = pytest.mark.backend_agnostic

# Keras's words when a dataset gives fewer batches than it expects.
_KERAS_WARNING = "ran out of data"


def image_folder(root, sizes, seed=0):
    """A class-per-folder dataset of random-noise PNGs: ``sizes`` maps class -> images."""
    rng = np.random.default_rng(seed)
    for name, count in sizes.items():
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(count):
            pixels = rng.integers(0, 256, (36, 44, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f"{i}.png")
    return root


def _train(data, run_dir, *extra):
    return cli.main([
        "train", "--data", str(data), "--model", "small-resnet", "--epochs", "1",
        "--run-dir", str(run_dir), "--verbose", "2", *extra,
    ])


def _run(capsys, function, *args):
    """``function(*args)``'s status, stdout and stderr, with the warnings it raised for
    the user (whatever filters or capture were active) as text in stderr.

    Deprecation warnings, which Python hides from users by default, are left out.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", DeprecationWarning)
        status = function(*args)
    captured = capsys.readouterr()
    raised = "".join(f"warning: {w.message}\n" for w in caught)
    return status, captured.out, captured.err + raised


def _assert_no_keras_warning(out, err):
    assert _KERAS_WARNING not in out + err, out + err
    assert "Learning rate reduction is conditioned on metric `val_loss`" not in out + err


@pytest.mark.parametrize("layout", ["flat", "train-subfolder"])
def test_classes_of_one_image_each_are_refused_in_one_line_and_nothing_is_written(
    tmp_path, capsys, layout
):
    sizes = {"cat": 1, "dog": 1, "fox": 1, "owl": 1}
    root = tmp_path / "photos"
    image_folder(root / "train" if layout == "train-subfolder" else root, sizes)
    run_dir = tmp_path / "run"

    status, out, err = _run(capsys, _train, root, run_dir)

    assert status == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("keras-resnet train: error: no validation split can be made")
    # What to do: another folder, a val/ sub-folder, or more images per class.
    assert "--val-data DIR" in lines[0] and "val/ sub-folder" in lines[0], lines[0]
    assert "2 or more images" in lines[0] and str(root) in lines[0], lines[0]
    assert "Epoch" not in out and "Traceback" not in err
    _assert_no_keras_warning(out, err)
    assert not run_dir.exists()

    # Nothing was trained: evaluate and predict with their defaults say so in one line.
    image = str(next((root / "train" if layout == "train-subfolder" else root).glob("*/0.png")))
    for argv in (["evaluate", "--run-dir", str(run_dir)],
                 ["predict", "--run-dir", str(run_dir), image]):
        status, out, err = _run(capsys, cli.main, argv)
        assert status != 0 and len(err.strip().splitlines()) == 1, (argv, err)
        assert "Traceback" not in err


def test_the_refusals_advice_works_val_data_trains_and_the_defaults_then_work(
    tmp_path, capsys
):
    sizes = {"cat": 1, "dog": 1, "fox": 1, "owl": 1}
    root = image_folder(tmp_path / "photos", sizes)
    held = image_folder(tmp_path / "held", sizes, seed=1)
    run_dir = tmp_path / "run"

    status, out, err = _run(capsys, _train, root, run_dir, "--val-data", str(held))

    assert status == 0, err
    assert "4 training images, 4 classes" in out, out  # none held out of photos
    _assert_no_keras_warning(out, err)
    assert (run_dir / "best.weights.h5").exists() and (run_dir / "final.weights.h5").exists()
    status, out, err = _run(capsys, cli.main, ["evaluate", "--run-dir", str(run_dir)])
    assert status == 0 and "(4 images, best.weights.h5)" in out, out + err
    status, out, err = _run(
        capsys, cli.main, ["predict", "--run-dir", str(run_dir), str(held / "owl" / "0.png")]
    )
    assert status == 0, err
    assert set(sizes) & set(out.split()), out  # a class of the run is named


def test_the_held_out_tenth_comes_from_classes_of_two_or_more_images(tmp_path):
    sizes = {"ant": 1, "bee": 2, "cat": 10, "dog": 24, "eel": 1}
    root = image_folder(tmp_path / "photos", sizes)

    splits = inputs.load_splits(str(root), verify=False)

    names = splits["class_names"]
    held = {name: 0 for name in sizes}
    for label in splits["val"].labels:
        held[names[label]] += 1
    # A tenth of each class rounded, at least one, never a class's only image.
    assert held == {"ant": 0, "bee": 1, "cat": 1, "dog": 2, "eel": 0}
    assert splits["val"].count == 4 and splits["train"].count == sum(sizes.values()) - 4
    assert splits["val"].missing_classes == ["ant", "eel"]
    assert splits["train"].missing_classes == []
    note = inputs.missing_classes_note(splits["val"])
    assert "'ant', 'eel'" in note and not any(f"'{name}'" in note for name in ("bee", "cat", "dog"))
    assert "\n" not in note


def test_only_some_classes_too_small_trains_names_them_and_the_defaults_work(
    tmp_path, capsys
):
    sizes = {"lonely": 1, "many": 8, "more": 8}
    root = image_folder(tmp_path / "photos", sizes)
    run_dir = tmp_path / "run"

    status, out, err = _run(capsys, _train, root, run_dir)

    assert status == 0, err
    _assert_no_keras_warning(out, err)
    notes = [line for line in out.splitlines() if "no validation image" in line]
    assert len(notes) == 1, out
    assert "'lonely'" in notes[0] and "'many'" not in notes[0] and "'more'" not in notes[0]
    assert "--val-data DIR" in notes[0], notes[0]
    # One image of each class of 8 validates: 15 train.
    assert "15 training images, 3 classes" in out, out
    assert (run_dir / "best.weights.h5").exists() and (run_dir / "final.weights.h5").exists()

    status, out, err = _run(capsys, cli.main, ["evaluate", "--run-dir", str(run_dir)])
    assert status == 0 and "(2 images, best.weights.h5)" in out, out + err
    _assert_no_keras_warning(out, err)
    status, out, err = _run(
        capsys, cli.main, ["predict", "--run-dir", str(run_dir), str(root / "lonely" / "0.png")]
    )
    assert status == 0, err
    assert set(sizes) & set(out.split()), out


def test_a_val_data_folder_with_classes_of_one_image_validates_on_all_of_them(tmp_path):
    # --val-data is the validation set as it is: nothing of it is held out again,
    # even beside prepared training data.
    from keras_resnet import data

    source = image_folder(tmp_path / "src", {"a": 8, "b": 8})
    data.prepare_shards(source, tmp_path / "shards", images_per_shard=4, progress=lambda *a: None)
    held = image_folder(tmp_path / "held", {"a": 1, "b": 3}, seed=1)

    for root in (source, tmp_path / "shards"):
        splits = inputs.load_splits(str(root), val_data=str(held), verify=False)
        val = splits["val"]
        assert val.count == 4, root
        assert sorted(os.path.relpath(p, held) for p in val.images) == [
            os.path.join("a", "0.png"), *(os.path.join("b", f"{i}.png") for i in range(3))
        ]
        names = splits["class_names"]
        assert [names[label] for label in val.labels] == ["a", "b", "b", "b"]

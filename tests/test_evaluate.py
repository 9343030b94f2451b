"""``keras-resnet evaluate``: skipped files reported, odd names read, bad input said in one line.

Uses the brightness model of test_predict (no training): bright images are
class "bright", dark ones "dark", so a correctly labelled folder scores 1.0.
"""

import json
import re

import pytest

from keras_resnet import cli
from test_data import non_utf8_path, write_png_with_bad_crc
from test_predict import error_line, make_brightness_run, write_gray


# Nothing here needs the TensorFlow backend: CI reruns it under JAX.
pytestmark = pytest.mark.backend_agnostic


@pytest.fixture
def brightness_run(tmp_path, monkeypatch):
    return make_brightness_run(tmp_path, monkeypatch)


def _folder(root, bright=(200, 230), dark=(20, 50)):
    for name, grays in (("bright", bright), ("dark", dark)):
        (root / name).mkdir(parents=True)
        for i, gray in enumerate(grays):
            write_gray(root / name / f"{i}.png", gray)
    return root


def _evaluate(run_dir, folder, capsys):
    assert cli.main(["evaluate", "--run-dir", str(run_dir), "--data", str(folder)]) == 0
    return capsys.readouterr().out


def test_skipped_files_are_named_and_counted(brightness_run, tmp_path, capsys):
    folder = _folder(tmp_path / "data")
    # Sorted first in its class, and dark: dropped by the pipeline it used to
    # go unnoticed; counted it would be an error.
    bad = write_png_with_bad_crc(str(folder / "bright" / "00.png"), gray=10)
    out = _evaluate(brightness_run, folder, capsys)
    assert f"skipped unreadable image {bad}: " in out
    assert "1 of 5 files skipped as unreadable" in out
    assert re.search(r"centre top-1 accuracy: 1\.0000 .*\(4 images, best.weights.h5\)", out), out


def test_file_names_that_are_not_utf8(brightness_run, tmp_path, capsys):
    folder = _folder(tmp_path / "data")
    write_gray(non_utf8_path(folder / "dark"), 5)
    odd_bad = non_utf8_path(folder / "bright", b"\xfe\xff.png")
    write_png_with_bad_crc(odd_bad, gray=5)
    out = _evaluate(brightness_run, folder, capsys)
    assert f"skipped unreadable image {odd_bad.encode('utf-8', 'surrogateescape')!r}: " in out
    assert re.search(r"accuracy: 1\.0000 .*\(5 images, ", out), out


def test_single_class_is_one_line(brightness_run, tmp_path, capsys):
    config = json.loads((brightness_run / "run.json").read_text())
    config.update(classes=1, class_names=["bright"])
    (brightness_run / "run.json").write_text(json.dumps(config))
    folder = _folder(tmp_path / "data")
    err = error_line(capsys, ["evaluate", "--run-dir", str(brightness_run), "--data", str(folder)])
    assert "at least 2 classes" in err and str(folder) in err


def test_a_wrong_weights_file_is_one_line(brightness_run, tmp_path, capsys):
    folder = _folder(tmp_path / "data")
    notes = brightness_run / "notes.txt"
    notes.write_text("not weights")
    err = error_line(
        capsys,
        ["evaluate", "--run-dir", str(brightness_run), "--data", str(folder), "--weights", str(notes)],
    )
    assert err.startswith("keras-resnet evaluate: error: ") and "is not a weight file" in err


def _run_data(brightness_run, folder):
    """Points the run's run.json at ``folder``, as train records its --data."""
    config = json.loads((brightness_run / "run.json").read_text())
    config["data"] = str(folder)
    (brightness_run / "run.json").write_text(json.dumps(config))


def test_without_data_the_runs_validation_folder_is_evaluated(brightness_run, tmp_path, capsys):
    # train/ and val/: the run was validated on val/ (3 images), never on train/ (4).
    root = tmp_path / "photos"
    _folder(root / "train", bright=(200, 220), dark=(20, 40))
    _folder(root / "val", bright=(210, 230), dark=(30,))
    _run_data(brightness_run, root)
    assert cli.main(["evaluate", "--run-dir", str(brightness_run)]) == 0
    out = capsys.readouterr().out
    assert f"the run's data, {root}: its val/ folder" in out
    assert re.search(r"accuracy: 1\.0000 .*\(3 images, best.weights.h5\)", out), out


def test_without_data_a_runs_val_data_folder_is_evaluated(brightness_run, tmp_path, capsys):
    # A run trained with --val-data records it: evaluate validates there (2
    # images), not on a tenth of the training folder it trained on.
    photos, held = _folder(tmp_path / "photos"), _folder(tmp_path / "held", dark=(35,))
    config = json.loads((brightness_run / "run.json").read_text())
    config.update(data=str(photos), val_data=str(held))
    (brightness_run / "run.json").write_text(json.dumps(config))
    assert cli.main(["evaluate", "--run-dir", str(brightness_run)]) == 0
    out = capsys.readouterr().out
    assert f"the --val-data folder {held}" in out
    assert re.search(r"accuracy: 1\.0000 .*\(3 images, best.weights.h5\)", out), out


def test_a_runs_data_folder_that_is_gone_is_one_line(brightness_run, tmp_path, capsys):
    _run_data(brightness_run, tmp_path / "moved")
    err = error_line(capsys, ["evaluate", "--run-dir", str(brightness_run)])
    assert str(tmp_path / "moved") in err and "give --data" in err


def _shards_without_val(tmp_path):
    """Six gray images as three shards of two, no val split: training held out the last."""
    from keras_resnet import data

    source = _folder(tmp_path / "src", bright=(200, 215, 230), dark=(20, 35, 50))
    prepared = tmp_path / "shards"
    data.prepare_shards(source, prepared, images_per_shard=2, progress=lambda *a: None)
    index = json.loads((prepared / "index.json").read_text())
    assert list(index["splits"]) == ["train"]
    return prepared, int(index["splits"]["train"]["shards"][-1]["records"])


@pytest.mark.parametrize("give_data", [False, True])
def test_shards_without_a_val_split_evaluate_the_held_out_shards(
    brightness_run, tmp_path, capsys, give_data
):
    prepared, held_out = _shards_without_val(tmp_path)
    _run_data(brightness_run, prepared)
    argv = ["evaluate", "--run-dir", str(brightness_run)]
    assert cli.main(argv + (["--data", str(prepared)] if give_data else [])) == 0
    out = capsys.readouterr().out
    assert re.search(rf"accuracy: 1\.0000 .*\({held_out} images, best.weights.h5\)", out), out
    if not give_data:
        assert "the shards the run held out for validation" in out
    # A split named on the command line is still the one evaluated.
    assert cli.main(argv + ["--split", "train"]) == 0
    assert "(6 images, best.weights.h5)" in capsys.readouterr().out


def test_the_models_input_is_one_tensor_not_a_list_of_one():
    # A list of one made Keras warn "The structure of `inputs` doesn't match
    # the expected structure" at every call on the PyTorch backend.
    import warnings

    import numpy as np

    from keras_resnet.training import classifier

    model = classifier.build_model(
        "resnet20", classes=2, image_size=16, input_preprocessing={"mode": "tf"}
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model(np.zeros((1, 16, 16, 3), "uint8"))
    assert not [w for w in caught if "structure" in str(w.message)], caught

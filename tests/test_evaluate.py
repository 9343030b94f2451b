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

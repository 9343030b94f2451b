"""Bad values refused in one line before anything runs, and files made readable.

Each case was a raw traceback, a silently wrong answer or a long wait before
it failed; each is now one line naming the argument and what was received.
"""

import os
import stat
import subprocess
import sys
import time

import numpy as np
import pytest

from keras_resnet import decode_predictions, preprocess_input
from keras_resnet.cli.main import main as cli_main
from keras_resnet.training import recipes


def _one_error_line(capsys, argv, status=2):
    assert cli_main(argv) == status
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    return lines[0]


@pytest.mark.parametrize("top", [0, -1, -5, 1001, 2.0, True, "5"])
def test_decode_predictions_refuses_a_top_outside_1_to_1000(top):
    with pytest.raises(ValueError, match=r"`top` should be an integer from 1 to 1000\. Received"):
        decode_predictions(np.ones((1, 1000)) / 1000, top=top)


def test_decode_predictions_top_is_the_number_of_classes_returned():
    preds = np.random.default_rng(0).random((2, 1000))
    for top in (1, 7, 1000):
        decoded = decode_predictions(preds, top=top)
        assert [len(d) for d in decoded] == [top, top]
        # Highest first, as NumPy's own ordering says.
        assert decoded[0][0][2] == pytest.approx(preds[0].max())


@pytest.mark.parametrize(
    "x, expected",
    [
        (np.zeros((2, 8, 8, 2)), r"shape \(\.\.\., height, width, 3\).*x\.shape=\(2, 8, 8, 2\)"),
        (np.zeros((8, 8, 4)), r"x\.shape=\(8, 8, 4\)"),
        (np.zeros((8, 8)), r"x\.shape=\(8, 8\)"),
        ("photo.jpg", r"NumPy array or a tensor.*Received: x of type str"),
        (np.full((4, 4, 3), "a"), r"pixel values \(numbers\).*dtype <U1"),
    ],
)
def test_preprocess_input_names_the_expected_shape(x, expected):
    for mode in ("caffe", "tf", "torch"):
        with pytest.raises(ValueError, match=expected):
            preprocess_input(x, mode=mode)


def test_preprocess_input_channels_first_checks_the_channel_axis():
    with pytest.raises(ValueError, match=r"\(\.\.\., 3, height, width\)"):
        preprocess_input(np.zeros((1, 8, 8, 3)), data_format="channels_first", mode="tf")
    # The same values laid out channels-first give the channels-last result.
    x = np.random.default_rng(0).uniform(0, 255, (2, 5, 6, 3))
    last = preprocess_input(x, data_format="channels_last", mode="torch")
    first = preprocess_input(x.transpose(0, 3, 1, 2), data_format="channels_first", mode="torch")
    np.testing.assert_allclose(first.transpose(0, 2, 3, 1), last, rtol=1e-6)


def test_train_refuses_an_image_size_it_cannot_build_within_seconds(tmp_path, capsys):
    started = time.monotonic()
    line = _one_error_line(
        capsys, ["train", "--image-size", "100000", "--run-dir", str(tmp_path / "run")]
    )
    assert time.monotonic() - started < 30
    assert "--image-size" in line and "at most 4096" in line and "100000" in line, line
    assert not (tmp_path / "run").exists()


def test_recipes_take_the_largest_image_size_and_refuse_one_more():
    recipe = recipes.get("digits")
    assert recipe.replace(image_size=recipes.MAX_IMAGE_SIZE).image_size == recipes.MAX_IMAGE_SIZE
    with pytest.raises(ValueError, match="at most 4096"):
        recipe.replace(image_size=recipes.MAX_IMAGE_SIZE + 1)


@pytest.mark.parametrize("where", ["file", "under_a_file", "unwritable"])
def test_train_refuses_a_run_dir_it_cannot_write(tmp_path, capsys, where):
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    run_dir = {
        "file": afile,
        "under_a_file": afile / "run",
        # /proc refuses new files even to root.
        "unwritable": "/proc/keras-resnet-run",
    }[where]
    line = _one_error_line(capsys, ["train", "--epochs", "1", "--run-dir", str(run_dir)])
    assert line.startswith(f"keras-resnet train: error: --run-dir {run_dir}: "), line
    assert afile.read_text() == "not a folder"


@pytest.mark.parametrize("seed", ["-5", str(2**32)])
def test_train_refuses_a_seed_outside_32_bits(capsys, seed):
    line = _one_error_line(capsys, ["train", "--seed", seed])
    assert f"--seed must be from 0 to 2**32 - 1. Received: {seed}" in line


def test_warmup_is_counted_in_epochs_up_to_the_runs_length(capsys):
    recipe = recipes.get("digits")
    assert recipe.replace(epochs=5, warmup_epochs=3).warmup_epochs == 3
    line = _one_error_line(capsys, ["train", "--epochs", "2", "--warmup-epochs", "3"])
    assert "--warmup-epochs" in line and "[0, epochs=2]" in line, line


@pytest.mark.parametrize("top", ["0", "-5"])
def test_predict_refuses_a_top_below_1(tmp_path, capsys, top):
    photo = tmp_path / "x.png"
    photo.write_bytes(b"")  # Refused before the file is read.
    line = _one_error_line(capsys, ["predict", "--top", top, "--run-dir", str(tmp_path), str(photo)])
    assert f"--top must be at least 1. Received: {top}" in line


@pytest.mark.parametrize("classes", ["0", "-3"])
def test_summary_refuses_a_classifier_without_classes(capsys, classes):
    line = _one_error_line(capsys, ["summary", "resnet18", "--classes", classes])
    assert f"--classes must be positive. Received: {classes}" in line


@pytest.mark.parametrize("where", ["missing_folder", "a_folder"])
def test_bench_checks_its_json_path_before_measuring(tmp_path, where):
    path = tmp_path / "missing" / "out.json" if where == "missing_folder" else tmp_path
    started = time.monotonic()
    # Importing TensorFlow (in this test process) sets TF_CPP_MIN_LOG_LEVEL,
    # which the child would take for the user's own choice.
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run(
        [sys.executable, "-m", "keras_resnet", "bench", "--quick", "--json", str(path)],
        capture_output=True, text=True, timeout=120, env=env,
    )
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr  # Not one "... measuring" line before it.
    line = lines[0]
    assert line.startswith(f"keras-resnet bench: error: --json {path}: "), line
    assert time.monotonic() - started < 60


def test_new_files_get_the_mode_the_umask_gives(tmp_path):
    from keras_resnet._files import create_temporary

    old = os.umask(0o027)
    try:
        path = create_temporary(str(tmp_path), ".part-", ".h5")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640  # 0666 less the umask, not 0600

"""The command line: help, one-line errors, train/evaluate/predict on an image folder."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from keras_resnet import cli
from conftest import requires_tensorflow


@pytest.mark.parametrize("command", ["train", "evaluate", "predict", "summary", "models", "bench"])
def test_help(command, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main([command, "--help"])
    assert e.value.code == 0
    assert "usage: keras-resnet " + command in capsys.readouterr().out


def _folder(root, classes=(("cat", 4), ("dog", 4)), size=(20, 24)):
    from PIL import Image

    rng = np.random.default_rng(0)
    for c, (name, n) in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(n):
            # Classes differ in brightness, so that a tiny run can learn them.
            pixels = rng.integers(0, 100, (*size, 3), dtype=np.uint8) + 150 * c
            Image.fromarray(pixels.astype(np.uint8)).save(root / name / f"{i}.png")
    return root


def _error_line(capsys, argv):
    status = cli.main(argv)
    err = capsys.readouterr().err.strip()
    assert status == 2
    assert len(err.splitlines()) == 1, err
    return err


def test_train_errors_are_one_clear_line(tmp_path, capsys):
    data = str(_folder(tmp_path / "data"))
    run = ["--run-dir", str(tmp_path / "run")]

    err = _error_line(capsys, ["train", "--model", "resnet51", "--data", data, *run])
    assert "unknown model 'resnet51'" in err and "resnet50" in err

    err = _error_line(capsys, ["train", "--data", str(tmp_path / "nowhere"), *run])
    assert err == f"keras-resnet train: error: data folder not found: {tmp_path / 'nowhere'}"

    (tmp_path / "data" / "bird").mkdir()
    err = _error_line(capsys, ["train", "--data", data, "--model", "small-resnet", *run])
    assert "Class folder 'bird' has no JPEG or PNG images" in err
    (tmp_path / "data" / "bird").rmdir()

    err = _error_line(
        capsys, ["train", "--data", data, "--model", "small-resnet", "--batch-size", "64", *run]
    )
    # 8 images, one per class held out for validation: 6 to train on.
    assert "--batch-size 64 is larger than the training set (6 images)" in err

    err = _error_line(capsys, ["train", "--epochs", "0", *run])
    assert "--epochs must be positive" in err
    assert not os.path.exists(tmp_path / "run")


@pytest.mark.parametrize(
    "option, value, field",
    [
        ("--lr", "-1", "base_lr"),
        ("--lr", "nan", "base_lr"),
        ("--lr", "inf", "base_lr"),
        ("--label-smoothing", "5", "label_smoothing"),
        ("--weight-decay", "-1", "weight_decay"),
        ("--warmup-epochs", "-3", "warmup_epochs"),
    ],
)
def test_bad_training_settings_are_refused_before_anything_is_written(
    tmp_path, capsys, option, value, field
):
    err = _error_line(capsys, ["train", option, value, "--run-dir", str(tmp_path / "run")])
    assert err.startswith(f"keras-resnet train: error: {option}: `{field}` should be a number")
    assert f"Received: {field}=" in err
    assert not os.path.exists(tmp_path / "run")


def test_unreachable_weights_are_one_line_not_a_traceback(tmp_path, capsys, monkeypatch):
    # An empty cache and a mirror nobody listens on: what a machine without network sees.
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setenv("KERAS_RESNET_WEIGHTS_URL", "http://127.0.0.1:9/")
    image = tmp_path / "x.png"
    _folder(tmp_path / "data", classes=(("a", 1),))
    os.replace(tmp_path / "data" / "a" / "0.png", image)
    status = cli.main(["predict", str(image), "--model", "resnet50", "--weights", "imagenet"])
    err = capsys.readouterr().err.strip()
    assert status == 1
    assert len(err.splitlines()) == 1 and "resnet50_weights_tf_dim_ordering" in err, err


def test_commands_print_no_backend_start_up_noise(tmp_path):
    # TensorFlow's native log lines ("Could not find cuda drivers", CPU
    # feature notes) are not about the user's command.
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run(
        [sys.executable, "-m", "keras_resnet", "summary", "resnet18", "--image-size", "32"],
        capture_output=True, text=True, env=env, cwd=tmp_path, check=True,
    )
    assert result.stderr == ""
    assert "Parameters:" in result.stdout


def test_evaluate_and_predict_errors(tmp_path, capsys):
    err = _error_line(capsys, ["evaluate", "--run-dir", str(tmp_path)])
    assert "no run.json" in err
    image = tmp_path / "x.png"
    err = _error_line(capsys, ["predict", str(image), "--run-dir", str(tmp_path)])
    assert "image not found" in err
    image.write_bytes(b"not an image")
    err = _error_line(capsys, ["predict", str(image), "--model", "resnet51"])
    assert "unknown model 'resnet51'" in err


@requires_tensorflow
@pytest.mark.slow
def test_train_evaluate_predict_on_an_image_folder(tmp_path, capsys):
    data = _folder(tmp_path / "data")
    (data / "dog" / "broken.png").write_bytes(b"\x89PNG broken")
    run_dir = tmp_path / "run"
    status = cli.main([
        "train", "--data", str(data), "--model", "small-resnet", "--recipe", "cifar",
        "--image-size", "16", "--epochs", "2", "--batch-size", "2", "--run-dir", str(run_dir),
        "--verbose", "2",
    ])
    out = capsys.readouterr().out
    assert status == 0
    assert f"skipped unreadable image {data / 'dog' / 'broken.png'}" in out
    assert json.load(open(run_dir / "classes.json")) == ["cat", "dog"]
    assert len([r for r in open(run_dir / "log.csv")]) == 3  # header + 2 epochs
    for name in ("best.weights.h5", "final.weights.h5", "curves.png", "run.json"):
        assert (run_dir / name).exists(), name

    assert cli.main(["evaluate", "--run-dir", str(run_dir), "--data", str(data)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"centre top-1 accuracy: [\d.]+ .*\(8 images, best.weights.h5\)", out)
    assert cli.main(["evaluate", "--run-dir", str(run_dir), "--data", str(data), "--ten-crop"]) == 0
    assert "10-crop top-1 accuracy" in capsys.readouterr().out

    images = [str(data / "cat" / "0.png"), str(data / "dog" / "0.png")]
    assert cli.main(["predict", "--weights", str(run_dir / "final.weights.h5"), *images]) == 0
    out = capsys.readouterr().out.splitlines()
    # Two classes: top-5 shows both, named from the run directory, best first.
    assert out[0] == images[0] and out[3] == images[1]
    for block in (out[1:3], out[4:6]):
        names = [line.split()[1] for line in block]
        scores = [float(line.split()[2]) for line in block]
        assert sorted(names) == ["cat", "dog"]
        assert scores == sorted(scores, reverse=True) and abs(sum(scores) - 1) < 1e-3


@requires_tensorflow
@pytest.mark.slow
def test_train_options_plateau_warmup_smoothing_mixed_precision(tmp_path, capsys):
    import keras

    data = _folder(tmp_path / "data")
    run_dir = tmp_path / "run"
    try:
        status = cli.main([
            "train", "--data", str(data), "--model", "small-resnet", "--recipe", "imagenet",
            "--image-size", "16", "--epochs", "2", "--batch-size", "2", "--run-dir", str(run_dir),
            "--schedule", "plateau", "--warmup-epochs", "1", "--label-smoothing", "0.1",
            "--mixed-precision", "--verbose", "0",
        ])
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert status == 0
    config = json.load(open(run_dir / "run.json"))
    # imagenet recipe: lr 0.1 x 2 / 256.
    assert config["learning_rate"] == pytest.approx(0.1 * 2 / 256)
    log = [line.split(",") for line in open(run_dir / "log.csv").read().split()]
    lr = [float(row[log[0].index("lr")]) for row in log[1:]]
    # 3 steps per epoch, warm-up over the first epoch's steps reaches the peak.
    # Under mixed_float16, loss scaling skips a step whose gradients overflow
    # (the first steps, now and then), and a skipped step does not advance the
    # schedule: the first epoch may end one or two warm-up values short.
    peak = 0.1 * 2 / 256
    assert any(lr[0] == pytest.approx(peak * k / 3, rel=1e-5) for k in (1, 2, 3)), lr
    assert lr[-1] == pytest.approx(peak, rel=1e-5)

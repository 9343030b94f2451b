"""What a run tells its user: the plan's offline note, the summary it ends with, a NaN stop.

The command-line runs train small-resnet at 32 px on a folder of 40 PNGs
written here (4 validation images: the small-validation line shows), a few
seconds an epoch. A NaN is injected by a callback that sets the weights to
NaN at the start of an epoch: the epoch before it is the last good one.
"""

import json
import math
import os
import re
import warnings

import h5py
import keras
import numpy as np
import pytest
from PIL import Image

from keras_resnet import cli, training
from keras_resnet.cli.commands import train
from keras_resnet.training import defaults, log, recipes
from conftest import requires_tensorflow


def _two_class_folder(root, per_class=20, size=32, seed=0):
    """Dark and bright noisy squares, ``per_class`` PNGs of each."""
    rng = np.random.default_rng(seed)
    for name, mean in (("dark", 60), ("bright", 190)):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            image = np.clip(rng.normal(mean, 30, (size, size, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(image).save(root / name / f"{i}.png")
    return root


def _argv(data, run_dir, *more):
    return [
        "train", "--data", str(data), "--model", "small-resnet", "--recipe", "small-data",
        "--weights", "none", "--image-size", "32", "--batch-size", "8", "--run-dir",
        str(run_dir), "--verbose", "2", *more,
    ]


def _json(path):
    with open(path) as f:
        return json.load(f)


def _h5_arrays(path):
    arrays = {}
    with h5py.File(path, "r") as f:
        f.visititems(
            lambda name, obj: arrays.__setitem__(name, obj[()])
            if isinstance(obj, h5py.Dataset) else None
        )
    return arrays


def _errors(err):
    return [line for line in err.splitlines() if line.startswith("keras-resnet train:")]


def _expected_best(rows):
    """The rule, written out: highest val_accuracy, then lowest val_loss, then earliest."""
    return min(
        rows, key=lambda r: (-float(r["val_accuracy"]), float(r["val_loss"]), int(r["epoch"]))
    )


def _scores(row):
    return (f"epoch {int(row['epoch'])}, validation accuracy {float(row['val_accuracy']):.4f}, "
            f"loss {float(row['val_loss']):.4f}")


def _assert_summary(lines, run_dir, head):
    """``lines`` are the summary of ``run_dir``: ``head``, then best, final and the note."""
    rows = training.read_log(os.path.join(run_dir, "log.csv"))
    best, final = _expected_best(rows), rows[-1]
    assert re.fullmatch(head, lines[0]), lines
    assert lines[1:] == [
        f"  best:  {_scores(best)} -> {os.path.join(run_dir, 'best.weights.h5')}",
        f"  final: {_scores(final)} -> {os.path.join(run_dir, 'final.weights.h5')}",
        ("  only 4 validation images, each 25.0% of the accuracy: for a surer best epoch, pass "
         "--val-data DIR or add a val/ sub-folder"),
    ]


# ---------------------------------------------------------------------------
# The best epoch: ties go to the lower validation loss
# ---------------------------------------------------------------------------


def test_best_epoch_breaks_accuracy_ties_by_validation_loss(tmp_path):
    # On 4 validation images accuracy takes 5 values: epochs 2, 3 and 4 tie.
    logs = [
        {"epoch": 1, "val_accuracy": 0.5, "val_loss": 0.60},
        {"epoch": 2, "val_accuracy": 0.75, "val_loss": 0.50},
        {"epoch": 3, "val_accuracy": 0.75, "val_loss": 0.40},  # the tie's lowest loss
        {"epoch": 4, "val_accuracy": 0.75, "val_loss": 0.45},
        {"epoch": 5, "val_accuracy": 0.75, "val_loss": 0.40},  # equal: the earlier stays
        {"epoch": 6, "val_accuracy": 0.5, "val_loss": 0.10},  # lower loss, lower accuracy
    ]
    best = training.BestWeights(str(tmp_path / "best.weights.h5"))
    for row in logs:
        checkpoint = tmp_path / f"epoch-{row['epoch']}.weights.h5"
        checkpoint.write_bytes(f"weights of epoch {row['epoch']}".encode())
        best.consider(row["epoch"], row, str(checkpoint))
    assert best.record() == {"epoch": 3, "val_accuracy": 0.75, "val_loss": 0.40}
    assert (tmp_path / "best.weights.h5").read_bytes() == b"weights of epoch 3"


def test_a_record_without_loss_is_beaten_only_by_higher_accuracy():
    # best.json of an older version holds no val_loss.
    old = {"epoch": 1, "val_accuracy": 0.75}
    assert not training.beats({"val_accuracy": 0.75, "val_loss": 0.1}, old)
    assert training.beats({"val_accuracy": 0.8, "val_loss": 9.0}, old)
    assert not training.beats({"val_accuracy": math.nan, "val_loss": 0.1}, None)


# ---------------------------------------------------------------------------
# The summary's parts
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("seconds, text", [(38.4, "38 s"), (249, "4 min 9 s"), (7500, "2 h 5 min")])
def test_duration(seconds, text):
    assert log.duration(seconds) == text


def test_small_validation_is_said_below_the_threshold_only():
    row = {"epoch": 1, "val_accuracy": 1.0, "val_loss": 0.1}
    small = log.summary_lines("head", final=("f", row), val_images=log.SMALL_VALIDATION - 1)
    enough = log.summary_lines("head", final=("f", row), val_images=log.SMALL_VALIDATION)
    assert len(small) == 3 and "--val-data DIR" in small[2] and "val/ sub-folder" in small[2]
    assert enough == ["head", "  final: epoch 1, validation accuracy 1.0000, loss 0.1000 -> f"]


# ---------------------------------------------------------------------------
# The offline fallback's note: two short lines that say how to have weights
# ---------------------------------------------------------------------------


def test_offline_note_is_two_short_lines_naming_weights_file_and_mirror(tmp_path, monkeypatch):
    # What the command line meets offline: the download's own message, some
    # 500 characters (nothing listens on port 9 of this machine).
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setenv("KERAS_RESNET_WEIGHTS_URL", "http://127.0.0.1:9/")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the plain-http warning
        problem = train._pretrained_problem("resnet50")
    assert len(problem) > 300 and "Connection refused" in problem
    plan = defaults.plan_folder_run(
        54, recipe_batch_size=lambda name: recipes.get(name).batch_size,
        pretrained_problem=lambda model: problem,
    )
    # The default for a small folder without weights is kept.
    assert (plan.model, plan.recipe, plan.weights, plan.batch_size) == (
        "small-resnet", "small-data", None, 8,
    )
    first, second = plan.note.splitlines()
    assert first == (
        "no pretrained weights for resnet50 (Connection refused): training small-resnet "
        "from scratch, batch size 8"
    )
    assert second == (
        "fine-tune instead with --weights FILE, or set KERAS_RESNET_WEIGHTS_URL to a mirror"
    )


@pytest.mark.parametrize("problem, reason", [
    ("cannot reach the server", "cannot reach the server"),
    ("Cannot download f.h5 from https://x/f.h5 (no complete file within the 3600 s deadline: "
     "5 of 100 bytes arrived; on a slow link, raise X). Either ... (its md5 must be 1)",
     "no complete file within the 3600 s deadline: 5 of 100 bytes ..."),
    ("f.h5 from https://host/a/f.h5 does not match its registered md5: expected a, got b. The "
     "transfer was corrupted or the mirror holds another file; nothing was kept.",
     "f.h5 does not match its registered md5: expected a, got b"),
])
def test_short_reason(problem, reason):
    assert defaults.short_reason(problem) == reason


# ---------------------------------------------------------------------------
# A NaN stops ``training.fit``: the last good epoch kept, a new rate on resume
# ---------------------------------------------------------------------------


class _NaNAt(keras.callbacks.Callback):
    """Sets every trainable weight to NaN as epoch ``epoch`` (0-based) begins,
    after keeping the weights it began with."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch
        self.before = None

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            self.before = [np.array(v) for v in self.model.weights]
            for v in self.model.trainable_weights:
                v.assign(np.full(v.shape, np.nan, "float32"))


def _tiny_model(learning_rate):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(keras.optimizers.SGD(learning_rate), "categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def _tiny_fit(model, run_dir, *, epochs=3, callbacks=()):
    import tensorflow as tf

    x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
    y = keras.utils.to_categorical(np.arange(16) % 2, 2)
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    return training.fit(model, data, validation_data=data, epochs=epochs, run_dir=run_dir,
                        callbacks=list(callbacks), verbose=0)


@requires_tensorflow
def test_nan_in_fit_keeps_the_last_good_epoch_and_the_rerun_takes_a_new_rate(tmp_path):
    run_dir = str(tmp_path / "run")
    poison = _NaNAt(epoch=2)
    with pytest.raises(training.NonFiniteLoss) as e:
        _tiny_fit(_tiny_model(0.1), run_dir, callbacks=[poison])
    assert (e.value.name, e.value.epoch, e.value.kept) == ("loss", 3, 2)
    assert math.isnan(e.value.value)
    assert str(e.value).startswith("the loss became nan in epoch 3 (by batch 1)")
    assert str(e.value).endswith("; stopped, keeping the checkpoint of epoch 2")
    backup = os.path.join(run_dir, "backup")
    meta = training.read_backup_metadata(backup)
    assert (meta["epoch"], meta["stopped"]["epoch"]) == (2, 3)
    # The checkpoint holds the weights epoch 3 began with, not NaN.
    kept = keras.models.clone_model(_tiny_model(0.1))
    kept.load_weights(os.path.join(backup, meta["weights"]))
    for saved, before in zip(kept.weights, poison.before):
        np.testing.assert_array_equal(np.array(saved), before)
    assert not os.path.exists(os.path.join(run_dir, "final.weights.h5"))
    assert training.BestWeights(os.path.join(run_dir, "best.weights.h5")).record()["epoch"] <= 2

    # A plain SGD rate is a variable the checkpoint holds (0.1): after the
    # stop, the rerun trains at the rate it was compiled with.
    _tiny_fit(_tiny_model(0.01), run_dir)
    rows = training.read_log(os.path.join(run_dir, "log.csv"))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert [float(r["lr"]) for r in rows] == pytest.approx([0.1, 0.1, 0.01])
    assert "stopped" not in training.read_backup_metadata(backup)
    assert os.path.exists(os.path.join(run_dir, "final.weights.h5"))


@requires_tensorflow
def test_nan_before_the_first_checkpoint_is_recorded_and_the_rerun_starts_over(tmp_path):
    run_dir = str(tmp_path / "run")
    with pytest.raises(training.NonFiniteLoss) as e:
        _tiny_fit(_tiny_model(0.1), run_dir, callbacks=[_NaNAt(epoch=0)])
    assert e.value.kept == 0 and str(e.value).endswith("; stopped, before the first checkpoint")
    meta = training.read_backup_metadata(os.path.join(run_dir, "backup"))
    assert (meta["epoch"], meta["weights"], meta["stopped"]["epoch"]) == (0, None, 1)
    _tiny_fit(_tiny_model(0.01), run_dir, epochs=2)
    assert [int(r["epoch"]) for r in training.read_log(os.path.join(run_dir, "log.csv"))] == [1, 2]


_RUN = {"model": "small-resnet", "classes": 2, "learning_rate": 0.1, "weight_decay": 1e-4,
        "warmup_epochs": 1, "batch_size": 8, "epochs": 3}


def test_after_a_nan_stop_only_the_learning_rate_settings_may_change(tmp_path):
    run_dir = str(tmp_path)
    training.write_json(tmp_path / "run.json", _RUN)
    lower = {**_RUN, "learning_rate": 0.01, "weight_decay": 5e-5, "warmup_epochs": 3}
    with pytest.raises(training.RunDirMismatch):
        training.check_settings(run_dir, lower)  # no stop: one run, one rate
    training.write_json(tmp_path / "backup" / "training_metadata.json", {
        "epoch": 2, "weights": "epoch-2.weights.h5", "log": [], "stopped": {"epoch": 3},
    })
    training.check_settings(run_dir, lower)
    with pytest.raises(training.RunDirMismatch) as e:
        training.check_settings(run_dir, {**lower, "batch_size": 4})
    assert e.value.differences == [("batch_size", 8, 4)]


# ---------------------------------------------------------------------------
# The command line: the summary of a real run; a NaN stop, then a resume
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return _two_class_folder(tmp_path_factory.mktemp("folder") / "photos")


@requires_tensorflow
def test_a_run_ends_with_its_summary_and_a_rerun_says_the_same(folder, tmp_path, capsys):
    run_dir = str(tmp_path / "run")
    assert cli.main(_argv(folder, run_dir, "--epochs", "2")) == 0
    out = capsys.readouterr().out.splitlines()
    start = next(i for i, line in enumerate(out) if line.startswith("run finished: "))
    summary = out[start:]
    _assert_summary(
        summary, run_dir,
        rf"run finished: 2 epochs, \d+ s of training; log\.csv and curves\.png in "
        rf"{re.escape(run_dir)}",
    )
    seconds = training.read_backup_metadata(os.path.join(run_dir, "backup"))["seconds"]
    assert summary[0].startswith(f"run finished: 2 epochs, {round(seconds)} s of training;")
    assert _json(os.path.join(run_dir, "best.json"))["epoch"] == int(
        _expected_best(training.read_log(os.path.join(run_dir, "log.csv")))["epoch"]
    )

    assert cli.main(_argv(folder, run_dir, "--epochs", "2")) == 0
    again = capsys.readouterr().out.splitlines()
    took = f"{round(seconds)} s of training"
    assert again[0] == f"run directory {run_dir} is finished: 2 epochs, {took}"
    assert again[1:] == summary[1:]


@requires_tensorflow
def test_a_nan_stops_the_command_in_one_line_and_a_lower_lr_resumes(
    folder, tmp_path, capsys, monkeypatch
):
    run_dir = str(tmp_path / "run")
    backup = os.path.join(run_dir, "backup")
    poison = _NaNAt(epoch=2)
    run = train.run
    monkeypatch.setattr(train, "run", lambda args: run(args, callbacks=[poison]))
    assert cli.main(_argv(folder, run_dir, "--epochs", "3")) == 1
    out, err = capsys.readouterr()
    assert _errors(err) == [
        "keras-resnet train: error: the loss became nan in epoch 3 (by batch 1); stopped, keeping "
        "the checkpoint of epoch 2: rerun with a lower --lr (or a longer --warmup-epochs) to "
        "resume from epoch 3"
    ], err[-3000:]
    assert "Traceback" not in err and "run finished" not in out
    # The checkpoint of epoch 2 is what epoch 3 began with, and finite.
    checkpoint = _h5_arrays(os.path.join(backup, "epoch-2.weights.h5"))
    model = sorted(a.tobytes() for k, a in checkpoint.items() if not k.startswith("optimizer"))
    assert model == sorted(a.tobytes() for a in poison.before)
    assert all(np.isfinite(a).all() for a in checkpoint.values() if a.dtype.kind == "f")
    assert not os.path.exists(os.path.join(run_dir, "final.weights.h5"))
    best = _h5_arrays(os.path.join(run_dir, "best.weights.h5"))
    assert all(np.isfinite(a).all() for a in best.values() if a.dtype.kind == "f")

    monkeypatch.setattr(train, "run", run)
    assert cli.main(_argv(folder, run_dir, "--epochs", "3", "--lr", "0.01")) == 0
    out = capsys.readouterr().out.splitlines()
    assert "Epoch 3/3" in out and "Epoch 1/3" not in out and "Epoch 2/3" not in out
    assert _json(os.path.join(run_dir, "run.json"))["learning_rate"] == pytest.approx(
        0.01 * 8 / recipes.get("small-data").base_batch_size
    )
    assert [int(r["epoch"]) for r in training.read_log(os.path.join(run_dir, "log.csv"))] == [
        1, 2, 3,
    ]
    start = next(i for i, line in enumerate(out) if line.startswith("run finished: "))
    _assert_summary(
        out[start:], run_dir,
        rf"run finished: 3 epochs, \d+ s of training \(epoch 3 by this command\); log\.csv "
        rf"and curves\.png in {re.escape(run_dir)}",
    )

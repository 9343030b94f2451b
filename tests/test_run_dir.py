"""Run directories: one writer, no silent change of settings, no lost epoch, a full disk.

The crash tests inject their faults through ``KERAS_RESNET_FAULT`` (see
``keras_resnet.training.faults``) at a named point, not by timing.
"""

import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from keras_resnet import training
from conftest import requires_tensorflow

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The digits demo at batch 64: 19 steps an epoch, a few seconds each.
_DEMO = ["--batch-size", "64", "--verbose", "2"]


def _env(**extra):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT)
    for name in ("TF_CONFIG", "KERAS_RESNET_FAULT"):
        env.pop(name, None)
    env.update(extra)
    return env


def _train(args, **env):
    return subprocess.run(
        [sys.executable, "-m", "keras_resnet", "train", *_DEMO, *args],
        capture_output=True, text=True, env=_env(**env), cwd=ROOT, timeout=300, check=False,
    )


def _errors(stderr):
    """The lines the command line itself wrote to stderr (TensorFlow's logs aside)."""
    return [line for line in stderr.splitlines() if line.startswith("keras-resnet train:")]


def _epochs_run(proc):
    return [int(n) for n in re.findall(r"^Epoch (\d+)/\d+$", proc.stdout, re.MULTILINE)]


def _log_epochs(run_dir):
    return [int(r["epoch"]) for r in training.read_log(os.path.join(run_dir, "log.csv"))]


def _read(path, mode="r"):
    with open(path, mode) as f:
        return f.read()


def _json(path):
    return json.loads(_read(path))


def _contents(run_dir):
    """Every file of a run directory, path -> bytes; the lock (which holds the
    id of the last process that took it) aside."""
    files = {}
    for folder, _, names in os.walk(run_dir):
        for name in set(names) - {"run.lock"}:
            path = os.path.join(folder, name)
            files[os.path.relpath(path, run_dir)] = _read(path, "rb")
    return files


def _best_logged_row(run_dir):
    """The highest val_accuracy; of equal ones the lowest val_loss; of equal both the
    first (strictly better replaces)."""
    log = training.read_log(os.path.join(run_dir, "log.csv"))
    return min(
        log, key=lambda r: (-float(r["val_accuracy"]), float(r["val_loss"]), int(r["epoch"]))
    )


def _assert_best_is_the_best_logged_epoch(run_dir):
    row = _best_logged_row(run_dir)
    best = _json(os.path.join(run_dir, "best.json"))
    assert best["epoch"] == int(row["epoch"]), (best, row)
    assert best["val_accuracy"] == pytest.approx(float(row["val_accuracy"]))
    assert best["val_loss"] == pytest.approx(float(row["val_loss"]))


def _assert_no_temporary_file(run_dir):
    left = [name for _, _, names in os.walk(run_dir) for name in names if name.startswith(".tmp-")]
    assert not left, left


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A finished two-epoch digits run; tests copy it before touching it."""
    run_dir = str(tmp_path_factory.mktemp("finished") / "run")
    proc = _train(["--epochs", "2", "--run-dir", run_dir])
    assert proc.returncode == 0, proc.stderr[-3000:]
    return run_dir


@pytest.fixture
def run_copy(finished_run, tmp_path):
    run_dir = str(tmp_path / "run")
    shutil.copytree(finished_run, run_dir)
    return run_dir


# ---------------------------------------------------------------------------
# One writer per run directory
# ---------------------------------------------------------------------------

# ``keras-resnet train`` whose training, once it holds the run directory,
# waits for a "go" file: the test decides when the winner trains, so the
# losers meet a held lock whatever the timing.
_WAIT_FOR_GO = """
import os, sys, time
import keras
from keras_resnet import cli
from keras_resnet.cli.commands import train

go, ready = sys.argv[1], sys.argv[2]

class WaitForGo(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        open(ready + str(os.getpid()), "w").close()
        while not os.path.exists(go):
            time.sleep(0.1)

run = train.run
train.run = lambda args: run(args, callbacks=[WaitForGo()])
sys.exit(cli.main(sys.argv[3:]))
"""


@requires_tensorflow
@pytest.mark.slow
def test_three_trains_on_one_run_dir_one_trains_the_others_fail_fast(tmp_path):
    run_dir = str(tmp_path / "run")
    script = tmp_path / "wait_for_go.py"
    script.write_text(_WAIT_FOR_GO)
    go, ready = str(tmp_path / "go"), str(tmp_path / "ready-")
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), go, ready, "train", *_DEMO, "--epochs", "1",
             "--seed", str(seed), "--run-dir", run_dir],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(), cwd=ROOT,
        )
        for seed in range(3)
    ]
    try:
        deadline = time.monotonic() + 300
        while sum(p.poll() is not None for p in procs) < 2:
            started = [n for n in os.listdir(tmp_path) if n.startswith("ready-")]
            assert len(started) < 2, f"{len(started)} processes are training in {run_dir}"
            assert time.monotonic() < deadline, "the losers did not exit"
            time.sleep(0.2)
        (winner,) = [p for p in procs if p.poll() is None]
        for loser in (p for p in procs if p is not winner):
            out, err = loser.communicate()
            assert loser.returncode == 2, err[-3000:]
            assert "Epoch" not in out
            in_use = f"run directory {run_dir} is in use by process {winner.pid}"
            assert _errors(err) == [f"keras-resnet train: error: {in_use}"], err[-3000:]
        open(go, "w").close()
        out, err = winner.communicate(timeout=300)
        assert winner.returncode == 0, err[-3000:]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
    # One epoch: Keras prints no "Epoch 1/1", only the epoch's line.
    assert len(re.findall(r"^19/19 - .* val_accuracy", out, re.MULTILINE)) == 1, out
    assert _log_epochs(run_dir) == [1]
    assert _json(os.path.join(run_dir, "run.json"))["seed"] == procs.index(winner)


_HOLD_LOCK = """
import sys, time
from keras_resnet.training import lock_run_dir

with lock_run_dir(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(600)
"""


def _tiny_fit(run_dir, epochs=2):
    """``training.fit`` of a one-layer model."""
    import tensorflow as tf

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile("sgd", "categorical_crossentropy", metrics=["accuracy"])
    x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
    y = keras.utils.to_categorical(np.arange(16) % 2, 2)
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    return training.fit(
        model, data, validation_data=data, epochs=epochs, run_dir=run_dir, verbose=0
    )


def test_fit_refuses_a_held_run_dir_and_kill_9_of_the_holder_frees_it(tmp_path):
    run_dir = str(tmp_path / "run")
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, run_dir],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(), cwd=ROOT,
    )
    try:
        assert holder.stdout.readline() == "locked\n", holder.stderr.read()[-3000:]
        with pytest.raises(training.RunDirInUse) as e:
            _tiny_fit(run_dir)
        assert str(e.value) == f"run directory {run_dir} is in use by process {holder.pid}"
        assert not os.path.exists(os.path.join(run_dir, "log.csv"))
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=60)
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.communicate()
    with training.lock_run_dir(run_dir):
        pass
    _tiny_fit(run_dir)
    assert _log_epochs(run_dir) == [1, 2]


def test_lock_is_reentrant_within_a_process(tmp_path):
    # The command line holds the lock around ``fit``, which takes it again.
    with training.lock_run_dir(str(tmp_path)):
        with training.lock_run_dir(str(tmp_path)):
            pass
        with training.lock_run_dir(str(tmp_path / ".")):
            pass


# ---------------------------------------------------------------------------
# Resuming with other settings refuses before it writes
# ---------------------------------------------------------------------------

_RUN = {
    "model": "small-resnet", "classes": 3, "class_names": ["a", "b", "c"], "image_size": 16,
    "epochs": 20, "strategy": "default", "replicas": 1, "data": "digits", "seed": 0,
}


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"model": "resnet18"},
         "made with model=small-resnet, this command asks for model=resnet18"),
        ({"class_names": ["a", "x", "c"]},
         "made with class_names[1]=b, this command asks for class_names[1]=x"),
        ({"classes": 4, "class_names": ["a", "b", "c", "d"], "data": "/d"},
         ("made with classes=3, class_names[3]=(none) and data=digits, "
          "this command asks for classes=4, class_names[3]=d and data=/d")),
    ],
)
def test_check_settings_names_what_differs(tmp_path, change, expected):
    training.write_json(tmp_path / "run.json", _RUN)
    with pytest.raises(training.RunDirMismatch) as e:
        training.check_settings(str(tmp_path), {**_RUN, **change})
    assert str(e.value) == f"run directory {tmp_path} was {expected}"


def test_check_settings_lets_epochs_and_hardware_change(tmp_path):
    training.check_settings(str(tmp_path), _RUN)  # a new directory
    training.write_json(tmp_path / "run.json", _RUN)
    assert set(training.RESUMABLE_SETTINGS) == {
        "epochs", "strategy", "replicas", "recipe_settings"}
    training.check_settings(
        str(tmp_path), {**_RUN, "epochs": 40, "strategy": "mirrored", "replicas": 2}
    )
    # The recipe recorded whole changes with --epochs; its parts are compared by name.
    training.write_json(tmp_path / "run.json", {**_RUN, "recipe_settings": {"epochs": 30}})
    training.check_settings(str(tmp_path), {**_RUN, "recipe_settings": {"epochs": 40}})
    # A setting an older run.json did not record cannot be compared.
    training.check_settings(str(tmp_path), {**_RUN, "label_smoothing": 0.1})


@requires_tensorflow
@pytest.mark.slow
@pytest.mark.parametrize(
    "args, stored, asked",
    [(["--model", "resnet20"], "model=small-resnet", "model=resnet20"),
     (["--image-size", "24"], "image_size=16", "image_size=24")],
    ids=["model", "image-size"],
)
def test_resume_with_other_settings_refuses_and_changes_nothing(run_copy, args, stored, asked):
    before = _contents(run_copy)
    proc = _train(["--epochs", "2", "--run-dir", run_copy, *args])
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert _errors(proc.stderr) == [
        (f"keras-resnet train: error: run directory {run_copy} was made with {stored}, this "
         f"command asks for {asked}; use another --run-dir")
    ], proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert _contents(run_copy) == before


@requires_tensorflow
@pytest.mark.slow
def test_resume_with_more_epochs_extends_the_run(run_copy):
    warmup = _json(os.path.join(run_copy, "run.json"))["warmup_epochs"]
    proc = _train(["--epochs", "3", "--run-dir", run_copy])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _epochs_run(proc) == [3]
    assert _log_epochs(run_copy) == [1, 2, 3]
    record = _json(os.path.join(run_copy, "run.json"))
    assert record["epochs"] == 3
    # The warm-up the run began with (scaled to its first --epochs), not one scaled anew.
    assert record["warmup_epochs"] == warmup


# ---------------------------------------------------------------------------
# A finished run says so
# ---------------------------------------------------------------------------


@requires_tensorflow
@pytest.mark.slow
def test_rerunning_a_finished_run_prints_its_summary_and_changes_nothing(run_copy):
    before = _contents(run_copy)
    proc = _train(["--epochs", "2", "--run-dir", run_copy])
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = training.read_log(os.path.join(run_copy, "log.csv"))
    seconds = training.read_backup_metadata(os.path.join(run_copy, "backup"))["seconds"]

    def scores(row):
        return (f"epoch {row['epoch']}, validation accuracy {float(row['val_accuracy']):.4f}, "
                f"loss {float(row['val_loss']):.4f}")

    # The digits' 180 validation images are enough: no line about them.
    assert proc.stdout.splitlines() == [
        f"run directory {run_copy} is finished: 2 epochs, {round(seconds)} s of training",
        f"  best:  {scores(_best_logged_row(run_copy))} -> "
        f"{os.path.join(run_copy, 'best.weights.h5')}",
        f"  final: {scores(rows[-1])} -> {os.path.join(run_copy, 'final.weights.h5')}",
    ]
    assert _contents(run_copy) == before


# ---------------------------------------------------------------------------
# The log cannot lose an epoch
# ---------------------------------------------------------------------------


@requires_tensorflow
@pytest.mark.slow
def test_kill_after_a_checkpoint_loses_no_log_row(tmp_path):
    run_dir = str(tmp_path / "run")
    args = ["--epochs", "3", "--run-dir", run_dir]
    killed = _train(args, KERAS_RESNET_FAULT="kill-after-checkpoint:2")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    # Killed after epoch 2's checkpoint was committed, before its log row.
    assert training.read_backup_metadata(os.path.join(run_dir, "backup"))["epoch"] == 2
    assert _log_epochs(run_dir) == [1]

    resumed = _train(args)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert _epochs_run(resumed) == [3]
    assert _log_epochs(run_dir) == [1, 2, 3]
    _assert_best_is_the_best_logged_epoch(run_dir)
    _assert_no_temporary_file(run_dir)


def test_resume_redoes_the_best_weights_decision_of_the_last_checkpoint(tmp_path):
    run_dir = str(tmp_path / "run")
    _tiny_fit(run_dir)
    # What a kill between epoch 2's checkpoint and its bookkeeping leaves:
    # the log and the best weights of epoch 1 (here a record no epoch beats).
    log = training.read_log(os.path.join(run_dir, "log.csv"))
    training.write_log(os.path.join(run_dir, "log.csv"), log[:1])
    training.write_json(os.path.join(run_dir, "best.json"), {"epoch": 1, "val_accuracy": -1.0})
    os.remove(os.path.join(run_dir, "final.weights.h5"))

    _tiny_fit(run_dir)
    assert training.read_log(os.path.join(run_dir, "log.csv")) == log
    assert _json(os.path.join(run_dir, "best.json"))["epoch"] == 2
    checkpoint = os.path.join(run_dir, "backup", "epoch-2.weights.h5")
    assert _read(os.path.join(run_dir, "best.weights.h5"), "rb") == _read(checkpoint, "rb")


def test_a_backup_without_log_rows_resumes_with_its_log_csv(tmp_path):
    # Backups made before the rows were kept in the metadata.
    run_dir = str(tmp_path / "run")
    _tiny_fit(run_dir)
    meta_path = os.path.join(run_dir, "backup", "training_metadata.json")
    meta = _json(meta_path)
    training.write_json(meta_path, {"epoch": meta["epoch"], "weights": meta["weights"]})
    old_log = training.read_log(os.path.join(run_dir, "log.csv"))

    _tiny_fit(run_dir, epochs=3)
    log = training.read_log(os.path.join(run_dir, "log.csv"))
    assert log[:2] == old_log and _log_epochs(run_dir) == [1, 2, 3]


# ---------------------------------------------------------------------------
# A full disk
# ---------------------------------------------------------------------------


def test_atomic_write_on_a_full_disk_names_the_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    path = tmp_path / "x.json"
    training.write_json(path, {"a": 1})
    monkeypatch.setenv("KERAS_RESNET_FAULT", "no-space:x.json")
    with pytest.raises(OSError) as e:
        training.write_json(path, {"a": 2})
    assert (e.value.errno, e.value.filename) == (errno.ENOSPC, str(path))
    assert json.loads(path.read_text()) == {"a": 1}
    assert os.listdir(tmp_path) == ["x.json"]


@requires_tensorflow
@pytest.mark.slow
def test_full_disk_at_a_checkpoint_is_one_line_then_the_run_resumes(tmp_path):
    run_dir = str(tmp_path / "run")
    args = ["--epochs", "3", "--run-dir", run_dir]
    full = _train(args, KERAS_RESNET_FAULT="no-space:epoch-2.weights.h5")
    assert full.returncode == 1, full.stderr[-3000:]
    checkpoint = os.path.join(run_dir, "backup", "epoch-2.weights.h5")
    assert _errors(full.stderr) == [
        (f"keras-resnet train: error: no space left on device while writing {checkpoint}; "
         "the run resumes from epoch 2 once space is freed")
    ], full.stderr[-3000:]
    assert "Traceback" not in full.stderr
    assert training.read_backup_metadata(os.path.join(run_dir, "backup"))["epoch"] == 1
    _assert_no_temporary_file(run_dir)

    resumed = _train(args)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert _epochs_run(resumed) == [2, 3]
    assert _log_epochs(run_dir) == [1, 2, 3]
    _assert_best_is_the_best_logged_epoch(run_dir)
    _assert_no_temporary_file(run_dir)


# ---------------------------------------------------------------------------
# A killed run's temporary files
# ---------------------------------------------------------------------------


def _stale_temporary(folder, name, text="half written"):
    """A temporary file as an atomic write makes it, left as ``kill -9`` leaves it."""
    from keras_resnet.training.files import _new_temporary

    path = _new_temporary(str(folder), name)
    with open(path, "w") as f:
        f.write(text)
    return path


def test_resume_removes_the_temporaries_a_killed_run_left_and_nothing_else(tmp_path):
    run_dir = tmp_path / "run"
    _tiny_fit(str(run_dir), epochs=1)
    backup = run_dir / "backup"
    stale = [
        _stale_temporary(run_dir, "log.csv"),
        _stale_temporary(run_dir, "classes.json"),
        _stale_temporary(run_dir, "best.weights.h5"),
        _stale_temporary(backup, "epoch-2.weights.h5"),
        _stale_temporary(backup, "training_metadata.json"),
    ]
    assert all(re.fullmatch(r"\.tmp-[0-9a-f]{8}-.+", os.path.basename(p)) for p in stale)
    # Not made by an atomic write, or not in the run directory or its backup.
    kept = {
        "notes.txt": "mine",
        ".tmp-notes.txt": "mine",
        ".tmp-ABCDEF12-log.csv": "not lower-case hex",
        ".tmp-1234567-log.csv": "seven digits",
        "samples/.tmp-0123abcd-x.png": "another folder",
        "workers/1/.tmp-0123abcd-log.csv": "a worker's own folder, under its own lock",
    }
    for relative, text in kept.items():
        (run_dir / relative).parent.mkdir(parents=True, exist_ok=True)
        (run_dir / relative).write_text(text)
    (run_dir / ".tmp-0123abcd-folder").mkdir()  # a folder of that name is not ours

    _tiny_fit(str(run_dir), epochs=2)

    assert not any(os.path.exists(p) for p in stale), [p for p in stale if os.path.exists(p)]
    assert {r: (run_dir / r).read_text() for r in kept} == kept
    assert (run_dir / ".tmp-0123abcd-folder").is_dir()
    assert _log_epochs(str(run_dir)) == [1, 2]


def test_a_live_runs_temporaries_are_not_removed_by_another_process(tmp_path):
    # The temporary files of the process holding the run directory are being
    # written: one that fails to take the lock leaves them alone.
    run_dir = str(tmp_path / "run")
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, run_dir],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(), cwd=ROOT,
    )
    try:
        assert holder.stdout.readline() == "locked\n", holder.stderr.read()[-3000:]
        live = _stale_temporary(run_dir, "log.csv", text="being written")
        os.makedirs(os.path.join(run_dir, "backup"))
        live_backup = _stale_temporary(os.path.join(run_dir, "backup"), "epoch-1.weights.h5")
        with pytest.raises(training.RunDirInUse):
            _tiny_fit(run_dir)
        assert _read(live) == "being written" and os.path.exists(live_backup)
    finally:
        holder.kill()
        holder.communicate()
    # The holder died without cleaning up: the next holder does.
    with training.lock_run_dir(run_dir):
        assert not os.path.exists(live) and not os.path.exists(live_backup)


def test_taking_the_lock_again_in_the_same_process_keeps_its_temporaries(tmp_path):
    # Only the first hold cleans: within the holder, a temporary may be live.
    run_dir = str(tmp_path / "run")
    with training.lock_run_dir(run_dir):
        mine = _stale_temporary(run_dir, "log.csv")
        with training.lock_run_dir(run_dir):
            assert os.path.exists(mine)
    with training.lock_run_dir(run_dir):
        assert not os.path.exists(mine)


@requires_tensorflow
@pytest.mark.slow
def test_train_resumed_after_kill_9_leaves_no_temporary_file(tmp_path):
    run_dir = str(tmp_path / "run")
    args = ["--epochs", "2", "--run-dir", run_dir]
    killed = _train(args, KERAS_RESNET_FAULT="kill-after-checkpoint:1")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    # What a kill in the middle of the writes of log.csv and classes.json leaves.
    stale = [_stale_temporary(run_dir, "log.csv"), _stale_temporary(run_dir, "classes.json")]

    resumed = _train(args)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert not any(os.path.exists(p) for p in stale)
    _assert_no_temporary_file(run_dir)
    assert _log_epochs(run_dir) == [1, 2]

"""Training: optimiser and schedule arithmetic, crash safety, distribution, examples."""

import json
import os
import re
import socket
import subprocess
import sys

import h5py
import keras
import numpy as np
import pytest

from keras_resnet import training
from keras_resnet.training import recipes
from conftest import requires_tensorflow

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _env(**extra):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT)
    env.pop("TF_CONFIG", None)
    env.update(extra)
    return env


def _train_cli(args, *, env=None, check=True, timeout=300):
    proc = subprocess.run(
        [sys.executable, "-m", "keras_resnet", "train", "--verbose", "2", *args],
        capture_output=True, text=True, env=env or _env(), cwd=ROOT, timeout=timeout,
    )
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def _h5_arrays(path):
    arrays = {}
    with h5py.File(path, "r") as f:
        f.visititems(
            lambda name, obj: arrays.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None
        )
    return arrays


# ---------------------------------------------------------------------------
# Arithmetic, checked against formulas written out here
# ---------------------------------------------------------------------------


@pytest.mark.backend_agnostic
def test_sgd_applies_coupled_l2_to_kernels_only():
    lr, momentum, l2 = 0.1, 0.9, 0.01
    layer = keras.layers.Dense(2)
    layer.build((None, 3))
    w0, b0 = np.full((3, 2), 2.0, "float32"), np.full((2,), 2.0, "float32")
    layer.set_weights([w0, b0])
    opt = training.SGD(lr, momentum=momentum, l2=l2)
    g = np.ones((3, 2), "float32"), np.ones((2,), "float32")
    opt.apply(list(g), [layer.kernel, layer.bias])
    # Step 1, velocity starts at 0: v = -lr * (g + l2 * w); w += v.
    w1 = w0 - lr * (g[0] + l2 * w0)
    b1 = b0 - lr * g[1]  # biases are not decayed
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.kernel), w1, rtol=1e-6)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.bias), b1, rtol=1e-6)
    opt.apply(list(g), [layer.kernel, layer.bias])
    # Step 2: v = momentum * v1 - lr * (g + l2 * w1).
    v1 = w1 - w0
    w2 = w1 + momentum * v1 - lr * (g[0] + l2 * w1)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.kernel), w2, rtol=1e-6)


@pytest.mark.backend_agnostic
def test_step_schedule_warmup_and_drops():
    schedule = training.StepSchedule(0.4, boundaries=[10, 20], factor=0.1, warmup_steps=4)
    values = [float(keras.ops.convert_to_numpy(schedule(s))) for s in (0, 1, 3, 4, 9, 10, 19, 20, 99)]
    expected = [0.1, 0.2, 0.4, 0.4, 0.4, 0.04, 0.04, 0.004, 0.004]
    np.testing.assert_allclose(values, expected, rtol=1e-6)


def test_recipes_scale_learning_rate_with_global_batch():
    imagenet, cifar = recipes.get("imagenet"), recipes.get("cifar")
    assert (imagenet.momentum, imagenet.weight_decay, imagenet.batch_size) == (0.9, 1e-4, 256)
    assert imagenet.learning_rate() == pytest.approx(0.1)
    assert imagenet.learning_rate(1024) == pytest.approx(0.4)  # 0.1 * 1024 / 256
    assert cifar.learning_rate() == pytest.approx(0.1)  # batch 128 is its base
    # The paper's drops at 32k and 48k of 64k iterations: 50% and 75%.
    assert cifar.milestone_epochs(200) == [100, 150]
    with pytest.raises(ValueError, match="Received: recipe='alexnet'"):
        recipes.get("alexnet")
    with pytest.raises(ValueError, match="schedule='linear'"):
        imagenet.replace(schedule="linear")


def test_atomic_path_leaves_old_file_when_writer_fails(tmp_path):
    path = tmp_path / "x.json"
    training.write_json(path, {"a": 1})
    with pytest.raises(RuntimeError):
        with training.atomic_path(path) as tmp:
            open(tmp, "w").write("{half")
            raise RuntimeError("crash while writing")
    assert json.loads(path.read_text()) == {"a": 1}
    assert os.listdir(tmp_path) == ["x.json"]


# ---------------------------------------------------------------------------
# Crash safety: kill -9 in epoch 3 of 5, rerun
# ---------------------------------------------------------------------------

_KILLER = """
import os, signal, sys
import keras
from keras_resnet import cli
from keras_resnet.cli.commands import train

class KillInEpoch3(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
    def on_train_batch_end(self, batch, logs=None):
        if self.epoch == 2 and batch == 5:
            os.kill(os.getpid(), signal.SIGKILL)

args = cli.build_parser().parse_args(sys.argv[1:])
train.run(args, callbacks=[KillInEpoch3()])
"""


def _assert_no_corrupt_file(run_dir):
    for folder, _, files in os.walk(run_dir):
        for name in files:
            path = os.path.join(folder, name)
            assert not name.startswith(".tmp-"), f"left-over temporary file {path}"
            if name.endswith(".h5"):
                assert _h5_arrays(path), path
            elif name.endswith(".json"):
                json.load(open(path))
            elif name.endswith(".csv"):
                training.read_log(path)


@requires_tensorflow
@pytest.mark.slow
def test_kill_in_epoch_3_then_rerun_resumes_at_epoch_3(tmp_path):
    run_dir = str(tmp_path / "run")
    args = ["--epochs", "5", "--batch-size", "64", "--run-dir", run_dir, "--verbose", "2"]
    script = tmp_path / "killer.py"
    script.write_text(_KILLER)
    killed = subprocess.run(
        [sys.executable, str(script), "train", *args],
        capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=300,
    )
    assert killed.returncode == -9, killed.stderr[-3000:]
    assert "Epoch 3/5" in killed.stdout and "Epoch 4/5" not in killed.stdout
    assert training.read_backup_metadata(os.path.join(run_dir, "backup"))["epoch"] == 2
    _assert_no_corrupt_file(run_dir)

    resumed = _train_cli(args)
    epochs_run = re.findall(r"Epoch (\d)/5", resumed.stdout)
    assert epochs_run == ["3", "4", "5"]
    _assert_no_corrupt_file(run_dir)
    log = training.read_log(os.path.join(run_dir, "log.csv"))
    assert [int(r["epoch"]) for r in log] == [1, 2, 3, 4, 5]
    # Same schedule as an uninterrupted run: 1257 // 64 = 19 steps per epoch,
    # peak 0.1 * 64 / 128 = 0.05, drops at epochs round(0.5 * 5) = 2 and
    # round(0.75 * 5) = 4, i.e. steps 38 and 76; the log shows the rate after
    # each epoch's last step (19 * epoch).
    np.testing.assert_allclose(
        [float(r["lr"]) for r in log], [0.05, 0.005, 0.005, 0.0005, 0.0005], rtol=1e-5
    )
    for name in ("best.weights.h5", "final.weights.h5", "curves.png", "classes.json"):
        assert os.path.exists(os.path.join(run_dir, name)), name


# ---------------------------------------------------------------------------
# Distribution
# ---------------------------------------------------------------------------


@pytest.mark.backend_agnostic  # under JAX: keras.distribution.DataParallel
@pytest.mark.slow
@pytest.mark.skipif(
    keras.backend.backend() == "torch",
    reason="no multi-device strategy on PyTorch (train refuses it in one line)",
)
def test_mirrored_two_virtual_devices_converges(tmp_path):
    run_dir = str(tmp_path / "run")
    proc = _train_cli(
        ["--strategy", "mirrored", "--virtual-devices", "2", "--epochs", "5", "--run-dir", run_dir]
    )
    assert json.load(open(os.path.join(run_dir, "run.json")))["replicas"] == 2
    accuracy = float(re.search(r"test accuracy: ([\d.]+)", proc.stdout).group(1))
    assert accuracy >= 0.9, proc.stdout
    log = training.read_log(os.path.join(run_dir, "log.csv"))
    assert float(log[-1]["loss"]) < float(log[0]["loss"]) / 3


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@requires_tensorflow
@pytest.mark.slow
def test_multiworker_two_processes_end_with_equal_weights(tmp_path):
    run_dir = str(tmp_path / "run")
    cluster = {"worker": [f"127.0.0.1:{p}" for p in _free_ports(2)]}
    procs = []
    for index in range(2):
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "keras_resnet", "train", "--strategy", "multiworker",
                 "--epochs", "1", "--run-dir", run_dir, "--verbose", "2"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                env=_env(TF_CONFIG=tf_config), cwd=ROOT,
            )
        )
    outputs = [p.communicate(timeout=400) for p in procs]
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0, err[-3000:]
    chief = _h5_arrays(os.path.join(run_dir, "final.weights.h5"))
    worker = _h5_arrays(os.path.join(run_dir, "workers", "1", "final.weights.h5"))
    assert chief.keys() == worker.keys() and len(chief) > 20
    for name in chief:
        np.testing.assert_array_equal(chief[name], worker[name], err_msg=name)
    assert json.load(open(os.path.join(run_dir, "run.json")))["replicas"] == 2


# ---------------------------------------------------------------------------
# Transfer learning and the examples
# ---------------------------------------------------------------------------


def _load_example(name):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "examples", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _moving_statistics(model):
    return {
        v.path: keras.ops.convert_to_numpy(v).copy()
        for v in model.non_trainable_variables
        if "moving" in v.path
    }


def _fit_briefly(model):
    model.compile("sgd", "categorical_crossentropy")
    x = np.random.default_rng(0).uniform(-1, 1, (8, 32, 32, 3)).astype("float32")
    y = keras.utils.to_categorical([0, 1, 2, 0, 1, 2, 0, 1], 3)
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)


@pytest.mark.parametrize("frozen", [True, False], ids=["frozen", "fine-tuning"])
def test_transfer_example_keeps_every_batchnorm_statistic(frozen):
    example = _load_example("transfer_learning")
    model, backbone = example.build_classifier(
        "resnet18", input_shape=(32, 32, 3), classes=3, weights=None
    )
    before = _moving_statistics(backbone)
    assert len(before) == 2 * 20  # ResNet-18: 1 stem + 16 block + 3 shortcut BNs
    if frozen:
        example.freeze(backbone)
    else:
        example.unfreeze(backbone)
        assert any(w.trainable for w in backbone.layers[2].weights)  # the stem conv learns
    _fit_briefly(model)
    after = _moving_statistics(backbone)
    for name in before:
        np.testing.assert_array_equal(before[name], after[name], err_msg=name)


def test_backbone_in_training_mode_does_move_the_statistics():
    # The control: the check above can fail. A trainable backbone called in
    # the default (training) mode updates its moving statistics.
    import keras_resnet

    backbone = keras_resnet.build(
        "resnet18", include_top=False, pooling="avg", weights=None, input_shape=(32, 32, 3)
    )
    model = keras.Sequential([backbone, keras.layers.Dense(3, activation="softmax")])
    before = _moving_statistics(backbone)
    _fit_briefly(model)
    after = _moving_statistics(backbone)
    assert all(not np.array_equal(before[n], after[n]) for n in before)


@pytest.mark.slow
def test_transfer_learning_example_runs(capsys):
    example = _load_example("transfer_learning")
    example.main(
        ["--model", "resnet18", "--weights", "none", "--image-size", "32", "--limit", "64",
         "--frozen-epochs", "1", "--finetune-epochs", "1", "--batch-size", "32"]
    )
    assert re.search(r"test accuracy: frozen [\d.]+, fine-tuned [\d.]+", capsys.readouterr().out)


@requires_tensorflow
@pytest.mark.slow
def test_distributed_example_runs_on_two_virtual_devices():
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "examples", "distributed.py"),
         "--virtual-devices", "2", "--epochs", "2"],
        capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "replicas: 2" in proc.stdout
    assert float(re.search(r"test accuracy: ([\d.]+)", proc.stdout).group(1)) > 0.3


# ---------------------------------------------------------------------------
# The main job: the README's demo on the real digits
# ---------------------------------------------------------------------------


@requires_tensorflow
@pytest.mark.slow
def test_demo_reaches_98_percent_on_digits(tmp_path):
    run_dir = str(tmp_path / "digits")
    proc = _train_cli(["--run-dir", run_dir, "--deterministic"])
    accuracy = float(re.search(r"test accuracy: ([\d.]+) \(360 images", proc.stdout).group(1))
    assert accuracy >= 0.98, proc.stdout
    assert os.path.getsize(os.path.join(run_dir, "curves.png")) > 10_000

"""Environments a newcomer has: no backend, no PyTorch, TensorFlow's start-up log.

Each case runs in a child process whose missing packages are made
unimportable by tests/fixtures/blocked/sitecustomize.py, which is what pip
leaves when a package was never installed (``ModuleNotFoundError``).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

BLOCKER = Path(__file__).parent / "fixtures" / "blocked"
BACKENDS = ("tensorflow", "jax", "torch")
# What TensorFlow prints natively at start-up (absl's prefix letters I/W/E
# with a timestamp, and its pre-initialisation notice).
NATIVE_LOG_MARKERS = ("I0000 ", "W0000 ", "E0000 ", "absl::InitializeLog", "cuInit", "cuda drivers")


def _run(argv, tmp_path, *, blocked=(), backend="tensorflow", env=None, timeout=300):
    environment = {
        k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "PYTHONPATH")
    }
    environment.update(
        KERAS_BACKEND=backend,
        KERAS_HOME=str(tmp_path / "keras_home"),
        PYTHONPATH=os.pathsep.join([str(BLOCKER), str(Path(__file__).parents[1])]),
        KERAS_RESNET_TEST_BLOCK=",".join(blocked),
        **(env or {}),
    )
    return subprocess.run(
        argv, capture_output=True, text=True, env=environment, cwd=tmp_path, timeout=timeout
    )


def _cli(args, tmp_path, **kwargs):
    return _run([sys.executable, "-m", "keras_resnet", *args], tmp_path, **kwargs)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "args",
    [["train", "--epochs", "1"], ["evaluate", "--run-dir", "r"], ["predict", "x.png"],
     ["summary", "resnet18"], ["prepare", "in", "out"]],
    ids=lambda a: a[0] if isinstance(a, list) else a,
)
def test_without_a_backend_each_command_is_one_line_naming_the_extra(tmp_path, backend, args):
    result = _cli(args, tmp_path, blocked=BACKENDS, backend=backend)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    extra = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}[backend]
    assert f'pip install -e ".[{extra}]"' in lines[0], lines[0]
    assert lines[0].startswith(f"keras-resnet {args[0]}: error: "), lines[0]


def test_jax_without_tensorflow_names_tf_data(tmp_path):
    # The model runs on JAX, but images are read by tf.data on every backend.
    result = _cli(["train", "--epochs", "1"], tmp_path, blocked=("tensorflow", "torch"),
                  backend="jax")
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert "tf.data" in line and 'pip install -e ".[tensorflow]"' in line, line


@pytest.mark.parametrize("args", [["--help"], ["weights", "list"], ["models"]])
def test_commands_that_need_no_backend_run_without_one(tmp_path, args):
    result = _cli(args, tmp_path, blocked=BACKENDS)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()


def test_python_import_without_a_backend_is_an_import_error_of_one_line(tmp_path):
    code = (
        "import keras_resnet\n"
        "try:\n"
        "    keras_resnet.ResNet50\n"
        "except ImportError as e:\n"
        "    print(type(e).__name__, '|', e)\n"
    )
    result = _run([sys.executable, "-c", code], tmp_path, blocked=BACKENDS)
    assert result.returncode == 0, result.stderr
    (line,) = result.stdout.splitlines()
    assert line.startswith("BackendMissing |") and '".[tensorflow]"' in line, line


@pytest.mark.slow
def test_digits_train_without_torch(tmp_path):
    # The demo's environment is `.[tensorflow]` only: nothing on its path may
    # need PyTorch, JAX or tf_keras.
    result = _cli(["train", "--epochs", "1", "--run-dir", "run"], tmp_path,
                  blocked=("torch", "torchvision", "timm", "jax", "tf_keras", "safetensors"))
    assert result.returncode == 0, result.stderr
    assert "test accuracy:" in result.stdout
    assert not any(marker in result.stderr for marker in NATIVE_LOG_MARKERS), result.stderr


def test_import_keras_resnet_prints_no_native_log(tmp_path):
    code = (
        "import numpy as np, keras_resnet\n"
        "m = keras_resnet.ResNet18(weights=None, input_shape=(32, 32, 3), classes=3)\n"
        "print(m.predict(np.zeros((1, 32, 32, 3)), verbose=0).shape)\n"
    )
    result = _run([sys.executable, "-c", code], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(1, 3)"
    assert not any(marker in result.stderr for marker in NATIVE_LOG_MARKERS), result.stderr


def test_a_users_own_log_level_is_kept(tmp_path):
    code = (
        "import os, keras_resnet\n"
        "keras_resnet.ResNet18\n"
        "print(os.environ['TF_CPP_MIN_LOG_LEVEL'])\n"
    )
    result = _run([sys.executable, "-c", code], tmp_path, env={"TF_CPP_MIN_LOG_LEVEL": "1"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1"


@pytest.mark.parametrize("script", ["classify_photos.py", "transfer_learning.py"])
def test_examples_say_an_unreachable_download_in_one_line(tmp_path, script):
    # Nothing listens on port 9 of the loopback: the download fails at once.
    path = Path(__file__).parents[1] / "examples" / script
    result = _run([sys.executable, str(path), "--weights", "imagenet"], tmp_path,
                  env={"KERAS_RESNET_WEIGHTS_URL": "https://127.0.0.1:9"})
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"{script}: Cannot download "), line
    assert "KERAS_RESNET_WEIGHTS_URL" in line


@pytest.mark.parametrize("args", [["models"], ["weights", "list"]])
def test_output_into_a_closed_pipe_is_not_a_traceback(tmp_path, args):
    # `keras-resnet models | head -1` when the reader leaves first; `true`
    # leaves before reading anything, so every write meets a closed pipe.
    command = " ".join([sys.executable, "-m", "keras_resnet", *args]) + " | true"
    result = _run(["bash", "-c", command], tmp_path)
    assert result.stderr == "", result.stderr

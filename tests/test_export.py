"""``keras-resnet export`` and ``deploy.export``: each format run in its own runtime.

The reference is always a model built independently of the exporter: the
digits network trained here with the package's own uint8 input layer
(``data.device.InputPreprocessing``), and torchvision's ResNet-18 for the
torchvision layout. Each runtime is skipped where its package is absent, so
the file runs without the ``export`` extra.
"""

import importlib.util
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_resnet
from keras_resnet import cli, data, deploy, training
from keras_resnet.deploy import runtimes
from keras_resnet.deploy.export import ExportError

# The converters trace through TensorFlow (tf2onnx, the TFLite converter,
# OpenVINO's TF frontend); the .keras format is checked on every backend.
requires_tensorflow = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="the exporters run on TensorFlow here"
)
SIZE = 16  # digits are 8x8: twice that keeps three stride-2 stages meaningful
RUNTIME_MODULES = {
    "saved_model": ["tensorflow"],
    "onnx": ["onnxruntime", "onnx", "tf2onnx"],
    "openvino": ["openvino"],
    "litert": ["tensorflow"],
    "keras": [],
}
OUTPUTS = {
    "saved_model": "model", "onnx": "model.onnx", "openvino": "model.xml",
    "litert": "model.tflite", "keras": "model.keras",
}


def _needs(format):
    for module in RUNTIME_MODULES[format]:
        pytest.importorskip(module)
    if format != "keras" and keras.backend.backend() != "tensorflow":
        pytest.skip("the exporters run on TensorFlow here")


def _upscale(images):
    return np.repeat(np.repeat(images, SIZE // 8, axis=1), SIZE // 8, axis=2)


@pytest.fixture(scope="module")
def digits():
    """The digits network, trained briefly on uint8 inputs, and the test split."""
    splits = data.load_digits()
    (train_x, train_y), (test_x, test_y) = splits["train"], splits["test"]
    keras.utils.set_random_seed(0)
    model = training.build_model(
        "small-resnet", classes=10, image_size=SIZE, input_preprocessing={}
    )
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
    model.fit(_upscale(train_x), train_y, batch_size=64, epochs=4, verbose=0)
    test_x = _upscale(test_x)
    probs = keras.ops.convert_to_numpy(model.predict(test_x, batch_size=128, verbose=0))
    return {
        "model": model, "x": test_x, "y": test_y, "probs": probs,
        "class_names": splits["class_names"],
    }


def _accuracy(probs, labels):
    return 100.0 * float(np.mean(np.argmax(probs, axis=1) == labels))


@pytest.mark.parametrize("format", sorted(OUTPUTS))
def test_digits_network_in_its_runtime(format, digits, tmp_path):
    _needs(format)
    path = tmp_path / OUTPUTS[format]
    names = [f"digit {n}" for n in digits["class_names"]]
    result = deploy.export(digits["model"], path, class_names=names, verbose=False)
    assert result["max_error"] <= 1e-4

    exported = deploy.load_exported(path)
    got = exported.predict(digits["x"])  # 360 images in one batch: the batch axis is free
    error = np.max(np.abs(got - digits["probs"]))
    assert error <= 1e-4, f"{format}: {error}"
    keras_accuracy = _accuracy(digits["probs"], digits["y"])
    assert keras_accuracy > 50  # a trained network, not chance
    assert abs(_accuracy(got, digits["y"]) - keras_accuracy) <= 0.3
    assert exported.predict(digits["x"][:1]).shape == (1, 10)
    for metadata in (exported.metadata, deploy.read_export_metadata(path)):
        assert metadata["class_names"] == names
        assert metadata["image_size"] == SIZE
        assert metadata["preprocessing"] == training.preprocessing_mode("small-resnet")
    assert sorted(os.listdir(tmp_path)) == sorted(os.path.basename(f) for f in result["files"])


@requires_tensorflow
def test_one_uint8_input_and_one_output(digits, tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("tf2onnx")
    import onnxruntime as ort

    deploy.export(digits["model"], tmp_path / "m.onnx", verbose=False)
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    (source,), (sink,) = session.get_inputs(), session.get_outputs()
    assert source.type == "tensor(uint8)"
    assert source.shape[1:] == [SIZE, SIZE, 3] and not isinstance(source.shape[0], int)
    assert sink.type == "tensor(float)"


def test_keras_file_loads_in_safe_mode_without_the_package(digits, tmp_path):
    path = tmp_path / "digits.keras"
    deploy.export(digits["model"], path, verbose=False)
    np.save(tmp_path / "x.npy", digits["x"][:8])
    script = (
        "import sys, keras, numpy as np\n"
        f"model = keras.saving.load_model({str(path)!r}, safe_mode=True)\n"
        "assert not [m for m in sys.modules if m.startswith('keras_resnet')]\n"
        f"x = np.load({str(tmp_path / 'x.npy')!r})\n"
        f"np.save({str(tmp_path / 'y.npy')!r}, keras.ops.convert_to_numpy(model(x)))\n"
    )
    env = {**os.environ, "PYTHONPATH": ""}  # the checkout is not on the path: no keras_resnet
    subprocess.run(
        [sys.executable, "-c", script], check=True, cwd=tmp_path, env=env,
        capture_output=True, timeout=120,
    )
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), digits["probs"][:8], atol=1e-5)


@requires_tensorflow
def test_optimize_for_inference_result_exports(digits, tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("tf2onnx")
    network, mode = _float_part(digits["model"])
    fast = deploy.optimize_for_inference(network, "float32", jit_compile=False)
    deploy.export(fast, tmp_path / "fast.onnx", preprocessing=mode, verbose=False)
    got = deploy.load_exported(tmp_path / "fast.onnx").predict(digits["x"])
    assert np.max(np.abs(got - digits["probs"])) <= 1e-4
    with pytest.raises(ValueError, match="float32"):
        bf16 = deploy.optimize_for_inference(network, "bfloat16", jit_compile=False)
        deploy.export(bf16, tmp_path / "bf16.onnx", preprocessing=mode)
    assert sorted(os.listdir(tmp_path)) == ["fast.onnx"]


def _float_part(model):
    from keras_resnet.deploy.export import float_model

    return float_model(model)


# torchvision pulls in triton, whose native code crashes in a process that has
# loaded TensorFlow: torchvision's side runs in a process of its own.
_TORCHVISION_SIDE = """
import sys, numpy as np, torch, torchvision
folder = sys.argv[1]
torch.manual_seed(0)
model = torchvision.models.resnet18(num_classes=5)
with torch.no_grad():  # BN away from the identity, so that a mapping error shows
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.uniform_(0.5, 1.5)
            m.bias.uniform_(-0.5, 0.5)
model.eval()
torch.save(model.state_dict(), folder + "/resnet18.pth")
images = np.load(folder + "/images.npy")
# torchvision's own preprocessing: ToTensor (/255), Normalize(mean, std), NCHW.
x = torch.from_numpy(images).float().permute(0, 3, 1, 2) / 255.0
mean = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
std = torch.tensor([0.229, 0.224, 0.225])[:, None, None]
with torch.no_grad():
    np.save(folder + "/want.npy", torch.softmax(model((x - mean) / std), dim=1).numpy())
"""


@requires_tensorflow
def test_torchvision_resnet18_matches_torch(tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("tf2onnx")
    if not all(importlib.util.find_spec(m) for m in ("torch", "torchvision")):
        pytest.skip("needs torch and torchvision")  # not imported here: see above
    images = np.random.default_rng(3).integers(0, 256, (4, 64, 64, 3), np.uint8)
    np.save(tmp_path / "images.npy", images)
    subprocess.run(
        [sys.executable, "-c", _TORCHVISION_SIDE, str(tmp_path)], check=True,
        capture_output=True, timeout=300,
    )

    model = keras_resnet.build("resnet18", weights=None, input_shape=(64, 64, 3), classes=5)
    keras_resnet.load_weights(model, str(tmp_path / "resnet18.pth"))
    mode = keras_resnet.catalog.preprocessing_mode("resnet18")
    assert mode == "torch"
    deploy.export(model, tmp_path / "r18.onnx", preprocessing=mode, verbose=False)
    got = deploy.load_exported(tmp_path / "r18.onnx").predict(images)
    assert np.max(np.abs(got - np.load(tmp_path / "want.npy"))) <= 1e-4


# The command line.


@pytest.fixture
def digits_run(digits, tmp_path):
    """A run directory as `keras-resnet train` leaves it, holding the trained weights."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    network, mode = _float_part(digits["model"])
    network.save_weights(run_dir / "best.weights.h5")
    settings = {
        "model": "small-resnet", "classes": 10, "class_names": digits["class_names"],
        "image_size": SIZE, "preprocessing": mode, "augmentation": "translate",
    }
    (run_dir / "run.json").write_text(json.dumps(settings))
    return run_dir


def test_cli_exports_a_run_and_predict_runs_it(digits_run, digits, tmp_path, capsys):
    from PIL import Image

    output = tmp_path / "digits.keras"
    assert cli.main(["export", "--run-dir", str(digits_run), "-o", str(output)]) == 0
    out = capsys.readouterr().out
    assert "verified in Keras" in out and "max |probability difference|" in out
    assert runtimes.read_metadata(output)["class_names"] == digits["class_names"]

    png = tmp_path / "seven.png"
    Image.fromarray(digits["x"][0]).save(png)
    assert cli.main(["predict", "--run-dir", str(digits_run), str(png), "--top", "3"]) == 0
    from_run = capsys.readouterr().out
    assert cli.main(["predict", "--exported", str(output), str(png), "--top", "3"]) == 0
    assert capsys.readouterr().out == from_run


@requires_tensorflow
def test_cli_random_weights_for_speed(tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("tf2onnx")
    output = tmp_path / "random.onnx"
    argv = ["export", "--model", "small-resnet", "--weights", "none", "--image-size", "24",
            "--classes", "3", "-o", str(output)]
    assert cli.main(argv) == 0
    metadata = runtimes.read_metadata(output)
    assert metadata["image_size"] == 24 and metadata["class_names"] == ["0", "1", "2"]


def _one_line_error(capsys, argv, status=2):
    got = cli.main(argv)
    err = capsys.readouterr().err.strip()
    assert got == status, err
    assert len(err.splitlines()) == 1, err
    return err


def test_cli_bad_input_one_line_nothing_written(digits_run, tmp_path, capsys):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    run = ["export", "--run-dir", str(digits_run)]
    err = _one_line_error(capsys, [*run, "--format", "tensorrt", "-o", str(out_dir / "m.plan")])
    assert "--format" in err and "tensorrt" in err
    err = _one_line_error(capsys, [*run, "-o", str(tmp_path / "missing" / "m.onnx")])
    assert "-o" in err and "missing" in err
    err = _one_line_error(capsys, [*run, "-o", str(out_dir) + "/", "--format", "onnx"])
    assert "folder" in err
    (digits_run / "best.weights.h5").unlink()
    err = _one_line_error(capsys, [*run, "-o", str(out_dir / "m.keras")])
    assert "best.weights.h5" in err and "--weights none" in err
    err = _one_line_error(capsys, ["export", "--model", "small-resnet", "-o", str(out_dir / "m.keras")])
    assert "--weights" in err
    assert os.listdir(out_dir) == []


def test_failed_verification_leaves_nothing(digits, tmp_path):
    with pytest.raises(ExportError, match="differs from Keras"):
        deploy.export(digits["model"], tmp_path / "m.keras", tolerance=-1.0, verbose=False)
    with pytest.raises(ValueError, match="format"):
        deploy.export(digits["model"], tmp_path / "m.trt", verbose=False)
    with pytest.raises(ValueError, match=r"\.onnx"):
        deploy.export(digits["model"], tmp_path / "m.keras", format="onnx", verbose=False)
    assert os.listdir(tmp_path) == []  # no temporary folder either


# int8: the convolutions and the classifier, through each runtime's own tool.

INT8_MODULES = {
    "onnx": ["onnxruntime", "onnx", "tf2onnx"], "openvino": ["openvino", "nncf"],
    "litert": ["tensorflow"],
}


@requires_tensorflow
@pytest.mark.parametrize("format", sorted(INT8_MODULES))
def test_int8_digits_within_a_point(format, digits, tmp_path):
    for module in INT8_MODULES[format]:
        pytest.importorskip(module)
    calibration = _upscale(data.load_digits()["val"][0][:32])  # 32 must do
    path = tmp_path / OUTPUTS[format]
    result = deploy.export(
        digits["model"], path, int8=True, calibration=calibration,
        eval_data=(digits["x"], digits["y"]), verbose=False,
    )
    exported = deploy.load_exported(path)
    keras_accuracy = _accuracy(digits["probs"], digits["y"])
    int8_accuracy = _accuracy(exported.predict(digits["x"]), digits["y"])
    assert abs(int8_accuracy - keras_accuracy) <= 1.0
    assert result["accuracy_int8"] == pytest.approx(int8_accuracy)
    assert result["accuracy_float32"] == pytest.approx(keras_accuracy)
    assert exported.metadata["precision"] == "int8"
    assert exported.metadata["class_names"] == digits["class_names"]
    if format == "onnx":
        import onnx

        graph = onnx.load(path).graph
        int8_weights = {
            t.name for t in graph.initializer if t.data_type == onnx.TensorProto.INT8
        }
        convs = [n for n in graph.node if n.op_type in ("Conv", "MatMul")]
        # Every convolution but the float preprocessing, and the classifier, read int8 weights.
        dequantized = {n.output[0] for n in graph.node
                       if n.op_type == "DequantizeLinear" and n.input[0] in int8_weights}
        assert sum(n.input[1] in dequantized for n in convs) == len(convs) - 1
    elif format == "openvino":
        import openvino as ov

        ops = [op.get_type_name() for op in ov.Core().read_model(path).get_ops()]
        assert ops.count("FakeQuantize") >= ops.count("Convolution")
    else:
        import tensorflow as tf

        interpreter = tf.lite.Interpreter(model_path=str(path))
        kinds = [d["dtype"] for d in interpreter.get_tensor_details()]
        # Convolution kernels and activations in int8; float32 only at the edges.
        assert kinds.count(np.int8) > 10 * kinds.count(np.float32)


@requires_tensorflow
def test_int8_beyond_max_drop_leaves_nothing(digits, tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("tf2onnx")
    with pytest.raises(ExportError, match="max-drop"):
        deploy.export(
            digits["model"], tmp_path / "m.onnx", int8=True, calibration=digits["x"][:32],
            eval_data=(digits["x"], digits["y"]), max_drop=-1.0, verbose=False,
        )
    assert os.listdir(tmp_path) == []


@requires_tensorflow
def test_cli_int8_from_image_folders(digits_run, digits, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("tf2onnx")
    from PIL import Image

    calibration = tmp_path / "calibration"
    calibration.mkdir()
    for i, image in enumerate(digits["x"][:32]):
        Image.fromarray(image).save(calibration / f"{i}.png")
    evaluation = tmp_path / "eval"
    for i, (image, label) in enumerate(zip(digits["x"][:100], digits["y"][:100])):
        (evaluation / str(label)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(evaluation / str(label) / f"{i}.png")
    output = tmp_path / "int8.onnx"
    argv = ["export", "--run-dir", str(digits_run), "-o", str(output), "--int8",
            "--calibration", str(calibration), "--eval-data", str(evaluation)]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "top-1 agreement with float32" in out and "int8" in out
    assert "accuracy on 100 images: float32" in out
    assert runtimes.read_metadata(output)["precision"] == "int8"


def test_cli_int8_bad_input(digits_run, tmp_path, capsys):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    run = ["export", "--run-dir", str(digits_run)]
    err = _one_line_error(capsys, [*run, "-o", str(out_dir / "m.onnx"), "--int8",
                                   "--calibration", str(tmp_path / "nowhere")])
    assert "--calibration" in err and "nowhere" in err
    err = _one_line_error(capsys, [*run, "-o", str(out_dir / "m.keras"), "--int8",
                                   "--calibration", str(tmp_path)])
    assert "--int8" in err and "keras" in err
    err = _one_line_error(capsys, [*run, "-o", str(out_dir / "m.onnx"), "--int8"])
    assert "--calibration" in err
    assert os.listdir(out_dir) == []

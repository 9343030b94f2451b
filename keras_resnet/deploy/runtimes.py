"""Exported models run in their own runtimes, and the metadata that travels with them.

Each exported artifact (``keras_resnet.deploy.export``) takes a batch of
uint8 RGB images (N, H, W, 3) and returns class probabilities. ``load(path)``
opens one in the runtime a deployment would use (TensorFlow's SavedModel
loader, ONNX Runtime, OpenVINO, LiteRT's interpreter, Keras) and returns an
``Exported``: ``predict(images)`` and the artifact's ``metadata`` (class
names, image size, preprocessing mode), read back from where the format
keeps it:

========== ==================================================================
format     where the metadata is
========== ==================================================================
saved_model ``assets.extra/keras_resnet.json`` inside the directory
onnx       the model's ``metadata_props`` (``keras_resnet`` key, JSON)
openvino   the IR's ``rt_info`` (``keras_resnet`` key, JSON)
litert     ``<file>.tflite.json`` beside the file
keras      ``keras_resnet.json`` inside the ``.keras`` zip archive
========== ==================================================================
"""

import json
import os
import zipfile

import numpy as np

#: The key (or file stem) the metadata is stored under in every format.
METADATA_KEY = "keras_resnet"
#: Where a SavedModel keeps it: TF Serving copies ``assets.extra`` untouched.
SAVED_MODEL_METADATA = os.path.join("assets.extra", f"{METADATA_KEY}.json")
#: Its name inside a ``.keras`` archive (Keras reads only its own entries).
KERAS_METADATA = f"{METADATA_KEY}.json"

#: The package each runtime comes from (``pip install ".[export]"`` brings them).
RUNTIME_PACKAGES = {
    "saved_model": "tensorflow",
    "onnx": "onnxruntime",
    "openvino": "openvino",
    "litert": "ai-edge-litert (or tensorflow)",
    "keras": "keras",
}


class Exported:
    """An exported model opened in its runtime.

    Attributes:
        format: ``"saved_model"``, ``"onnx"``, ``"openvino"``, ``"litert"``
            or ``"keras"``.
        runtime: The runtime's name, for messages.
        metadata: The artifact's metadata dict (``class_names``,
            ``image_size``, ``preprocessing``, ...), or ``{}`` if it has none.
    """

    def __init__(self, format, runtime, predict, metadata):
        self.format = format
        self.runtime = runtime
        self._predict = predict
        self.metadata = metadata

    def predict(self, images):
        """Class probabilities (float32 NumPy, (N, classes)) of uint8 images (N, H, W, 3)."""
        images = np.ascontiguousarray(images, dtype=np.uint8)
        return np.asarray(self._predict(images), dtype=np.float32)


def format_of(path):
    """The export format ``path`` names by its form, or None.

    A directory (or a name without a suffix) is a SavedModel; ``.onnx``,
    ``.xml`` (OpenVINO), ``.tflite`` and ``.keras`` name the others.
    """
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    by_suffix = {".onnx": "onnx", ".xml": "openvino", ".tflite": "litert", ".keras": "keras"}
    if suffix in by_suffix:
        return by_suffix[suffix]
    if os.path.isdir(path) or suffix == "":
        return "saved_model"
    return None


def load(path, format=None):
    """Opens an exported model in its own runtime.

    Args:
        path: The artifact (a SavedModel directory, ``.onnx``, ``.xml``,
            ``.tflite`` or ``.keras`` file).
        format: The format, when ``path`` does not say it.

    Returns:
        An ``Exported``.

    Raises:
        ValueError: If the format is unknown or ``path`` does not exist.
        ImportError: If the runtime is not installed (one line naming it).
    """
    path = os.fspath(path)
    format = format or format_of(path)
    if format not in _OPENERS:
        raise ValueError(
            f"Not an exported model (.onnx, .xml, .tflite, .keras or a SavedModel "
            f"directory). Received: path={path!r}"
        )
    if not os.path.exists(path):
        raise ValueError(f"Exported model not found. Received: path={path!r}")
    try:
        return _OPENERS[format](path)
    except ImportError as e:
        raise ImportError(
            f"running a {format} model needs {RUNTIME_PACKAGES[format]} "
            f"(pip install \".[export]\"): {e}"
        ) from None


def read_metadata(path, format=None):
    """The metadata dict stored with an exported model, without running it."""
    path = os.fspath(path)
    format = format or format_of(path)
    if format == "saved_model":
        return _read_json(os.path.join(path, SAVED_MODEL_METADATA))
    if format == "litert":
        return _read_json(path + ".json")
    if format == "keras":
        with zipfile.ZipFile(path) as archive:
            if KERAS_METADATA not in archive.namelist():
                return {}
            return json.loads(archive.read(KERAS_METADATA))
    if format == "onnx":
        import onnx

        props = {p.key: p.value for p in onnx.load(path, load_external_data=False).metadata_props}
        return json.loads(props[METADATA_KEY]) if METADATA_KEY in props else {}
    if format == "openvino":
        import openvino as ov

        return _openvino_metadata(ov.Core().read_model(path))
    raise ValueError(f"Unknown export format. Received: format={format!r}")


def _read_json(path):
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def _open_saved_model(path):
    import tensorflow as tf

    serve = tf.saved_model.load(path).signatures["serving_default"]
    (name,) = serve.structured_input_signature[1]

    def predict(images):
        (output,) = serve(**{name: tf.constant(images)}).values()
        return output.numpy()

    return Exported("saved_model", "TensorFlow SavedModel", predict, read_metadata(path, "saved_model"))


def _open_onnx(path):
    import onnxruntime as ort

    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    props = session.get_modelmeta().custom_metadata_map
    metadata = json.loads(props[METADATA_KEY]) if METADATA_KEY in props else {}
    return Exported(
        "onnx", f"ONNX Runtime {ort.__version__}",
        lambda images: session.run(None, {name: images})[0], metadata,
    )


def _open_openvino(path):
    import openvino as ov

    core = ov.Core()
    model = core.read_model(path)
    # OpenVINO computes in bfloat16 by default on CPUs that have it; an
    # exported float32 model is checked and served as float32.
    compiled = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})

    def predict(images):
        return compiled(images)[compiled.output(0)]

    return Exported("openvino", f"OpenVINO {ov.get_version()}", predict, _openvino_metadata(model))


def _openvino_metadata(model):
    if not model.has_rt_info([METADATA_KEY]):
        return {}
    return json.loads(model.get_rt_info([METADATA_KEY]).astype(str))


def _open_litert(path):
    try:
        from ai_edge_litert.interpreter import Interpreter

        runtime = "LiteRT"
    except ImportError:
        import tensorflow as tf

        Interpreter, runtime = tf.lite.Interpreter, "TensorFlow Lite"
    interpreter = Interpreter(model_path=path)

    def predict(images):
        (source,), (sink,) = interpreter.get_input_details(), interpreter.get_output_details()
        # The batch axis is dynamic (-1 in the signature): sized per call.
        interpreter.resize_tensor_input(source["index"], images.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(source["index"], images)
        interpreter.invoke()
        return interpreter.get_tensor(sink["index"]).copy()

    return Exported("litert", runtime, predict, read_metadata(path, "litert"))


def _open_keras(path):
    import keras

    model = keras.saving.load_model(path)  # safe mode: no code in the file runs

    def predict(images):
        return keras.ops.convert_to_numpy(model(images, training=False))

    return Exported("keras", f"Keras {keras.__version__}", predict, read_metadata(path, "keras"))


_OPENERS = {
    "saved_model": _open_saved_model,
    "onnx": _open_onnx,
    "openvino": _open_openvino,
    "litert": _open_litert,
    "keras": _open_keras,
}

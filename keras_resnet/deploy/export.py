"""Export to SavedModel, ONNX, OpenVINO, LiteRT and ``.keras``, verified in each runtime.

``export(model, path, format=..., preprocessing=...)`` writes a model that
takes a batch of uint8 RGB images (N, H, W, 3), any batch size, and returns
class probabilities. The preprocessing is in the graph, made of Keras's own
layers (a ``Rescaling`` that casts to float32 and one fixed 1x1 convolution
that is ``preprocess_input``'s affine map, channel flip of ``"caffe"``
included, then a ``Permute`` for a channels-first network), so that a
runtime user cannot get it wrong and a ``.keras`` file loads in safe mode
without custom objects.

Right after writing, the artifact is opened in its own runtime
(``keras_resnet.deploy.runtimes``) and its outputs on a few images compared
with Keras's; a difference beyond the tolerance is an error and nothing is
left behind. Everything is written in a temporary folder beside the target
and renamed into place only once verified.
"""

import json
import os
import shutil
import tempfile
import warnings
import zipfile

import keras
import numpy as np

from keras_resnet import preprocessing as preprocessing_lib
from keras_resnet.deploy import quantize, runtimes

#: What ``export`` writes.
FORMATS = ("saved_model", "onnx", "openvino", "litert", "keras")
#: The suffix ``-o`` must have per format (SavedModel: a directory, any name).
SUFFIXES = {"onnx": ".onnx", "openvino": ".xml", "litert": ".tflite", "keras": ".keras"}
#: Largest absolute difference of probabilities accepted (float32).
TOLERANCE = 1e-4
#: Images the verification runs (batch > 1: the dynamic batch axis is exercised).
VERIFY_IMAGES = 4


class ExportError(ValueError):
    """An export that could not be written or did not verify; one line, nothing left behind."""


def preprocessing_affine(mode):
    """``preprocess_input(mode)`` as ``x @ kernel + bias`` on RGB pixels in [0, 255].

    Returns:
        ``(kernel, bias)``: a (3, 3) matrix (rows: input RGB channels,
        columns: output channels, BGR for ``"caffe"``) and a (3,) offset.
    """
    if mode == "tf":
        scale, offset, order = np.full(3, 1 / 127.5), np.full(3, -1.0), (0, 1, 2)
    elif mode == "torch":
        std = np.asarray(preprocessing_lib.TORCH_STD)
        mean = np.asarray(preprocessing_lib.TORCH_MEAN)
        scale, offset, order = 1 / (255.0 * std), -mean / std, (0, 1, 2)
    elif mode == "caffe":
        scale, offset = np.ones(3), -np.asarray(preprocessing_lib.CAFFE_BGR_MEAN)
        order = (2, 1, 0)  # output channel c is input channel order[c]: RGB -> BGR
    else:
        raise ValueError(
            f"`preprocessing` should be 'caffe', 'tf' or 'torch'. Received: preprocessing={mode!r}"
        )
    kernel = np.zeros((3, 3))
    for out, source in enumerate(order):
        kernel[source, out] = scale[out]
    return kernel.astype("float32"), offset.astype("float32")


def float_model(model):
    """The part of ``model`` that takes preprocessed float inputs.

    Args:
        model: A ``keras.Model`` taking preprocessed float images (Keras's
            convention), a model built with ``input_preprocessing`` (uint8
            in; its first layer is dropped), or an ``InferenceModel`` of
            ``optimize_for_inference`` in float32.

    Returns:
        ``(model, mode)``: the float-input model and, for a uint8-input
        model, the ``preprocess_input`` mode its first layer applied (else None).
    """
    from keras_resnet.deploy.compiled import InferenceModel

    if isinstance(model, InferenceModel):
        if model.precision != "float32":
            raise ValueError(
                "Export an InferenceModel computed in float32 "
                "(optimize_for_inference(model, 'float32')). "
                f"Received: precision={model.precision!r}"
            )
        model = model.model
    if not isinstance(model, keras.Model):
        raise ValueError(f"`model` should be a keras.Model. Received: model={type(model).__name__}")
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ValueError("`model` should have one input and one output (an image classifier).")
    first = model.layers[1] if len(model.layers) > 1 else None
    if model.inputs[0].dtype == "uint8" and hasattr(first, "mode"):
        # A model with its InputPreprocessing layer: the rest, from that layer's output.
        return keras.Model(first.output, model.outputs[0], name=model.name), first.mode
    return model, None


def serving_model(model, *, preprocessing, image_size=None):
    """``model`` behind uint8 RGB inputs, with ``preprocess_input`` inside, in Keras's layers.

    Args:
        model: A classifier taking preprocessed float inputs (see ``float_model``).
        preprocessing: Its ``preprocess_input`` mode: ``"caffe"``, ``"tf"`` or ``"torch"``.
        image_size: The input side, when the model's input shape leaves it open.

    Returns:
        A ``keras.Model`` with input ``images`` (uint8, (None, H, W, 3)) and
        the probabilities as its one output.
    """
    shape = model.inputs[0].shape[1:]
    channels_first = shape[0] == 3 and shape[-1] != 3
    side = shape[1] if channels_first else shape[0]
    side = side or image_size
    if not side:
        raise ValueError("The model's input size is open: give `image_size`.")
    kernel, bias = preprocessing_affine(preprocessing)
    inputs = keras.Input((side, side, 3), dtype="uint8", name="images")
    x = keras.layers.Rescaling(1.0, name="to_float32", dtype="float32")(inputs)
    affine = keras.layers.Conv2D(
        3, 1, data_format="channels_last", name="preprocess_input", dtype="float32",
        trainable=False,
    )
    x = affine(x)
    affine.set_weights([kernel[None, None], bias])
    if channels_first:
        x = keras.layers.Permute((3, 1, 2), name="to_channels_first")(x)
    outputs = model(x)
    return keras.Model(inputs, outputs, name=f"{model.name}_uint8")


def export(
    model, path, *, format=None, preprocessing=None, class_names=None, image_size=None,
    metadata=None, images=None, tolerance=TOLERANCE, verbose=True,
    int8=False, calibration=None, eval_data=None, max_drop=1.0,
):
    """Exports an image classifier that takes uint8 RGB and returns probabilities.

    Args:
        model: A classifier: float inputs (give ``preprocessing``), a model
            built with ``input_preprocessing`` (the mode is its own), or a
            float32 ``InferenceModel`` from ``optimize_for_inference``.
        path: The output: ``.onnx``, OpenVINO's ``.xml`` (its ``.bin``
            beside it), ``.tflite``, ``.keras``, or a SavedModel directory.
        format: One of ``FORMATS``; by default the one ``path`` names.
        preprocessing: The ``preprocess_input`` mode the model expects.
        class_names: Names of the classes, stored with the artifact.
        image_size: Input side, if the model's input leaves it open.
        metadata: More fields to store (``{"model": "resnet50"}``).
        images: uint8 images (N, H, W, 3) to verify on; default: 4 seeded
            random images.
        tolerance: Largest absolute difference of probabilities accepted.
        verbose: Print what was written and the measured error.
        int8: Write the int8 version (ONNX, OpenVINO, LiteRT): the float32 export
            is verified first, then quantized (``deploy.quantize``).
        calibration: uint8 images (N, H, W, 3) to calibrate int8 on (a few
            hundred are best; 32 do). Required with ``int8``.
        eval_data: Optional ``(images, labels)``: accuracy of the float32
            model and of the int8 one, printed.
        max_drop: With ``eval_data``: the largest accuracy drop in points
            accepted from int8; beyond it, an ``ExportError``.

    Returns:
        A dict: ``path``, ``format``, ``files`` (written), ``runtime``,
        ``max_error`` (of the float32 export) and ``metadata``; with
        ``int8``, also ``agreement`` (top-1 agreement with float32 on the
        calibration images, percent) and, with ``eval_data``,
        ``accuracy_float32`` and ``accuracy_int8``.

    Raises:
        ExportError: For an output that cannot be written, an exporter that
            fails on this backend, or a verification beyond ``tolerance``;
            nothing is left at ``path``.
        ValueError: For an unknown format or bad arguments.

    Example:
        >>> model = keras_resnet.ResNet50(weights="imagenet")
        >>> export(model, "resnet50.onnx", preprocessing="caffe")
    """
    path = os.path.abspath(os.fspath(path))
    format = format or runtimes.format_of(path)
    if format not in FORMATS:
        raise ValueError(f"`format` should be one of {', '.join(FORMATS)}. Received: format={format!r}")
    suffix = SUFFIXES.get(format)
    if suffix and not path.lower().endswith(suffix):
        raise ValueError(f"A {format} export is written to a {suffix} file. Received: path={path!r}")
    if int8:
        if format not in quantize.INT8_FORMATS:
            raise ValueError(
                f"int8 export is for {' and '.join(quantize.INT8_FORMATS)}. Received: format={format!r}"
            )
        if calibration is None or len(calibration) == 0:
            raise ValueError("int8 export needs `calibration` images (uint8, (N, H, W, 3)).")
    network, own_mode = float_model(model)
    mode = preprocessing or own_mode
    if mode is None:
        raise ValueError("Give `preprocessing` ('caffe', 'tf' or 'torch'): the model takes floats.")
    served = serving_model(network, preprocessing=mode, image_size=image_size)
    side = served.inputs[0].shape[1]
    classes = served.outputs[0].shape[-1]
    if class_names is not None and len(class_names) != classes:
        raise ValueError(
            f"`class_names` should have {classes} names, one per class. "
            f"Received: {len(class_names)} names"
        )
    info = {
        **(metadata or {}),
        "class_names": list(class_names) if class_names is not None else [str(i) for i in range(classes)],
        "image_size": int(side),
        "preprocessing": mode,
        "input": "uint8 RGB (N, H, W, 3)",
        "output": "probabilities (N, classes)",
    }
    if images is None:
        images = np.random.default_rng(0).integers(0, 256, (VERIFY_IMAGES, side, side, 3), np.uint8)
    images = np.asarray(images, np.uint8)
    expected = keras.ops.convert_to_numpy(served(images, training=False))

    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        raise ExportError(f"cannot write {path}: no folder {parent}")
    if os.path.isdir(path) != (format == "saved_model") and os.path.exists(path):
        kind = "a folder" if os.path.isdir(path) else "a file"
        raise ExportError(f"cannot write a {format} export over {path}: it is {kind}")
    try:
        workspace = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.", dir=parent)
    except OSError as e:
        raise ExportError(f"cannot write {path}: {e.strerror or e}") from None
    try:
        staged = os.path.join(workspace, os.path.basename(path))
        _write(served, staged, format, info)
        opened = runtimes.load(staged, format)
        got = opened.predict(images)
        error = float(np.max(np.abs(got - expected))) if got.shape == expected.shape else np.inf
        if verbose:
            print(
                f"verified in {opened.runtime}: max |probability difference| {error:.1e} "
                f"over {len(images)} images (tolerance {tolerance:g})"
            )
        if not error <= tolerance:
            raise ExportError(
                f"{format} export of {path} differs from Keras by {error:.2e} "
                f"(tolerance {tolerance:g}); nothing written"
            )
        if opened.metadata != info:
            raise ExportError(f"{format} export of {path}: the metadata did not read back; nothing written")
        result = {}
        if int8:
            result = _int8(served, staged, format, info, calibration, eval_data, max_drop, verbose)
            workspace_files = os.path.dirname(result.pop("staged"))
            info = {**info, "precision": "int8"}
        else:
            workspace_files = workspace
        files = _move_into_place(workspace_files, path, format)
    finally:
        shutil.rmtree(workspace, ignore_errors=True)
    if verbose:
        print(f"wrote {', '.join(files)}")
    return {
        "path": path, "format": format, "files": files, "runtime": opened.runtime,
        "max_error": error, "metadata": info, **result,
    }


def _int8(served, staged, format, info, calibration, eval_data, max_drop, verbose):
    """Quantizes the verified float artifact ``staged``; checks it against float32 Keras."""
    calibration = np.asarray(calibration, np.uint8)
    folder = os.path.join(os.path.dirname(staged), "int8")
    os.mkdir(folder)
    target = os.path.join(folder, os.path.basename(staged))
    try:
        quantize.quantize(
            staged, target, format, calibration, {**info, "precision": "int8"}, served=served
        )
    except ImportError as e:
        raise ExportError(f"int8 {format} export needs a package that is not installed: {e}") from None
    opened = runtimes.load(target, format)
    reference = served.predict(calibration, batch_size=32, verbose=0)
    result = {
        "staged": target,
        "agreement": quantize.top1_agreement(opened.predict(calibration), reference),
    }
    if verbose:
        print(
            f"int8 in {opened.runtime}: top-1 agreement with float32 {result['agreement']:.1f}% "
            f"on {len(calibration)} calibration images"
        )
    if eval_data is not None:
        images, labels = np.asarray(eval_data[0], np.uint8), np.asarray(eval_data[1])
        before = quantize.accuracy(served.predict(images, batch_size=32, verbose=0), labels)
        after = quantize.accuracy(opened.predict(images), labels)
        result.update(accuracy_float32=before, accuracy_int8=after)
        if verbose:
            print(f"accuracy on {len(images)} images: float32 {before:.2f}%, int8 {after:.2f}%")
        if before - after > max_drop:
            raise ExportError(
                f"int8 loses {before - after:.2f} points of accuracy ({before:.2f}% -> "
                f"{after:.2f}%), more than --max-drop {max_drop:g}; nothing written"
            )
    return result


def _write(model, path, format, info):
    """Writes ``model`` as ``format`` at ``path`` (in the workspace), metadata included."""
    try:
        if format == "keras":
            model.save(path)
            with zipfile.ZipFile(path, "a") as archive:
                archive.writestr(runtimes.KERAS_METADATA, json.dumps(info))
        elif format == "saved_model":
            _write_saved_model(model, path)
            os.makedirs(os.path.join(path, "assets.extra"))
            _write_json(os.path.join(path, runtimes.SAVED_MODEL_METADATA), info)
        elif format == "onnx":
            import onnx

            with warnings.catch_warnings():
                # Keras's tf2onnx patch probes `np.object`, which NumPy 2 warns about.
                warnings.simplefilter("ignore", FutureWarning)
                model.export(path, format="onnx", verbose=False)
            proto = onnx.load(path)
            entry = proto.metadata_props.add()
            entry.key, entry.value = runtimes.METADATA_KEY, json.dumps(info)
            onnx.save(proto, path)
        elif format == "openvino":
            import openvino as ov

            raw = path[: -len(".xml")] + ".raw.xml"
            model.export(raw, format="openvino", verbose=False)
            ir = ov.Core().read_model(raw)
            ir.set_rt_info(json.dumps(info), [runtimes.METADATA_KEY])
            ov.save_model(ir, path, compress_to_fp16=False)
        elif format == "litert":
            model.export(path, format="litert", verbose=False)
            _write_json(path + ".json", info)
    except ImportError as e:
        # Keras's own message names the package (tf2onnx, jax2onnx, litert-torch, ...).
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ExportError(
            f"{format} export on the {keras.backend.backend()} backend needs a package that is "
            f"not installed (pip install \".[export]\" for TensorFlow's): {first}"
        ) from None


def _write_saved_model(model, path):
    """A SavedModel whose ``serving_default`` takes ``images`` (uint8) and returns probabilities."""
    backend = keras.backend.backend()
    if backend not in ("tensorflow", "jax"):
        # Keras's tf_saved_model exporter fails on PyTorch (a Keras bug).
        raise ExportError(
            f"saved_model export needs the TensorFlow or JAX backend (Keras's exporter fails on "
            f"{backend}); rerun with KERAS_BACKEND=tensorflow"
        )
    import tensorflow as tf

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        "serving_default",
        lambda images: model(images, training=False),
        input_signature=[tf.TensorSpec((None, *model.inputs[0].shape[1:]), tf.uint8, name="images")],
    )
    archive.write_out(path, verbose=False)


def _write_json(path, value):
    with open(path, "w") as f:
        json.dump(value, f, indent=1)


def _artifact_files(path, format):
    """The paths an artifact at ``path`` consists of."""
    if format == "openvino":
        return [path[: -len(".xml")] + ".bin", path]
    if format == "litert":
        return [path, path + ".json"]
    return [path]


def _move_into_place(workspace, path, format):
    """Renames the verified files from ``workspace`` onto ``path``; returns them."""
    files = _artifact_files(path, format)
    for target in files:
        source = os.path.join(workspace, os.path.basename(target))
        if os.path.isdir(target) and not os.path.islink(target):
            # A directory cannot be replaced in one rename: the old one is moved aside first.
            old = os.path.join(workspace, ".old")
            os.rename(target, old)
        os.replace(source, target)
    return files

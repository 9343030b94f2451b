"""int8 for the convolutions and the classifier, through each runtime's own tools.

Keras's ``model.quantize("int8")`` covers Dense and Embedding layers only: on
a ResNet, the classifier. Here the exported float32 artifact is quantized
after the fact, by the tool its runtime's makers keep:

- ONNX: ONNX Runtime's ``quantize_static``, QDQ format, int8 weights per
  output channel, int8 activations calibrated on the user's images (the
  layout ONNX Runtime runs with VNNI instructions on x86);
- OpenVINO: NNCF's post-training quantization (``nncf.quantize``);
- LiteRT: the TFLite converter with a representative dataset (int8
  weights and activations, float32 only at the edges of the graph).

The preprocessing convolution stays in float32: its input is the raw uint8
image, which an int8 activation would halve in resolution for no speed.
"""

import json

import numpy as np

from keras_resnet.deploy import hardware, runtimes

#: Formats with an int8 path.
INT8_FORMATS = ("onnx", "openvino", "litert")
#: Images per calibration batch.
CALIBRATION_BATCH = 8
#: The preprocessing layer's name, kept in float32.
PREPROCESSING_LAYER = "preprocess_input"


def quantize(source, target, format, images, metadata, *, served=None):
    """Writes the int8 version of the float artifact ``source`` at ``target``.

    Args:
        source: The verified float32 artifact (``.onnx``, ``.xml``, ``.tflite``).
        target: Where the int8 one goes (same format).
        format: ``"onnx"``, ``"openvino"`` or ``"litert"``.
        images: Calibration images, uint8 (N, H, W, 3).
        metadata: The metadata dict to store with it.
        served: The uint8-in Keras model ``source`` was written from
            (LiteRT quantizes while converting, so it starts from Keras).

    Raises:
        ValueError: For a format without an int8 path.
        ImportError: If the quantization tool is not installed.
    """
    if format == "onnx":
        _quantize_onnx(source, target, images, metadata)
    elif format == "openvino":
        _quantize_openvino(source, target, images, metadata)
    elif format == "litert":
        _quantize_litert(served, target, images, metadata)
    else:
        raise ValueError(
            f"int8 export is for {' and '.join(INT8_FORMATS)}. Received: format={format!r}"
        )


def _batches(images):
    return [images[i:i + CALIBRATION_BATCH] for i in range(0, len(images), CALIBRATION_BATCH)]


def _quantize_onnx(source, target, images, metadata):
    import onnx
    from onnxruntime import quantization

    model = onnx.load(source)
    name = model.graph.input[0].name
    keep_float = [n.name for n in model.graph.node if PREPROCESSING_LAYER in n.name]

    class Reader(quantization.CalibrationDataReader):
        def __init__(self):
            self.feed = iter([{name: batch} for batch in _batches(images)])

        def get_next(self):
            return next(self.feed, None)

    quantization.quantize_static(
        source, target, Reader(),
        quant_format=quantization.QuantFormat.QDQ,
        per_channel=True,
        # Unsigned activations with signed weights (U8S8): the pairing ONNX
        # Runtime's x86 int8 kernels are built for. Signed activations ran
        # at 0.94x of float32 on an AVX-512 VNNI CPU, unsigned at 2.2x.
        activation_type=quantization.QuantType.QUInt8,
        weight_type=quantization.QuantType.QInt8,
        # Without VNNI, U8S8 products go through 16-bit sums that can
        # saturate; 7-bit weights keep them in range (ONNX Runtime's advice).
        reduce_range=not hardware.cpu_has_vnni(),
        nodes_to_exclude=keep_float,
        # Percentile-free min/max over the user's images: what ONNX Runtime documents for CNNs.
        calibrate_method=quantization.CalibrationMethod.MinMax,
    )
    quantized = onnx.load(target)
    del quantized.metadata_props[:]
    entry = quantized.metadata_props.add()
    entry.key, entry.value = runtimes.METADATA_KEY, json.dumps(metadata)
    onnx.save(quantized, target)


def _quantize_openvino(source, target, images, metadata):
    import warnings

    import openvino as ov

    with warnings.catch_warnings():
        # NNCF imports PyTorch, which warns about a machine without CUDA: not the user's concern.
        warnings.simplefilter("ignore", UserWarning)
        import nncf

    model = ov.Core().read_model(source)
    keep_float = [op.get_friendly_name() for op in model.get_ops()
                  if PREPROCESSING_LAYER in op.get_friendly_name()
                  and op.get_type_name() == "Convolution"]
    quantized = nncf.quantize(
        model, nncf.Dataset(_batches(images)), subset_size=len(images),
        ignored_scope=nncf.IgnoredScope(names=keep_float, validate=False),
    )
    quantized.set_rt_info(json.dumps(metadata), [runtimes.METADATA_KEY])
    ov.save_model(quantized, target, compress_to_fp16=False)


def _quantize_litert(served, target, images, metadata):
    import tensorflow as tf

    def representative_dataset():
        for i in range(len(images)):
            yield [images[i:i + 1]]

    served.export(
        target, format="litert", verbose=False,
        optimizations=[tf.lite.Optimize.DEFAULT], representative_dataset=representative_dataset,
    )
    with open(target + ".json", "w") as f:
        json.dump(metadata, f, indent=1)


def top1_agreement(a, b):
    """Percentage of rows where two probability arrays have the same top class."""
    return 100.0 * float(np.mean(np.argmax(a, axis=1) == np.argmax(b, axis=1)))


def accuracy(probabilities, labels):
    """Top-1 accuracy in percent."""
    return 100.0 * float(np.mean(np.argmax(probabilities, axis=1) == np.asarray(labels)))

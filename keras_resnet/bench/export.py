"""The exported model's speed: Keras, the fast path, ONNX Runtime, OpenVINO, LiteRT, int8.

``keras-resnet bench --only export``: ResNet-50 (random weights, the
``--weights none`` path) at 224 px, images per second at batch 1 and 32, of
Keras ``predict``, ``optimize_for_inference`` in float32 and in bfloat16
(where the CPU computes bfloat16 natively), and the exported model
(``keras_resnet.deploy.export``, uint8 in, preprocessing inside) in ONNX
Runtime, OpenVINO and LiteRT, each in float32 and int8. int8 is calibrated on
crops of scikit-learn's two sample photographs: with random weights accuracy
means nothing, the speed is the point.

Each configuration runs in its own process (export and quantization
included, excluded from the timing); each rate is the median of repeated
calls after a warm-up call. A runtime that is not installed gives a row
that says so rather than a failure.
"""

import os
import statistics
import tempfile
import time

#: name -> (label, kind, precision); kind is "keras", "fast" or an export format.
EXPORTS = {
    "export_keras": ("Keras predict", "keras", "float32"),
    "export_fast_float32": ("fast path float32", "fast", "float32"),
    "export_fast_bfloat16": ("fast path bfloat16", "fast", "bfloat16"),
    "export_onnx_float32": ("ONNX Runtime float32", "onnx", "float32"),
    "export_onnx_int8": ("ONNX Runtime int8", "onnx", "int8"),
    "export_openvino_float32": ("OpenVINO float32", "openvino", "float32"),
    "export_openvino_int8": ("OpenVINO int8", "openvino", "int8"),
    "export_litert_float32": ("LiteRT float32", "litert", "float32"),
    "export_litert_int8": ("LiteRT int8", "litert", "int8"),
}
SUFFIXES = {"onnx": ".onnx", "openvino": ".xml", "litert": ".tflite"}
# The Python package each runtime (and its int8 tool) needs, checked before minutes of export.
RUNTIME_MODULES = {
    "onnx": ("onnxruntime", "tf2onnx"),
    "openvino": ("openvino",),
    "litert": ("tensorflow",),
}
INT8_MODULES = {"openvino": ("nncf",)}
RUNTIMES = ("onnx", "openvino", "litert")

SIZES = dict(
    export_model="resnet50", export_size=224, export_batches=(1, 32),
    export_repeats={1: 20, 32: 5}, export_calibration=32,
)
QUICK_SIZES = dict(
    export_model="resnet18", export_size=32, export_batches=(1, 4),
    export_repeats={1: 3, 4: 2}, export_calibration=8,
)


def calibration_crops(count, size, *, seed=0):
    """``count`` uint8 crops (count, size, size, 3) of scikit-learn's two sample photographs.

    Each is a random square window (40% to 100% of the shorter side), resized
    with Pillow (bilinear): photograph statistics, no download.
    """
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_sample_images

    photos = load_sample_images().images
    rng = np.random.default_rng(seed)
    crops = []
    for i in range(count):
        photo = photos[i % len(photos)]
        side = min(photo.shape[:2]) * rng.uniform(0.4, 1.0)
        top = rng.uniform(0, photo.shape[0] - side)
        left = rng.uniform(0, photo.shape[1] - side)
        crops.append(
            np.asarray(
                Image.fromarray(photo).resize(
                    (size, size), Image.BILINEAR, box=(left, top, left + side, top + side)
                )
            )
        )
    return np.stack(crops).astype(np.uint8)


def _missing(kind, precision):
    import importlib.util

    modules = RUNTIME_MODULES.get(kind, ())
    if precision == "int8":
        modules += INT8_MODULES.get(kind, ())
    return [m for m in modules if importlib.util.find_spec(m) is None]


def _time(predict, images, repeats):
    """Median images/s (and per CPU-second) of ``repeats`` calls after a warm-up call."""
    predict(images)
    times, cpu_times = [], []
    for _ in range(repeats):
        start, cpu_start = time.perf_counter(), time.process_time()
        predict(images)
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)
    n = len(images)
    return {
        "median": statistics.median(n / s for s in times),
        "per_cpu_second": statistics.median(n / s for s in cpu_times),
        "runs": [n / s for s in times],
    }


def worker_export(sizes, kind, precision):
    """Images per second of one configuration of ``EXPORTS`` at each batch size."""
    import numpy as np

    from keras_resnet import catalog, deploy

    missing = _missing(kind, precision)
    if missing:
        return {"skipped": f"not installed: {', '.join(missing)}"}
    if kind == "fast" and precision == "bfloat16" and not deploy.cpu_has_bfloat16():
        return {"skipped": "no native bfloat16 on this CPU"}
    size = sizes["export_size"]
    model = catalog.build(sizes["export_model"], weights=None, input_shape=(size, size, 3))
    rng = np.random.default_rng(0)
    batches = {
        b: rng.integers(0, 256, (b, size, size, 3), np.uint8) for b in sizes["export_batches"]
    }
    result = {"model": sizes["export_model"], "size": size, "precision": precision}
    start = time.perf_counter()
    if kind in ("keras", "fast"):
        if kind == "fast":
            model = deploy.optimize_for_inference(model, precision=precision)
            result["jit_compile"] = model.jit_compile
        # Float input, as these models take it; the exported ones take uint8
        # and run the preprocessing (one 1x1 convolution) inside.
        def predict(x):
            return model.predict(x.astype("float32"), batch_size=len(x), verbose=0)
    else:
        folder = tempfile.mkdtemp(prefix="keras_resnet_bench_")
        path = os.path.join(folder, "model" + SUFFIXES[kind])
        int8 = precision == "int8"
        calibration = calibration_crops(sizes["export_calibration"], size) if int8 else None
        exported = deploy.export(
            model, path, preprocessing="caffe", verbose=False, int8=int8, calibration=calibration,
        )
        if int8:
            result["agreement"] = exported["agreement"]
        opened = deploy.load_exported(path, kind)
        result["runtime"] = opened.runtime
        predict = opened.predict
    result["prepare_seconds"] = time.perf_counter() - start
    result["batches"] = {
        str(b): _time(predict, x, sizes["export_repeats"][b]) for b, x in batches.items()
    }
    # The largest batch is the configuration's headline figure (as the inference group's).
    result.update(
        {k: result["batches"][str(max(batches))][k] for k in ("median", "per_cpu_second")}
    )
    return result


def configs(worker):
    """The ``CONFIGS`` rows of the export group, for ``keras_resnet.bench.workers``."""
    return {
        name: ("export", label, worker, (kind, precision))
        for name, (label, kind, precision) in EXPORTS.items()
    }


def _rate(results, name, batch):
    result = results.get(name)
    if not result or "batches" not in result:
        return None
    return result["batches"].get(str(batch), {}).get("median")


def _ratio(a, b):
    return a / b if a is not None and b else None


def summarize_export(results):
    """The export group's ratios, per batch size (None where a side did not run).

    ``export_<runtime>_int8_over_float32_b<N>``: int8 over the same runtime's
    float32; ``export_<runtime>_int8_over_fast_bfloat16_b<N>`` and
    ``..._over_fast_float32_b<N>``: int8 over the package's fast path;
    ``export_<runtime>_float32_over_keras_b<N>``: the exported float32 model
    over Keras ``predict``.
    """
    batches = set()
    for name in EXPORTS:
        batches.update((results.get(name) or {}).get("batches", {}))
    ratios = {}
    for batch in sorted(batches, key=int):
        b = int(batch)
        for runtime in RUNTIMES:
            int8 = _rate(results, f"export_{runtime}_int8", b)
            float32 = _rate(results, f"export_{runtime}_float32", b)
            ratios[f"export_{runtime}_int8_over_float32_b{b}"] = _ratio(int8, float32)
            for fast in ("bfloat16", "float32"):
                ratios[f"export_{runtime}_int8_over_fast_{fast}_b{b}"] = _ratio(
                    int8, _rate(results, f"export_fast_{fast}", b)
                )
            ratios[f"export_{runtime}_float32_over_keras_b{b}"] = _ratio(
                float32, _rate(results, "export_keras", b)
            )
    return ratios


def print_export(results, ratios, line):
    """The export group's table: img/s per batch size, int8's ratios."""
    ran = [results[n] for n in EXPORTS if n in results and "batches" in results[n]]
    if not any(n in results for n in EXPORTS):
        return
    batches = sorted(ran[0]["batches"], key=int) if ran else []
    if ran:
        line(
            f"[exported {ran[0]['model']}, {ran[0]['size']} px, random weights: img/s "
            f"(batch {', '.join(batches)}); int8 over the runtime's float32 and over the "
            f"fast path in bfloat16]"
        )
    header = f"  {'configuration':<24}" + "".join(f"{'batch ' + b:>11}" for b in batches)
    header += "".join(f"{'/f32 b' + b:>9}" for b in batches)
    header += "".join(f"{'/bf16 b' + b:>9}" for b in batches) + f"{'peak MB':>9}"
    line(header)
    line("  " + "-" * (len(header) - 2))
    for name, (label, kind, precision) in EXPORTS.items():
        result = results.get(name)
        if result is None:
            continue
        if "error" in result:
            line(f"  {label:<24} FAILED: {result['error'].splitlines()[0]}")
            continue
        if "skipped" in result:
            line(f"  {label:<24} skipped: {result['skipped']}")
            continue
        row = f"  {label:<24}" + "".join(
            f"{result['batches'][b]['median']:>11.1f}" if b in result["batches"] else f"{'':>11}"
            for b in batches
        )
        for over in ("float32", "fast_bfloat16"):
            for b in batches:
                ratio = None
                if precision == "int8":
                    ratio = ratios.get(f"export_{kind}_int8_over_{over}_b{b}")
                row += f"{ratio:>8.2f}x" if ratio is not None else f"{'':>9}"
        row += f"{result['peak_memory_mb']:>9.0f}"
        if "agreement" in result:
            row += f"  (top-1 agreement with float32 {result['agreement']:.0f}%)"
        line(row)
    line("  img/s: median of repeated calls after a warm-up call; Keras and the fast path take")
    line("  float32 pixels, the exported models uint8 (preprocessing inside the graph)")

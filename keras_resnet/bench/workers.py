"""The measurements, one per worker process: each returns a dict of figures.

``CONFIGS`` names every configuration the harness runs: its group, its label
in the table, the worker function and its arguments.
"""

import json
import os
import platform
import statistics
import time

from keras_resnet.bench import export, pipeline, recipes

# Sizes of the full run and of --quick.
FULL = dict(
    infer_size=224, infer_batch=32, infer_repeats=5,
    train_size=128, train_batch=32, train_steps=6, train_warmup=2,
    build_repeats=3, pipeline_images=256, pipeline_size=224, pipeline_batch=64,
    # ResNet-50 trains at about 2.4 img/s on 2 cores: its first step (tracing
    # included) takes about 30 s, each further one 13 s; about a minute a side.
    pipeline_repeats=3, fit_model="resnet50", fit_size=224, fit_batch=32, fit_warmup=1,
    fit_steps=2,
    # The recipes group (keras_resnet.bench.recipes): ResNet-50's step takes about 8 s
    # at 176 px and 13 s at 224 (its first, tracing included, 20 and 30 s); 4 steps, the
    # JPEGs, the input alone and the average's update: about 1 to 1.5 minutes a recipe and
    # size, about 8 minutes for the six.
    recipe_model="resnet50", recipe_sizes=(176, 224), recipe_batch=32, recipe_warmup=1,
    recipe_steps=3, recipe_images=128, recipe_input_batches=2, recipe_input_repeats=3,
    recipe_average_repeats=3,
)
QUICK = dict(
    infer_size=64, infer_batch=8, infer_repeats=2,
    train_size=64, train_batch=8, train_steps=2, train_warmup=1,
    build_repeats=1, pipeline_images=64, pipeline_size=224, pipeline_batch=64,
    pipeline_repeats=3, fit_model="small-resnet", fit_size=64, fit_batch=32, fit_warmup=2,
    fit_steps=3,
    # rsb-a2's stochastic depth needs a residual net of the catalogue with drop_path.
    recipe_model="resnet18", recipe_sizes=(64, 80), recipe_batch=8, recipe_warmup=1,
    recipe_steps=2, recipe_images=48, recipe_input_batches=2, recipe_input_repeats=3,
    recipe_average_repeats=2,
)

FULL.update(export.SIZES)
QUICK.update(export.QUICK_SIZES)

GROUPS = ("machine", "build", "inference", "training", "pipeline", "export", "recipes")


def _median_rate(items, seconds, cpu_seconds=None):
    """Median images/s over the runs; also per CPU-second, which other processes
    loading the CPU disturb much less than wall-clock time."""
    rates = [items / s for s in seconds]
    result = {"median": statistics.median(rates), "runs": rates}
    if cpu_seconds:
        result["per_cpu_second"] = statistics.median(items / s for s in cpu_seconds)
    return result


# The CPU features that decide how fast convolutions and JPEG decoding run
# (x86 "flags", Arm "Features" in /proc/cpuinfo).
SIMD_FLAGS = (
    "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx512_bf16",
    "avx512_fp16", "avx_vnni", "amx_tile", "amx_bf16", "amx_int8",
    "asimd", "sve", "sve2", "bf16", "i8mm",
)


def cpu_description(cpuinfo_path="/proc/cpuinfo"):
    """``{"cpu_model": str, "cpu_flags": [...]}``: the model name and its ``SIMD_FLAGS``."""
    model, flags = None, set()
    try:
        with open(cpuinfo_path) as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key in ("model name", "Hardware") and model is None:
                    model = value.strip()
                elif key in ("flags", "Features") and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    return {
        "cpu_model": model or platform.processor() or platform.machine(),
        "cpu_flags": [flag for flag in SIMD_FLAGS if flag in flags],
    }


def worker_machine(sizes):
    """The CPU's model and flags (those that decide precision), and matrix-product GFLOP/s."""
    import keras

    from keras_resnet import deploy
    from keras_resnet.deploy import hardware

    result = {
        "backend": keras.backend.backend(),
        "cpu_bfloat16": hardware.cpu_has_bfloat16(),
        "gpu_compute_capability": hardware.gpu_compute_capability(),
        "auto_precision": hardware.resolve_precision("auto", allowed=deploy.PRECISIONS),
        "cpu_count": os.cpu_count(),
        **cpu_description(),
    }
    n = 1024 if sizes is QUICK else 2048
    for dtype in ("float32", "bfloat16"):
        a = keras.random.normal((n, n), dtype=dtype)
        matmul = _compiled(lambda a: keras.ops.matmul(a, a))
        keras.ops.convert_to_numpy(matmul(a))
        times = []
        for _ in range(3):
            start = time.perf_counter()
            keras.ops.convert_to_numpy(matmul(a))
            times.append(time.perf_counter() - start)
        result[f"matmul_gflops_{dtype}"] = 2 * n**3 / statistics.median(times) / 1e9
    return result


def _compiled(fn):
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.function(fn)
    if keras.backend.backend() == "jax":
        import jax

        return jax.jit(fn)
    return fn


def _builder(library, depth):
    import keras

    if library == "keras":
        return getattr(keras.applications, f"ResNet{depth}")
    import keras_resnet

    return getattr(keras_resnet, f"ResNet{depth}")


def worker_build(sizes, library, depth):
    """Seconds to build ResNet-``depth`` with random weights (the first build excluded)."""
    import keras

    build = _builder(library, depth)
    build(weights=None)  # Warm-up: imports, op registration, first traces.
    times = []
    for _ in range(sizes["build_repeats"]):
        keras.backend.clear_session()
        start = time.perf_counter()
        build(weights=None)
        times.append(time.perf_counter() - start)
    return {"seconds": statistics.median(times), "runs": times}


def worker_inference(sizes, library, mode):
    """Images per second of ResNet-50 ``predict`` (``mode="predict"``) or the fast path."""
    import numpy as np

    size, batch = sizes["infer_size"], sizes["infer_batch"]
    model = _builder(library, 50)(weights=None, input_shape=(size, size, 3))
    x = np.random.default_rng(0).uniform(0, 255, (batch, size, size, 3)).astype("float32")
    extra = {}
    if mode == "fast":
        from keras_resnet import optimize_for_inference

        start = time.perf_counter()
        model = optimize_for_inference(model)
        extra = {
            "precision": model.precision,
            "jit_compile": model.jit_compile,
            "optimize_seconds": time.perf_counter() - start,
        }
    model.predict(x, batch_size=batch, verbose=0)  # Warm-up: tracing, compilation.
    times, cpu_times = [], []
    for _ in range(sizes["infer_repeats"]):
        start, cpu_start = time.perf_counter(), time.process_time()
        model.predict(x, batch_size=batch, verbose=0)
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)
    return {**_median_rate(batch, times, cpu_times), **extra}


def worker_training(sizes, library):
    """Images per second of ResNet-50 ``fit`` on in-memory data (warm-up steps excluded)."""
    import keras
    import numpy as np

    size, batch = sizes["train_size"], sizes["train_batch"]
    steps = sizes["train_warmup"] + sizes["train_steps"]
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (steps * batch, size, size, 3)).astype("float32")
    y = rng.integers(0, 1000, steps * batch)
    optimizer = keras.optimizers.SGD(learning_rate=0.1, momentum=0.9)
    loss = "sparse_categorical_crossentropy"
    extra = {}
    if library == "keras":
        model = keras.applications.ResNet50(weights=None, input_shape=(size, size, 3))
        model.compile(optimizer=optimizer, loss=loss)
    else:
        from keras_resnet.training import precision as performance

        defaults = performance.training_defaults()
        model = performance.build_for_training(
            "resnet50", defaults=defaults, weights=None, input_shape=(size, size, 3)
        )
        performance.compile_for_training(model, optimizer, loss, defaults=defaults)
        extra = {"dtype_policy": defaults.dtype_policy}
    extra["jit_compile"] = bool(model.jit_compile)

    times, cpu_times = [], []
    model.fit(
        x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0,
        callbacks=[pipeline.step_timer(times, cpu_times)],
    )
    warmup = sizes["train_warmup"]
    return {**_median_rate(batch, times[warmup:], cpu_times[warmup:]), **extra}


# name: (group, label, worker, arguments)
CONFIGS = {
    "machine": ("machine", "matrix product, CPU flags", worker_machine, ()),
    "build_keras_50": ("build", "keras.applications ResNet50", worker_build, ("keras", 50)),
    "build_ours_50": ("build", "keras_resnet ResNet50", worker_build, ("ours", 50)),
    "build_keras_152": ("build", "keras.applications ResNet152", worker_build, ("keras", 152)),
    "build_ours_152": ("build", "keras_resnet ResNet152", worker_build, ("ours", 152)),
    "infer_keras": ("inference", "keras.applications predict", worker_inference, ("keras", "predict")),
    "infer_ours": ("inference", "keras_resnet predict", worker_inference, ("ours", "predict")),
    "infer_fast": ("inference", "keras_resnet optimize_for_inference", worker_inference, ("ours", "fast")),
    "train_keras": ("training", "keras.applications fit, Keras defaults", worker_training, ("keras",)),
    "train_ours": ("training", "keras_resnet fit, package defaults", worker_training, ("ours",)),
}
CONFIGS.update(
    {
        f"pipeline_{name}": ("pipeline", label, pipeline.worker_pipeline, (name,))
        for name, label in pipeline.PIPELINES.items()
    }
)
CONFIGS["fit_files"] = (
    "pipeline", "fit from files (make_dataset)", pipeline.worker_fit, ("files",)
)
CONFIGS["fit_synthetic"] = (
    "pipeline", "fit on synthetic uint8 in memory", pipeline.worker_fit, ("synthetic",)
)
CONFIGS.update(export.configs(export.worker_export))
CONFIGS.update(recipes.configs(recipes.worker_recipe, FULL["recipe_sizes"]))


def run_worker(name, quick):
    """Entry point of a worker process: prints one JSON line."""
    import resource

    _, _, worker, args = CONFIGS[name]
    result = worker(QUICK if quick else FULL, *args)
    # ru_maxrss is in KiB on Linux, bytes on macOS.
    scale = 1 if platform.system() == "Darwin" else 1024
    result["peak_memory_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20
    print("BENCH_RESULT " + json.dumps(result), flush=True)

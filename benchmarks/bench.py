"""keras_resnet beside keras.applications: build time, inference, training, input pipeline.

One run measures every configuration, each in its own Python process (so that
one's memory, caches and compiled programs never help another), on the Keras
backend of the environment (``KERAS_BACKEND``), with the same inputs and batch:

- build time of ResNet-50 and ResNet-152 (``weights=None``);
- inference throughput of ResNet-50 at 224 px, batch 32: keras.applications
  ``predict``, ours with the same call, ours through ``optimize_for_inference``;
- training throughput of ResNet-50 at 128 px, batch 32, ``fit`` on in-memory
  data: keras.applications compiled with Keras's defaults, ours built and
  compiled with the package's training defaults (``keras_resnet.performance``);
- input pipeline throughput: keras_resnet.data's tf.data pipeline (JPEG
  decode, the paper's augmentation, preprocessing) on JPEGs written to a
  temporary folder, against the training throughput it must feed;
- peak memory (``ru_maxrss``) of each process, and the machine's matrix
  product speed in float32 and bfloat16 for scale.

Warm-up is excluded; each figure is the median of repeated runs. The table
goes to stdout, everything to ``--json PATH`` if asked.

Usage:
    python benchmarks/bench.py             # the full run (about 6 minutes on 2 idle cores)
    python benchmarks/bench.py --rounds 2  # twice, in alternating order (for a busy machine)
    python benchmarks/bench.py --quick     # small sizes, a smoke test (about 3 minutes)
    python benchmarks/bench.py --json results.json --only inference
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Sizes of the full run and of --quick.
FULL = dict(
    infer_size=224, infer_batch=32, infer_repeats=5,
    train_size=128, train_batch=32, train_steps=6, train_warmup=2,
    build_repeats=3, pipeline_images=256, pipeline_repeats=3,
)
QUICK = dict(
    infer_size=64, infer_batch=8, infer_repeats=2,
    train_size=64, train_batch=8, train_steps=2, train_warmup=1,
    build_repeats=1, pipeline_images=32, pipeline_repeats=2,
)

GROUPS = ("machine", "build", "inference", "training", "pipeline")


# --------------------------------------------------------------------------
# Workers: each runs in its own process and returns a dict of measurements.
# --------------------------------------------------------------------------


def _median_rate(items, seconds, cpu_seconds=None):
    """Median images/s over the runs; also per CPU-second, which noise from other
    processes on a shared machine disturbs much less than wall-clock time."""
    rates = [items / s for s in seconds]
    result = {"median": statistics.median(rates), "runs": rates}
    if cpu_seconds:
        result["per_cpu_second"] = statistics.median(items / s for s in cpu_seconds)
    return result


def worker_machine(sizes):
    """The CPU flags that decide precision, and matrix-product GFLOP/s."""
    import keras

    from keras_resnet import inference

    result = {
        "backend": keras.backend.backend(),
        "cpu_bfloat16": inference.cpu_has_bfloat16(),
        "gpu_compute_capability": inference.gpu_compute_capability(),
        "auto_precision": inference.resolve_precision("auto"),
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
        from keras_resnet import performance

        defaults = performance.training_defaults()
        model = performance.build_for_training(
            "resnet50", defaults=defaults, weights=None, input_shape=(size, size, 3)
        )
        performance.compile_for_training(model, optimizer, loss, defaults=defaults)
        extra = {"dtype_policy": defaults.dtype_policy}
    extra["jit_compile"] = bool(model.jit_compile)

    class StepTimer(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self.start, self.cpu_start = time.perf_counter(), time.process_time()

        def on_train_batch_end(self, batch, logs=None):
            times.append(time.perf_counter() - self.start)
            cpu_times.append(time.process_time() - self.cpu_start)

    times, cpu_times = [], []
    model.fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0, callbacks=[StepTimer()])
    warmup = sizes["train_warmup"]
    return {**_median_rate(batch, times[warmup:], cpu_times[warmup:]), **extra}


def worker_pipeline(sizes):
    """Images per second of keras_resnet.data's training pipeline for ResNet-50.

    JPEG decode, the paper's augmentation (section 3.4: shorter side random in
    [256, 480], scaled here by ``train_size / 224``; a random crop; a flip;
    AlexNet's PCA colour noise) and ResNet-50's ``preprocess_input``, on JPEGs
    written to a temporary folder.
    """
    import numpy as np
    import tensorflow as tf

    from keras_resnet import data

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        files = []
        for i in range(sizes["pipeline_images"]):
            # Smooth random images (upsampled noise) compress like photographs,
            # about ImageNet's average size (500 x 375).
            small = rng.uniform(0, 255, (24, 32, 3)).astype("float32")
            image = tf.cast(tf.image.resize(small, (375, 500)), tf.uint8)
            path = os.path.join(folder, f"{i:05d}.jpg")
            tf.io.write_file(path, tf.io.encode_jpeg(image, quality=90))
            files.append(path)
        dataset = data.make_dataset(
            files,
            None,
            transform=data.training_transform("imagenet", image_size=sizes["train_size"]),
            preprocessing_mode="caffe",
            batch_size=sizes["train_batch"],
        )
        for _ in dataset:  # Warm-up: tracing, file cache.
            pass
        times = []
        for _ in range(sizes["pipeline_repeats"]):
            start = time.perf_counter()
            for _ in dataset:
                pass
            times.append(time.perf_counter() - start)
    return _median_rate(len(files), times)


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
    "pipeline": ("pipeline", "keras_resnet.data JPEG + augmentation", worker_pipeline, ()),
}


def run_worker(name, quick):
    """Entry point of a worker process: prints one JSON line."""
    import resource

    _, _, worker, args = CONFIGS[name]
    result = worker(QUICK if quick else FULL, *args)
    # ru_maxrss is in KiB on Linux, bytes on macOS.
    scale = 1 if platform.system() == "Darwin" else 1024
    result["peak_memory_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20
    print("BENCH_RESULT " + json.dumps(result), flush=True)


# --------------------------------------------------------------------------
# The parent: one subprocess per configuration, then the table.
# --------------------------------------------------------------------------


def spawn(name, quick):
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    command = [sys.executable, os.path.abspath(__file__), "--worker", name]
    if quick:
        command.append("--quick")
    start = time.perf_counter()
    process = subprocess.run(command, env=env, capture_output=True, text=True)
    for line in process.stdout.splitlines():
        if line.startswith("BENCH_RESULT "):
            result = json.loads(line[len("BENCH_RESULT ") :])
            result["wall_seconds"] = time.perf_counter() - start
            return result
    tail = "\n".join((process.stdout + process.stderr).splitlines()[-15:])
    return {"error": f"exit status {process.returncode}\n{tail}"}


def merge_rounds(runs):
    """One result from a configuration's rounds: medians of medians, the highest peak memory."""
    failed = [run for run in runs if "error" in run]
    if failed:
        return failed[0]
    merged = dict(runs[-1])
    for key in ("median", "per_cpu_second", "seconds"):
        if key in merged:
            merged[key] = statistics.median(run[key] for run in runs)
    merged["peak_memory_mb"] = max(run["peak_memory_mb"] for run in runs)
    merged["rounds"] = runs if len(runs) > 1 else None
    return merged


# The ratios the table prints and the README quotes, each > 1 when ours is faster:
# name: (our configuration, the baseline, the measure, also per CPU-second).
# Throughputs ("median", img/s) are ours / baseline; build times are baseline / ours.
COMPARISONS = {
    "build_ResNet50_keras_over_ours": ("build_ours_50", "build_keras_50", "seconds", False),
    "build_ResNet152_keras_over_ours": ("build_ours_152", "build_keras_152", "seconds", False),
    "inference_ours_predict_over_keras": ("infer_ours", "infer_keras", "median", True),
    "inference_fast_over_keras_predict": ("infer_fast", "infer_keras", "median", True),
    "training_ours_over_keras": ("train_ours", "train_keras", "median", True),
    "pipeline_over_ours_training": ("pipeline", "train_ours", "median", False),
}


def _ratio(numerator, denominator):
    if numerator is None or denominator in (None, 0):
        return None
    return numerator / denominator


def summarize(results):
    """The ratios of ``COMPARISONS`` (None where a configuration failed or did not run)."""

    def get(name, key):
        value = results.get(name, {})
        return value.get(key) if "error" not in value else None

    ratios = {}
    for ratio_name, (ours, baseline, measure, per_cpu) in COMPARISONS.items():
        if measure == "seconds":
            ratios[ratio_name] = _ratio(get(baseline, measure), get(ours, measure))
        else:
            ratios[ratio_name] = _ratio(get(ours, measure), get(baseline, measure))
        if per_cpu:
            ratios[ratio_name + "_per_cpu_second"] = _ratio(
                get(ours, "per_cpu_second"), get(baseline, "per_cpu_second")
            )
    return ratios


# ResNet-50's forward pass at 224 px: 4.1 G multiply-adds (keras_resnet.complexity),
# 8.2 GFLOP; a training step is about three forward passes (forward, gradients of the
# activations, gradients of the weights). Both scale with the number of pixels.
RESNET50_GFLOP_224 = 8.2


def float32_ceiling(machine, size, passes):
    """Images per second if every FLOP ran at the measured float32 matrix-product speed.

    Not a hard bound (oneDNN's convolutions can beat a plain matrix product), but
    the scale against which a speed-up in float32 has to be read.
    """
    peak = machine.get("matmul_gflops_float32")
    if not peak:
        return None
    return peak / (passes * RESNET50_GFLOP_224 * (size / 224) ** 2)


def print_table(results, ratios, sizes, file=sys.stdout):
    def line(text=""):
        print(text, file=file)

    machine = results.get("machine", {})
    line(
        f"backend {machine.get('backend', '?')}; CPU native bfloat16: "
        f"{machine.get('cpu_bfloat16', '?')}; GPU compute capability: "
        f"{machine.get('gpu_compute_capability')}; auto precision: "
        f"{machine.get('auto_precision', '?')}"
    )
    if "matmul_gflops_float32" in machine:
        line(
            f"matrix product: {machine['matmul_gflops_float32']:.0f} GFLOP/s float32, "
            f"{machine['matmul_gflops_bfloat16']:.0f} GFLOP/s bfloat16"
        )
    line()
    header = (
        f"{'configuration':<44} {'result':>16} {'ratio':>7} {'img/CPU-s':>9} {'ratio':>6} "
        f"{'peak MB':>8}"
    )
    line(header)
    line("-" * len(header))
    # The comparison printed on each configuration's row, by our configuration.
    ratio_of = {ours: name for name, (ours, *_) in COMPARISONS.items()}
    def ceiling(size, passes):
        value = float32_ceiling(machine, size, passes)
        return f"; float32 ceiling {value:.1f} img/s" if value else ""

    titles = {
        "build": "build (weights=None), seconds",
        "inference": f"inference ResNet-50, {sizes['infer_size']} px, batch {sizes['infer_batch']}"
        + ceiling(sizes["infer_size"], 1),
        "training": f"training ResNet-50, {sizes['train_size']} px, batch {sizes['train_batch']}"
        + ceiling(sizes["train_size"], 3),
        "pipeline": f"input pipeline, {sizes['train_size']} px crops (ratio: over our training)",
    }
    group = None
    for name, (config_group, label, _, _) in CONFIGS.items():
        if name not in results or config_group == "machine":
            continue
        if config_group != group:
            group = config_group
            line(f"[{titles[group]}]")
        result = results[name]
        if "error" in result:
            line(f"  {label:<42} FAILED: {result['error'].splitlines()[0]}")
            continue
        if "seconds" in result:
            value = f"{result['seconds']:.2f} s"
        else:
            value = f"{result['median']:.1f} img/s"
        ratio = ratios.get(ratio_of.get(name))
        ratio_text = f"{ratio:.2f}x" if ratio is not None else ""
        cpu_rate = result.get("per_cpu_second")
        cpu_text = f"{cpu_rate:.1f}" if cpu_rate is not None else ""
        cpu_ratio = ratios.get(f"{ratio_of.get(name)}_per_cpu_second")
        cpu_ratio_text = f"{cpu_ratio:.2f}x" if cpu_ratio is not None else ""
        notes = []
        if "precision" in result:
            notes.append(result["precision"])
        if "dtype_policy" in result:
            notes.append(result["dtype_policy"])
        if "jit_compile" in result:
            notes.append("XLA" if result["jit_compile"] else "no XLA")
        note = f"  ({', '.join(notes)})" if notes else ""
        line(
            f"  {label:<42} {value:>16} {ratio_text:>7} {cpu_text:>9} {cpu_ratio_text:>6} "
            f"{result['peak_memory_mb']:>8.0f}{note}"
        )
    line()
    line("ratio: build = keras.applications seconds / ours; otherwise ours / keras.applications img/s")
    line("img/CPU-s: images per second of CPU time the process used (less sensitive to other load)")
    line("float32 ceiling: the measured float32 matrix-product speed / ResNet-50's GFLOP per image")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke test")
    parser.add_argument("--json", metavar="PATH", help="also write every measurement as JSON")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=GROUPS,
        help="measure only these groups (default: all)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measure every configuration this many times, in alternating order (default 1)",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        run_worker(args.worker, args.quick)
        return 0
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1. Received: {args.rounds}")

    sizes = QUICK if args.quick else FULL
    groups = set(args.only or GROUPS) | {"machine"}
    started = time.time()
    names = [name for name, config in CONFIGS.items() if config[0] in groups]
    rounds = {name: [] for name in names}
    for r in range(args.rounds):
        # Alternate the order (A B C, C B A, ...) so that a drift in the machine's
        # load does not favour whichever configuration runs first.
        for name in names if r % 2 == 0 else names[::-1]:
            if name == "machine" and r > 0:
                continue
            print(f"... {CONFIGS[name][1]} (round {r + 1})", file=sys.stderr, flush=True)
            result = spawn(name, args.quick)
            if "error" in result:
                print(result["error"], file=sys.stderr)
            rounds[name].append(result)
    results = {name: merge_rounds(runs) for name, runs in rounds.items()}
    ratios = summarize(results)
    print_table(results, ratios, sizes)
    if args.json:
        report = {
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
            "command": " ".join([os.path.basename(sys.executable)] + sys.argv),
            "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
            "sizes": sizes,
            "results": results,
            "ratios": ratios,
            "total_seconds": time.time() - started,
        }
        tmp = args.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump(report, f, indent=2)
        os.replace(tmp, args.json)  # No half-written file if interrupted.
    return 1 if any("error" in r for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())

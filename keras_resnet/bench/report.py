"""The benchmark's arithmetic and table: rounds merged, ratios, the float32 ceiling."""

import statistics
import sys

from keras_resnet.bench.workers import CONFIGS

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

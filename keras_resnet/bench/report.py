"""The benchmark's arithmetic and table: rounds merged, ratios, the float32 ceiling."""

import statistics
import sys

from keras_resnet.bench.export import print_export, summarize_export
from keras_resnet.bench.pipeline import BYTES_PIPELINES, PIPELINES
from keras_resnet.bench.recipes import RECIPES, REFERENCE
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
    if "input" in merged:  # The recipes' input pipeline alone.
        merged["input"] = dict(merged["input"], **{
            key: statistics.median(run["input"][key] for run in runs)
            for key in ("median", "per_cpu_second")
        })
    if "threads" in merged:
        merged["threads"] = {
            k: _merge_thread_count([run["threads"][k] for run in runs]) for k in merged["threads"]
        }
    merged["peak_memory_mb"] = max(run["peak_memory_mb"] for run in runs)
    merged["rounds"] = runs if len(runs) > 1 else None
    return merged


def _merge_thread_count(rounds):
    """A pipeline's rates at one thread count over the rounds: medians, every pass's rate."""
    merged = {
        key: statistics.median(r[key] for r in rounds)
        for key in ("median", "per_thread", "per_cpu_second")
    }
    merged["runs"] = [rate for r in rounds for rate in r["runs"]]
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
    ratios.update(summarize_pipeline(results))
    ratios.update(summarize_export(results))
    ratios.update(summarize_recipes(results))
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
    if "cpu_model" in machine:
        line(
            f"CPU: {machine['cpu_model']}, {machine['cpu_count']} cores; "
            f"features: {' '.join(machine['cpu_flags']) or 'none listed'}"
        )
    if "matmul_gflops_float32" in machine:
        line(
            f"matrix product: {machine['matmul_gflops_float32']:.0f} GFLOP/s float32, "
            f"{machine['matmul_gflops_bfloat16']:.0f} GFLOP/s bfloat16"
        )
    rows = [
        name for name, (group, *_) in CONFIGS.items()
        if name in results and group not in ("machine", "pipeline", "export", "recipes")
    ]
    if rows:
        line()
        _print_models(results, ratios, sizes, machine, rows, line)
    if any(CONFIGS.get(name, ("",))[0] == "pipeline" for name in results):
        line()
        print_pipeline(results, ratios, sizes, line)
    if any(CONFIGS.get(name, ("",))[0] == "export" for name in results):
        line()
        print_export(results, ratios, line)
    if any(CONFIGS.get(name, ("",))[0] == "recipes" for name in results):
        line()
        print_recipes(results, ratios, machine, line)


def _print_models(results, ratios, sizes, machine, rows, line):
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
    }
    group = None
    for name in rows:
        config_group, label, _, _ = CONFIGS[name]
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


def _measured(results, name):
    result = results.get(name)
    return result if result and "error" not in result else None


def summarize_pipeline(results):
    """The input pipeline's ratios (None where a configuration failed or did not run).

    ``pipeline_<name>_per_thread_over_floor_<k>t``: images per second per
    thread over the floor's at ``k`` threads; ``pipeline_<name>_2t_over_1t``:
    the rate at 2 threads over the rate at 1; ``batch_bytes_float32_over_uint8``;
    ``fit_waiting_share``: 1 - fit's rate from files / its rate on synthetic batches.
    """
    ratios = {}
    floor = _measured(results, "pipeline_floor")
    for name in PIPELINES:
        result = _measured(results, f"pipeline_{name}")
        if result is None:
            continue
        threads = result["threads"]
        for k, rate in threads.items():
            base = floor["threads"].get(k) if floor else None
            ratios[f"pipeline_{name}_per_thread_over_floor_{k}t"] = _ratio(
                rate["per_thread"], base["per_thread"] if base else None
            )
        if "1" in threads and "2" in threads:
            ratios[f"pipeline_{name}_2t_over_1t"] = _ratio(
                threads["2"]["median"], threads["1"]["median"]
            )
    float_batch, uint8_batch = (
        (_measured(results, f"pipeline_{name}") or {}).get("batch") for name in BYTES_PIPELINES
    )
    if float_batch and uint8_batch:
        ratios["batch_bytes_float32_over_uint8"] = _ratio(
            float_batch["bytes"], uint8_batch["bytes"]
        )
    files, synthetic = _measured(results, "fit_files"), _measured(results, "fit_synthetic")
    if files and synthetic:
        ratios["fit_waiting_share"] = 1 - files["median"] / synthetic["median"]
    return ratios


def _threads_label(k, cpu_count):
    label = f"{k} thread" + ("s" if k > 1 else "")
    return label + (" (all)" if k == cpu_count else "")


def print_pipeline(results, ratios, sizes, line):
    """The input pipeline's section: rates per thread count, bytes per batch, fit."""
    measured = {name: _measured(results, f"pipeline_{name}") for name in PIPELINES}
    first = next((r for r in measured.values() if r), None)
    if first:
        counts = sorted(first["threads"], key=int)
        line(
            f"[input pipeline, {first['size']} px, realistic JPEGs ({first['images']} files, "
            f"{first['file_bytes'] / first['images'] / 1024:.0f} KiB average): img/s (per thread)]"
        )
        header = f"  {'pipeline':<36}" + "".join(
            f"{_threads_label(int(k), first['cpu_count']):>17}" for k in counts
        )
        header += "".join(f"{'/floor ' + k + 't':>10}" for k in counts)
        header += f"{'2t/1t':>7}{'peak MB':>9}"
        line(header)
        line("  " + "-" * (len(header) - 2))
    for name, label in PIPELINES.items():
        key = f"pipeline_{name}"
        if key not in results:
            continue
        if measured[name] is None:
            line(f"  {label:<36} FAILED: {results[key]['error'].splitlines()[0]}")
            continue
        threads = measured[name]["threads"]
        row = f"  {label:<36}" + "".join(
            f"{threads[k]['median']:.0f} ({threads[k]['per_thread']:.0f})".rjust(17)
            for k in counts
        )
        for k in counts:
            ratio = ratios.get(f"pipeline_{name}_per_thread_over_floor_{k}t")
            row += f"{ratio:>10.2f}" if ratio is not None else f"{'':>10}"
        scaling = ratios.get(f"pipeline_{name}_2t_over_1t")
        row += f"{scaling:>6.2f}x" if scaling is not None else f"{'':>7}"
        line(row + f"{measured[name]['peak_memory_mb']:>9.0f}")
    if first:
        line(
            f"  img/s: passes over the files (one iterator), median of "
            f"{sizes['pipeline_repeats']} after a warm-up pass, batch {sizes['pipeline_batch']}"
        )
        line("  /floor kt: the per-thread rate over the floor's at k threads")
    batches = [(measured.get(name) or {}).get("batch") for name in BYTES_PIPELINES]
    if any(batches):
        line()
        line("[bytes per batch shipped to the model, as the pipelines batch them]")
        for name, batch in zip(BYTES_PIPELINES, batches):
            if batch:
                shape = "x".join(str(d) for d in batch["shape"])
                line(
                    f"  {PIPELINES[name]:<36} {batch['dtype']:>8} {shape:<17}"
                    f"{batch['bytes']:>13,} B {batch['bytes'] / 2**20:>7.1f} MiB"
                )
        ratio = ratios.get("batch_bytes_float32_over_uint8")
        if ratio is not None:
            line(f"  float32 / uint8: {ratio:.2f}x the bytes")
    _print_fit(results, ratios, line)


def _print_fit(results, ratios, line):
    fits = {"fit_files": results.get("fit_files"), "fit_synthetic": results.get("fit_synthetic")}
    done = [r for r in fits.values() if r and "error" not in r]
    if not any(fits.values()):
        return
    line()
    if done:
        r = done[0]
        line(
            f"[end-to-end fit, {r['model']} at {r['size']} px, batch {r['batch']}, uint8 in, "
            f"augmentation on the device: median of {r['steps']} steps]"
        )
        line(f"  {'':<36}{'img/s':>10}{'img/CPU-s':>11}{'peak MB':>9}")
    for name, result in fits.items():
        label = CONFIGS[name][1]
        if result is None:
            continue
        if "error" in result:
            line(f"  {label:<36} FAILED: {result['error'].splitlines()[0]}")
            continue
        note = "XLA" if result["jit_compile"] else "no XLA"
        line(
            f"  {label:<36}{result['median']:>10.2f}{result['per_cpu_second']:>11.2f}"
            f"{result['peak_memory_mb']:>9.0f}  ({note})"
        )
    share = ratios.get("fit_waiting_share")
    if share is not None:
        line(f"  waiting for data (1 - files / synthetic): {share:.1%}")


def _recipe_rows():
    """``{size index: [(recipe key, configuration), ...]}`` of the recipes group."""
    rows = {}
    for name, (group, _, _, args) in CONFIGS.items():
        if group == "recipes":
            key, index = args
            rows.setdefault(index, []).append((key, name))
    return rows


def summarize_recipes(results):
    """The recipes' ratios (None where a side failed or did not run).

    ``<configuration>_over_plain``: its img/s over the plain recipe's at the
    same size (the goal: 0.9 or more), and ``..._per_cpu_second``;
    ``<configuration>_input_over_step``: the input pipeline's img/s alone
    over the step's (under 1: the input limits the step);
    ``<configuration>_input_cpu_share``: the input's share of the step's CPU
    time (fit's CPU-seconds per image, which include the input's, divided into
    the input's alone).
    """
    ratios = {}
    for rows in _recipe_rows().values():
        reference = _measured(results, dict(rows).get(REFERENCE)) or {}
        for key, name in rows:
            result = _measured(results, name)
            if result is None:
                continue
            if key != REFERENCE:
                ratios[f"{name}_over_{REFERENCE}"] = _ratio(
                    result["median"], reference.get("median")
                )
                ratios[f"{name}_over_{REFERENCE}_per_cpu_second"] = _ratio(
                    result["per_cpu_second"], reference.get("per_cpu_second")
                )
            ratios[f"{name}_input_over_step"] = _ratio(result["input"]["median"], result["median"])
            ratios[f"{name}_input_cpu_share"] = _ratio(
                result["per_cpu_second"], result["input"]["per_cpu_second"]
            )
    return ratios


def print_recipes(results, ratios, machine, line):
    """The recipes' section: each recipe's step beside the plain one's, and its input's."""
    header = (
        f"  {'recipe':<16}{'img/s':>8}{'/' + REFERENCE:>8}{'img/CPU-s':>10}{'input img/s':>13}"
        f"{'in/step':>9}{'input CPU':>10}{'peak MB':>9}  ingredients"
    )
    averages = {}
    for index, rows in sorted(_recipe_rows().items()):
        rows = [(key, name) for key, name in rows if name in results]
        done = [_measured(results, name) for _, name in rows if _measured(results, name)]
        if not rows:
            continue
        if done:
            r = done[0]
            ceiling = float32_ceiling(machine, r["size"], 3) if r["model"] == "resnet50" else None
            line(
                f"[recipes: {r['model']} training step at {r['size']} px from JPEG files, batch "
                f"{r['batch']}: median of {r['steps']} steps"
                + (f"; float32 ceiling {ceiling:.1f} img/s]" if ceiling else "]")
            )
        else:
            line(f"[recipes, size {index + 1}]")
        line(header)
        line("  " + "-" * (len(header) - 2))
        for key, name in rows:
            result = _measured(results, name)
            if result is None:
                line(f"  {key:<16} FAILED: {results[name]['error'].splitlines()[0]}")
                continue
            ratio = ratios.get(f"{name}_over_{REFERENCE}")
            ratio_text = "ref" if key == REFERENCE else f"{ratio:.2f}x" if ratio else ""
            share = ratios.get(f"{name}_input_cpu_share")
            in_step = ratios.get(f"{name}_input_over_step")
            line(
                f"  {key:<16}{result['median']:>8.2f}{ratio_text:>8}"
                f"{result['per_cpu_second']:>10.2f}{result['input']['median']:>13.1f}"
                + (f"{in_step:>8.2f}x" if in_step is not None else f"{'':>9}")
                + (f"{share:>10.0%}" if share is not None else f"{'':>10}")
                + f"{result['peak_memory_mb']:>9.0f}  {', '.join(result['ingredients']) or '-'}"
            )
            if result.get("average"):
                averages.setdefault(key, []).append((result["size"], result["average"]))
        line()
    for key, measured in averages.items():
        line(
            f"  {key}'s moving average: "
            + ", ".join(f"{a['seconds']:.2f} s an update ({size} px)" for size, a in measured)
            + f"; one every {measured[0][1]['every']} steps, amortised in its img/s"
        )
    line(
        f"  /{REFERENCE}: img/s over the {REFERENCE} ({RECIPES[REFERENCE]}) recipe's at the same "
        "size (the goal: 0.90x or more)"
    )
    line("  input img/s: the recipe's input pipeline alone, no model; in/step: input img/s over")
    line("  the step's (under 1x: the input limits the step); input CPU: its share of the step's")
    line("  CPU time (fit's CPU-seconds per image include the input's)")

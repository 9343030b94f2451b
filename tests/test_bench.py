"""The benchmark harness's arithmetic: rounds merged, ratios the right way up.

Speed itself is measured by the harness (``keras-resnet bench``), never here; these tests feed
the table made-up measurements whose ratios are known by hand.
"""

import io
import os
import pathlib

import pytest

from keras_resnet.bench import pipeline, report, workers

SIZES = workers.FULL


def _rate(median, per_cpu_second):
    return {"median": median, "per_cpu_second": per_cpu_second, "peak_memory_mb": 100.0}


def _pipeline(rate_1, rate_2, batch=None):
    result = {
        "label": "x", "images": 256, "file_bytes": 256 * 56 * 1024, "size": 224, "cpu_count": 2,
        "median": rate_2, "peak_memory_mb": 500.0,
        "threads": {
            "1": {"median": rate_1, "per_thread": rate_1, "per_cpu_second": rate_1, "runs": []},
            "2": {"median": rate_2, "per_thread": rate_2 / 2, "per_cpu_second": rate_2 / 2,
                  "runs": []},
        },
    }
    if batch:
        result["batch"] = batch
    return result


def _fit(median):
    return {
        "median": median, "per_cpu_second": median / 2, "peak_memory_mb": 900.0,
        "model": "resnet50", "size": 224, "batch": 32, "steps": 3, "jit_compile": False,
    }


def _pipeline_results():
    shape = [256, 224, 224, 3]
    results = {f"pipeline_{name}": _pipeline(100.0, 180.0) for name in pipeline.PIPELINES}
    results["pipeline_floor"] = _pipeline(200.0, 400.0)
    results["pipeline_float_train"] = _pipeline(
        50.0, 80.0, {"dtype": "float32", "shape": shape, "bytes": 4 * 256 * 224 * 224 * 3}
    )
    results["pipeline_crop_train"] = _pipeline(
        120.0, 210.0, {"dtype": "uint8", "shape": shape, "bytes": 256 * 224 * 224 * 3}
    )
    results["fit_files"] = _fit(3.0)
    results["fit_synthetic"] = _fit(4.0)
    return results


def _results():
    return {
        "build_keras_50": {"seconds": 3.0, "peak_memory_mb": 10.0},
        "build_ours_50": {"seconds": 2.0, "peak_memory_mb": 10.0},
        "infer_keras": _rate(5.0, 8.0),
        "infer_ours": _rate(7.5, 8.0),
        "infer_fast": _rate(12.5, 10.0),
        "train_keras": _rate(6.0, 6.0),
        "train_ours": _rate(9.0, 5.0),
        **_pipeline_results(),
    }


def test_ratios_are_ours_over_baseline_and_build_time_inverted():
    ratios = report.summarize(_results())
    assert ratios["build_ResNet50_keras_over_ours"] == pytest.approx(1.5)  # 3 s / 2 s
    assert ratios["inference_ours_predict_over_keras"] == pytest.approx(1.5)
    assert ratios["inference_fast_over_keras_predict"] == pytest.approx(2.5)
    assert ratios["inference_fast_over_keras_predict_per_cpu_second"] == pytest.approx(1.25)
    assert ratios["training_ours_over_keras"] == pytest.approx(1.5)
    assert ratios["training_ours_over_keras_per_cpu_second"] == pytest.approx(5 / 6)
    # ResNet-152 did not run: no ratio rather than a made-up one.
    assert ratios["build_ResNet152_keras_over_ours"] is None


def test_a_failed_configuration_gives_no_ratio_and_is_reported():
    results = _results()
    results["infer_fast"] = {"error": "Traceback ...\nRuntimeError: out of memory"}
    ratios = report.summarize(results)
    assert ratios["inference_fast_over_keras_predict"] is None
    table = io.StringIO()
    report.print_table(results, ratios, SIZES, file=table)
    assert "FAILED: Traceback ..." in table.getvalue()


def test_table_prints_each_ratio_on_our_row():
    results = _results()
    table = io.StringIO()
    report.print_table(results, report.summarize(results), SIZES, file=table)
    rows = {line.split("  ")[1].strip(): line for line in table.getvalue().splitlines()
            if line.startswith("  ")}
    assert "2.50x" in rows["keras_resnet optimize_for_inference"]
    assert "1.25x" in rows["keras_resnet optimize_for_inference"]
    assert "0.83x" in rows["keras_resnet fit, package defaults"]
    assert "x" not in rows["keras.applications predict"].split("img/s")[1]


def test_rounds_merge_to_the_median_and_the_highest_memory():
    runs = [
        {"median": 4.0, "per_cpu_second": 1.0, "peak_memory_mb": 100.0},
        {"median": 10.0, "per_cpu_second": 3.0, "peak_memory_mb": 300.0},
        {"median": 6.0, "per_cpu_second": 2.0, "peak_memory_mb": 200.0},
    ]
    merged = report.merge_rounds(runs)
    assert merged["median"] == 6.0
    assert merged["per_cpu_second"] == 2.0
    assert merged["peak_memory_mb"] == 300.0
    assert merged["rounds"] == runs


def test_rounds_merge_each_thread_count_to_its_median():
    runs = [_pipeline(100.0, 150.0), _pipeline(90.0, 190.0), _pipeline(120.0, 170.0)]
    for run, rates in zip(runs, ([1.0], [2.0], [3.0])):
        run["threads"]["1"]["runs"] = rates
    merged = report.merge_rounds(runs)
    assert merged["threads"]["1"]["median"] == 100.0
    assert merged["threads"]["2"]["median"] == 170.0
    assert merged["threads"]["2"]["per_thread"] == 85.0
    assert merged["threads"]["1"]["runs"] == [1.0, 2.0, 3.0]
    # The rounds themselves are kept as they were measured.
    assert merged["rounds"][1]["threads"]["2"]["median"] == 190.0


def test_float32_ceiling_from_the_matrix_product_speed():
    # 82 GFLOP/s over 8.2 GFLOP per 224 px image = 10 img/s; a training step at
    # 112 px does 3 forward passes of a quarter of the pixels: 82 / (3 * 2.05).
    machine = {"matmul_gflops_float32": 82.0, "matmul_gflops_bfloat16": 20.0}
    assert report.float32_ceiling(machine, 224, 1) == pytest.approx(10.0)
    assert report.float32_ceiling(machine, 112, 3) == pytest.approx(82 / (3 * 2.05))
    assert report.float32_ceiling({}, 224, 1) is None
    results = {**_results(), "machine": machine}
    table = io.StringIO()
    report.print_table(results, report.summarize(results), SIZES, file=table)
    assert "float32 ceiling 10.0 img/s" in table.getvalue()


def test_pipeline_ratios_per_thread_over_the_floor_and_scaling():
    ratios = report.summarize(_pipeline_results())
    # crop_train: 120 img/s per thread at 1 thread, 105 at 2; the floor 200 and 200.
    assert ratios["pipeline_crop_train_per_thread_over_floor_1t"] == pytest.approx(0.6)
    assert ratios["pipeline_crop_train_per_thread_over_floor_2t"] == pytest.approx(105 / 200)
    assert ratios["pipeline_floor_per_thread_over_floor_2t"] == pytest.approx(1.0)
    assert ratios["pipeline_float_train_2t_over_1t"] == pytest.approx(1.6)
    assert ratios["batch_bytes_float32_over_uint8"] == pytest.approx(4.0)
    assert ratios["fit_waiting_share"] == pytest.approx(0.25)  # 1 - 3 / 4


def test_pipeline_without_the_floor_gives_no_ratio_to_it():
    results = _pipeline_results()
    results["pipeline_floor"] = {"error": "Traceback ...\nOSError: no file"}
    del results["fit_synthetic"]
    ratios = report.summarize(results)
    assert ratios["pipeline_crop_train_per_thread_over_floor_1t"] is None
    assert ratios["pipeline_crop_train_2t_over_1t"] == pytest.approx(1.75)
    assert "fit_waiting_share" not in ratios
    table = io.StringIO()
    report.print_table(results, ratios, SIZES, file=table)
    assert "floor: decode_jpeg + resize, uint8" in table.getvalue()
    assert "FAILED: Traceback ..." in table.getvalue()


def test_table_prints_the_pipeline_section():
    results = {**_pipeline_results(), "machine": {
        "backend": "tensorflow", "cpu_model": "Example CPU", "cpu_count": 2,
        "cpu_flags": ["avx2", "fma"],
    }}
    table = io.StringIO()
    report.print_table(results, report.summarize(results), SIZES, file=table)
    text = table.getvalue()
    assert "CPU: Example CPU, 2 cores; features: avx2 fma" in text
    assert "[input pipeline, 224 px, realistic JPEGs (256 files, 56 KiB average)" in text
    assert "2 threads (all)" in text
    # Only pipeline configurations ran: no empty table of the models before them.
    assert "configuration" not in text
    rows = [line for line in text.splitlines() if line.startswith("  ")]
    crop = next(r for r in rows if r[2:38].strip() == pipeline.PIPELINES["crop_train"])
    # 1 thread, 2 threads (per thread), per thread / the floor's at 1 and 2, 2t/1t, peak MB.
    crop = crop[38:].split()
    assert crop == ["120", "(120)", "210", "(105)", "0.60", "0.53", "1.75x", "500"]
    assert "154,140,672 B" in text and "38,535,168 B" in text
    assert "float32 / uint8: 4.00x the bytes" in text
    assert "waiting for data (1 - files / synthetic): 25.0%" in text


def test_pipeline_and_fit_workers_are_registered_in_the_pipeline_group():
    group = {name for name, (g, *_) in workers.CONFIGS.items() if g == "pipeline"}
    expected = {f"pipeline_{name}" for name in pipeline.PIPELINES} | {"fit_files", "fit_synthetic"}
    assert group == expected
    assert "pipeline" in workers.GROUPS


def _recipe(median, per_cpu_second, input_median, input_per_cpu, size):
    return {
        "median": median, "per_cpu_second": per_cpu_second, "peak_memory_mb": 900.0,
        "input": {"median": input_median, "per_cpu_second": input_per_cpu, "runs": []},
        "model": "resnet50", "size": size, "batch": 32, "steps": 3, "ingredients": [],
        "average": None,
    }


def test_recipe_ratios_are_each_recipe_over_the_plain_one_at_its_size():
    results = {
        "recipe_plain_176": _recipe(4.0, 2.0, 400.0, 200.0, 176),
        "recipe_torchvision-v2_176": _recipe(3.8, 1.9, 100.0, 50.0, 176),
        "recipe_rsb-a2_176": {"error": "Traceback ...\nValueError: x"},
        "recipe_plain_224": _recipe(2.5, 1.25, 300.0, 150.0, 224),
        "recipe_rsb-a2_224": _recipe(2.0, 1.0, 2.0, 1.0, 224),
        "machine": {"matmul_gflops_float32": 100.0, "matmul_gflops_bfloat16": 50.0},
    }
    ratios = report.summarize(results)
    assert ratios["recipe_torchvision-v2_176_over_plain"] == pytest.approx(0.95)
    assert ratios["recipe_rsb-a2_224_over_plain"] == pytest.approx(0.8)
    assert ratios["recipe_rsb-a2_224_input_over_step"] == pytest.approx(1.0)  # 2 / 2
    assert ratios["recipe_torchvision-v2_176_input_cpu_share"] == pytest.approx(1.9 / 50)
    assert "recipe_rsb-a2_176_over_plain" not in ratios
    table = io.StringIO()
    report.print_table(results, ratios, SIZES, file=table)
    text = table.getvalue()
    # 100 GFLOP/s over 3 passes of 8.2 GFLOP at 176 px: the step's ceiling.
    assert f"float32 ceiling {100 / (3 * 8.2 * (176 / 224) ** 2):.1f} img/s" in text
    assert "0.95x" in text and "0.80x" in text and "FAILED: Traceback ..." in text
    assert {n for n, (g, *_) in workers.CONFIGS.items() if g == "recipes"} == {
        f"recipe_{k}_{s}" for k in ("plain", "torchvision-v2", "rsb-a2") for s in (176, 224)}


def test_cpu_description_reads_model_and_simd_flags(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nmodel name\t: Example EPYC 9000\nflags\t\t: fpu sse4_2 avx2 fma "
        "avx512f avx512_bf16 ht\n\nprocessor\t: 1\nmodel name\t: Example EPYC 9000\n"
    )
    described = workers.cpu_description(str(cpuinfo))
    assert described == {
        "cpu_model": "Example EPYC 9000",
        "cpu_flags": ["sse4_2", "avx2", "fma", "avx512f", "avx512_bf16"],
    }


def test_realistic_jpegs_have_imagenet_sizes_and_are_the_same_every_run(tmp_path):
    from PIL import Image

    paths, labels = pipeline.realistic_jpegs(tmp_path / "a", 12)
    again, _ = pipeline.realistic_jpegs(tmp_path / "b", 12)
    assert [pathlib.Path(p).read_bytes() for p in paths] == [
        pathlib.Path(p).read_bytes() for p in again
    ]
    sides = []
    for path, label in zip(paths, labels):
        with Image.open(path) as image:
            assert image.format == "JPEG" and image.mode == "RGB"
            width, height = image.size
        assert 333 <= min(width, height) <= 500
        assert 1.19 <= max(width, height) / min(width, height) <= 1.51
        assert os.path.basename(os.path.dirname(path)) == f"class_{label}"
        sides.append(min(width, height))
    assert set(labels) == {0, 1}
    assert len(set(sides)) > 6  # the sizes vary


def test_pipeline_passes_must_be_whole_batches():
    sizes = dict(workers.QUICK, pipeline_images=100, pipeline_batch=64)
    with pytest.raises(ValueError, match="Received: 100 and 64"):
        pipeline.worker_pipeline(sizes, "floor")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["crop_train", "shards"])
def test_quick_pipeline_worker_measures_every_thread_count(name):
    result = pipeline.worker_pipeline(workers.QUICK, name)
    assert result["images"] == workers.QUICK["pipeline_images"]
    assert sorted(result["threads"], key=int) == [str(k) for k in pipeline.thread_counts()]
    for k, rate in result["threads"].items():
        assert len(rate["runs"]) == workers.QUICK["pipeline_repeats"]
        assert rate["median"] > 0
        assert rate["per_thread"] == pytest.approx(rate["median"] / int(k))
        assert rate["per_cpu_second"] > 0
    if name in pipeline.BYTES_PIPELINES:
        # The bytes of a real batch of 256 uint8 224 px images.
        assert result["batch"] == {
            "dtype": "uint8", "shape": [256, 224, 224, 3], "bytes": 256 * 224 * 224 * 3
        }


@pytest.mark.slow
def test_quick_fit_from_files_measures_its_steps():
    sizes = dict(workers.QUICK, fit_warmup=1, fit_steps=2, pipeline_images=8, fit_batch=4)
    result = pipeline.worker_fit(sizes, "files")
    assert len(result["runs"]) == 2 and len(result["warmup_seconds"]) == 1
    assert result["median"] > 0 and result["per_cpu_second"] > 0
    assert (result["model"], result["size"], result["batch"]) == ("small-resnet", 64, 4)

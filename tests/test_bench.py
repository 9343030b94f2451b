"""The benchmark harness's arithmetic: rounds merged, ratios the right way up.

Speed itself is measured by the harness (``keras-resnet bench``), never here; these tests feed
the table made-up measurements whose ratios are known by hand.
"""

import io

import pytest

from keras_resnet.bench import report, workers

SIZES = workers.FULL


def _rate(median, per_cpu_second):
    return {"median": median, "per_cpu_second": per_cpu_second, "peak_memory_mb": 100.0}


def _results():
    return {
        "build_keras_50": {"seconds": 3.0, "peak_memory_mb": 10.0},
        "build_ours_50": {"seconds": 2.0, "peak_memory_mb": 10.0},
        "infer_keras": _rate(5.0, 8.0),
        "infer_ours": _rate(7.5, 8.0),
        "infer_fast": _rate(12.5, 10.0),
        "train_keras": _rate(6.0, 6.0),
        "train_ours": _rate(9.0, 5.0),
        "pipeline": _rate(360.0, None),
    }


def test_ratios_are_ours_over_baseline_and_build_time_inverted():
    ratios = report.summarize(_results())
    assert ratios["build_ResNet50_keras_over_ours"] == pytest.approx(1.5)  # 3 s / 2 s
    assert ratios["inference_ours_predict_over_keras"] == pytest.approx(1.5)
    assert ratios["inference_fast_over_keras_predict"] == pytest.approx(2.5)
    assert ratios["inference_fast_over_keras_predict_per_cpu_second"] == pytest.approx(1.25)
    assert ratios["training_ours_over_keras"] == pytest.approx(1.5)
    assert ratios["training_ours_over_keras_per_cpu_second"] == pytest.approx(5 / 6)
    assert ratios["pipeline_over_ours_training"] == pytest.approx(40.0)
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

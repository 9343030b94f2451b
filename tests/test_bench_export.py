"""The export group of the benchmark: its ratios on made-up rates, and one quick run.

The ratios are checked against rates written here whose quotients are known
by hand; the quick run only checks that the harness measures and reports the
exported model end to end (its figures on a loaded test machine mean nothing).
"""

import io
import json
import os
import subprocess
import sys

import pytest

from keras_resnet.bench import export, report, workers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _measured(rate_1, rate_32, **extra):
    return {
        "batches": {
            "1": {"median": rate_1, "per_cpu_second": rate_1, "runs": [rate_1]},
            "32": {"median": rate_32, "per_cpu_second": rate_32, "runs": [rate_32]},
        },
        "median": rate_32, "per_cpu_second": rate_32, "peak_memory_mb": 1000.0,
        "model": "resnet50", "size": 224, **extra,
    }


def _results():
    return {
        "export_keras": _measured(10.0, 12.0),
        "export_fast_float32": _measured(15.0, 16.0),
        "export_fast_bfloat16": _measured(20.0, 25.0),
        "export_onnx_float32": _measured(20.0, 24.0),
        "export_onnx_int8": _measured(50.0, 60.0, agreement=93.75),
        "export_openvino_float32": _measured(30.0, 40.0),
        "export_openvino_int8": _measured(45.0, 100.0, agreement=100.0),
        "export_litert_float32": {"skipped": "not installed: tensorflow", "peak_memory_mb": 50.0},
        "export_litert_int8": {
            "error": "Traceback ...\nRuntimeError: converter", "peak_memory_mb": 1.0
        },
    }


def test_int8_ratios_over_its_runtime_and_over_the_fast_path():
    ratios = report.summarize(_results())
    assert ratios["export_onnx_int8_over_float32_b1"] == pytest.approx(2.5)  # 50 / 20
    assert ratios["export_onnx_int8_over_float32_b32"] == pytest.approx(2.5)  # 60 / 24
    assert ratios["export_onnx_int8_over_fast_bfloat16_b32"] == pytest.approx(2.4)  # 60 / 25
    assert ratios["export_onnx_int8_over_fast_float32_b1"] == pytest.approx(50 / 15)
    assert ratios["export_openvino_int8_over_float32_b1"] == pytest.approx(1.5)  # 45 / 30
    assert ratios["export_openvino_int8_over_float32_b32"] == pytest.approx(2.5)  # 100 / 40
    assert ratios["export_openvino_int8_over_fast_bfloat16_b1"] == pytest.approx(2.25)  # 45 / 20
    assert ratios["export_openvino_float32_over_keras_b32"] == pytest.approx(40 / 12)


def test_a_skipped_or_failed_side_gives_no_ratio():
    results = _results()
    ratios = report.summarize(results)
    # LiteRT: float32 skipped, int8 failed; neither gives a made-up number.
    assert ratios["export_litert_int8_over_float32_b32"] is None
    assert ratios["export_litert_int8_over_fast_bfloat16_b1"] is None
    # No bfloat16 on the CPU: the int8 over bfloat16 ratio is absent, over float32 stays.
    results["export_fast_bfloat16"] = {"skipped": "no native bfloat16", "peak_memory_mb": 1.0}
    ratios = report.summarize(results)
    assert ratios["export_onnx_int8_over_fast_bfloat16_b32"] is None
    assert ratios["export_onnx_int8_over_fast_float32_b32"] == pytest.approx(60 / 16)


def test_table_prints_rates_ratios_and_what_did_not_run():
    results = _results()
    table = io.StringIO()
    report.print_table(results, report.summarize(results), workers.FULL, file=table)
    text = table.getvalue()
    assert "[exported resnet50, 224 px, random weights: img/s (batch 1, 32)" in text
    # Only the export group ran: no empty models table before it.
    assert "configuration  " not in text.split("[exported")[0]
    rows = {line[2:26].strip(): line[26:] for line in text.splitlines() if line.startswith("  ")}
    # batch 1, batch 32, /float32 at 1 and 32, /bfloat16 at 1 and 32, peak MB.
    assert rows["ONNX Runtime int8"].split()[:7] == [
        "50.0", "60.0", "2.50x", "2.50x", "2.50x", "2.40x", "1000"
    ]
    assert "agreement with float32 94%" in rows["ONNX Runtime int8"]
    assert rows["OpenVINO float32"].split() == ["30.0", "40.0", "1000"]
    assert rows["LiteRT float32"].strip() == "skipped: not installed: tensorflow"
    assert rows["LiteRT int8"].strip() == "FAILED: Traceback ..."


def test_export_configurations_are_registered_with_both_batch_sizes():
    group = {name for name, (g, *_) in workers.CONFIGS.items() if g == "export"}
    assert group == set(export.EXPORTS)
    assert "export" in workers.GROUPS
    assert workers.FULL["export_size"] == 224 and tuple(workers.FULL["export_batches"]) == (1, 32)
    assert workers.FULL["export_model"] == "resnet50"
    assert workers.QUICK["export_size"] < workers.FULL["export_size"]
    for sizes in (workers.FULL, workers.QUICK):
        assert set(sizes["export_repeats"]) == set(sizes["export_batches"])


def test_calibration_crops_are_photographs_of_the_asked_size():
    import numpy as np

    crops = export.calibration_crops(6, 40)
    assert crops.shape == (6, 40, 40, 3) and crops.dtype == np.uint8
    # Photographs, not noise or a flat image: neighbouring pixels alike, the images not.
    assert np.abs(np.diff(crops.astype(int), axis=2)).mean() < 20
    assert crops.std() > 20
    assert not np.array_equal(crops[0], crops[2])
    assert np.array_equal(crops, export.calibration_crops(6, 40))


@pytest.mark.slow
def test_quick_export_run_measures_onnx_float32_and_int8(tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("tf2onnx")
    out = tmp_path / "export.json"
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    process = subprocess.run(
        [
            sys.executable, "-m", "keras_resnet.bench", "--quick", "--only", "export",
            "--configs", "export_onnx_float32", "export_onnx_int8", "--json", str(out),
        ],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert process.returncode == 0, process.stderr[-2000:]
    report_ = json.loads(out.read_text())
    results = report_["results"]
    assert set(results) == {"machine", "export_onnx_float32", "export_onnx_int8"}
    for name in ("export_onnx_float32", "export_onnx_int8"):
        assert set(results[name]["batches"]) == {"1", "4"}
        assert results[name]["size"] == workers.QUICK["export_size"]
        assert all(rate["median"] > 0 for rate in results[name]["batches"].values())
    int8, float32 = results["export_onnx_int8"], results["export_onnx_float32"]
    assert report_["ratios"]["export_onnx_int8_over_float32_b4"] == pytest.approx(
        int8["batches"]["4"]["median"] / float32["batches"]["4"]["median"]
    )
    assert 0 <= int8["agreement"] <= 100
    assert "ONNX Runtime int8" in process.stdout

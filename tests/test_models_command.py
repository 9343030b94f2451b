"""``keras-resnet models``: its shipped table against the built models, and the command.

The table (keras_resnet/model_sizes.json, written by benchmarks/model_sizes.py)
is checked row by row against a model built here: ``count_params()`` and
``keras_resnet.analysis.complexity.multiply_adds`` at the row's input size.
The command is run in a subprocess, as a user runs it.
"""

import json
import os
import re
import subprocess
import sys
import time

import pytest

from keras_resnet import catalog, cli
from keras_resnet.analysis import complexity
from keras_resnet.architectures.common import image_shape
from keras_resnet.cli.commands import models as models_command

with open(models_command.TABLE) as _f:
    ROWS = json.load(_f)["models"]

# Rows whose model takes seconds to build (measured on two shared CPU cores:
# ResNet-1202 and PreAct-ResNet-1001 about 30 s each, the others 1-7 s, 70 s
# of CPU for all 29; the 21 other rows 40 s together): the 224-pixel ImageNet
# networks from ResNet-50 up, CIFAR's 1000-layer nets and its large DenseNets.
# They run with the slow tests; every row is checked either way.
SLOW = {
    row["model"]
    for row in ROWS
    if (row["family"] == "imagenet" and row["depth"] >= 50)
    or row["depth"] >= 1000
    or row["model"] in ("densenet100_k24", "densenet_bc250_k24", "densenet_bc190_k40")
}


def _param(row):
    marks = [pytest.mark.slow] if row["model"] in SLOW else []
    return pytest.param(row, id=row["model"], marks=marks)


@pytest.mark.parametrize("row", [_param(row) for row in ROWS])
def test_table_row_equals_the_built_model(row):
    """Parameters and multiply-adds equal the model built at the row's input size."""
    model = catalog.build(row["model"], weights=None, input_shape=image_shape(row["input_size"]))
    assert row["parameters"] == model.count_params()
    assert row["multiply_adds"] == complexity.multiply_adds(model)


def test_table_lists_every_catalogued_model_with_its_entry():
    """Same names and order as the catalogue; family, depth and size are its entries'."""
    assert [row["model"] for row in ROWS] == catalog.list_models(None, include_plain=True)
    for row in ROWS:
        entry = catalog.get(row["model"])
        assert (row["family"], row["depth"], row["input_size"]) == (
            entry.family, entry.depth, entry.default_size
        ), row["model"]
    assert models_command.families(ROWS) == catalog.FAMILIES


def _run_command(*args):
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "keras_resnet", "models", *args],
        capture_output=True, text=True, timeout=120,
    )
    return result, time.perf_counter() - start


def _names(output):
    return [line.split()[0] for line in output.splitlines()[1:]]


def test_models_answers_at_once_with_every_family():
    result, seconds = _run_command()
    assert result.returncode == 0, result.stderr
    # Reading the table takes 0.2 s; building the models took 1.5 minutes.
    # Generous, for a loaded machine.
    assert seconds < 20, seconds
    assert result.stderr == ""
    names = _names(result.stdout)
    assert names == catalog.list_models(None, include_plain=True)
    for name in ("resnet50", "resnet56", "resnet1202", "densenet121", "densenet40_k12",
                 "densenet_bc100_k12", "densenet_bc190_k40", "small-resnet"):
        assert name in names, name


def test_models_imports_no_backend():
    """What makes it fast: neither Keras nor TensorFlow is imported."""
    code = (
        "import sys\n"
        "from keras_resnet import cli\n"
        "status = cli.main(['models'])\n"
        "loaded = [m for m in ('keras', 'tensorflow', 'jax', 'torch') if m in sys.modules]\n"
        "print(status, loaded, file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.stderr.strip() == "0 []", result.stderr


def test_family_narrows_the_list():
    result, _ = _run_command("--family", "cifar")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert _names(result.stdout) == catalog.list_models("cifar", include_plain=True)
    assert all(line.split()[1] == "cifar" for line in lines[1:])


def test_columns_are_aligned():
    result, _ = _run_command()
    lines = result.stdout.splitlines()
    header = [m.span() for m in re.finditer(r"\S+", lines[0])]
    assert [lines[0][a:b] for a, b in header] == [
        "model", "family", "depth", "parameters", "multiply-adds", "input"
    ]
    for line in lines[1:]:
        cells = [m.span() for m in re.finditer(r"\S+", line)]
        assert len(cells) == len(header), line
        # Names and families start under their headers; numbers end under theirs.
        assert [a for a, _ in cells[:2]] == [a for a, _ in header[:2]], line
        assert [b for _, b in cells[2:]] == [b for _, b in header[2:]], line


def test_numbers_are_the_tables():
    """Each printed line says its row's numbers, written out here from the raw counts."""
    result, _ = _run_command("--family", "all")
    printed = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines()[1:]}
    for row in ROWS:
        family, depth, parameters, multiply_adds, size = printed[row["model"]]
        assert family == row["family"] and int(depth) == row["depth"]
        assert int(parameters.replace(",", "")) == row["parameters"]
        unit = {"G": 1e9, "M": 1e6}[multiply_adds[-1]]
        assert abs(float(multiply_adds[:-1]) * unit - row["multiply_adds"]) <= 0.05 * unit
        assert int(size) == row["input_size"]


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--family", "x"],
         "keras-resnet models: error: --family should be one of all, imagenet, cifar, demo. "
         "Received: 'x'"),
        (["--image-size", "16"],
         "keras-resnet models: error: --image-size must be at least 32. Received: 16"),
    ],
)
def test_bad_arguments_are_one_line(argv, words, capsys):
    status = cli.main(["models", *argv])
    captured = capsys.readouterr()
    assert status == 2
    assert captured.err.strip() == words
    assert captured.out == ""


def test_bad_family_in_a_subprocess_is_one_line_exit_2():
    result, _ = _run_command("--family", "x")
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert "--family" in result.stderr and "'x'" in result.stderr


def test_image_size_builds_the_models_at_that_size(capsys):
    """The slow path: counts of the model built at 64 pixels, not the table's."""
    assert cli.main(["models", "--family", "demo", "--image-size", "64"]) == 0
    (line,) = capsys.readouterr().out.splitlines()[1:]
    model = catalog.build("small-resnet", input_shape=image_shape(64))
    name, family, depth, parameters, multiply_adds, size = line.split()
    assert (name, family, size) == ("small-resnet", "demo", "64")
    assert int(parameters.replace(",", "")) == model.count_params()
    # 50.0M: four times the table's 12.5M (the convolutions see four times
    # the positions), plus the classifier's 640.
    assert multiply_adds == f"{complexity.multiply_adds(model) / 1e6:.1f}M"


def test_regeneration_script_writes_the_tables_format(tmp_path):
    """benchmarks/model_sizes.py's text parses back to the shipped table's rows."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "benchmarks"))
    try:
        import model_sizes
    finally:
        sys.path.pop(0)
    path = tmp_path / "model_sizes.json"
    path.write_text(model_sizes.dumps(ROWS))
    assert models_command.read_table(str(path)) == ROWS
    with open(models_command.TABLE) as f:
        assert f.read() == model_sizes.dumps(ROWS)

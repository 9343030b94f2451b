"""``train --data`` on prepared shards and folders: end to end, per-worker shards, bad shards.

The images are uniform gray squares whose gray level names the file, so any
crop of one still says which file it came from: the test can count which
files a worker's dataset read without any bookkeeping in the pipeline.
"""

import json
import os
import subprocess
import sys
import types

import numpy as np
import pytest
from PIL import Image

from keras_resnet import cli, data
from keras_resnet.training import inputs
from keras_resnet.training.distribution import Distribution
from test_training import ROOT, _env, _free_ports, _h5_arrays

pytestmark = pytest.mark.backend_agnostic


def gray_folder(root, per_class=12, classes=2, size=(40, 52)):
    """A class-per-folder dataset of uniform gray JPEGs, gray level = 8 * file number."""
    for c in range(classes):
        folder = root / f"class{c}"
        folder.mkdir(parents=True)
        for i in range(per_class):
            gray = 8 * (c * per_class + i) + 4
            Image.fromarray(np.full((*size, 3), gray, np.uint8)).save(folder / f"{i}.jpg", quality=95)
    return root


@pytest.fixture
def prepared(tmp_path):
    """The gray folder (24 files) prepared as 6 shards of 4."""
    source = gray_folder(tmp_path / "src")
    destination = tmp_path / "shards"
    data.prepare_shards(source, destination, images_per_shard=4, progress=lambda *a: None)
    return destination


def grays(batch):
    """The gray level of each image of a uint8 batch (file number = gray // 8)."""
    return [int(round(float(image.mean()))) // 8 for image in np.asarray(batch)]


def test_each_worker_reads_its_own_shards_and_together_every_file_once(prepared):
    split = inputs.load_splits(str(prepared))["train"]  # 5 shards after 1 held out
    created = {}

    class Strategy:
        def distribute_datasets_from_function(self, function):
            created["function"] = function
            return "distributed"

    distribution = Distribution("multiworker", num_replicas=2, num_workers=2,
                                tf_strategy=Strategy())
    result = split.dataset(
        augmentation="imagenet", image_size=16, batch_size=4, num_classes=None, train=True,
        seed=0, distribution=distribution,
    )
    assert result == "distributed" and split.repeats(distribution)
    seen = []
    for worker in range(2):
        context = types.SimpleNamespace(
            input_pipeline_id=worker, num_input_pipelines=2,
            get_per_replica_batch_size=lambda global_batch: global_batch // 2,
        )
        mine = data.worker_shards([s.path for s in split.shards], worker, 2)
        count = sum(s.records for s in split.shards if s.path in mine)
        batches = created["function"](context).take(count // 2)  # batch 2 per replica
        files = [g for images, _ in batches for g in grays(images.numpy())]
        assert len(files) == len(set(files)) == count, worker  # one epoch: each file once
        seen.append(set(files))
    assert not seen[0] & seen[1]
    assert len(seen[0] | seen[1]) == split.count == 20


def test_prepare_then_train_end_to_end(prepared, tmp_path, capsys):
    run_dir = tmp_path / "run"
    argv = [
        "train", "--data", str(prepared), "--model", "small-resnet", "--recipe", "small-data",
        "--epochs", "2", "--image-size", "16", "--batch-size", "4", "--weights", "none",
        "--augmentation", "inception", "--run-dir", str(run_dir), "--verbose", "0",
    ]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "20 training images, 2 classes" in out
    record = json.loads((run_dir / "run.json").read_text())
    assert record["augmentation"] == "inception" and record["data"] == str(prepared)
    assert len((run_dir / "log.csv").read_text().strip().splitlines()) == 3  # header + 2 epochs
    # The run's weights evaluate through the same uint8 path.
    assert cli.main(["evaluate", "--run-dir", str(run_dir), "--data", str(tmp_path / "src")]) == 0
    folder_result = capsys.readouterr().out.strip().splitlines()[-1]
    assert "(24 images, best.weights.h5)" in folder_result
    # The same 24 images from the shards: the same accuracy.
    argv = ["evaluate", "--run-dir", str(run_dir), "--data", str(prepared), "--split", "train"]
    assert cli.main(argv) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == folder_result


@pytest.mark.parametrize("damage", ["truncate", "foreign"])
def test_a_damaged_shard_stops_train_before_it_starts(prepared, tmp_path, capsys, damage):
    shard = sorted(prepared.glob("train-*.tfrecord"))[2]
    contents = shard.read_bytes()
    shard.write_bytes(contents[: len(contents) // 2] if damage == "truncate" else b"x" * 10)
    status = cli.main(["train", "--data", str(prepared), "--run-dir", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert status == 2 and len(err.splitlines()) == 1, err
    assert shard.name in err and "rerun keras-resnet prepare" in err
    assert not (tmp_path / "run").exists()


def test_prepared_data_without_validation_and_one_shard_is_refused(tmp_path, capsys):
    source = gray_folder(tmp_path / "src", per_class=2)
    data.prepare_shards(source, tmp_path / "one", progress=lambda *a: None)
    status = cli.main(["train", "--data", str(tmp_path / "one"), "--run-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip()
    assert status == 2 and "--val-data" in err and len(err.splitlines()) == 1


def test_val_data_is_recorded_and_evaluate_validates_there(tmp_path, capsys):
    source, held = gray_folder(tmp_path / "src"), gray_folder(tmp_path / "held", per_class=3)
    run_dir = tmp_path / "run"
    argv = [
        "train", "--data", str(source), "--val-data", str(held), "--model", "small-resnet",
        "--recipe", "small-data", "--epochs", "1", "--image-size", "16", "--batch-size", "4",
        "--weights", "none", "--run-dir", str(run_dir), "--verbose", "0",
    ]
    assert cli.main(argv) == 0
    assert "24 training images" in capsys.readouterr().out  # none held out of src
    assert json.loads((run_dir / "run.json").read_text())["val_data"] == str(held)
    assert cli.main(["evaluate", "--run-dir", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert f"the --val-data folder {held}" in out and "(6 images, " in out, out


@pytest.mark.slow
def test_multiworker_two_processes_train_on_their_own_shards(prepared, tmp_path):
    from conftest import requires_tensorflow  # noqa: F401  (documents the backend)

    if os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
        pytest.skip("multi-worker training runs on TensorFlow's collective strategy")
    run_dir = str(tmp_path / "run")
    cluster = {"worker": [f"127.0.0.1:{p}" for p in _free_ports(2)]}
    procs = []
    for index in range(2):
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "keras_resnet", "train", "--strategy", "multiworker",
                 "--data", str(prepared), "--model", "small-resnet", "--recipe", "small-data",
                 "--epochs", "1", "--image-size", "16", "--batch-size", "4", "--weights", "none",
                 "--run-dir", run_dir, "--verbose", "2"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                env=_env(TF_CONFIG=tf_config), cwd=ROOT,
            )
        )
    outputs = [p.communicate(timeout=400) for p in procs]
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0, err[-3000:]
    chief = _h5_arrays(os.path.join(run_dir, "final.weights.h5"))
    worker = _h5_arrays(os.path.join(run_dir, "workers", "1", "final.weights.h5"))
    assert chief.keys() == worker.keys() and len(chief) > 10
    for name in chief:
        np.testing.assert_array_equal(chief[name], worker[name], err_msg=name)
    # 5 training shards of 4 at a global batch of 4: 5 steps an epoch.
    assert "5/5" in outputs[0][0]

"""``train --strategy multiworker`` on JAX: processes that meet on loopback and train as one.

The per-process data is checked in this process (gray images whose level
names the file, as in test_train_data); the cluster itself runs as real JAX
processes on 127.0.0.1, compared with one process given the same global
batches, killed mid-run, and started wrong.
"""

import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from keras_resnet.training import inputs
from keras_resnet.training.cluster import Cluster
from keras_resnet.training.distribution import Distribution
from test_train_data import gray_folder, grays, prepared  # noqa: F401  (a fixture)
from test_training import ROOT, _env, _free_ports, _h5_arrays

pytest.importorskip("jax")


def _process(index, count):
    """What ``make_distribution`` gives process ``index`` of ``count`` JAX processes."""
    return Distribution("multiworker", num_replicas=count, worker_index=index, num_workers=count)


def _files(dataset, batches=None):
    """The file numbers of ``dataset``'s batches, batch by batch."""
    if batches is not None:
        dataset = dataset.take(batches)
    return [grays(images.numpy()) for images, _ in dataset]


# ---------------------------------------------------------------------------
# Each process's data (no cluster needed)
# ---------------------------------------------------------------------------

@pytest.mark.backend_agnostic
def test_each_process_feeds_its_part_of_the_global_batches_one_process_would_see(tmp_path):
    split = inputs.load_splits(str(gray_folder(tmp_path / "src")), seed=0)
    options = dict(augmentation="none", image_size=8, batch_size=4, num_classes=None, seed=3)
    one = _files(split["train"].dataset(train=True, distribution=_process(0, 1), **options))
    parts = [
        _files(split["train"].dataset(train=True, distribution=_process(p, 2), **options))
        for p in range(2)
    ]
    # 21 training images at a global batch of 4: 5 whole batches, 2 images a process each.
    assert len(one) == 5 and all(len(b) == 4 for b in one)
    assert [a + b for a, b in zip(*parts)] == one
    assert len({f for batch in one for f in batch}) == 20
    # Evaluation: every other image, disjoint, an odd count leaving one out.
    val = split["val"]
    seen = [
        [f for b in _files(val.dataset(distribution=_process(p, 2), **options)) for f in b]
        for p in range(2)
    ]
    assert len(seen[0]) == len(seen[1]) == val.count // 2
    assert not set(seen[0]) & set(seen[1])


@pytest.mark.backend_agnostic
def test_each_process_reads_only_its_own_shards(prepared):  # noqa: F811
    split = inputs.load_splits(str(prepared))["train"]  # 5 shards of 4 after 1 held out
    options = dict(augmentation="none", image_size=8, batch_size=4, num_classes=None, seed=0)
    seen = []
    for p in range(2):
        mine = split.shards[p::2]
        count = sum(s.records for s in mine)
        dataset = split.dataset(train=True, distribution=_process(p, 2), **options)
        files = [f for batch in _files(dataset, batches=count // 2) for f in batch]
        own = {f for shard in mine for f in _shard_files(shard)}
        assert len(files) == count and set(files) <= own, p
        seen.append(set(files))
    assert not seen[0] & seen[1] and len(seen[0] | seen[1]) == split.count == 20
    assert split.repeats(_process(0, 2))  # a stream per process: fit is told the epoch


def _shard_files(shard):
    """The file numbers a shard holds, read straight from its records."""
    import tensorflow as tf

    from keras_resnet import data

    return {grays(tf.io.decode_jpeg(contents)[None].numpy())[0]
            for contents, _ in data.shard_records([shard.path])}


def test_cluster_flags_are_checked_in_one_line():
    with pytest.raises(ValueError, match=r"--process-id must be from 0 to 1 .*Received: 2"):
        Cluster.from_flags("127.0.0.1:1234", 2, 2, environ={})
    with pytest.raises(ValueError, match=r"--coordinator should be HOST:PORT.*'localhost'"):
        Cluster.from_flags("localhost", 2, 0, environ={})
    with pytest.raises(ValueError, match="needs --coordinator"):
        Cluster.from_flags(None, 2, 0, environ={})
    # The variables keras.distribution.initialize and SLURM set stand in for the flags.
    environ = {"KERAS_DISTRIBUTION_JOB_ADDRESSES": "10.0.0.1:1234,10.0.0.2:2345",
               "SLURM_NTASKS": "2", "SLURM_PROCID": "1"}
    assert Cluster.from_flags(environ=environ) == Cluster("10.0.0.1:1234", 2, 1)
    with pytest.raises(ValueError, match="SLURM_PROCID must be from 0 to 1"):
        Cluster.from_flags(environ=dict(environ, SLURM_PROCID="5"))


# ---------------------------------------------------------------------------
# Real processes on loopback
# ---------------------------------------------------------------------------

def _train_processes(data, run_dir, count, *, port, extra=(), ids=None, counts=None):
    """Starts processes of one run (``ids``/``counts`` to start them wrong)."""
    ids = range(count) if ids is None else ids
    counts = counts or [count] * len(ids)
    return [
        subprocess.Popen(
            [sys.executable, "-m", "keras_resnet", "train", "--strategy", "multiworker",
             "--coordinator", f"127.0.0.1:{port}", "--num-processes", str(n),
             "--process-id", str(i), "--data", str(data), "--model", "small-resnet",
             "--recipe", "small-data", "--image-size", "16", "--batch-size", "4",
             "--weights", "none", "--augmentation", "none", "--run-dir", str(run_dir),
             "--verbose", "2", "--connect-timeout", "60", *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
            env=_env(KERAS_BACKEND="jax"),
        )
        for i, n in zip(ids, counts)
    ]


def _finish(processes, timeout=300):
    try:
        return [p.communicate(timeout=timeout) for p in processes]
    finally:
        for p in processes:
            p.kill()


def _error_lines(err):
    """The command's own error lines (the backends' start-up log left aside)."""
    return [line for line in err.splitlines() if line.startswith("keras-resnet train: error")]


@pytest.mark.slow
def test_two_processes_end_with_one_process_weights(tmp_path):
    data = gray_folder(tmp_path / "src")
    runs = {}
    for count in (2, 1):
        run_dir = tmp_path / f"run{count}"
        processes = _train_processes(data, run_dir, count, port=_free_ports(1)[0],
                                     extra=["--epochs", "2"])
        outputs = _finish(processes)
        for p, (out, err) in zip(processes, outputs):
            assert p.returncode == 0, err[-3000:]
        runs[count] = (run_dir, outputs)
    run_dir, outputs = runs[2]
    # Process 0 speaks for the run and writes it, each epoch once; process 1 writes nothing.
    assert outputs[0][0].count("Epoch 1/2") == 1 and outputs[0][0].count("Epoch 2/2") == 1
    assert "Epoch" not in outputs[1][0]
    assert len((run_dir / "log.csv").read_text().strip().splitlines()) == 3
    assert not (run_dir / "workers").exists()
    two = _h5_arrays(run_dir / "final.weights.h5")
    one = _h5_arrays(runs[1][0] / "final.weights.h5")
    assert two.keys() == one.keys() and len(two) > 10
    for name in two:
        np.testing.assert_allclose(two[name], one[name], rtol=1e-4, atol=1e-5, err_msg=name)


@pytest.mark.slow
def test_two_processes_train_on_prepared_shards(prepared, tmp_path):  # noqa: F811
    run_dir = tmp_path / "run"
    processes = _train_processes(prepared, run_dir, 2, port=_free_ports(1)[0],
                                 extra=["--epochs", "2"])
    outputs = _finish(processes)
    for p, (out, err) in zip(processes, outputs):
        assert p.returncode == 0, err[-3000:]
        # Each process's validation share has its length told to Keras.
        assert "ran out of data" not in out + err
    # 5 training shards of 4 at a global batch of 4: 5 steps an epoch, each epoch once.
    assert outputs[0][0].count("5/5 - ") == 2
    assert len((run_dir / "log.csv").read_text().strip().splitlines()) == 3


@pytest.mark.slow
def test_a_killed_process_stops_the_other_in_one_line_and_a_rerun_resumes(tmp_path):
    data = gray_folder(tmp_path / "src")
    run_dir = tmp_path / "run"
    chief, other = _train_processes(data, run_dir, 2, port=_free_ports(1)[0],
                                    extra=["--epochs", "40"])
    try:
        lines = []
        for line in chief.stdout:  # until the chief starts epoch 3
            lines.append(line)
            if line.startswith("Epoch 3/"):
                break
        assert any(line.startswith("Epoch 3/") for line in lines), "".join(lines)
        other.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        _, err = chief.communicate(timeout=120)
        waited = time.monotonic() - killed
    finally:
        chief.kill()
        other.kill()
    assert chief.returncode == 1 and waited < 120
    assert _error_lines(err) == [line for line in _error_lines(err) if "stopped" in line]
    assert len(_error_lines(err)) == 1 and "Traceback" not in err, err[-3000:]
    committed = len((run_dir / "log.csv").read_text().strip().splitlines()) - 1
    assert committed >= 2
    processes = _train_processes(data, run_dir, 2, port=_free_ports(1)[0],
                                 extra=["--epochs", "40"])
    outputs = _finish(processes)
    for p, (out, err) in zip(processes, outputs):
        assert p.returncode == 0, err[-3000:]
    assert f"resuming after epoch {committed}" in outputs[0][0]
    epochs = [int(row.split(",")[0])
              for row in (run_dir / "log.csv").read_text().strip().splitlines()[1:]]
    assert epochs == list(range(1, 41))


@pytest.mark.slow
def test_a_wrong_cluster_is_one_line_per_process(tmp_path):
    data = gray_folder(tmp_path / "src")
    # Nothing listens at the coordinator's address.
    (lone,) = _train_processes(data, tmp_path / "a", 2, port=_free_ports(1)[0], ids=[1],
                               extra=["--epochs", "1", "--connect-timeout", "3"])
    (out, err), = _finish([lone], timeout=120)
    assert lone.returncode == 2 and len(_error_lines(err)) == 1
    assert "nothing answered there within 3 s" in err and "Traceback" not in err
    # Process 1 believes in 3 processes, process 0 in 2.
    processes = _train_processes(data, tmp_path / "b", 2, port=_free_ports(1)[0],
                                 counts=[2, 3], extra=["--epochs", "1"])
    outputs = _finish(processes, timeout=180)
    for p, (out, err) in zip(processes, outputs):
        assert p.returncode == 2, err[-3000:]
        (line,) = _error_lines(err)
        assert "--num-processes 3" in line and "has 2 processes" in line
    # A process id out of range never starts JAX.
    (bad,) = _train_processes(data, tmp_path / "c", 2, port=_free_ports(1)[0], ids=[2],
                              extra=["--epochs", "1"])
    (out, err), = _finish([bad], timeout=120)
    assert bad.returncode == 2
    assert _error_lines(err) == [
        "keras-resnet train: error: --process-id must be from 0 to 1 (--num-processes 2). "
        "Received: 2"
    ]

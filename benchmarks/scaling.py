"""Data-parallel scaling: gradient bytes, an all-reduce on loopback, and docs/scaling.md's tables.

Three parts; docs/scaling.md quotes their output:

- ``sizes``: trainable parameters and the gradient bytes one step all-reduces for the ImageNet
  ResNets of the catalogue, each model built here (``weights=None``), beside keras.applications'
  count of the same architecture (built here too) and torchvision's published ``num_params``.
- ``loopback``: two JAX processes on this machine form one 2-device mesh
  (``jax.distributed.initialize`` on 127.0.0.1, collectives over gloo). Measured: one
  all-reduce of several sizes (so the effective bandwidth and latency), and a model's training
  step (Keras ``train_on_batch``) in one process against two processes sharing the same global
  batch through ``keras.distribution.DataParallel``, beside
  ``keras_resnet.training.scaling.predicted_step_seconds``. XLA's dump of the compiled step
  says how many all-reduces it makes and how many arrays they carry. The models: ``conv``, one
  convolution whose step the all-reduce dominates (the one tests/test_scaling.py runs), and
  catalogue models, ``NAME:frozen-bn`` with their BatchNorm layers frozen.
- ``tables``: the bandwidth near-linear scaling needs at 8, 64 and 512 GPUs and the CPU cores
  per GPU the input pipeline needs, from the figures of benchmarks/RESULTS.md.

Fairness: every process is pinned to one core (``os.sched_setaffinity`` before JAX starts;
XLA sizes its thread pool from the affinity mask), so one device is one core in every
configuration: the one-process baseline runs on core 0, the two processes on cores 0 and 1.

Usage (from the repository root; all three parts take about 7 minutes on two idle cores):

    python benchmarks/scaling.py                   # sizes, loopback, tables
    python benchmarks/scaling.py sizes tables      # no measurement, about a minute
    python benchmarks/scaling.py loopback --model conv --model resnet50:frozen-bn --batch 8
    python benchmarks/scaling.py --json scaling.json
"""

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time

if __name__ == "__main__" and sys.argv[1:2] == ["worker"] and "--core" in sys.argv:
    # A worker is pinned to its core before anything imports JAX (the package import below
    # does, through Keras): XLA sizes its thread pool from the affinity mask.
    os.sched_setaffinity(0, {int(sys.argv[sys.argv.index("--core") + 1])})

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from keras_resnet.training import scaling  # noqa: E402  (after the path above)

# The catalogue's ImageNet ResNets docs/scaling.md lists, with keras.applications' builder of
# the same architecture where Keras has one, and torchvision's model of the same layout.
MODELS = [
    # (catalogue name, keras.applications builder, torchvision name)
    ("resnet18", None, "resnet18"),
    ("resnet34", None, "resnet34"),
    ("resnet50", "ResNet50", None),
    ("resnet101", "ResNet101", None),
    ("resnet152", "ResNet152", None),
    ("resnet50v2", "ResNet50V2", None),
    ("resnet101v2", "ResNet101V2", None),
    ("resnet152v2", "ResNet152V2", None),
    ("resnext50", None, None),
    ("resnext101", None, None),
    ("resnet50b", None, "resnet50"),
    ("resnext50_32x4d", None, "resnext50_32x4d"),
    ("resnext101_32x8d", None, "resnext101_32x8d"),
    ("wide_resnet50_2", None, "wide_resnet50_2"),
    ("wide_resnet101_2", None, "wide_resnet101_2"),
]
# torchvision's published parameter counts (the ``num_params`` of its weight records,
# torchvision.models docs): trainable parameters, BatchNorm statistics excluded.
TORCHVISION_NUM_PARAMS = {
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnext50_32x4d": 25_028_904,
    "resnext101_32x8d": 88_791_336,
    "wide_resnet50_2": 68_883_240,
    "wide_resnet101_2": 126_886_696,
}

# Figures of benchmarks/RESULTS.md, "GPU" section: one NVIDIA H200, JAX 0.11.2, Keras 3.15.1,
# PyTorch 2.11, 2026-11-22 (run 2). ResNet-50 training, 224 px, batch 256: images per second.
H200_BATCH = 256
H200_TRAINING = [
    ("keras_resnet, JAX, bfloat16", 5260),
    ("keras.applications, float32", 3310),
    ("torchvision, compiled, bfloat16", 6438),
]
# MLPerf Training's closed-division ResNet-50 result on 8x H200 (v4.x/v5.0), about 63,600 img/s.
MLPERF_8XH200 = 63_600
# RESULTS.md, "Input pipeline: 2026-11-23" (2-core AMD EPYC, TensorFlow 2.21, run 2): img/s
# per thread with one thread and with two, 224 px crops.
PIPELINE_PER_CORE = [
    ("crop-then-decode, paper augmentation", 713, 731),
    ("random-resized-crop", 613, 579),
]
# Each direction, per GPU (NVLink 4: 900 GB/s bidirectional per H100/H200) or per NIC.
LINKS = [
    ("NVLink 4 (H100/H200)", 450e9),
    ("InfiniBand 400 Gb/s", 400e9 / 8),
    ("InfiniBand 200 Gb/s", 200e9 / 8),
    ("100 GbE", 100e9 / 8),
    ("25 GbE", 25e9 / 8),
]
GPUS_PER_NODE = 8
DEVICE_COUNTS = (8, 64, 512)

# A model whose data-parallel step the all-reduce dominates: one 4 x 4 convolution of 1024
# channels over a 4 x 4 input (16.8 M weights, 67 MB of gradients, almost no arithmetic).
CONV = {"name": "conv", "channels": 1024, "kernel": 4}
# The loopback all-reduce sizes: latency (4 KiB) up to bandwidth (64 MiB).
ALLREDUCE_BYTES = (4 << 10, 1 << 20, 16 << 20, 64 << 20)
# How long one group of processes may take before both are killed.
PROCESS_TIMEOUT_SECONDS = 600


# ----------------------------------------------------------------------------------------------
# The processes: one worker per device, each pinned to its core.


def free_port():
    """A TCP port free on 127.0.0.1 now (the coordinator binds it a moment later)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _collectives_per_step(folder):
    """``(all-reduces, arrays they carry)`` in the most collective-rich training step XLA
    compiled, read from its dump of the optimized program (a tuple all-reduce carries several
    arrays; XLA's CPU runtime sends each one as its own message)."""
    best = (0, 0)
    for name in os.listdir(folder) if os.path.isdir(folder) else ():
        if "train_step" in name and name.endswith("after_optimizations.txt"):
            operations = arrays = 0
            with open(os.path.join(folder, name)) as f:
                for line in f:
                    for opcode in (" all-reduce(", " all-reduce-start("):
                        if opcode in line:
                            operations += 1
                            # "%x = (f32[64]{0}, f32[64]{0}) all-reduce(...": one "[" an array
                            arrays += line.split(opcode)[0].partition("=")[2].count("[")
            best = max(best, (operations, arrays))
    return best


def run_processes(spec, num_processes, *, timeout=PROCESS_TIMEOUT_SECONDS, cores=None,
                  count_collectives=False):
    """Runs ``num_processes`` workers of ``spec`` at once; returns each one's result dict.

    Worker ``i`` is pinned to core ``cores[i]`` (default: the ``i``-th core this process may
    use). Workers meet at a free port of
    127.0.0.1 when there are several. If one fails, the others are killed at once (they would
    otherwise wait at their next collective); past ``timeout`` seconds all are killed.
    ``count_collectives``: each result also says how many all-reduces the compiled training
    step holds (``collectives_per_step``, read from XLA's dump of the optimized program).

    Raises:
        RuntimeError: A worker failed or the group timed out; the message ends with the
            workers' last lines of output.
    """
    if cores is None:
        allowed = sorted(os.sched_getaffinity(0))
        cores = [allowed[i % len(allowed)] for i in range(num_processes)]
    port = free_port()
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("XLA_FLAGS", None)  # e.g. a forced host device count would add devices
    with tempfile.TemporaryDirectory(prefix="scaling-") as folder:
        spec_path = os.path.join(folder, "spec.json")
        with open(spec_path, "w") as f:
            json.dump(spec, f)
        procs, logs = [], []
        for i in range(num_processes):
            log = open(os.path.join(folder, f"log-{i}.txt"), "w")
            logs.append(log)
            if count_collectives:
                env = dict(env, XLA_FLAGS=f"--xla_dump_to={os.path.join(folder, f'hlo-{i}')}")
            procs.append(subprocess.Popen(
                [sys.executable, os.path.abspath(__file__), "worker", spec_path,
                 "--process-id", str(i), "--num-processes", str(num_processes),
                 "--port", str(port), "--core", str(cores[i]),
                 "--result", os.path.join(folder, f"result-{i}.json")],
                stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
            ))
        deadline = time.monotonic() + timeout
        failure = None
        try:
            while any(p.poll() is None for p in procs):
                if any(p.returncode not in (None, 0) for p in procs):
                    failure = "a worker failed"
                    break
                if time.monotonic() > deadline:
                    failure = f"timed out after {timeout} s"
                    break
                time.sleep(0.1)
            if failure is None and any(p.returncode != 0 for p in procs):
                failure = "a worker failed"
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
            for log in logs:
                log.close()
        if failure:
            tails = []
            for i, p in enumerate(procs):
                with open(os.path.join(folder, f"log-{i}.txt")) as f:
                    tail = [line for line in f.read().splitlines() if line.strip()][-8:]
                tails.append(f"process {i} (exit {p.returncode}):\n  " + "\n  ".join(tail))
            raise RuntimeError(f"{num_processes} process(es) {failure}.\n" + "\n".join(tails))
        results = []
        for i in range(num_processes):
            with open(os.path.join(folder, f"result-{i}.json")) as f:
                results.append(json.load(f))
            if count_collectives:
                operations, arrays = _collectives_per_step(os.path.join(folder, f"hlo-{i}"))
                results[i].update(collectives_per_step=operations, arrays_per_step=arrays)
        return results


def _timed(call, steps, warmup):
    """Seconds of each of ``steps`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        call()
    runs = []
    for _ in range(steps):
        start = time.perf_counter()
        call()
        runs.append(time.perf_counter() - start)
    return runs


def build_model(model_spec):
    """The model of ``model_spec``, compiled; the same initial weights in every process.

    ``{"name": "conv", "channels": C, "kernel": K}`` is one K x K convolution over a K x K x C
    input (C x C x K x K weights, a 1 x 1 output), then a 10-way dense layer: nearly all its
    step is the weights' gradient and update, so that the all-reduce dominates a data-parallel
    step. Any other name is a catalogue model at ``image_size``, its BatchNorm layers frozen
    with ``"frozen_batchnorm": True``.
    """
    import keras

    # Replicated variables must start equal in every process.
    keras.utils.set_random_seed(0)
    name = model_spec["name"]
    if name == "conv":
        channels, kernel = model_spec["channels"], model_spec["kernel"]
        model = keras.Sequential([
            keras.Input((kernel, kernel, channels)),
            keras.layers.Conv2D(channels, kernel),
            keras.layers.Flatten(),
            keras.layers.Dense(10),
        ])
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        input_shape, classes = (kernel, kernel, channels), 10
    else:
        from keras_resnet import catalog

        size = model_spec["image_size"]
        input_shape, classes = (size, size, 3), model_spec.get("classes", 1000)
        model = catalog.build(name, weights=None, input_shape=input_shape, classes=classes)
        if model_spec.get("frozen_batchnorm"):
            # Frozen, BatchNorm normalizes with its moving statistics: nothing to sum over
            # the global batch, and no gamma and beta gradients.
            for layer in model.layers:
                if isinstance(layer, keras.layers.BatchNormalization):
                    layer.trainable = False
        loss = "sparse_categorical_crossentropy"
    model.compile(
        optimizer=keras.optimizers.SGD(0.01, momentum=model_spec.get("momentum", 0.0)),
        loss=loss,
    )
    return model, input_shape, classes


class _Training:
    """A compiled model and one batch for it: ``step()`` is one ``train_on_batch``."""

    def __init__(self, model_spec, batch, seed):
        import numpy as np

        self.model, input_shape, classes = build_model(model_spec)
        rng = np.random.default_rng(seed)
        self.x = rng.uniform(0, 255, (batch,) + input_shape).astype("float32")
        self.y = rng.integers(0, classes, batch).astype("int32")
        self.figures = {"batch": batch, "gradient_bytes": scaling.gradient_bytes(self.model),
                        "runs": []}

    def step(self):
        self.model.train_on_batch(self.x, self.y)


def worker(spec, process_id, num_processes, port, core):
    """One process: joins the others, measures what ``spec`` asks, returns the figures.

    What it measures, in ``spec["rounds"]`` rounds so that a change of the machine's load
    reaches every configuration alike: the all-reduce of each of ``allreduce_bytes``; the
    training step of ``model`` at each of ``compute_batches`` in this process alone (no
    collective); and, with several processes, the data-parallel step at ``distributed_batch``
    images per process. Each figure keeps every timed run; the caller takes medians.
    """
    os.sched_setaffinity(0, {core})  # (again: see the top of the file)
    import jax

    if num_processes > 1:
        # Collectives between CPU processes need an implementation; gloo is JAX's default
        # in recent versions, set here for those where it is not.
        if jax.config.jax_cpu_collectives_implementation != "gloo":
            jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(
            coordinator_address=f"127.0.0.1:{port}", num_processes=num_processes,
            process_id=process_id, initialization_timeout=60, heartbeat_timeout_seconds=30,
        )
    import keras
    import numpy as np

    result = {
        "process_id": process_id, "num_processes": num_processes, "core": core,
        "devices": len(jax.devices()), "jax": jax.__version__, "keras": keras.__version__,
        "load_average": os.getloadavg(), "cores_allowed": len(os.sched_getaffinity(0)),
    }
    steps, warmup = spec.get("steps", 5), spec.get("warmup", 2)
    allreduce = []
    if num_processes > 1 and spec.get("allreduce_bytes"):
        from jax.sharding import Mesh, NamedSharding
        from jax.sharding import PartitionSpec as P

        mesh = Mesh(np.array(jax.devices()), ("devices",))
        psum = jax.jit(jax.shard_map(
            lambda x: jax.lax.psum(x, "devices"), mesh=mesh, in_specs=P("devices"),
            out_specs=P(),
        ))
        for size in spec["allreduce_bytes"]:
            local = np.full((1, size // 4), process_id + 1, np.float32)
            x = jax.make_array_from_process_local_data(NamedSharding(mesh, P("devices")), local)
            total = float(np.asarray(psum(x).addressable_shards[0].data).ravel()[0])
            expected = num_processes * (num_processes + 1) / 2
            if total != expected:
                raise AssertionError(f"all-reduce summed to {total}, expected {expected}")
            allreduce.append(({"bytes": size, "runs": []}, x))
        result["allreduce"] = [figures for figures, _ in allreduce]
    model_spec = spec.get("model")
    alone, together, data_parallel = [], None, None
    if model_spec:
        alone = [_Training(model_spec, batch, process_id)
                 for batch in spec.get("compute_batches", ())]
        result["compute"] = [training.figures for training in alone]
        if num_processes > 1 and spec.get("distributed_batch"):
            data_parallel = keras.distribution.DataParallel(
                devices=jax.devices(), auto_shard_dataset=False
            )
            keras.distribution.set_distribution(data_parallel)
            together = _Training(model_spec, spec["distributed_batch"], process_id)
            together.figures["global_batch"] = spec["distributed_batch"] * num_processes
            result["distributed"] = together.figures
    for round_index in range(spec.get("rounds", 1)):
        first = warmup if round_index == 0 else 1
        for figures, x in allreduce:
            figures["runs"] += _timed(
                lambda: jax.block_until_ready(psum(x)), spec.get("allreduce_repeats", 5), first
            )
        keras.distribution.set_distribution(None)
        for training in alone:
            training.figures["runs"] += _timed(training.step, steps, first)
        if together is not None:
            keras.distribution.set_distribution(data_parallel)
            together.figures["runs"] += _timed(together.step, steps, first)
    for figures in result.get("allreduce", []) + result.get("compute", []) + (
            [result["distributed"]] if "distributed" in result else []):
        figures["median_s"] = statistics.median(figures["runs"])
    return result


# ----------------------------------------------------------------------------------------------
# Loopback: measure, predict, compare.


def _slowest(results, key):
    """The slowest process's median (a synchronous step ends when the last one does)."""
    return max(r[key]["median_s"] for r in results)


def measure_loopback(model_spec, global_batch, *, steps=5, warmup=2, rounds=3,
                     allreduce_bytes=ALLREDUCE_BYTES, timeout=PROCESS_TIMEOUT_SECONDS,
                     solo=True):
    """One process against two on loopback, and the prediction; returns a dict of figures.

    The two processes measure, in each of ``rounds`` rounds, the all-reduce of each of
    ``allreduce_bytes``, the step at half the global batch each alone (no collective, both
    cores busy) and the data-parallel step: a ``predicted_step_seconds`` from the first two
    (bandwidth from the largest message, latency from the smallest) against the third.
    ``solo``: before that, one process alone (core 0, the other core idle) at the global
    batch and at half of it.
    """
    local = global_batch // 2
    figures = {"model": model_spec, "global_batch": global_batch, "steps": steps * rounds}
    if solo:
        (alone,) = run_processes(
            {"model": model_spec, "compute_batches": [global_batch, local], "steps": steps,
             "warmup": warmup, "rounds": rounds}, 1, timeout=timeout,
        )
        figures["one_process"] = alone
    pair = run_processes(
        {"model": model_spec, "compute_batches": [local], "distributed_batch": local,
         "allreduce_bytes": list(allreduce_bytes), "steps": steps, "warmup": warmup,
         "rounds": rounds},
        2, timeout=timeout, count_collectives=True,
    )
    figures["two_processes"] = pair
    allreduce = [
        {"bytes": size, "median_s": max(r["allreduce"][i]["median_s"] for r in pair)}
        for i, size in enumerate(allreduce_bytes)
    ]
    for row in allreduce:
        row["bus_bandwidth"] = scaling.bus_bandwidth(2, row["bytes"], row["median_s"])
    # Bandwidth from the largest message, latency from the smallest: 2 (N - 1) = 2 steps.
    bandwidth = allreduce[-1]["bus_bandwidth"]
    latency = max(
        allreduce[0]["median_s"] - scaling.ring_allreduce_bytes(2, allreduce[0]["bytes"])
        / bandwidth, 0.0,
    ) / 2
    compute = max(r["compute"][0]["median_s"] for r in pair)
    message = pair[0]["compute"][0]["gradient_bytes"]
    predicted = scaling.predicted_step_seconds(compute, message, 2, bandwidth, latency)
    # Every array the step all-reduces (each gradient, BatchNorm's statistics when they are
    # summed over the global batch, the loss) pays the latency.
    arrays = max(r.get("arrays_per_step", 0) for r in pair)
    figures.update(
        allreduce=allreduce, bandwidth=bandwidth, latency=latency, compute_s=compute,
        gradient_bytes=message, predicted_s=predicted,
        measured_s=_slowest(pair, "distributed"),
        allreduce_model_s=scaling.allreduce_seconds(2, message, bandwidth, latency),
        collectives_per_step=max(r.get("collectives_per_step", 0) for r in pair),
        arrays_per_step=arrays,
        predicted_per_array_s=scaling.predicted_step_seconds(
            compute, message, 2, bandwidth, latency, collectives=max(arrays, 1)
        ),
    )
    return figures


def print_loopback(f, out=sys.stdout):
    spec = f["model"]
    what = (f"{spec['name']} {spec['image_size']} px" if spec["name"] != "conv" else
            f"one {spec['kernel']}x{spec['kernel']} convolution, {spec['channels']} channels")
    if spec.get("frozen_batchnorm"):
        what += ", BatchNorm frozen"
    pair = f["two_processes"]
    print(f"\n[loopback: 2 JAX processes (jax {pair[0]['jax']}, keras {pair[0]['keras']}), gloo "
          f"over 127.0.0.1, one core each; load average at start "
          f"{pair[0]['load_average'][0]:.2f}]", file=out)
    print("  all-reduce        bytes   median ms   bus GB/s", file=out)
    for row in f["allreduce"]:
        print(f"  {row['bytes']:>19,d} {1e3 * row['median_s']:>11.2f} "
              f"{row['bus_bandwidth'] / 1e9:>10.3f}", file=out)
    print(f"  fitted: bandwidth {f['bandwidth'] / 1e9:.3f} GB/s (largest message), latency "
          f"{1e6 * f['latency']:.0f} us a step (smallest)", file=out)
    gb, local = f["global_batch"], f["global_batch"] // 2
    print(f"\n[training step, {what}, Keras train_on_batch, SGD (momentum "
          f"{spec.get('momentum', 0.0)}); {f['gradient_bytes']:,d} "
          f"gradient bytes; median of {f['steps']} steps]", file=out)
    rows = []
    if "one_process" in f:
        for c in f["one_process"]["compute"]:
            rows.append((f"one process, batch {c['batch']} (core 0)", c["median_s"], c["batch"]))
    rows.append((f"two processes, batch {local} each, no collective", f["compute_s"], gb))
    rows.append((f"two processes, DataParallel, global batch {gb}", f["measured_s"], gb))
    for label, seconds, images in rows:
        print(f"  {label:<52} {seconds:8.3f} s {images / seconds:8.1f} img/s", file=out)
    print(f"  predicted two-process step: {f['compute_s']:.3f} s compute + "
          f"{f['allreduce_model_s']:.3f} s all-reduce = {f['predicted_s']:.3f} s; measured / "
          f"predicted {f['measured_s'] / f['predicted_s']:.2f}", file=out)
    if f["arrays_per_step"] > 1:
        print(f"  the compiled step holds {f['collectives_per_step']} all-reduces of "
              f"{f['arrays_per_step']} arrays; with the latency for each array: predicted "
              f"{f['predicted_per_array_s']:.3f} s, measured / predicted "
              f"{f['measured_s'] / f['predicted_per_array_s']:.2f}", file=out)
    if "one_process" in f:
        one = f["one_process"]["compute"][0]["median_s"]
        print(f"  two processes over one at global batch {gb}: {one / f['measured_s']:.2f}x "
              f"(predicted {one / f['predicted_s']:.2f}x; linear 2x)", file=out)


# ----------------------------------------------------------------------------------------------
# Sizes and tables.


def measure_sizes():
    """Trainable parameters of each model of ``MODELS`` and of keras.applications' twins."""
    import keras

    rows = []
    for name, keras_builder, torchvision_name in MODELS:
        from keras_resnet import catalog

        model = catalog.build(name, weights=None)
        row = {"model": name, "trainable": scaling.trainable_parameter_count(model),
               "total": int(model.count_params())}
        keras.backend.clear_session()
        if keras_builder:
            twin = getattr(keras.applications, keras_builder)(weights=None)
            row["keras_applications"] = scaling.trainable_parameter_count(twin)
            keras.backend.clear_session()
        if torchvision_name:
            row["torchvision"] = TORCHVISION_NUM_PARAMS[torchvision_name]
        rows.append(row)
    return rows


def print_sizes(rows, out=sys.stdout):
    print("\n[gradient bytes a step all-reduces, float32; trainable parameters]", file=out)
    print(f"  {'model':<18} {'trainable':>12} {'MB':>8}  {'keras.applications':>18} "
          f"{'torchvision':>12}", file=out)
    for row in rows:
        other = [f"{row[k]:,d}" if k in row else "" for k in ("keras_applications", "torchvision")]
        print(f"  {row['model']:<18} {row['trainable']:>12,d} "
              f"{scaling.gradient_bytes(row['trainable']) / 1e6:>8.1f}  {other[0]:>18} "
              f"{other[1]:>12}", file=out)


def _rates():
    return H200_TRAINING + [("MLPerf 8x H200, per GPU", MLPERF_8XH200 / GPUS_PER_NODE)]


def print_tables(trainable, out=sys.stdout):
    """The bandwidth and core tables for ResNet-50 of ``trainable`` parameters."""
    message = scaling.gradient_bytes(trainable)
    print(f"\n[ResNet-50, {message / 1e6:.1f} MB of float32 gradients a step, {H200_BATCH} "
          f"images per GPU a step: ring all-reduce bandwidth each GPU needs, GB/s each way; "
          f"'hidden': overlapped with the step's compute; '+10%': after it, adding 10%]",
          file=out)
    header = "".join(f" {'N=' + str(n) + ' hidden':>12} {'+10%':>6}" for n in DEVICE_COUNTS)
    print(f"  {'per-GPU training rate':<52} {'step ms':>7}{header}", file=out)
    for label, rate in _rates():
        step = H200_BATCH / rate
        cells = "".join(
            f" {scaling.required_bandwidth(n, message, step) / 1e9:>12.2f}"
            f" {scaling.required_bandwidth(n, message, step, overlap=False) / 1e9:>6.1f}"
            for n in DEVICE_COUNTS
        )
        print(f"  {label + f' ({rate:,.0f} img/s)':<52} {1e3 * step:>7.1f}{cells}", file=out)

    rate = H200_TRAINING[0][1]
    step = H200_BATCH / rate
    nvlink = LINKS[0][1]
    print(f"\n[ResNet-50 at {rate:,d} img/s per GPU ({1e3 * step:.1f} ms a step): hierarchical "
          f"all-reduce (NVLink inside each node of {GPUS_PER_NODE}), not overlapped: ms, and "
          f"the share of linear scaling left]", file=out)
    inside = scaling.allreduce_seconds(GPUS_PER_NODE, message, nvlink)
    print(f"  N={GPUS_PER_NODE}, one node, {LINKS[0][0]}: {1e3 * inside:.2f} ms, "
          f"{scaling.scaling_efficiency(step, step + inside):.1%}", file=out)
    columns = [(n, nic) for nic in ("NIC per GPU", "NIC per node") for n in DEVICE_COUNTS[1:]]
    print(f"  {'network, each way':<20} {'GB/s':>6}" + "".join(
        f" {nic + ', N=' + str(n):>22}" for n, nic in columns), file=out)
    for label, bandwidth in LINKS[1:]:
        cells = []
        for n, nic in columns:
            share = bandwidth if nic == "NIC per GPU" else bandwidth / GPUS_PER_NODE
            seconds = scaling.hierarchical_allreduce_seconds(
                n // GPUS_PER_NODE, GPUS_PER_NODE, message, nvlink, share
            )
            efficiency = scaling.scaling_efficiency(step, step + seconds)
            cells.append(f" {1e3 * seconds:>12.1f} ms {efficiency:>5.0%}")
        print(f"  {label:<20} {bandwidth / 1e9:>6.2f}" + "".join(cells), file=out)

    print("\n[CPU cores of input pipeline each GPU needs: per-GPU img/s over the pipeline's "
          "img/s per core (1 thread / per thread of 2)]", file=out)
    print(f"  {'per-GPU training rate':<52}" + "".join(
        f" {name:>38}" for name, _, _ in PIPELINE_PER_CORE), file=out)
    for label, rate in _rates():
        cells = "".join(
            " " + f"{scaling.cores_per_device(rate, one):.1f} / "
            f"{scaling.cores_per_device(rate, two):.1f}".rjust(38)
            for _, one, two in PIPELINE_PER_CORE
        )
        print(f"  {label + f' ({rate:,.0f} img/s)':<52}{cells}", file=out)


def _cpu():
    """``model name`` and the flags that matter here, from /proc/cpuinfo."""
    name, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    name = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
    except OSError:
        pass
    shown = [flag for flag in ("avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx512_bf16",
                               "amx_tile", "amx_bf16") if flag in flags]
    return f"{name}, {os.cpu_count()} cores, {' '.join(shown)}"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "worker":
        parser = argparse.ArgumentParser(prog="scaling.py worker")
        parser.add_argument("spec")
        for flag in ("--process-id", "--num-processes", "--port", "--core"):
            parser.add_argument(flag, type=int, required=True)
        parser.add_argument("--result", required=True)
        args = parser.parse_args(argv[1:])
        with open(args.spec) as f:
            spec = json.load(f)
        result = worker(spec, args.process_id, args.num_processes, args.port, args.core)
        with open(args.result, "w") as f:
            json.dump(result, f)
        return 0

    parts = ("sizes", "loopback", "tables")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("parts", nargs="*", metavar="PART",
                        help=f"some of {', '.join(parts)} (default: all)")
    parser.add_argument(
        "--model", action="append", metavar="NAME",
        help="model of the loopback run, repeatable: 'conv' (the all-reduce-bound convolution "
             "of tests/test_scaling.py, global batch 4) or a catalogue name, with ':frozen-bn' "
             "to freeze its BatchNorm layers (default: conv, resnet50, resnet50:frozen-bn)",
    )
    parser.add_argument("--image-size", type=int, default=64, help="of catalogue models")
    parser.add_argument("--batch", type=int, default=8, help="global batch of catalogue models")
    parser.add_argument("--steps", type=int, default=3, help="timed steps a round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median)")
    parser.add_argument("--json", metavar="PATH", help="also write every figure here")
    args = parser.parse_args(argv)
    chosen = args.parts or parts
    unknown = sorted(set(chosen) - set(parts))
    if unknown:
        parser.error(f"PART should be some of {', '.join(parts)}. Received: {' '.join(unknown)}")
    if args.batch < 2 or args.batch % 2:
        parser.error(f"--batch must be even, two processes share it. Received: {args.batch}")

    import keras

    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {_cpu()}; Python "
          f"{platform.python_version()}, Keras {keras.__version__}")
    figures = {"cpu": _cpu(), "date": time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime())}
    if "sizes" in chosen:
        figures["sizes"] = measure_sizes()
        print_sizes(figures["sizes"])
    if "loopback" in chosen:
        figures["loopback"] = []
        for name in args.model or ["conv", "resnet50", "resnet50:frozen-bn"]:
            if name == "conv":
                spec, batch = dict(CONV), 4
            else:
                name, _, option = name.partition(":")
                if option not in ("", "frozen-bn"):
                    parser.error(f"--model takes NAME or NAME:frozen-bn. Received: {name}:{option}")
                spec = {"name": name, "image_size": args.image_size, "momentum": 0.9,
                        "frozen_batchnorm": option == "frozen-bn"}
                batch = args.batch
            figures["loopback"].append(measure_loopback(
                spec, batch, steps=args.steps, rounds=args.rounds,
                solo=not spec.get("frozen_batchnorm"),
            ))
            print_loopback(figures["loopback"][-1])
    if "tables" in chosen:
        sizes = {row["model"]: row["trainable"] for row in figures.get("sizes", ())}
        if "resnet50" not in sizes:
            from keras_resnet import catalog

            sizes["resnet50"] = scaling.trainable_parameter_count(
                catalog.build("resnet50", weights=None)
            )
        print_tables(sizes["resnet50"])
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Where training runs: one device, mirrored replicas, or several workers.

``make_distribution(name)`` returns a ``Distribution``: the scope to build
and compile in, how many replicas share the global batch, and which worker
writes the run directory.

Backends and strategies:

- TensorFlow: ``tf.distribute`` (``MirroredStrategy``; ``MultiWorkerMirroredStrategy``
  from ``TF_CONFIG``).
- JAX: ``keras.distribution.DataParallel`` over the local devices
  (``mirrored``) or over every process's devices (``multiworker``: the
  processes meet through ``cluster.Cluster.join``).
- PyTorch: one device; Keras distributes ``fit`` on PyTorch from 3.16
  (``keras.distribution``), not in the installed 3.15.
"""

import contextlib
import dataclasses
import json
import os

import keras

STRATEGIES = ("default", "mirrored", "multiworker")


@dataclasses.dataclass
class Distribution:
    """Where training runs: a scope to build and compile in, and who writes files.

    Attributes:
        name: ``"default"``, ``"mirrored"`` or ``"multiworker"``.
        num_replicas: Replicas in sync; the global batch is split among them.
        worker_index: This process's index among the workers (0 = chief).
        num_workers: Number of worker processes.
        tf_strategy: The ``tf.distribute.Strategy`` (TensorFlow backend), or None.
    """

    name: str
    num_replicas: int = 1
    worker_index: int = 0
    num_workers: int = 1
    tf_strategy: object = None

    @property
    def is_chief(self):
        return self.worker_index == 0

    @property
    def jax_processes(self):
        """Whether this is JAX's multi-process run (``multiworker`` on JAX, any process count).

        Every process then feeds its own part of each global batch
        (``inputs.Split.dataset``) and holds the same replicated weights, so
        all read one run directory and the chief alone writes it.
        TensorFlow's workers keep their own state in ``run_dir/workers/<index>``
        instead (``run_dir.writer_dir``).
        """
        return self.name == "multiworker" and self.tf_strategy is None

    @property
    def writes_files(self):
        """Whether this process writes into the run directory (or its own folder)."""
        return self.is_chief or not self.jax_processes

    def process_slice(self, batch_size):
        """``(index, count, local_batch)``: this process's share of each global batch."""
        return self.worker_index, self.num_workers, batch_size // self.num_workers

    def scope(self):
        """Context in which to build and compile the model."""
        if self.tf_strategy is not None:
            return self.tf_strategy.scope()
        return contextlib.nullcontext()


def split_cpu(num_devices):
    """Splits the CPU into ``num_devices`` logical devices (before TF starts).

    On the JAX backend this sets ``XLA_FLAGS`` and so must run before JAX is
    first used.

    Raises:
        RuntimeError: If the TensorFlow runtime is already initialised.
    """
    if keras.backend.backend() == "jax":
        flag = f"--xla_force_host_platform_device_count={num_devices}"
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + flag).strip()
        return
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(num_devices)]
    )


def make_distribution(name="default", *, virtual_devices=None, cluster=None):
    """Creates the distribution for ``name``.

    ``"mirrored"`` replicates over every visible GPU, or over
    ``virtual_devices`` logical CPU devices when there is none (to show and
    test data parallelism on a laptop). ``"multiworker"`` reads the cluster
    from ``TF_CONFIG`` on TensorFlow; on JAX it joins ``cluster`` (a
    ``cluster.Cluster``) and is ``keras.distribution.DataParallel`` over
    every process's devices, each process feeding its own part of each
    global batch. On the JAX backend ``"mirrored"`` is ``DataParallel`` over
    the local devices.

    Raises:
        ValueError: For an unknown name, ``"multiworker"`` without its
            cluster, a cluster that cannot be joined, or a strategy the
            backend does not have.
    """
    if name not in STRATEGIES:
        raise ValueError(f"`strategy` should be one of {STRATEGIES}. Received: strategy={name!r}")
    backend = keras.backend.backend()
    if backend == "jax":
        if virtual_devices:
            split_cpu(virtual_devices)
        if name == "default":
            return Distribution("default")
        if name == "multiworker":
            if cluster is None:
                raise ValueError(
                    "strategy='multiworker' on JAX needs the cluster (--coordinator, "
                    "--num-processes, --process-id). Received: none"
                )
            cluster.join()
        import jax

        devices = jax.devices()
        keras.distribution.set_distribution(
            # Each process's dataset is already its share of the global batch
            # (``inputs.Split.dataset``); Keras's auto-shard would split it again.
            keras.distribution.DataParallel(devices=devices, auto_shard_dataset=False)
        )
        return Distribution(
            name, num_replicas=len(devices), worker_index=jax.process_index(),
            num_workers=jax.process_count(),
        )
    if backend != "tensorflow":
        if name != "default":
            raise ValueError(
                f"strategy={name!r} needs the TensorFlow or JAX backend: Keras distributes fit "
                f"on PyTorch from 3.16 (keras.distribution), and this is Keras "
                f"{keras.__version__}. Received: KERAS_BACKEND={backend}"
            )
        return Distribution("default")

    import tensorflow as tf

    if virtual_devices and not tf.config.list_physical_devices("GPU"):
        split_cpu(virtual_devices)
    if name == "default":
        return Distribution("default")
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in gpus or tf.config.list_logical_devices("CPU")]
        strategy = tf.distribute.MirroredStrategy(devices=devices)
        return Distribution(name, num_replicas=strategy.num_replicas_in_sync, tf_strategy=strategy)
    if not os.environ.get("TF_CONFIG"):
        raise ValueError(
            "strategy='multiworker' reads the cluster from the TF_CONFIG "
            "environment variable, which is not set."
        )
    strategy = _MultiWorkerMirroredStrategy()
    config = json.loads(os.environ["TF_CONFIG"])
    task = config.get("task", {})
    workers = config["cluster"].get("worker", [])
    index = task.get("index", 0)
    if task.get("type") != "worker" or "chief" in config["cluster"]:
        index = 0 if task.get("type") == "chief" else index + 1
    num_workers = len(workers) + len(config["cluster"].get("chief", []))
    return Distribution(
        name,
        num_replicas=strategy.num_replicas_in_sync,
        worker_index=index,
        num_workers=num_workers,
        tf_strategy=strategy,
    )


def _MultiWorkerMirroredStrategy():
    """``MultiWorkerMirroredStrategy`` that survives Keras 3's ``fit``.

    Keras 3.x reduces a nested structure of per-replica values in one
    ``Strategy.reduce`` call and asks for ``axis=0`` on scalar metrics; the
    collective strategy accepts neither (keras-team/keras#20585). This
    subclass reduces leaf by leaf and scalars without an axis, and hands back
    the local value of dtypes the collective op refuses (uint8 image batches,
    which Keras reduces only to read their shapes).
    """
    import tensorflow as tf

    # Dtypes the collective all-reduce takes.
    reducible = {tf.float16, tf.bfloat16, tf.float32, tf.float64, tf.int32, tf.int64}

    class Strategy(tf.distribute.MultiWorkerMirroredStrategy):
        def reduce(self, reduce_op, value, axis):
            def one(v):
                local = self.experimental_local_results(v)[0]
                if local.dtype not in reducible:
                    # Keras "reduces" a batch of data only to learn its
                    # shapes before building; a uint8 image batch cannot
                    # go through the collective op, and needs no average.
                    return local
                leaf_axis = None if axis is not None and local.shape.rank == 0 else axis
                return super(Strategy, self).reduce(reduce_op, v, leaf_axis)

            return tf.nest.map_structure(one, value)

    return Strategy()


class SyncMovingStatistics(keras.callbacks.Callback):
    """Averages non-trainable variables (BatchNorm moving statistics) across workers.

    Trainable weights stay identical on every worker (gradients are
    all-reduced), but each worker updates its BatchNorm moving mean and
    variance from its own shard of the batch. Averaging them at each epoch
    end makes evaluation, checkpoints and the final weights identical on
    every worker.
    """

    def __init__(self, strategy):
        super().__init__()
        self.strategy = strategy

    def on_epoch_end(self, epoch, logs=None):
        import tensorflow as tf

        for variable in self.model.non_trainable_variables:
            if not variable.dtype.startswith("float"):
                continue
            value = variable.value
            local = self.strategy.run(lambda v=value: tf.identity(v))
            mean = self.strategy.reduce("MEAN", local, axis=None)
            variable.assign(mean)

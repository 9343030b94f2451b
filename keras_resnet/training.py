"""Training: optimiser, schedule, distribution, crash-safe run directories.

For people who call ``model.fit`` themselves::

    from keras_resnet import data, recipes, training

    recipe = recipes.get("cifar")
    model = training.small_resnet(input_shape=(32, 32, 3), classes=10)
    training.compile_model(model, recipe, batch_size=128, steps_per_epoch=390, epochs=182)
    model.fit(train_ds, validation_data=val_ds, epochs=182,
              callbacks=training.run_callbacks("runs/cifar"))

``fit`` does the same plus the run directory's bookkeeping: resume after a
crash (``BackupAndRestore`` with atomic checkpoints), ``best.weights.h5``,
a CSV log and a PNG of the curves.

A run directory holds::

    run.json            how the run was made (model, classes, image size ...)
    classes.json        the class names, in label order
    backup/             the resumable state (rerunning a finished run is a no-op)
    best.weights.h5     weights of the best validation epoch
    final.weights.h5    weights after the last epoch
    log.csv             one row per epoch
    curves.png          loss and accuracy curves
"""

import contextlib
import csv
import dataclasses
import json
import math
import os
import tempfile

import keras
from keras import layers, ops

from keras_resnet import blocks

STRATEGIES = ("default", "mirrored", "multiworker")


# ----------------------------------------------------------------------------
# Files written atomically: a crash leaves the old file or the new one.
# ----------------------------------------------------------------------------


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path in ``path``'s folder; renames it to ``path`` on success."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    suffix = "".join(os.path.basename(path).partition(".")[1:])  # keeps ".weights.h5"
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=folder)
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_json(path, obj):
    """Writes ``obj`` as JSON atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=2)


def save_weights(model, path):
    """``model.save_weights`` atomically."""
    with atomic_path(path) as tmp:
        os.remove(tmp)  # Keras refuses to overwrite without asking otherwise
        model.save_weights(tmp)


# ----------------------------------------------------------------------------
# Optimiser and learning-rate schedule
# ----------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="keras_resnet")
class SGD(keras.optimizers.SGD):
    """SGD with the paper's coupled L2 weight decay on kernels.

    ``l2 * w`` is added to the gradient of every convolution and dense kernel
    before momentum, as Caffe and the paper do. Biases and BatchNorm
    parameters are not decayed. Keras's own ``weight_decay=`` is decoupled
    (``w -= lr * wd * w``, bypassing momentum) and, at momentum 0.9, decays
    about ten times less for the same coefficient.

    Args:
        l2: Coefficient of the L2 penalty's gradient (the paper's 1e-4).
        **kwargs: As for ``keras.optimizers.SGD``.
    """

    def __init__(self, learning_rate=0.01, *, l2=0.0, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.l2 = l2

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self._decayed = [_is_kernel(v) for v in variables]

    def update_step(self, gradient, variable, learning_rate):
        if self.l2 and self._decayed[self._get_variable_index(variable)]:
            gradient = ops.add(
                ops.cast(gradient, variable.dtype),
                ops.multiply(ops.cast(self.l2, variable.dtype), variable),
            )
        super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        return {**super().get_config(), "l2": self.l2}


def _is_kernel(variable):
    return variable.path.rsplit("/", 1)[-1] == "kernel"


@keras.saving.register_keras_serializable(package="keras_resnet")
class StepSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up, then the peak rate times ``factor`` per milestone passed.

    A function of the step count alone, so a resumed run (which restores the
    optimizer's step count) continues on exactly the same schedule.

    Args:
        peak: Learning rate after warm-up.
        boundaries: Steps at which the rate is multiplied by ``factor``.
        factor: The multiplier (0.1 divides by 10).
        warmup_steps: Steps of linear warm-up from ``peak / warmup_steps``.
    """

    def __init__(self, peak, boundaries=(), factor=0.1, warmup_steps=0):
        self.peak = float(peak)
        self.boundaries = [int(b) for b in boundaries]
        self.factor = float(factor)
        self.warmup_steps = int(warmup_steps)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        drops = sum(ops.cast(step >= b, "float32") for b in self.boundaries) if self.boundaries else 0.0
        rate = self.peak * ops.power(self.factor, drops)
        if self.warmup_steps:
            warm = self.peak * (step + 1.0) / self.warmup_steps
            rate = ops.where(step < self.warmup_steps, warm, rate)
        return rate

    def get_config(self):
        return {
            "peak": self.peak,
            "boundaries": self.boundaries,
            "factor": self.factor,
            "warmup_steps": self.warmup_steps,
        }


class Warmup(keras.callbacks.Callback):
    """Linear warm-up of a plain (float) learning rate, for the plateau schedule."""

    def __init__(self, peak, warmup_steps):
        super().__init__()
        self.peak = peak
        self.warmup_steps = warmup_steps

    def on_train_batch_begin(self, batch, logs=None):
        step = int(ops.convert_to_numpy(self.model.optimizer.iterations))
        if step < self.warmup_steps:
            self.model.optimizer.learning_rate = self.peak * (step + 1) / self.warmup_steps
        elif step == self.warmup_steps:
            self.model.optimizer.learning_rate = self.peak


def make_optimizer(recipe, *, batch_size, steps_per_epoch, epochs):
    """The recipe's SGD for a global ``batch_size``.

    Returns:
        ``(optimizer, callbacks)``: the plateau schedule needs a
        ``ReduceLROnPlateau`` (and a ``Warmup``) callback; the step schedule
        lives inside the optimizer.
    """
    peak = recipe.learning_rate(batch_size)
    warmup_steps = round(recipe.warmup_epochs * steps_per_epoch)
    callbacks = []
    if recipe.schedule == "steps":
        boundaries = [e * steps_per_epoch for e in recipe.milestone_epochs(epochs)]
        learning_rate = StepSchedule(peak, boundaries, recipe.factor, warmup_steps)
    else:
        learning_rate = peak
        callbacks.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor="val_loss", factor=recipe.factor, patience=recipe.patience, verbose=1
            )
        )
        if warmup_steps:
            callbacks.append(Warmup(peak, warmup_steps))
    optimizer = SGD(
        learning_rate,
        momentum=recipe.momentum,
        nesterov=recipe.nesterov,
        l2=recipe.weight_decay,
    )
    return optimizer, callbacks


def compile_model(model, recipe, *, batch_size, steps_per_epoch, epochs=None, jit_compile="auto"):
    """Compiles ``model`` with the recipe: SGD, schedule, label smoothing, metrics.

    Labels must be one-hot (``data.make_dataset(..., num_classes=...)``).

    Args:
        model: A Keras classifier ending in softmax.
        recipe: A ``recipes.Recipe``.
        batch_size: The global batch size (the learning rate follows it).
        steps_per_epoch: Optimiser steps per epoch (for the schedule).
        epochs: Total epochs (for the milestones); defaults to the recipe's.
        jit_compile: ``True`` for XLA, ``"auto"`` for Keras's choice.

    Returns:
        The callbacks the schedule needs; pass them to ``fit``.
    """
    epochs = epochs or recipe.epochs
    optimizer, callbacks = make_optimizer(
        recipe, batch_size=batch_size, steps_per_epoch=steps_per_epoch, epochs=epochs
    )
    metrics = ["accuracy"]
    if model.output_shape[-1] > 5:
        metrics.append(keras.metrics.TopKCategoricalAccuracy(k=5, name="top5"))
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=recipe.label_smoothing),
        metrics=metrics,
        jit_compile=jit_compile,
    )
    return callbacks


# ----------------------------------------------------------------------------
# Distribution
# ----------------------------------------------------------------------------


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


def make_distribution(name="default", *, virtual_devices=None):
    """Creates the distribution for ``name``.

    ``"mirrored"`` replicates over every visible GPU, or over
    ``virtual_devices`` logical CPU devices when there is none (to show and
    test data parallelism on a laptop). ``"multiworker"`` reads the cluster
    from ``TF_CONFIG``. On the JAX backend ``"mirrored"`` is
    ``keras.distribution.DataParallel`` over the local devices; multi-host
    JAX needs ``jax.distributed.initialize`` and is not wired here.

    Raises:
        ValueError: For an unknown name, or ``"multiworker"`` without
            ``TF_CONFIG`` or on JAX.
    """
    if name not in STRATEGIES:
        raise ValueError(f"`strategy` should be one of {STRATEGIES}. Received: strategy={name!r}")
    backend = keras.backend.backend()
    if backend == "jax":
        if name == "multiworker":
            raise ValueError(
                "strategy='multiworker' needs the TensorFlow backend (TF_CONFIG). "
                "Received: strategy='multiworker' with KERAS_BACKEND=jax"
            )
        if virtual_devices:
            split_cpu(virtual_devices)
        if name == "default":
            return Distribution("default")
        import jax

        devices = jax.devices()
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
        return Distribution(name, num_replicas=len(devices))
    if backend != "tensorflow":
        if name != "default":
            raise ValueError(
                f"strategy={name!r} needs the TensorFlow or JAX backend. Received: {backend}"
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
    subclass reduces leaf by leaf and scalars without an axis.
    """
    import tensorflow as tf

    class Strategy(tf.distribute.MultiWorkerMirroredStrategy):
        def reduce(self, reduce_op, value, axis):
            def one(v):
                local = self.experimental_local_results(v)[0]
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


# ----------------------------------------------------------------------------
# Crash safety
# ----------------------------------------------------------------------------


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """``BackupAndRestore`` whose checkpoint is never half-written.

    Keras writes the weights and then the epoch number in place, so a kill
    during the write leaves a corrupt file, and a kill between the two
    leaves weights of one epoch with the number of another. Here the weights
    go to a new file named after the epoch, and the metadata, written
    atomically afterwards, is the commit point: it names the weights file to
    restore. Older weight files are deleted only after the commit.
    """

    def __init__(self, backup_dir):
        # Kept after the last epoch: rerunning a finished command then does
        # nothing instead of training again from scratch.
        super().__init__(backup_dir, save_freq="epoch", delete_checkpoint=False)

    def _load_model(self):
        meta = read_backup_metadata(self.backup_dir)
        if meta is None:
            return
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)
        self.model.load_weights(os.path.join(self.backup_dir, meta["weights"]))
        self.model._initial_epoch = meta["epoch"]

    def _save_model(self):
        os.makedirs(self.backup_dir, exist_ok=True)
        name = f"epoch-{self._current_epoch}.weights.h5"
        save_weights(self.model, os.path.join(self.backup_dir, name))
        write_json(
            self._training_metadata_path, {"epoch": self._current_epoch, "weights": name}
        )
        for old in os.listdir(self.backup_dir):
            if old.endswith(".weights.h5") and old != name:
                os.remove(os.path.join(self.backup_dir, old))


def read_backup_metadata(backup_dir):
    """``{"epoch": completed epochs, "weights": file}`` of a backup, or None."""
    path = os.path.join(backup_dir, "training_metadata.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


class BestWeights(keras.callbacks.Callback):
    """Saves the weights of the best validation epoch, atomically, across resumes.

    Keras's ``ModelCheckpoint(save_best_only=True)`` forgets the best score
    when a run resumes and would overwrite a better file; here the score is
    kept next to the weights.
    """

    def __init__(self, path, monitor="val_accuracy"):
        super().__init__()
        self.path = path
        self.monitor = monitor
        self.record_path = path.replace(".weights.h5", "") + ".json"

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            return
        best = None
        if os.path.exists(self.record_path) and os.path.exists(self.path):
            with open(self.record_path) as f:
                best = json.load(f)[self.monitor]
        if best is None or value > best:
            save_weights(self.model, self.path)
            write_json(self.record_path, {"epoch": epoch + 1, self.monitor: float(value)})


class CSVLog(keras.callbacks.Callback):
    """One CSV row per epoch, rewritten atomically; survives resumes.

    Rows of epochs a resumed run repeats are replaced, not duplicated.
    """

    def __init__(self, path):
        super().__init__()
        self.path = path

    def on_epoch_end(self, epoch, logs=None):
        rows = [r for r in read_log(self.path) if int(r["epoch"]) <= epoch]
        row = {"epoch": epoch + 1}
        row["lr"] = float(ops.convert_to_numpy(self.model.optimizer.learning_rate))
        row.update({k: float(v) for k, v in sorted((logs or {}).items()) if k != "learning_rate"})
        rows.append(row)
        fields = list(dict.fromkeys(k for r in rows for k in r))
        with atomic_path(self.path) as tmp:
            with open(tmp, "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=fields)
                writer.writeheader()
                writer.writerows(rows)


def read_log(path):
    """The rows of a run's ``log.csv`` (dicts of strings), or [] if there is none."""
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def plot_log(log_path, png_path):
    """Draws loss and accuracy per epoch (training and validation) into a PNG.

    Returns:
        ``png_path``, or None when matplotlib is missing or the log is empty.
    """
    rows = read_log(log_path)
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot as plt
    except ImportError:
        return None
    if not rows:
        return None
    epochs = [int(r["epoch"]) for r in rows]
    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("loss", "accuracy")):
        for prefix, style in (("", "-"), ("val_", "--")):
            key = prefix + metric
            if key in rows[0]:
                ax.plot(epochs, [float(r[key]) for r in rows], style, label=key)
        ax.set_xlabel("epoch")
        ax.set_title(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    figure.tight_layout()
    with atomic_path(png_path) as tmp:
        figure.savefig(tmp, format="png", dpi=100)
    plt.close(figure)
    return png_path


def run_callbacks(run_dir, *, distribution=None):
    """The run directory's callbacks: resume, best weights, CSV log.

    On a multi-worker run only the chief writes into ``run_dir``; the other
    workers keep their own resumable state in ``run_dir/workers/<index>``.
    """
    distribution = distribution or Distribution("default")
    callbacks = []
    if distribution.name == "multiworker":
        callbacks.append(SyncMovingStatistics(distribution.tf_strategy))
    if distribution.is_chief:
        backup = os.path.join(run_dir, "backup")
    else:
        backup = os.path.join(run_dir, "workers", str(distribution.worker_index), "backup")
    callbacks.append(AtomicBackupAndRestore(backup))
    if distribution.is_chief:
        callbacks.append(BestWeights(os.path.join(run_dir, "best.weights.h5")))
        callbacks.append(CSVLog(os.path.join(run_dir, "log.csv")))
    return callbacks


def fit(
    model,
    train_data,
    *,
    validation_data,
    epochs,
    run_dir,
    callbacks=(),
    distribution=None,
    verbose="auto",
):
    """``model.fit`` in a resumable run directory.

    Rerunning the same call after a crash continues from the last completed
    epoch. At the end, ``final.weights.h5`` and ``curves.png`` are written.

    Args:
        model: A compiled model.
        train_data: Training ``tf.data.Dataset`` (batched).
        validation_data: Validation dataset, evaluated every epoch.
        epochs: Total number of epochs (not "more epochs").
        run_dir: The run directory.
        callbacks: More callbacks (e.g. those ``compile_model`` returned).
        distribution: The ``Distribution`` the model was built under.
        verbose: Keras's: 1 = progress bar, 2 = a line per epoch; "auto"
            picks the bar on a terminal and lines otherwise.

    Returns:
        The Keras ``History`` of the epochs run by this call.
    """
    import sys

    distribution = distribution or Distribution("default")
    if verbose == "auto":
        verbose = 1 if sys.stdout.isatty() else 2
    all_callbacks = run_callbacks(run_dir, distribution=distribution) + list(callbacks)
    history = model.fit(
        train_data,
        validation_data=validation_data,
        epochs=epochs,
        callbacks=all_callbacks,
        verbose=verbose,
    )
    if distribution.is_chief:
        save_weights(model, os.path.join(run_dir, "final.weights.h5"))
        plot_log(os.path.join(run_dir, "log.csv"), os.path.join(run_dir, "curves.png"))
    else:
        worker_dir = os.path.join(run_dir, "workers", str(distribution.worker_index))
        save_weights(model, os.path.join(worker_dir, "final.weights.h5"))
    return history


# ----------------------------------------------------------------------------
# Evaluation
# ----------------------------------------------------------------------------


def evaluate_ten_crop(model, dataset):
    """Top-1 and top-5 accuracy with 10-crop testing (softmax averaged over crops).

    Args:
        model: A classifier ending in softmax.
        dataset: Batches of ``(images, labels)`` with images
            (batch, 10, H, W, C) from ``data.ten_crop_transform`` and integer
            or one-hot labels.

    Returns:
        ``{"accuracy": ..., "top5": ..., "count": ...}``.
    """
    import numpy as np

    correct1 = correct5 = count = 0
    for images, labels in dataset:
        images = ops.convert_to_numpy(images)
        batch, crops = images.shape[:2]
        probs = model.predict_on_batch(images.reshape(batch * crops, *images.shape[2:]))
        probs = ops.convert_to_numpy(probs).reshape(batch, crops, -1).mean(axis=1)
        labels = ops.convert_to_numpy(labels)
        if labels.ndim == 2:
            labels = labels.argmax(axis=1)
        ranked = np.argsort(-probs, axis=1)
        correct1 += int((ranked[:, 0] == labels).sum())
        correct5 += int((ranked[:, :5] == labels[:, None]).any(axis=1).sum())
        count += batch
    return {"accuracy": correct1 / count, "top5": correct5 / count, "count": count}


# ----------------------------------------------------------------------------
# The demo's small network
# ----------------------------------------------------------------------------


def small_resnet(
    input_shape=(32, 32, 3),
    classes=10,
    *,
    blocks_per_stage=1,
    bn_momentum=0.9,
    name="small_resnet",
):
    """The demo's network: a CIFAR ResNet (He et al. 2015, section 4.2) for short runs.

    ``cifar.CifarResNet`` with ``blocks_per_stage`` basic blocks in each of its
    three stages (16, 32, 64 filters; ``6n + 2`` weighted layers, so the
    default ``n=1`` is an 8-layer net and ``n=3`` is ResNet-20's layout), but
    with projection (option B) shortcuts and a faster BatchNorm momentum,
    which make a few epochs on a small dataset converge reliably.

    Args:
        input_shape: Input shape without the batch axis.
        classes: Number of classes.
        blocks_per_stage: Basic blocks per stage.
        bn_momentum: Momentum of the BatchNorm moving statistics.
        name: Model name.

    Returns:
        A ``keras.Model``.
    """
    from keras_resnet import cifar

    arch = cifar.CifarArchitecture(blocks_per_stage, shortcut="B")
    model = cifar.CifarResNet(
        cifar.make_stack_fn(arch, options=blocks.BlockOptions(shortcut="B")),
        preact=False,
        model_name=name,
        input_shape=input_shape,
        classes=classes,
    )
    # Keras's BN momentum of 0.99 averages over ~100 steps: a short run's
    # moving statistics would lag the weights and wreck validation. 0.9 is
    # PyTorch's default (its momentum=0.1).
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.momentum = bn_momentum
    return model


def steps_per_epoch(num_examples, batch_size, *, drop_remainder=True):
    """Optimiser steps in one epoch."""
    if drop_remainder:
        return num_examples // batch_size
    return math.ceil(num_examples / batch_size)


# ----------------------------------------------------------------------------
# Models by name, and run directories
# ----------------------------------------------------------------------------

#: The demo's network (``small_resnet`` with its defaults) by CLI name.
SMALL_MODEL = "small-resnet"


def model_names():
    """Names accepted by ``build_model``: the demo's network, then the ImageNet family."""
    from keras_resnet import models

    return [SMALL_MODEL] + models.list_models()


def preprocessing_mode(name):
    """The ``preprocess_input`` mode ``build_model(name)`` expects."""
    from keras_resnet import models

    if name == SMALL_MODEL:
        return "tf"
    return models.ARCHITECTURES[name].preprocessing


def build_model(name, *, classes, image_size, weights=None):
    """Builds a classifier by name for ``classes`` classes at ``image_size``.

    With ``weights="imagenet"`` and ``classes != 1000`` the pretrained
    backbone (``include_top=False, pooling="avg"``) gets a new softmax head.

    Raises:
        ValueError: For an unknown name, or weights the model cannot take.
    """
    from keras_resnet import models

    if keras.config.image_data_format() == "channels_first":
        shape = (3, image_size, image_size)
    else:
        shape = (image_size, image_size, 3)
    if name == SMALL_MODEL:
        if weights not in (None, "none"):
            raise ValueError(
                f"{SMALL_MODEL} has no pretrained weights. Received: weights={weights!r}"
            )
        return small_resnet(shape, classes)
    if name not in models.list_models():
        raise ValueError(
            f"Unknown model. Known: {', '.join(model_names())}. Received: model={name!r}"
        )
    weights = None if weights == "none" else weights
    if weights == "imagenet" and classes != 1000:
        backbone = models.build(
            name, weights="imagenet", include_top=False, pooling="avg", input_shape=shape
        )
        outputs = layers.Dense(classes, activation="softmax", name="predictions")(backbone.output)
        return keras.Model(backbone.input, outputs, name=name)
    return models.build(name, weights=weights, classes=classes, input_shape=shape)


def load_run(run_dir):
    """The ``run.json`` of a run directory (raises ValueError if there is none)."""
    path = os.path.join(run_dir, "run.json")
    if not os.path.exists(path):
        raise ValueError(f"Not a run directory (no run.json). Received: run_dir={run_dir!r}")
    with open(path) as f:
        return json.load(f)

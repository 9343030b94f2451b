"""Crash-safe run directories: resume, best weights, a log that loses no epoch.

A run directory holds::

    run.json            how the run was made (model, classes, image size ...)
    classes.json        the class names, in label order
    run.lock            the lock of the process writing here (see ``lock``)
    backup/             the resumable state (rerunning a finished run is a no-op)
    best.weights.h5     weights of the best validation epoch (best.json: which):
                        the highest val_accuracy, ties to the lower val_loss
    final.weights.h5    weights after the last epoch
    log.csv             one row per epoch
    curves.png          loss and accuracy curves

A TensorFlow worker of a multi-worker run other than the chief writes only
its own ``workers/<index>/`` (lock, backup and final weights); JAX's other
processes write nothing and resume from the chief's backup.

A loss that becomes NaN or infinite stops the run (``NonFiniteLoss``)
before the epoch's weights are written anywhere: the backup keeps the last
good epoch, and records the stop, after which a rerun may change the learning
rate (see ``run_record``) and resumes there.

``fit`` is ``model.fit`` with these callbacks and files, holding the lock;
``run_callbacks`` gives the callbacks alone to those who call ``model.fit``
themselves (and take ``lock_run_dir`` themselves if they need it). What a
finished run says is ``summary``'s.
"""

import contextlib
import errno
import json
import math
import os
import sys
import threading
import time

import keras
from keras import ops

from keras_resnet import internals
from keras_resnet.training import faults
from keras_resnet.training.distribution import Distribution, SyncMovingStatistics
from keras_resnet.training.files import save_weights, write_json
from keras_resnet.training.lock import lock_run_dir
from keras_resnet.training.log import (
    BestWeights,
    log_row,
    read_log,
    write_log,
)
from keras_resnet.training.plots import plot_log


class AtomicBackupAndRestore(keras.callbacks.Callback):
    """Each epoch's checkpoint, log row and best-weights decision, as one step.

    Keras's ``BackupAndRestore`` writes the weights and then the epoch number
    in place, so a kill during the write leaves a corrupt file, and a kill
    between the two leaves weights of one epoch with the number of another.
    Here the weights (with the optimizer's state) go to a new file named
    after the epoch, and the metadata, written atomically afterwards, is the
    commit point: it names the weights file and holds every log row so far.
    What follows is derived from the metadata alone: ``log.csv`` is
    rewritten from its rows, and ``best.weights.h5`` becomes a copy of the
    checkpoint if the epoch beat the best. Both are idempotent and are redone
    when training starts, so a kill between the commit and them loses
    nothing. Older weight files are deleted only after the commit. The backup
    is kept after the last epoch, so rerunning a finished command does
    nothing instead of training again from scratch.

    A NaN or infinite loss (a batch's, or the epoch's validation loss) raises
    ``NonFiniteLoss`` before anything of the epoch is written, and records
    the stop in the metadata. A rerun after that stop keeps the learning rate
    it was compiled with (a lower one, say) rather than the checkpoint's.

    Args:
        backup_dir: The folder of the resumable state.
        run_dir: Where ``log.csv`` and the best weights go; None (a worker
            other than the chief) keeps the checkpoint only.
        monitor: The log entry whose maximum picks the best weights.
        writes: False for a process that only reads ``backup_dir`` (a JAX
            process other than the chief: the chief's checkpoint is its own).
    """

    # Where Keras runs batch callbacks in a thread (JAX, PyTorch), reading
    # the loss there does not make the training loop wait for every step; a
    # NaN seen there is raised by the training thread, at the next batch or
    # before the epoch's commit (which waits for those callbacks).
    async_safe = True

    def __init__(self, backup_dir, *, run_dir=None, monitor="val_accuracy", writes=True):
        super().__init__()
        self.backup_dir = backup_dir
        self.run_dir = run_dir
        self.writes = writes
        self.best = None
        if run_dir is not None:
            self.best = BestWeights(os.path.join(run_dir, "best.weights.h5"), monitor)
        self._rows = []
        self._seconds = 0.0
        self._epoch_start = None
        self._epoch = 0
        self._nonfinite = None  # (name, value, batch) of the first NaN seen
        self._nonfinite_lock = threading.Lock()

    def on_train_begin(self, logs=None):
        self._nonfinite = None
        meta = read_backup_metadata(self.backup_dir)
        self._rows = self._rows_before(meta)
        # A backup of an older version did not count its time: none is said.
        self._seconds = 0.0 if meta is None else meta.get("seconds")
        if meta is None or meta["weights"] is None:
            return
        optimizer = self.model.optimizer
        if optimizer is not None and not optimizer.built:
            optimizer.build(self.model.trainable_variables)
        rate = _rate_variable(optimizer) if "stopped" in meta else None
        asked = None if rate is None else ops.convert_to_numpy(rate)
        self.model.load_weights(os.path.join(self.backup_dir, meta["weights"]))
        if rate is not None:
            # The rate the rerun asks for, not the one that led to the NaN.
            rate.assign(asked)
        internals.resume_fit_at(self.model, meta["epoch"])
        if "log" in meta:
            self._publish(meta)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._epoch_start = time.monotonic()

    def on_train_batch_begin(self, batch, logs=None):
        if self._nonfinite:
            self._stop(*self._nonfinite)

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            with self._nonfinite_lock:
                if self._nonfinite is None or batch + 1 < self._nonfinite[2]:
                    self._nonfinite = ("loss", loss, batch + 1)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self._nonfinite:
            self._stop(*self._nonfinite)
        for name in ("loss", "val_loss"):
            if name in logs and not math.isfinite(logs[name]):
                self._stop(name, logs[name])
        completed = epoch + 1
        row = log_row(completed, self.model.optimizer.learning_rate, logs)
        self._rows = [r for r in self._rows if r["epoch"] < completed] + [row]
        if not self.writes:
            return
        name = f"epoch-{completed}.weights.h5"
        save_weights(self.model, os.path.join(self.backup_dir, name))
        meta = {"epoch": completed, "weights": name, "log": self._rows}
        if self._seconds is not None and self._epoch_start is not None:
            self._seconds += time.monotonic() - self._epoch_start
            meta["seconds"] = round(self._seconds, 3)
        write_json(_metadata_path(self.backup_dir), meta)  # the commit
        faults.checkpoint_committed(completed)
        for old in os.listdir(self.backup_dir):
            if old.endswith(".weights.h5") and old != name:
                os.remove(os.path.join(self.backup_dir, old))
        self._publish(meta)

    def _stop(self, name, value, batch=None):
        """Records that ``name`` became ``value`` and raises ``NonFiniteLoss``."""
        meta = read_backup_metadata(self.backup_dir)
        if meta is None:
            meta = {"epoch": 0, "weights": None, "log": [], "seconds": 0.0}
        stopped = {"epoch": self._epoch + 1, "batch": batch, name: str(float(value))}
        if self.writes:
            write_json(_metadata_path(self.backup_dir), {**meta, "stopped": stopped})
        raise NonFiniteLoss(name, value, epoch=self._epoch + 1, batch=batch, kept=meta["epoch"])

    def _rows_before(self, meta):
        """The log rows of the committed epochs."""
        if meta is None:
            return []
        if "log" in meta:
            return meta["log"]
        # A backup made before the rows were kept in it: its log.csv is right
        # up to the committed epoch.
        if self.run_dir is None:
            return []
        rows = read_log(os.path.join(self.run_dir, "log.csv"))
        rows = [{k: float(v) for k, v in r.items() if v not in ("", None)} for r in rows]
        return [{**r, "epoch": int(r["epoch"])} for r in rows if r["epoch"] <= meta["epoch"]]

    def _publish(self, meta):
        """Brings ``log.csv`` and the best weights up to the committed ``meta``."""
        if self.run_dir is None or not meta["log"]:
            return
        write_log(os.path.join(self.run_dir, "log.csv"), meta["log"])
        checkpoint = os.path.join(self.backup_dir, meta["weights"])
        self.best.consider(meta["epoch"], meta["log"][-1], checkpoint)


def _metadata_path(backup_dir):
    return os.path.join(backup_dir, "training_metadata.json")


def _rate_variable(optimizer):
    """The optimizer's learning rate if it is a variable (not a schedule), else None."""
    rate = getattr(optimizer, "learning_rate", None)
    return rate if isinstance(rate, keras.Variable) else None


class NonFiniteLoss(FloatingPointError):
    """The loss became NaN or infinite; the last good epoch's checkpoint is kept.

    Attributes:
        name: ``"loss"`` or ``"val_loss"``.
        value: The value (``nan``, ``inf``).
        epoch: The epoch (1-based) it happened in.
        batch: A batch (1-based) whose loss was not finite (the first, where
            Keras runs batch callbacks in the training thread), or None: the
            epoch's end.
        kept: The epochs the kept checkpoint holds (0: none).
    """

    def __init__(self, name, value, *, epoch, batch, kept):
        where = f"epoch {epoch}" + (f" (by batch {batch})" if batch else "")
        what = "the loss" if name == "loss" else "the validation loss"
        then = f"keeping the checkpoint of epoch {kept}" if kept else "before the first checkpoint"
        super().__init__(f"{what} became {float(value)} in {where}; stopped, {then}")
        self.name, self.value = name, float(value)
        self.epoch, self.batch, self.kept = epoch, batch, kept


def read_backup_metadata(backup_dir):
    """The committed state of a backup, or None.

    Returns:
        ``{"epoch": completed epochs, "weights": file, "log": rows,
        "seconds": training time}`` (no ``"log"`` or ``"seconds"`` in backups
        of older versions); after a NaN or infinite loss, also ``"stopped"``
        (where), and ``"weights"`` is None if no epoch was good.
    """
    path = _metadata_path(backup_dir)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


class DiskFull(OSError):
    """No space left on device: which file, and where the run will resume.

    Attributes:
        filename: The file being written.
        next_epoch: The epoch (1-based) a rerun starts with.
    """

    def __init__(self, path, next_epoch, epochs):
        super().__init__(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
        self.next_epoch = next_epoch
        if next_epoch <= epochs:
            then = f"the run resumes from epoch {next_epoch}"
        else:
            then = "the run writes its final files"
        self.message = f"no space left on device while writing {path}; {then} once space is freed"

    def __str__(self):
        return self.message


@contextlib.contextmanager
def report_full_disk(folder, epochs):
    """Turns a full disk anywhere in the block into one ``DiskFull``.

    Args:
        folder: The folder this process writes (see ``writer_dir``), whose
            backup says where the run will resume.
        epochs: The run's total number of epochs.
    """
    try:
        yield
    except OSError as e:
        if e.errno != errno.ENOSPC or isinstance(e, DiskFull):
            raise
        raise DiskFull(e.filename, completed_epochs(folder) + 1, epochs) from e


def writer_dir(run_dir, distribution=None):
    """The folder this process keeps its state in: ``run_dir``, or a TensorFlow worker's own.

    JAX's processes all read ``run_dir``, which the chief alone writes
    (``Distribution.writes_files``).
    """
    distribution = distribution or Distribution("default")
    if distribution.is_chief or distribution.jax_processes:
        return run_dir
    return os.path.join(run_dir, "workers", str(distribution.worker_index))


def held_by(folder, distribution):
    """``lock_run_dir(folder)`` for a process that writes it; nothing for one that only reads."""
    if distribution is not None and not distribution.writes_files:
        return contextlib.nullcontext()
    return lock_run_dir(folder)


def completed_epochs(folder):
    """The epochs committed in ``folder``'s backup (0 if none)."""
    meta = read_backup_metadata(os.path.join(folder, "backup"))
    return meta["epoch"] if meta else 0


def is_finished(run_dir, epochs, *, distribution=None):
    """Whether this process's part of the run has ``epochs`` epochs and its final weights."""
    folder = writer_dir(run_dir, distribution)
    final = os.path.join(folder, "final.weights.h5")
    return completed_epochs(folder) >= epochs and os.path.exists(final)


def run_callbacks(run_dir, *, distribution=None):
    """The run directory's callbacks: resume, log and best weights, committed together.

    On a multi-worker run only the chief writes into ``run_dir``; the other
    TensorFlow workers keep their own resumable state in
    ``run_dir/workers/<index>``, the other JAX processes resume from the
    chief's. These callbacks do not lock the directory (``fit`` does).
    """
    distribution = distribution or Distribution("default")
    callbacks = []
    if distribution.name == "multiworker" and distribution.tf_strategy is not None:
        # (JAX's processes compute BatchNorm's statistics over the global batch.)
        callbacks.append(SyncMovingStatistics(distribution.tf_strategy))
    backup = os.path.join(writer_dir(run_dir, distribution), "backup")
    published = run_dir if distribution.is_chief else None
    callbacks.append(
        AtomicBackupAndRestore(backup, run_dir=published, writes=distribution.writes_files)
    )
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
    steps_per_epoch=None,
):
    """``model.fit`` in a resumable run directory, which it holds for the time of the call.

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
        steps_per_epoch: For a training dataset that repeats (Keras's).

    Returns:
        The Keras ``History`` of the epochs run by this call.

    Raises:
        RunDirInUse: Another process writes into the directory.
        DiskFull: The disk filled up; nothing committed is lost, and the
            same call resumes once space is freed.
        NonFiniteLoss: The loss became NaN or infinite; the last good
            epoch is kept, no final weights are written, and the same call
            (or one with another learning rate) resumes from there.
    """
    distribution = distribution or Distribution("default")
    if verbose == "auto":
        verbose = 1 if sys.stdout.isatty() else 2
    folder = writer_dir(run_dir, distribution)
    with held_by(folder, distribution), report_full_disk(folder, epochs):
        history = model.fit(
            train_data,
            validation_data=validation_data,
            epochs=epochs,
            callbacks=run_callbacks(run_dir, distribution=distribution) + list(callbacks),
            verbose=verbose,
            steps_per_epoch=steps_per_epoch,
            # The datasets shuffle themselves; Keras would only warn that it cannot.
            shuffle=False,
        )
        if distribution.writes_files:
            save_weights(model, os.path.join(folder, "final.weights.h5"))
        if distribution.is_chief:
            plot_log(os.path.join(run_dir, "log.csv"), os.path.join(run_dir, "curves.png"))
    return history

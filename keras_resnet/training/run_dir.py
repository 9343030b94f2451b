"""Crash-safe run directories: resume, best weights, a log that loses no epoch.

A run directory holds::

    run.json            how the run was made (model, classes, image size ...)
    classes.json        the class names, in label order
    run.lock            the lock of the process writing here (see ``lock``)
    backup/             the resumable state (rerunning a finished run is a no-op)
    best.weights.h5     weights of the best validation epoch (best.json: which)
    final.weights.h5    weights after the last epoch
    log.csv             one row per epoch
    curves.png          loss and accuracy curves

A worker of a multi-worker run other than the chief writes only its own
``workers/<index>/`` (lock, backup and final weights).

``fit`` is ``model.fit`` with these callbacks and files, holding the lock;
``run_callbacks`` gives the callbacks alone to those who call ``model.fit``
themselves (and take ``lock_run_dir`` themselves if they need it).
"""

import contextlib
import errno
import json
import os
import sys

import keras

from keras_resnet import internals
from keras_resnet.training import faults
from keras_resnet.training.distribution import Distribution, SyncMovingStatistics
from keras_resnet.training.files import copy_file, save_weights, write_json
from keras_resnet.training.lock import lock_run_dir
from keras_resnet.training.log import log_row, read_log, write_log
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

    Args:
        backup_dir: The folder of the resumable state.
        run_dir: Where ``log.csv`` and the best weights go; None (a worker
            other than the chief) keeps the checkpoint only.
        monitor: The log entry whose maximum picks the best weights.
    """

    def __init__(self, backup_dir, *, run_dir=None, monitor="val_accuracy"):
        super().__init__()
        self.backup_dir = backup_dir
        self.run_dir = run_dir
        self.best = None
        if run_dir is not None:
            self.best = BestWeights(os.path.join(run_dir, "best.weights.h5"), monitor)
        self._rows = []

    def on_train_begin(self, logs=None):
        meta = read_backup_metadata(self.backup_dir)
        self._rows = self._rows_before(meta)
        if meta is None:
            return
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)
        self.model.load_weights(os.path.join(self.backup_dir, meta["weights"]))
        internals.resume_fit_at(self.model, meta["epoch"])
        if "log" in meta:
            self._publish(meta)

    def on_epoch_end(self, epoch, logs=None):
        completed = epoch + 1
        row = log_row(completed, self.model.optimizer.learning_rate, logs or {})
        self._rows = [r for r in self._rows if r["epoch"] < completed] + [row]
        name = f"epoch-{completed}.weights.h5"
        save_weights(self.model, os.path.join(self.backup_dir, name))
        meta = {"epoch": completed, "weights": name, "log": self._rows}
        write_json(_metadata_path(self.backup_dir), meta)  # the commit
        faults.checkpoint_committed(completed)
        for old in os.listdir(self.backup_dir):
            if old.endswith(".weights.h5") and old != name:
                os.remove(os.path.join(self.backup_dir, old))
        self._publish(meta)

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
        if self.run_dir is None:
            return
        write_log(os.path.join(self.run_dir, "log.csv"), meta["log"])
        checkpoint = os.path.join(self.backup_dir, meta["weights"])
        self.best.consider(meta["epoch"], meta["log"][-1], checkpoint)


def _metadata_path(backup_dir):
    return os.path.join(backup_dir, "training_metadata.json")


def read_backup_metadata(backup_dir):
    """The committed state of a backup, or None.

    Returns:
        ``{"epoch": completed epochs, "weights": file, "log": rows}`` (no
        ``"log"`` in backups of older versions).
    """
    path = _metadata_path(backup_dir)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


class BestWeights:
    """The weights of the best validation epoch, kept across resumes.

    Keras's ``ModelCheckpoint(save_best_only=True)`` forgets the best score
    when a run resumes and would overwrite a better file; here the score is
    kept in ``best.json`` next to the weights, written after them, so that
    after a crash between the two the decision is simply taken again.

    Args:
        path: The weights file (``best.weights.h5``).
        monitor: The log entry to maximise.
    """

    def __init__(self, path, monitor="val_accuracy"):
        self.path = path
        self.monitor = monitor
        self.record_path = path.replace(".weights.h5", "") + ".json"

    def record(self):
        """``{"epoch": ..., monitor: ...}`` of the best epoch so far, or None."""
        if not (os.path.exists(self.record_path) and os.path.exists(self.path)):
            return None
        with open(self.record_path) as f:
            return json.load(f)

    def consider(self, epoch, logs, checkpoint):
        """Makes ``checkpoint`` (the weights after ``epoch``) the best if it beats the record.

        Only a strictly better score replaces the record, so considering the
        same epoch twice changes nothing.
        """
        value = logs.get(self.monitor)
        if value is None:
            return
        best = self.record()
        if best is None or value > best[self.monitor]:
            copy_file(checkpoint, self.path)
            write_json(self.record_path, {"epoch": epoch, self.monitor: float(value)})


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
    """The folder this process writes: ``run_dir``, or a non-chief worker's own."""
    distribution = distribution or Distribution("default")
    if distribution.is_chief:
        return run_dir
    return os.path.join(run_dir, "workers", str(distribution.worker_index))


def completed_epochs(folder):
    """The epochs committed in ``folder``'s backup (0 if none)."""
    meta = read_backup_metadata(os.path.join(folder, "backup"))
    return meta["epoch"] if meta else 0


def is_finished(run_dir, epochs, *, distribution=None):
    """Whether this process's part of the run has ``epochs`` epochs and its final weights."""
    folder = writer_dir(run_dir, distribution)
    final = os.path.join(folder, "final.weights.h5")
    return completed_epochs(folder) >= epochs and os.path.exists(final)


def finished_summary(run_dir):
    """One line saying that ``run_dir`` is finished, and where its weights are."""
    files = [os.path.join(run_dir, "final.weights.h5")]
    best = BestWeights(os.path.join(run_dir, "best.weights.h5"))
    record = best.record()
    if record is not None:
        files.insert(0, f"{best.path} (best validation epoch, {record['epoch']})")
    epochs = completed_epochs(run_dir)
    return f"run directory {run_dir} is finished ({epochs} epochs): " + ", ".join(files)


def run_callbacks(run_dir, *, distribution=None):
    """The run directory's callbacks: resume, log and best weights, committed together.

    On a multi-worker run only the chief writes into ``run_dir``; the other
    workers keep their own resumable state in ``run_dir/workers/<index>``.
    These callbacks do not lock the directory (``fit`` does).
    """
    distribution = distribution or Distribution("default")
    callbacks = []
    if distribution.name == "multiworker":
        callbacks.append(SyncMovingStatistics(distribution.tf_strategy))
    backup = os.path.join(writer_dir(run_dir, distribution), "backup")
    published = run_dir if distribution.is_chief else None
    callbacks.append(AtomicBackupAndRestore(backup, run_dir=published))
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
    """
    distribution = distribution or Distribution("default")
    if verbose == "auto":
        verbose = 1 if sys.stdout.isatty() else 2
    folder = writer_dir(run_dir, distribution)
    with lock_run_dir(folder), report_full_disk(folder, epochs):
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
        save_weights(model, os.path.join(folder, "final.weights.h5"))
        if distribution.is_chief:
            plot_log(os.path.join(run_dir, "log.csv"), os.path.join(run_dir, "curves.png"))
    return history

"""Crash-safe run directories: resume, best weights, a log that survives resumes.

A run directory holds::

    run.json            how the run was made (model, classes, image size ...)
    classes.json        the class names, in label order
    backup/             the resumable state (rerunning a finished run is a no-op)
    best.weights.h5     weights of the best validation epoch
    final.weights.h5    weights after the last epoch
    log.csv             one row per epoch
    curves.png          loss and accuracy curves

``fit`` is ``model.fit`` with these callbacks and files; ``run_callbacks``
gives the callbacks alone to those who call ``model.fit`` themselves.
"""

import json
import os
import sys

import keras

from keras_resnet import internals
from keras_resnet.training.distribution import Distribution, SyncMovingStatistics
from keras_resnet.training.files import save_weights, write_json
from keras_resnet.training.log import CSVLog
from keras_resnet.training.plots import plot_log


class AtomicBackupAndRestore(keras.callbacks.Callback):
    """Keras's ``BackupAndRestore``, with a checkpoint that is never half-written.

    Keras writes the weights and then the epoch number in place, so a kill
    during the write leaves a corrupt file, and a kill between the two
    leaves weights of one epoch with the number of another. Here the weights
    (with the optimizer's state) go to a new file named after the epoch, and
    the metadata, written atomically afterwards, is the commit point: it
    names the weights file to restore. Older weight files are deleted only
    after the commit. The backup is kept after the last epoch, so rerunning
    a finished command does nothing instead of training again from scratch.

    Args:
        backup_dir: The folder of the resumable state.
    """

    def __init__(self, backup_dir):
        super().__init__()
        self.backup_dir = backup_dir

    def on_train_begin(self, logs=None):
        meta = read_backup_metadata(self.backup_dir)
        if meta is None:
            return
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)
        self.model.load_weights(os.path.join(self.backup_dir, meta["weights"]))
        internals.resume_fit_at(self.model, meta["epoch"])

    def on_epoch_end(self, epoch, logs=None):
        completed = epoch + 1
        os.makedirs(self.backup_dir, exist_ok=True)
        name = f"epoch-{completed}.weights.h5"
        save_weights(self.model, os.path.join(self.backup_dir, name))
        write_json(_metadata_path(self.backup_dir), {"epoch": completed, "weights": name})
        for old in os.listdir(self.backup_dir):
            if old.endswith(".weights.h5") and old != name:
                os.remove(os.path.join(self.backup_dir, old))


def _metadata_path(backup_dir):
    return os.path.join(backup_dir, "training_metadata.json")


def read_backup_metadata(backup_dir):
    """``{"epoch": completed epochs, "weights": file}`` of a backup, or None."""
    path = _metadata_path(backup_dir)
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


def load_run(run_dir):
    """The ``run.json`` of a run directory (raises ValueError if there is none)."""
    path = os.path.join(run_dir, "run.json")
    if not os.path.exists(path):
        raise ValueError(f"Not a run directory (no run.json). Received: run_dir={run_dir!r}")
    with open(path) as f:
        return json.load(f)

"""The run's log: one CSV row per epoch, rewritten atomically, surviving resumes."""

import csv
import os

import keras
from keras import ops

from keras_resnet.training.files import atomic_path


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

"""The run's log: one CSV row per epoch, rewritten atomically from the checkpoint's record.

The rows live in the checkpoint's metadata (see ``run_dir``); ``log.csv`` is
their copy for people and plots, rewritten whole after each commit, so a
crash between the two costs nothing that the next start does not redo.
"""

import csv
import os

from keras import ops

from keras_resnet.training.files import atomic_path


def log_row(epoch, learning_rate, logs):
    """One epoch's row: its number (1-based), learning rate and Keras's logs, as numbers.

    Args:
        epoch: Completed epochs.
        learning_rate: The optimizer's learning rate at the end of the epoch.
        logs: The epoch's logs (``loss``, ``val_accuracy`` ...).
    """
    row = {"epoch": epoch, "lr": float(ops.convert_to_numpy(learning_rate))}
    # Keras adds the rate to the logs under its own name; "lr" already has it.
    row.update({k: float(v) for k, v in sorted(logs.items()) if k != "learning_rate"})
    return row


def write_log(path, rows):
    """Writes ``rows`` (dicts) as the CSV log at ``path``, atomically."""
    fields = list(dict.fromkeys(k for r in rows for k in r))
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def read_log(path):
    """The rows of a run's ``log.csv`` (dicts of strings), or [] if there is none."""
    if not os.path.exists(path):
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))

"""The run's log: one CSV row per epoch, the best epoch among them, the run's summary.

The rows live in the checkpoint's metadata (see ``run_dir``); ``log.csv`` is
their copy for people and plots, rewritten whole after each commit, so a
crash between the two costs nothing that the next start does not redo.
"""

import csv
import json
import math
import os

from keras import ops

from keras_resnet.training.files import atomic_path, copy_file, write_json

#: Validation images below which the summary warns that "best" is a rough
#: pick. Under 100, one image moves accuracy by more than a point, and at 90%
#: accuracy the binomial standard error, sqrt(0.9 * 0.1 / n), is over 3
#: points: epochs a few points apart cannot be told apart (on a folder of
#: photos, 12 validation images chose weights 7.5 points worse on held-out
#: crops than the final ones).
SMALL_VALIDATION = 100


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


def beats(logs, best, *, monitor="val_accuracy", tie_breaker="val_loss"):
    """Whether an epoch's ``logs`` beat the ``best`` record: a higher ``monitor``,
    or the same and a lower ``tie_breaker``.

    On a small validation set many epochs reach the same accuracy (with 12
    images it takes one of 13 values); of those, the one with the lower loss
    is the more confident and the better. A record without the tie-breaker
    (written by an older version) is only beaten by a higher ``monitor``.

    Args:
        logs: The epoch's log row.
        best: The record so far (``{"epoch", monitor, tie_breaker}``), or None.
    """
    value = logs.get(monitor)
    if value is None or not math.isfinite(value):
        return False
    if best is None:
        return True
    if value != best[monitor]:
        return value > best[monitor]
    loss, best_loss = logs.get(tie_breaker), best.get(tie_breaker)
    return loss is not None and best_loss is not None and loss < best_loss


class BestWeights:
    """The weights of the best validation epoch, kept across resumes.

    Keras's ``ModelCheckpoint(save_best_only=True)`` forgets the best score
    when a run resumes and would overwrite a better file; here the score is
    kept in ``best.json`` next to the weights, written after them, so that
    after a crash between the two the decision is simply taken again.

    Args:
        path: The weights file (``best.weights.h5``).
        monitor: The log entry to maximise.
        tie_breaker: The log entry to minimise among epochs with equal
            ``monitor``.
    """

    def __init__(self, path, monitor="val_accuracy", tie_breaker="val_loss"):
        self.path = path
        self.monitor = monitor
        self.tie_breaker = tie_breaker
        self.record_path = path.replace(".weights.h5", "") + ".json"

    def record(self):
        """``{"epoch": ..., monitor: ..., tie_breaker: ...}`` of the best epoch so far, or None."""
        if not (os.path.exists(self.record_path) and os.path.exists(self.path)):
            return None
        with open(self.record_path) as f:
            return json.load(f)

    def consider(self, epoch, logs, checkpoint):
        """Makes ``checkpoint`` (the weights after ``epoch``) the best if it beats the record.

        Only a strictly better epoch (see ``beats``) replaces the record, so
        considering the same epoch twice changes nothing.
        """
        if beats(logs, self.record(), monitor=self.monitor, tie_breaker=self.tie_breaker):
            copy_file(checkpoint, self.path)
            record = {"epoch": epoch, self.monitor: float(logs[self.monitor])}
            if self.tie_breaker in logs:
                record[self.tie_breaker] = float(logs[self.tie_breaker])
            write_json(self.record_path, record)


def summary_lines(head, *, best=None, final=None, val_images=None):
    """The lines of a run's summary, under ``head``.

    Args:
        head: The first line (what ran, how long, where).
        best: ``(path, row)``: the best weights file and its epoch's log row.
        final: ``(path, row)``: the final weights file and the last row.
        val_images: The size of the validation set, if known.

    Returns:
        The lines, the later ones indented under ``head``.
    """
    lines = [head]
    for label, held in (("best", best), ("final", final)):
        if held is not None:
            path, row = held
            lines.append(f"  {label + ':':<6} {_scores(row)} -> {path}")
    if val_images is not None and val_images < SMALL_VALIDATION:
        lines.append(
            f"  only {val_images} validation images, each {100 / max(val_images, 1):.1f}% of the "
            "accuracy: for a surer best epoch, pass --val-data DIR or add a val/ sub-folder"
        )
    return lines


def _scores(row):
    """``"epoch 3, validation accuracy 0.9722, loss 0.0913"`` from a log row."""
    text = f"epoch {int(row['epoch'])}"
    if "val_accuracy" in row:
        text += f", validation accuracy {float(row['val_accuracy']):.4f}"
    if "val_loss" in row:
        text += f", loss {float(row['val_loss']):.4f}"
    return text


def duration(seconds):
    """``"38 s"``, ``"4 min 9 s"``, ``"2 h 5 min"``."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"

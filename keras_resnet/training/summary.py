"""What a run directory says when its run ends, or when a finished run is rerun."""

import os

from keras_resnet.training.log import BestWeights, duration, read_log, summary_lines
from keras_resnet.training.run_dir import completed_epochs, read_backup_metadata


def run_summary(run_dir, *, val_images=None, first_epoch=1):
    """The summary a run ends with: epochs, time, best and final scores and files.

    Args:
        run_dir: A finished run directory.
        val_images: The size of the validation set; under
            ``log.SMALL_VALIDATION`` a line says so.
        first_epoch: The first epoch (1-based) this command trained.

    Returns:
        A few lines (one string), the first saying what ran (and, if the
        run was resumed, which epochs this command trained)::

            run finished: 3 epochs, 41 s of training; log.csv and curves.png in runs/x
              best:  epoch 2, validation accuracy 0.9722, loss 0.0913 -> runs/x/best.weights.h5
              final: epoch 3, validation accuracy 0.9722, loss 0.1020 -> runs/x/final.weights.h5
    """
    epochs = completed_epochs(run_dir)
    ran = _epochs(epochs) + _time_taken(run_dir)
    if 1 < first_epoch < epochs:
        ran += f" (epochs {first_epoch}-{epochs} by this command)"
    elif 1 < first_epoch == epochs:
        ran += f" (epoch {epochs} by this command)"
    head = f"run finished: {ran}; log.csv and curves.png in {run_dir}"
    return _summary(run_dir, head, val_images)


def finished_summary(run_dir, *, val_images=None):
    """What a rerun of a finished run says: ``run_summary``'s lines, under
    ``run directory ... is finished``."""
    epochs = _epochs(completed_epochs(run_dir))
    return _summary(
        run_dir, f"run directory {run_dir} is finished: {epochs}{_time_taken(run_dir)}", val_images
    )


def _epochs(n):
    return "1 epoch" if n == 1 else f"{n} epochs"


def _summary(run_dir, head, val_images):
    """``head`` and the best and final epochs' lines, as one string."""
    meta = read_backup_metadata(os.path.join(run_dir, "backup")) or {}
    rows = {int(r["epoch"]): r for r in meta.get("log") or _logged_rows(run_dir)}
    best = BestWeights(os.path.join(run_dir, "best.weights.h5"))
    record = best.record()
    final = os.path.join(run_dir, "final.weights.h5")
    lines = summary_lines(
        head,
        best=(best.path, rows.get(record["epoch"], record)) if record else None,
        final=(final, rows[max(rows)]) if rows and os.path.exists(final) else None,
        val_images=val_images,
    )
    return "\n".join(lines)


def _logged_rows(run_dir):
    return read_log(os.path.join(run_dir, "log.csv"))


def _time_taken(run_dir):
    """``", 41 s of training"`` (the committed epochs' time), or "" if not known."""
    meta = read_backup_metadata(os.path.join(run_dir, "backup")) or {}
    if meta.get("seconds") is None:
        return ""
    return f", {duration(meta['seconds'])} of training"

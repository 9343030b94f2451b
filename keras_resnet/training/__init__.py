"""Training: recipes, the optimiser, distribution, crash-safe run directories.

Modules:
    recipes: training recipes as data (the paper's ImageNet and CIFAR ones ...).
    optimizer: SGD with coupled L2 decay, the step and plateau schedules,
        ``compile_model``.
    precision: the fastest dtype policy and XLA setting for the hardware.
    distribution: one device, mirrored replicas or several workers.
    cluster: the processes of a multi-process JAX run, how they meet and stop.
    scaling: data-parallel arithmetic (gradient bytes, all-reduce traffic, cores).
    run_dir: resume after a crash, a stop on a NaN loss, ``fit``; with
        files, log (and the best epoch) and plots beside it.
    summary: what a run says when it ends.
    run_record: ``run.json``, and which settings a resumed run may change.
    lock: one writer per run directory.
    faults: the crash tests' fault injection (``KERAS_RESNET_FAULT``).
    evaluation: 10-crop testing.
    classifier: the catalogue's models as classifiers at an image size.
    defaults: what ``train --data DIR`` chooses when the user leaves it open.

For people who call ``model.fit`` themselves::

    from keras_resnet import data, training
    from keras_resnet.training import recipes

    recipe = recipes.get("cifar")
    model = training.build_model("resnet20", classes=10, image_size=32)
    training.compile_model(model, recipe, batch_size=128, steps_per_epoch=390, epochs=182)
    model.fit(train_ds, validation_data=val_ds, epochs=182,
              callbacks=training.run_callbacks("runs/cifar"))

``fit`` does the same plus the run directory's bookkeeping: the directory's
lock, resume after a crash, ``best.weights.h5``, a CSV log and a PNG of the
curves, and a stop (``NonFiniteLoss``) when the loss becomes NaN, with the
last good epoch kept; ``run_summary`` sums the run up.
"""

from keras_resnet.architectures.cifar import small_resnet
from keras_resnet.training import precision, recipes
from keras_resnet.training.classifier import (
    SMALL_MODEL,
    build_model,
    model_names,
    preprocessing_mode,
)
from keras_resnet.training.distribution import (
    STRATEGIES,
    Distribution,
    SyncMovingStatistics,
    make_distribution,
    split_cpu,
)
from keras_resnet.training.evaluation import evaluate_ten_crop
from keras_resnet.training.files import atomic_path, copy_file, save_weights, write_json
from keras_resnet.training.lock import RunDirInUse, lock_run_dir
from keras_resnet.training.log import BestWeights, beats, log_row, read_log, write_log
from keras_resnet.training.optimizer import (
    SGD,
    StepSchedule,
    Warmup,
    compile_model,
    make_optimizer,
    steps_per_epoch,
)
from keras_resnet.training.plots import plot_log
from keras_resnet.training.run_dir import (
    AtomicBackupAndRestore,
    DiskFull,
    NonFiniteLoss,
    completed_epochs,
    fit,
    held_by,
    is_finished,
    read_backup_metadata,
    report_full_disk,
    run_callbacks,
    writer_dir,
)
from keras_resnet.training.run_record import (
    RESUMABLE_AFTER_NONFINITE,
    RESUMABLE_SETTINGS,
    RunDirMismatch,
    check_settings,
    load_run,
    write_run_record,
)
from keras_resnet.training.summary import finished_summary, run_summary

__all__ = [
    "AtomicBackupAndRestore",
    "BestWeights",
    "DiskFull",
    "Distribution",
    "NonFiniteLoss",
    "RESUMABLE_AFTER_NONFINITE",
    "RESUMABLE_SETTINGS",
    "RunDirInUse",
    "RunDirMismatch",
    "SGD",
    "SMALL_MODEL",
    "STRATEGIES",
    "StepSchedule",
    "SyncMovingStatistics",
    "Warmup",
    "atomic_path",
    "beats",
    "build_model",
    "check_settings",
    "compile_model",
    "completed_epochs",
    "copy_file",
    "evaluate_ten_crop",
    "finished_summary",
    "fit",
    "held_by",
    "is_finished",
    "load_run",
    "lock_run_dir",
    "log_row",
    "make_distribution",
    "make_optimizer",
    "model_names",
    "plot_log",
    "precision",
    "preprocessing_mode",
    "read_backup_metadata",
    "read_log",
    "recipes",
    "report_full_disk",
    "run_callbacks",
    "run_summary",
    "save_weights",
    "small_resnet",
    "split_cpu",
    "steps_per_epoch",
    "write_json",
    "write_log",
    "write_run_record",
    "writer_dir",
]

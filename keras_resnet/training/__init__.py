"""Training: recipes, the optimiser, distribution, crash-safe run directories.

Modules:
    recipes: training recipes as data (the paper's ImageNet and CIFAR ones ...).
    optimizer: SGD with coupled L2 decay, the step and plateau schedules,
        ``compile_model``.
    precision: the fastest dtype policy and XLA setting for the hardware.
    distribution: one device, mirrored replicas or several workers.
    run_dir: resume after a crash, best weights, ``fit``; with files, log
        and plots beside it.
    evaluation: 10-crop testing.
    classifier: the catalogue's models as classifiers at an image size.

For people who call ``model.fit`` themselves::

    from keras_resnet import data, training
    from keras_resnet.training import recipes

    recipe = recipes.get("cifar")
    model = training.build_model("resnet20", classes=10, image_size=32)
    training.compile_model(model, recipe, batch_size=128, steps_per_epoch=390, epochs=182)
    model.fit(train_ds, validation_data=val_ds, epochs=182,
              callbacks=training.run_callbacks("runs/cifar"))

``fit`` does the same plus the run directory's bookkeeping: resume after a
crash, ``best.weights.h5``, a CSV log and a PNG of the curves.
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
from keras_resnet.training.files import atomic_path, save_weights, write_json
from keras_resnet.training.log import CSVLog, read_log
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
    BestWeights,
    fit,
    load_run,
    read_backup_metadata,
    run_callbacks,
)

__all__ = [
    "AtomicBackupAndRestore",
    "BestWeights",
    "CSVLog",
    "Distribution",
    "SGD",
    "SMALL_MODEL",
    "STRATEGIES",
    "StepSchedule",
    "SyncMovingStatistics",
    "Warmup",
    "atomic_path",
    "build_model",
    "compile_model",
    "evaluate_ten_crop",
    "fit",
    "load_run",
    "make_distribution",
    "make_optimizer",
    "model_names",
    "plot_log",
    "precision",
    "preprocessing_mode",
    "read_backup_metadata",
    "read_log",
    "recipes",
    "run_callbacks",
    "save_weights",
    "small_resnet",
    "split_cpu",
    "steps_per_epoch",
    "write_json",
]

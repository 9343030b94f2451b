"""What a published recipe's ingredients cost a training step: images/s beside the plain recipe.

A recipe such as torchvision's "new recipe" (``torchvision-v2``) or "ResNet
strikes back" A2 (``rsb-a2``) adds work to every step: an automatic
augmentation policy (TrivialAugment wide, RandAugment) and random erasing
in the input pipeline, repeated augmentation, MixUp/CutMix on each batch,
stochastic depth in the model, LAMB and a binary cross-entropy on logits,
and a moving average of the weights. Whether training with them is
nearly as fast as without them (the goal: 0.9x or better) is a question of
what one step costs, so that is what is measured: images per second of a
ResNet-50 training step at 176 px and at 224 px, batch 32, for three recipes:

- ``plain``: the ``torchvision`` recipe (random-resized-crop, flip, SGD,
  categorical cross-entropy; no ingredients): the reference;
- ``torchvision-v2`` and ``rsb-a2`` with all their ingredients.

Each configuration does what ``keras-resnet train`` does, with the package's
own code: ``recipes.get(name).replace(image_size=..., batch_size=...,
epochs=10)``, ``inputs.Split.dataset`` over
``pipeline.realistic_jpegs`` (uint8 batches with the recipe's policy, random
erasing, repeated augmentation and MixUp/CutMix), ``training.build_model``
with ``ingredients.model_options`` (stochastic depth, logits),
``training.compile_model`` (optimiser, schedule, loss) and
``ingredients.callbacks`` (the moving average), then ``fit`` on the repeated
dataset. The step is timed from ``on_train_batch_begin`` to ``_end`` (the
batch's wait included); warm-up steps are excluded; the figure is the
median step.

The moving average (torchvision-v2) is updated every 32 steps, in numpy,
after the step: with a few timed steps no update would land in the timed
window (the first, at batch 0, is in the warm-up). Its cost is therefore
measured apart and amortised: after ``fit``, the callback's own
``on_train_batch_end`` is timed on the trained ResNet-50's weights, past the
warm-up epochs (where an update averages rather than restarts, the dearer
case), and one update's seconds / 32 are added to the median step. The
average saved at the end of each epoch is left out (once an ImageNet epoch).

The input pipeline alone (``train_ds`` iterated without the model, one
iterator: passes of a few batches after a warm-up pass, ``pipeline._passes``;
the median pass) is measured in the same
process before the model is built, so that the report can say which of the
two limits the step: on a CPU both share the cores, and the input's share
of the step's CPU time is fit's CPU-seconds per image over the input's.
"""

import os
import statistics
import tempfile
import time

from keras_resnet.bench import pipeline

#: The recipes compared, in the table's order: name in the table -> recipe name.
RECIPES = {"plain": "torchvision", "torchvision-v2": "torchvision-v2", "rsb-a2": "rsb-a2"}
#: The reference the others are divided by.
REFERENCE = "plain"
# The run's length sets the schedule's and the average's constants, not what a
# step does.
EPOCHS = 10


def config_name(key, size):
    """``recipe_<key>_<size>``: ``size`` is the full run's (the quick run keeps the names)."""
    return f"recipe_{key}_{size}"


def configs(worker, full_sizes):
    """The ``CONFIGS`` rows of the recipes group: each recipe at each of ``full_sizes``.

    A row's arguments are the recipe and the index of its size in
    ``sizes["recipe_sizes"]``, so that ``--quick`` runs the same rows smaller.
    """
    return {
        # The label names the full run's size: --quick runs the row smaller.
        config_name(key, size): (
            "recipes", f"recipe {key} (full run: {size} px)", worker, (key, index)
        )
        for index, size in enumerate(full_sizes)
        for key in RECIPES
    }


def _ingredients(recipe):
    """What ``recipe`` adds to the plain one, in a few words (for the table)."""
    parts = []
    if recipe.augment:
        parts.append(recipe.augment)
    if recipe.random_erasing:
        parts.append(f"erasing {recipe.random_erasing:g}")
    if recipe.repeated_augmentation:
        parts.append(f"repeats {recipe.repeated_augmentation}")
    if recipe.mixup_alpha or recipe.cutmix_alpha:
        parts.append(f"mixup {recipe.mixup_alpha or 0:g}/cutmix {recipe.cutmix_alpha or 0:g}")
    if recipe.drop_path:
        parts.append(f"drop_path {recipe.drop_path:g}")
    if recipe.optimizer != "sgd":
        parts.append(recipe.optimizer)
    if recipe.loss != "cross_entropy":
        parts.append("BCE")
    if recipe.ema_decay is not None:
        parts.append(f"EMA/{recipe.ema_every or 1}")
    return parts


def _average_update(average, repeats):
    """Wall and CPU seconds of one update of the moving average (medians), or None.

    The callback's own ``on_train_batch_end`` at batch 0 (an update step),
    with the model ``fit`` trained. Past the warm-up epochs an update
    averages in float64 (the warm-up's restart only copies), so the epoch is
    set there and one update started the average before the timing.
    """
    if average is None:
        return None
    average.epoch = average.warmup_epochs
    average.on_train_batch_end(0)
    times, cpu_times = [], []
    for _ in range(repeats):
        start, cpu_start = time.perf_counter(), time.process_time()
        average.on_train_batch_end(0)
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)
    return statistics.median(times), statistics.median(cpu_times)


def worker_recipe(sizes, key, index):
    """Images per second of a training step of ``RECIPES[key]`` at ``sizes["recipe_sizes"][index]``.

    Returns:
        ``median``: img/s of the median timed step, the moving average's
        update amortised over its interval (if the recipe has one);
        ``per_cpu_second``: the same per CPU-second of the process;
        ``step_seconds``, ``runs`` (each timed step's img/s, no average);
        ``average``: one update's seconds and its interval; ``input``: the
        input pipeline alone (``median``, ``per_cpu_second``, ``runs``);
        the model, sizes, steps and ingredients.
    """
    import keras
    import numpy as np

    from keras_resnet import data, training
    from keras_resnet.training import ingredients, inputs
    from keras_resnet.training import recipes as recipe_book

    size, batch = sizes["recipe_sizes"][index], sizes["recipe_batch"]
    warmup, timed = sizes["recipe_warmup"], sizes["recipe_steps"]
    model_name = sizes["recipe_model"]
    keras.utils.set_random_seed(0)  # As `keras-resnet train` does (its --seed).
    # `replace` scales the evaluation sizes (FixRes) and the warm-up with the run.
    recipe = recipe_book.get(RECIPES[key]).replace(
        image_size=size, batch_size=batch, epochs=EPOCHS
    )
    with tempfile.TemporaryDirectory() as folder:
        paths, labels = pipeline.realistic_jpegs(
            os.path.join(folder, "images"), sizes["recipe_images"]
        )
        split = inputs.Split(paths, np.asarray(labels), count=len(paths))
        # The policy, random erasing, repeated augmentation and MixUp/CutMix,
        # exactly as training builds them; one-hot labels for the loss.
        train_ds = split.dataset(
            augmentation=recipe.augmentation, image_size=recipe.image_size, batch_size=batch,
            num_classes=pipeline._CLASSES, train=True, seed=0, distribution=None, recipe=recipe,
        )
        # The input alone first, while no model competes for the cores.
        input_times, input_cpu = pipeline._passes(
            train_ds.repeat(), sizes["recipe_input_batches"], sizes["recipe_input_repeats"]
        )
        images = sizes["recipe_input_batches"] * batch
        model = training.build_model(
            model_name, classes=pipeline._CLASSES, image_size=ingredients.input_size(recipe),
            input_preprocessing=data.device_augmentation(recipe.augmentation),
            **ingredients.model_options(recipe, model_name),
        )
        steps = training.steps_per_epoch(split.epoch_images(recipe), batch)
        callbacks = list(training.compile_model(
            model, recipe, batch_size=batch, steps_per_epoch=steps, epochs=recipe.epochs
        ))
        callbacks += ingredients.callbacks(
            recipe, folder=folder, batch_size=batch, epochs=recipe.epochs
        )
        times, cpu_times = [], []
        # The timer last: its step's end comes after every other callback's
        # (the average's included).
        model.fit(
            train_ds.repeat(), epochs=1, steps_per_epoch=warmup + timed, shuffle=False,
            verbose=0, callbacks=callbacks + [pipeline.step_timer(times, cpu_times)],
        )
        average = ingredients.moving_average(callbacks)
        update = _average_update(average, sizes["recipe_average_repeats"])
    step, step_cpu = statistics.median(times[warmup:]), statistics.median(cpu_times[warmup:])
    result = {"average": None}
    if update is not None:
        # One update every `every` steps: its share of each step.
        step += update[0] / average.every
        step_cpu += update[1] / average.every
        result["average"] = {
            "seconds": update[0], "cpu_seconds": update[1], "every": average.every,
        }
    return {
        **result,
        "median": batch / step,
        "per_cpu_second": batch / step_cpu,
        "step_seconds": statistics.median(times[warmup:]),
        "runs": [batch / t for t in times[warmup:]],
        "warmup_seconds": times[:warmup],
        "input": {
            "median": statistics.median(images / t for t in input_times),
            "per_cpu_second": statistics.median(images / t for t in input_cpu),
            "runs": [images / t for t in input_times],
        },
        "recipe": recipe.name,
        "ingredients": _ingredients(recipe),
        "optimizer": recipe.optimizer,
        "loss": recipe.loss,
        "model": model_name,
        "input_size": ingredients.input_size(recipe),
        "size": size,
        "batch": batch,
        "steps": timed,
        "epoch_steps": steps,
        "jit_compile": bool(model.jit_compile),
    }

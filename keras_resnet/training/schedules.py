"""The cosine schedule with linear warm-up of today's recipes, as their publishers step it.

Both publishers change the learning rate once per epoch (``scheduler.step()``
after each epoch), so the rate is a function of ``floor(step /
steps_per_epoch)``, and a resumed run, which restores the optimiser's step
count, continues on the same curve:

* torchvision (``--lr-scheduler cosineannealinglr --lr-warmup-method
  linear``): ``LinearLR(start_factor, total_iters=warmup)`` for the first
  ``warmup`` epochs, then ``CosineAnnealingLR(T_max=epochs - warmup,
  eta_min=min_lr)``; the cosine starts after the warm-up.
* timm (``--sched cosine``): ``CosineLRScheduler(t_initial=epochs,
  warmup_t=warmup, warmup_lr_init=warmup_lr, lr_min=min_lr)``: warm-up from
  an absolute ``warmup_lr``, and a cosine over all ``epochs`` counted from
  epoch 0, which the warm-up overrides while it lasts.

tests/test_recipe_ingredients.py checks every epoch of a short run against
torch's and timm's schedulers.
"""

import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_resnet")
class CosineSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Cosine decay with linear warm-up, stepped per epoch.

    Args:
        peak: The recipe's learning rate (for the run's batch size).
        epochs: Length of the run in epochs.
        steps_per_epoch: Optimiser steps per epoch.
        warmup_epochs: Epochs of linear warm-up.
        min_lr: The cosine's floor.
        warmup_start_factor: torchvision's warm-up: the first epoch's rate is
            ``peak * warmup_start_factor``; the cosine spans the epochs after
            the warm-up.
        warmup_lr: timm's warm-up: the first epoch's rate is ``warmup_lr``;
            the cosine spans every epoch. Give at most one of the two warm-ups;
            with neither, torchvision's (``warmup_start_factor=0.01``).
    """

    def __init__(self, peak, epochs, steps_per_epoch, warmup_epochs=0, min_lr=0.0, *,
                 warmup_start_factor=None, warmup_lr=None):
        if warmup_start_factor is not None and warmup_lr is not None:
            raise ValueError(
                "Give `warmup_start_factor` (torchvision's warm-up) or `warmup_lr` (timm's), "
                f"not both. Received: warmup_start_factor={warmup_start_factor!r}, "
                f"warmup_lr={warmup_lr!r}"
            )
        self.peak = float(peak)
        self.epochs = int(epochs)
        self.steps_per_epoch = int(steps_per_epoch)
        self.warmup_epochs = int(warmup_epochs)
        self.min_lr = float(min_lr)
        self.warmup_start_factor = warmup_start_factor
        self.warmup_lr = warmup_lr

    def __call__(self, step):
        epoch = ops.floor(ops.cast(step, "float32") / self.steps_per_epoch)
        warm = float(self.warmup_epochs)
        if self.warmup_lr is not None:
            t, span = epoch, float(self.epochs)
            warming = self.warmup_lr + epoch * (self.peak - self.warmup_lr) / max(warm, 1.0)
        else:
            t, span = epoch - warm, float(self.epochs - self.warmup_epochs)
            start = self._start_factor()
            warming = self.peak * (start + (1.0 - start) * epoch / max(warm, 1.0))
        cosine = self.min_lr + 0.5 * (self.peak - self.min_lr) * (
            1.0 + ops.cos(math.pi * ops.minimum(t, span) / span)
        )
        return ops.where(epoch < warm, warming, cosine)

    def _start_factor(self):
        # Neither warm-up given (a recipe of the paper's family run with
        # --schedule cosine): torchvision's default, --lr-warmup-decay 0.01.
        return 0.01 if self.warmup_start_factor is None else self.warmup_start_factor

    def get_config(self):
        return {
            "peak": self.peak,
            "epochs": self.epochs,
            "steps_per_epoch": self.steps_per_epoch,
            "warmup_epochs": self.warmup_epochs,
            "min_lr": self.min_lr,
            "warmup_start_factor": self.warmup_start_factor,
            "warmup_lr": self.warmup_lr,
        }


def for_recipe(recipe, *, batch_size, steps_per_epoch, epochs=None):
    """The ``CosineSchedule`` of a recipe with ``schedule="cosine"`` for a global ``batch_size``."""
    return CosineSchedule(
        recipe.learning_rate(batch_size),
        epochs or recipe.epochs,
        steps_per_epoch,
        warmup_epochs=round(recipe.warmup_epochs),
        min_lr=recipe.min_lr or 0.0,
        warmup_start_factor=recipe.warmup_start_factor,
        warmup_lr=recipe.warmup_lr,
    )

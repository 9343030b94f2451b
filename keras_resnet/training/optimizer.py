"""The paper's optimiser: SGD with coupled L2 decay, the step and plateau schedules.

``compile_model`` compiles a classifier with a ``recipes.Recipe``: SGD,
learning rate scaled to the batch, warm-up, label smoothing, top-1/top-5.
"""

import math

import keras
from keras import ops

from keras_resnet import internals
from keras_resnet.training import losses, schedules
from keras_resnet.weights.loading import HEAD


@keras.saving.register_keras_serializable(package="keras_resnet")
class SGD(keras.optimizers.SGD):
    """SGD with the paper's coupled L2 weight decay, and a backbone that can wait.

    ``l2 * w`` is added to the gradient of every convolution and dense kernel
    before momentum, as Caffe and the paper do. Biases and BatchNorm
    parameters are not decayed. Keras's own ``weight_decay=`` is decoupled
    (``w -= lr * wd * w``, bypassing momentum) and, at momentum 0.9, decays
    about ten times less for the same coefficient.

    For fine-tuning, everything but the classifier (the ``predictions``
    layer) can stay still for the first ``head_only_steps`` steps and then
    learn at ``backbone_lr_factor`` times the rate. Done in the optimizer
    rather than by freezing layers and compiling twice, the two phases are
    one ``fit`` with one optimizer state, so a run resumes across them.

    Args:
        l2: Coefficient of the L2 penalty's gradient (the paper's 1e-4).
        head_only_steps: Steps during which only the classifier learns.
        backbone_lr_factor: The backbone's learning rate relative to the
            classifier's after those steps.
        **kwargs: As for ``keras.optimizers.SGD``.
    """

    def __init__(
        self, learning_rate=0.01, *, l2=0.0, head_only_steps=0, backbone_lr_factor=1.0, **kwargs
    ):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.l2 = l2
        self.head_only_steps = int(head_only_steps)
        self.backbone_lr_factor = float(backbone_lr_factor)

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self._decayed = [_is_kernel(v) for v in variables]
        self._backbone = [not v.path.startswith(HEAD + "/") for v in variables]

    def update_step(self, gradient, variable, learning_rate):
        index = internals.variable_index(self, variable)
        gradient = ops.cast(gradient, variable.dtype)
        if self.l2 and self._decayed[index]:
            gradient = ops.add(gradient, ops.multiply(ops.cast(self.l2, variable.dtype), variable))
        staged = self.head_only_steps or self.backbone_lr_factor != 1.0
        if staged and self._backbone[index]:
            # A zero gradient (decay included) leaves momentum at zero: the
            # backbone does not move at all while the classifier warms up.
            scale = ops.where(
                self.iterations < self.head_only_steps, 0.0, self.backbone_lr_factor
            )
            gradient = ops.multiply(gradient, ops.cast(scale, variable.dtype))
        super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        return {
            **super().get_config(),
            "l2": self.l2,
            "head_only_steps": self.head_only_steps,
            "backbone_lr_factor": self.backbone_lr_factor,
        }


def _is_kernel(variable):
    return variable.path.rsplit("/", 1)[-1] == "kernel"


@keras.saving.register_keras_serializable(package="keras_resnet")
class StepSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up, then the peak rate times ``factor`` per milestone passed.

    A function of the step count alone, so a resumed run (which restores the
    optimizer's step count) continues on exactly the same schedule.

    Args:
        peak: Learning rate after warm-up.
        boundaries: Steps at which the rate is multiplied by ``factor``.
        factor: The multiplier (0.1 divides by 10).
        warmup_steps: Steps of linear warm-up from ``peak / warmup_steps``.
    """

    def __init__(self, peak, boundaries=(), factor=0.1, warmup_steps=0):
        self.peak = float(peak)
        self.boundaries = [int(b) for b in boundaries]
        self.factor = float(factor)
        self.warmup_steps = int(warmup_steps)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        drops = sum(ops.cast(step >= b, "float32") for b in self.boundaries) if self.boundaries else 0.0
        rate = self.peak * ops.power(self.factor, drops)
        if self.warmup_steps:
            warm = self.peak * (step + 1.0) / self.warmup_steps
            rate = ops.where(step < self.warmup_steps, warm, rate)
        return rate

    def get_config(self):
        return {
            "peak": self.peak,
            "boundaries": self.boundaries,
            "factor": self.factor,
            "warmup_steps": self.warmup_steps,
        }


class Warmup(keras.callbacks.Callback):
    """Linear warm-up of a plain (float) learning rate, for the plateau schedule."""

    def __init__(self, peak, warmup_steps):
        super().__init__()
        self.peak = peak
        self.warmup_steps = warmup_steps

    def on_train_batch_begin(self, batch, logs=None):
        step = int(ops.convert_to_numpy(self.model.optimizer.iterations))
        if step < self.warmup_steps:
            self.model.optimizer.learning_rate = self.peak * (step + 1) / self.warmup_steps
        elif step == self.warmup_steps:
            self.model.optimizer.learning_rate = self.peak


def make_optimizer(recipe, *, batch_size, steps_per_epoch, epochs):
    """The recipe's optimiser (SGD or LAMB) and schedule for a global ``batch_size``.

    Returns:
        ``(optimizer, callbacks)``: the plateau schedule needs a
        ``ReduceLROnPlateau`` (and a ``Warmup``) callback; the step schedule
        lives inside the optimizer.
    """
    peak = recipe.learning_rate(batch_size)
    warmup_steps = round(recipe.warmup_epochs * steps_per_epoch)
    callbacks = []
    if recipe.schedule == "cosine":
        learning_rate = schedules.for_recipe(
            recipe, batch_size=batch_size, steps_per_epoch=steps_per_epoch, epochs=epochs
        )
    elif recipe.schedule == "steps":
        boundaries = [e * steps_per_epoch for e in recipe.milestone_epochs(epochs)]
        learning_rate = StepSchedule(peak, boundaries, recipe.factor, warmup_steps)
    else:
        learning_rate = peak
        callbacks.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor="val_loss", factor=recipe.factor, patience=recipe.patience, verbose=1
            )
        )
        if warmup_steps:
            callbacks.append(Warmup(peak, warmup_steps))
    if recipe.optimizer == "lamb":
        # Keras's LAMB decays the weights apart from the trust ratio
        # (``w -= lr * wd * w``); timm's adds ``wd * w`` to the update the
        # ratio scales. Biases and BatchNorm parameters are exempt, as timm's
        # optimiser factory exempts every 1-D parameter.
        optimizer = keras.optimizers.Lamb(learning_rate, weight_decay=recipe.weight_decay)
        if not recipe.norm_weight_decay:
            optimizer.exclude_from_weight_decay(var_names=["gamma", "beta", "bias"])
        return optimizer, callbacks
    optimizer = SGD(
        learning_rate,
        momentum=recipe.momentum,
        nesterov=recipe.nesterov,
        l2=recipe.weight_decay,
        head_only_steps=recipe.frozen_epochs * steps_per_epoch,
        backbone_lr_factor=recipe.backbone_lr_factor,
    )
    return optimizer, callbacks


def compile_model(model, recipe, *, batch_size, steps_per_epoch, epochs=None, jit_compile="auto"):
    """Compiles ``model`` with the recipe: SGD, schedule, label smoothing, metrics.

    Labels must be one-hot (``data.make_dataset(..., num_classes=...)``).
    A recipe with ``freeze_batchnorm`` sets every BatchNormalization layer of
    ``model`` to ``trainable=False`` first: it then normalises with its
    (pretrained) moving statistics and keeps them, as fine-tuning on a few
    images needs (batch statistics of 8 images would replace ImageNet's).

    Args:
        model: A Keras classifier ending in softmax (in logits, with no
            activation, for a recipe whose loss is binary cross-entropy).
        recipe: A ``recipes.Recipe``.
        batch_size: The global batch size (the learning rate follows it).
        steps_per_epoch: Optimiser steps per epoch (for the schedule).
        epochs: Total epochs (for the milestones); defaults to the recipe's.
        jit_compile: ``True`` for XLA, ``"auto"`` for Keras's choice.

    Returns:
        The callbacks the schedule needs; pass them to ``fit``.
    """
    epochs = epochs or recipe.epochs
    if recipe.freeze_batchnorm:
        for layer in model.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.trainable = False
    optimizer, callbacks = make_optimizer(
        recipe, batch_size=batch_size, steps_per_epoch=steps_per_epoch, epochs=epochs
    )
    metrics = ["accuracy"]
    if model.output_shape[-1] > 5:
        metrics.append(keras.metrics.TopKCategoricalAccuracy(k=5, name="top5"))
    model.compile(
        optimizer=optimizer,
        loss=_loss(recipe),
        metrics=metrics,
        jit_compile=jit_compile,
    )
    return callbacks


def _loss(recipe):
    """The recipe's loss: categorical cross-entropy on probabilities, or RSB's BCE on logits."""
    if recipe.loss == "binary_cross_entropy":
        return losses.BinaryCrossEntropy(
            target_threshold=recipe.bce_target_threshold, smoothing=recipe.label_smoothing
        )
    return keras.losses.CategoricalCrossentropy(label_smoothing=recipe.label_smoothing)


def steps_per_epoch(num_examples, batch_size, *, drop_remainder=True):
    """Optimiser steps in one epoch."""
    if drop_remainder:
        return num_examples // batch_size
    return math.ceil(num_examples / batch_size)

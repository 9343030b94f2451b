"""What a recipe adds to the model and the training loop, beyond the optimiser and the data.

The input pipeline's share (policy, random erasing, MixUp/CutMix, repeated
augmentation, evaluation sizes) is ``inputs.Split.dataset``'s; the
optimiser's (LAMB, cosine, no decay on norms) is ``optimizer``'s. Here: the
model's options (stochastic depth; logits for the binary cross-entropy;
any input size when the recipe evaluates at another size than it trains
at), the weights' moving average, and the average's evaluation at the end.
"""

import inspect
import os

from keras_resnet import catalog
from keras_resnet.training import ema

#: The file the moving average is kept in, in the writer's directory.
EMA_FILE = "ema.npz"
#: The average's weights in Keras's format, written at the end of a run.
EMA_WEIGHTS = "ema.weights.h5"


def model_options(recipe, model_name):
    """``build_model``'s extra arguments for ``recipe``; ValueError if the model cannot take one.

    Returns:
        ``{"image_size": ..., "drop_path": ..., "classifier_activation": ...}``
        as far as they differ from the defaults; ``image_size`` is None
        (any size) when the recipe evaluates at another size.
    """
    options = {}
    if recipe.drop_path:
        builder = catalog.get(model_name).builder
        if "drop_path" not in inspect.signature(builder).parameters:
            raise ValueError(
                f"the recipe {recipe.name!r} asks for stochastic depth (drop_path "
                f"{recipe.drop_path:g}), which {model_name!r} does not have; pass "
                f"--drop-path 0 or a ResNet of `keras-resnet models`"
            )
        options["drop_path"] = recipe.drop_path
    if recipe.loss == "binary_cross_entropy":
        # The loss takes logits; the weights are those of a softmax classifier,
        # so `evaluate` and `predict` load them into one.
        options["classifier_activation"] = None
    return options


def input_size(recipe):
    """The model's input side: None (any) when the recipe evaluates at another size."""
    if recipe.eval_size and recipe.eval_size != recipe.image_size:
        return None
    return recipe.image_size


def callbacks(recipe, *, folder, batch_size, epochs, writes=True):
    """The callbacks of the recipe's ingredients: the moving average, if any.

    Args:
        recipe: The run's recipe.
        folder: The writer's directory (``training.writer_dir``).
        batch_size: The global batch size (the average's decay follows it).
        epochs: The run's length.
        writes: Whether this process writes ``folder`` (``Distribution.writes_files``).
    """
    if recipe.ema_decay is None:
        return []
    every = recipe.ema_every or 1
    decay = ema.adjusted_decay(recipe.ema_decay, batch_size=batch_size, every=every,
                               epochs=epochs)
    return [ema.ExponentialMovingAverage(
        decay, every, warmup_epochs=round(recipe.warmup_epochs),
        path=os.path.join(folder, EMA_FILE), writes=writes,
    )]


def moving_average(callback_list):
    """The ``ExponentialMovingAverage`` among ``callback_list``, or None."""
    return next((c for c in callback_list if isinstance(c, ema.ExponentialMovingAverage)), None)


def evaluate_average(model, average, *, datasets, folder, writes=True):
    """Puts the average into ``model``, saves it, and scores it: ``{split: accuracy}``.

    ``model`` keeps the average afterwards. Nothing happens (``{}``) if the
    average never took a step.
    """
    from keras_resnet.training.files import save_weights

    if average is None or average.average is None:
        return {}
    average.set_model(model)
    average.swap()
    if writes:
        save_weights(model, os.path.join(folder, EMA_WEIGHTS))
    return {
        split: model.evaluate(dataset, verbose=0, return_dict=True)["accuracy"]
        for split, dataset in datasets.items()
    }

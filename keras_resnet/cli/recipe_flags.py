"""``train``'s recipe: the named one with the command line's settings applied and checked.

The flags' names for the recipe's fields live here, in one place, so that a
recipe's error names the option the user typed (``--lr: `base_lr` should
be ...``).
"""

from keras_resnet.cli.errors import UsageError
from keras_resnet.training import recipes


def recipe_from_args(name, args, *, batch_size=None):
    """The recipe ``name`` with the command line's settings applied and checked."""
    try:
        recipe = recipes.get(name)
    except ValueError as e:
        raise UsageError(str(e)) from None
    try:
        return recipe.replace(
            epochs=args.epochs,
            batch_size=args.batch_size or batch_size,
            base_lr=args.lr,
            weight_decay=args.weight_decay,
            schedule=args.schedule,
            warmup_epochs=args.warmup_epochs,
            label_smoothing=args.label_smoothing,
            image_size=args.image_size,
            augmentation=args.augmentation,
            drop_path=args.drop_path,
        )
    except ValueError as e:
        raise UsageError(with_flag(str(e))) from None


# The recipe's fields as the command line spells them.
_FLAGS = {
    "base_lr": "--lr",
    "weight_decay": "--weight-decay",
    "warmup_epochs": "--warmup-epochs",
    "label_smoothing": "--label-smoothing",
    "epochs": "--epochs",
    "batch_size": "--batch-size",
    "image_size": "--image-size",
    "augmentation": "--augmentation",
    "drop_path": "--drop-path",
}


def with_flag(message):
    """A recipe's error, with the command-line option it came from."""
    for field, flag in _FLAGS.items():
        if message.startswith(f"`{field}`"):
            return f"{flag}: {message}"
    return message


def recorded_warmup(recipe, run_dir, args):
    """``recipe`` with the warm-up its run directory began with, when ``--epochs`` extends it.

    A shorter or longer ``--epochs`` scales a recipe's warm-up with the run
    (``Recipe.replace``); a run extended with more epochs has had its warm-up
    already, which stays what it was (and the run directory's check passes).
    """
    import os

    from keras_resnet import training

    if args.warmup_epochs is not None or not os.path.exists(os.path.join(run_dir, "run.json")):
        return recipe
    try:
        stored = training.load_run(run_dir)
    except (OSError, ValueError):
        return recipe  # check_settings says what is wrong with it
    warmup = stored.get("warmup_epochs")
    if warmup is None or stored.get("epochs") == recipe.epochs:
        return recipe
    return recipe.replace(warmup_epochs=warmup)

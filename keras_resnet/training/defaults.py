"""What ``keras-resnet train --data DIR`` does when the user leaves it to us.

A folder of 50 photos and ImageNet need different things. Below
``SMALL_DATASET`` training images the best start is a pretrained backbone,
fine-tuned (``recipes.get("finetune")``); when no pretrained weights can be
had (no network and nothing cached), a small network trained from scratch at
a small resolution (``"small-data"``) rather than a ResNet-50 that would only
memorise the training set. Above it, the paper's ImageNet recipe from scratch.
Whatever the user names on the command line wins; the batch size always
fits the data.
"""

import dataclasses
import re

from keras_resnet.weights.registry import URL_ENV

#: Training images below which fine-tuning a pretrained backbone is the default.
SMALL_DATASET = 20_000
#: The backbone fine-tuned by default (published ImageNet weights).
FINETUNE_MODEL = "resnet50"
#: The network trained from scratch on a small folder without pretrained weights.
SCRATCH_MODEL = "small-resnet"
#: The smallest batch the defaults choose (BatchNorm needs a few images).
MIN_BATCH = 4
#: The longest reason the offline note repeats whole.
_SHORT_REASON = 60


@dataclasses.dataclass(frozen=True)
class Plan:
    """The model, recipe, weights and batch a run will use.

    Attributes:
        model: A catalogue name.
        recipe: A recipe name.
        weights: ``None`` or a registered tag (``"imagenet"``).
        batch_size: The global batch size, or None for the recipe's.
        note: At most two short lines (joined by a newline) for the user
            when the plan departs from what they would expect (no
            pretrained weights, a smaller batch), or None.
    """

    model: str
    recipe: str
    weights: str | None
    batch_size: int | None = None
    note: str | None = None


def fitted_batch_size(num_train, wanted):
    """The largest power of two up to ``wanted`` that gives at least 4 steps an epoch."""
    batch = MIN_BATCH
    while batch * 2 <= min(wanted, num_train // 4):
        batch *= 2
    return min(batch, wanted)


def plan_folder_run(num_train, *, model=None, recipe=None, weights=None, batch_size=None,
                    recipe_batch_size=None, pretrained_problem=None):
    """Chooses what an image-folder run trains, filling in what the user left open.

    Args:
        num_train: Number of training images.
        model, recipe, weights, batch_size: The user's choices (None: open).
        recipe_batch_size: Function from a recipe name to its batch size.
        pretrained_problem: Function from a model name to None if its
            pretrained weights can be loaded, else the reason why not (one line).

    Returns:
        A ``Plan``.
    """
    notes, fallback = [], None
    if model is None and recipe is None and weights is None:
        if num_train >= SMALL_DATASET:
            model, recipe = FINETUNE_MODEL, "imagenet"
        else:
            problem = pretrained_problem(FINETUNE_MODEL)
            if problem is None:
                model, recipe, weights = FINETUNE_MODEL, "finetune", "imagenet"
            else:
                model, recipe = SCRATCH_MODEL, "small-data"
                fallback = (
                    f"no pretrained weights for {FINETUNE_MODEL} ({short_reason(problem)}): "
                    f"training {SCRATCH_MODEL} from scratch"
                )
    model = model or FINETUNE_MODEL
    recipe = recipe or ("finetune" if weights not in (None, "none") else "imagenet")
    if batch_size is None:
        wanted = recipe_batch_size(recipe)
        fitted = fitted_batch_size(num_train, wanted)
        if fitted != wanted:
            batch_size = fitted
            notes.append(f"batch size {fitted} ({wanted} is too large for {num_train} images)")
    if fallback:
        # Two short lines: what happens, then how to have the weights.
        batch = f", batch size {batch_size}" if batch_size else ""
        notes = [
            fallback + batch,
            f"fine-tune instead with --weights FILE, or set {URL_ENV} to a mirror",
        ]
        return Plan(model, recipe, weights, batch_size, "\n".join(notes))
    return Plan(model, recipe, weights, batch_size, "; ".join(notes) or None)


def short_reason(problem):
    """``problem`` if it is short, else the cause it gives first in parentheses, clipped.

    A failed download explains itself in some 500 characters (the URL, the
    mirror variable, the cache path, the hash), the first parenthesis
    holding the cause (``[Errno -2] Name or service not known``); the note
    keeps that and leaves the rest to ``keras-resnet weights fetch``.
    """
    if len(problem) <= _SHORT_REASON:
        return problem
    cause = re.match(r"[^(]*\(([^()]+)\)", problem)
    text = re.sub(r"^\[Errno -?\d+\] ", "", cause.group(1) if cause else problem)
    # Else its first sentence, without the URL.
    text = re.sub(r" from \S+://\S+", "", text).split(". ")[0]
    if len(text) <= _SHORT_REASON:
        return text
    return text[:_SHORT_REASON].rsplit(" ", 1)[0] + " ..."

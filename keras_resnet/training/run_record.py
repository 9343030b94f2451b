"""``run.json``: what a run directory was made with, and which commands may resume it.

A rerun on an existing run directory resumes it, so it must be the same run.
Every setting ``run.json`` records has to match, except those in
``RESUMABLE_SETTINGS``:

* ``epochs``: extends (or, if already past, ends) the run. The ``"steps"``
  schedule places its drops at fractions of the total, so they move with it.
* ``strategy`` and ``replicas``: continue on other hardware. The batch size
  is global, so the schedule and the learning rate stay what they were.

After a NaN or infinite loss stopped the run (the backup records it, see
``run_dir``), ``RESUMABLE_AFTER_NONFINITE`` may change too:

* ``learning_rate``, ``weight_decay`` and ``warmup_epochs``: the usual cures
  of a diverging run. They change neither the checkpoint's variables nor
  the meaning of the epochs so far, which were good; the rerun resumes from
  the last good epoch with the new values (the schedule's position is the
  optimizer's step count, kept).

The others are refused because the checkpoint would not load (``model``,
``classes``, ``image_size``; ``schedule`` and ``mixed_precision`` change the
optimizer's variables ...), or would load and mean something else
(``class_names``, ``data``, ``preprocessing``, ``augmentation``; ``seed``
draws the validation split, so another seed trains on validation images;
the recipe's settings, which fix the schedule the epochs so far followed:
a run that did not diverge is one run with one learning rate).
Settings ``run.json`` does not record may change freely: verbosity, XLA,
image verification, determinism.
"""

import json
import os

from keras_resnet.training.files import write_json
from keras_resnet.training.run_dir import read_backup_metadata

# ``recipe_settings`` is the recipe whole, for the reader; the settings in it
# that a resume must keep are compared one by one under their own names.
RESUMABLE_SETTINGS = ("epochs", "strategy", "replicas", "recipe_settings")
#: What a rerun may change once a NaN or infinite loss has stopped the run.
RESUMABLE_AFTER_NONFINITE = ("learning_rate", "weight_decay", "warmup_epochs")

_MISSING = "(none)"


class RunDirMismatch(ValueError):
    """A run directory was made with other settings than those asked for now.

    Attributes:
        run_dir: The directory.
        differences: ``(setting, stored value, asked value)`` triples.
    """

    def __init__(self, run_dir, differences):
        stored = _enumerate(f"{name}={old}" for name, old, _ in differences)
        asked = _enumerate(f"{name}={new}" for name, _, new in differences)
        super().__init__(
            f"run directory {run_dir} was made with {stored}, this command asks for {asked}"
        )
        self.run_dir = run_dir
        self.differences = differences


def load_run(run_dir):
    """The ``run.json`` of a run directory (raises ValueError if there is none)."""
    path = os.path.join(run_dir, "run.json")
    if not os.path.exists(path):
        raise ValueError(f"Not a run directory (no run.json). Received: run_dir={run_dir!r}")
    with open(path) as f:
        return json.load(f)


def check_settings(run_dir, settings):
    """Refuses to resume ``run_dir`` with ``settings`` that differ from its ``run.json``.

    Settings only one side records are not compared (an older ``run.json``
    lacks some). A directory without ``run.json`` is new: nothing to check.
    After a NaN stop, ``RESUMABLE_AFTER_NONFINITE`` may differ as well.

    Args:
        run_dir: The run directory.
        settings: What ``write_run_record`` would write now.

    Raises:
        RunDirMismatch: Naming every setting that differs.
    """
    if not os.path.exists(os.path.join(run_dir, "run.json")):
        return
    stored = load_run(run_dir)
    # Through JSON, as stored: tuples become lists, and so compare equal.
    asked = json.loads(json.dumps(settings))
    free = RESUMABLE_SETTINGS
    if "stopped" in (read_backup_metadata(os.path.join(run_dir, "backup")) or {}):
        free += RESUMABLE_AFTER_NONFINITE
    differences = [
        _first_difference(name, stored[name], value)
        for name, value in asked.items()
        if name in stored and name not in free and stored[name] != value
    ]
    if differences:
        raise RunDirMismatch(run_dir, differences)


def write_run_record(run_dir, settings):
    """Writes ``run.json`` (``settings``) and ``classes.json`` (its ``class_names``)."""
    write_json(os.path.join(run_dir, "classes.json"), settings["class_names"])
    write_json(os.path.join(run_dir, "run.json"), settings)


def _first_difference(name, old, new):
    """``(label, old, new)``; for lists, of the first position where they differ,
    so that 1,000 class names are not printed to show that one changed."""
    if not (isinstance(old, list) and isinstance(new, list)):
        return name, old, new
    for i in range(max(len(old), len(new))):
        a = old[i] if i < len(old) else _MISSING
        b = new[i] if i < len(new) else _MISSING
        if a != b:
            return f"{name}[{i}]", a, b


def _enumerate(items):
    """``"a"``, ``"a and b"``, ``"a, b and c"``."""
    items = list(items)
    return " and ".join(filter(None, [", ".join(items[:-1]), items[-1]]))

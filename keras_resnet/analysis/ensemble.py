"""Residual networks as ensembles of paths (Veit, Wilber, Belongie 2016).

Veit et al., "Residual Networks Behave Like Ensembles of Relatively Shallow
Networks". Unraveled, ``n`` residual blocks in a row are ``2**n`` paths from
input to output: each block is passed either through its residual branch or
through its shortcut, so ``C(n, k)`` paths go through ``k`` branches. The
paper's experiments, for any trained network built here (block layer names
``convS_blockB_...``):

* ``deletion_curve``: delete ``k`` random blocks at test time (Figure 5a).
  The error rises smoothly with ``k``, as for an ensemble that loses members;
  a plain network, with one path, fails at the first deleted layer.
* ``reorder_curve``: swap ``k`` random pairs of blocks of equal shape
  (Figure 5b).
* ``path_length_counts`` and ``gradient_by_path_length`` (Figure 6) are in
  ``keras_resnet.analysis.paths``.

All rewired networks share the trained layers: nothing is copied or
retrained.

Example:
    >>> from keras_resnet import analysis
    >>> curve = analysis.deletion_curve(model, (x_test, y_test), draws=10)
    >>> analysis.plot_error_curves([curve], "deletion.png")
"""


import dataclasses
import itertools

import keras
import numpy as np

from keras_resnet.analysis.lesion import (
    _BLOCK,
    _accuracy,
    block_names,
    delete_block,
    delete_blocks,
    save_figure,
)
from keras_resnet.analysis.paths import _check_data, _ks, _subsets


@dataclasses.dataclass
class ErrorCurve:
    """Test error against how many blocks were deleted or pairs swapped.

    Attributes:
        model_name: Name of the model.
        experiment: ``"deletion"`` or ``"reorder"``.
        errors: ``{k: [test error of each draw]}``, ``k`` ascending.
    """

    model_name: str
    experiment: str
    errors: dict

    @property
    def ks(self):
        return list(self.errors)

    def mean(self):
        """Mean error over the draws, one value per ``k``."""
        return np.array([np.mean(v) for v in self.errors.values()])

    def std(self):
        """Standard deviation over the draws, one value per ``k``."""
        return np.array([np.std(v) for v in self.errors.values()])


def deletion_curve(model, data, *, ks=None, draws=10, seed=0, batch_size=256):
    """Test error with ``k`` randomly chosen blocks deleted at test time (Veit et al., Fig. 5a).

    Blocks are deleted as ``delete_blocks`` does: a residual block keeps its
    shortcut; a plain block passes its input on, so in a plain network only
    the blocks that keep the shape are candidates.

    Args:
        model: A trained classifier with named blocks, residual or plain.
        data: ``(x, y)``: images and integer labels.
        ks: Numbers of deleted blocks; default ``0 ... n`` (``n`` candidates).
        draws: Random subsets per ``k`` (all of them where there are fewer).
        seed: Seed of the draws.
        batch_size: Prediction batch size.

    Returns:
        An ``ErrorCurve``.

    Raises:
        ValueError: For ``data`` not an ``(x, y)`` pair, a model without
            named blocks, or ``ks`` outside ``0 ... n``.
    """
    x, y = _check_data(data)
    candidates = [b for b in block_names(model) if delete_block(model, b) is not None]
    if not candidates:
        raise ValueError(
            f"`model` has no deletable blocks named like 'conv2_block1_...'. Received: model={model.name!r}"
        )
    rng = np.random.default_rng(seed)
    errors = {}
    for k in _ks(ks, len(candidates)):
        errors[k] = [
            1.0 - _accuracy(delete_blocks(model, subset), x, y, batch_size)
            for subset in _subsets(candidates, k, draws, rng)
        ]
    return ErrorCurve(model.name, "deletion", errors)


def _block_layers(model, block):
    return [layer for layer in model.layers if layer.name.startswith(block + "_")]


def swappable_groups(model):
    """Groups of blocks that can take each other's place.

    Two blocks are interchangeable where both keep the shape of their input
    and have the same layers (the same classes under the same suffixes,
    the same weight shapes): the blocks of one stage after its first,
    downsampling one (and the first too where it keeps the shape).

    Returns:
        A list of lists of block labels, each of two or more.
    """
    groups = {}
    for block in block_names(model):
        layers = _block_layers(model, block)
        shape_in, shape_out = tuple(layers[0].input.shape), tuple(layers[-1].output.shape)
        if shape_in != shape_out:
            continue
        key = (shape_in,) + tuple(
            (
                layer.name[len(block) :],
                type(layer).__name__,
                tuple(tuple(w.shape) for w in layer.weights),
            )
            for layer in layers
        )
        groups.setdefault(key, []).append(block)
    return [group for group in groups.values() if len(group) > 1]


def swap_blocks(model, pairs):
    """Returns ``model`` with pairs of blocks exchanged, sharing its layers.

    Args:
        model: A model with named blocks.
        pairs: ``(a, b)`` pairs of block positions (labels), applied in
            turn: each exchanges the blocks that positions ``a`` and ``b``
            hold, so swapping a pair twice restores the model. Both of a
            pair must be in one of ``swappable_groups(model)``.

    Returns:
        A ``keras.Model``.

    Raises:
        ValueError: For a pair whose blocks cannot take each other's place.
    """
    groups = swappable_groups(model)
    holds = {}  # position -> block computed there
    for pair in pairs:
        a, b = pair
        if not any(a in group and b in group for group in groups):
            raise ValueError(
                "`pairs` should hold pairs of blocks of equal shape and layers "
                f"(see swappable_groups). Received: pair {tuple(pair)!r}"
            )
        holds[a], holds[b] = holds.get(b, b), holds.get(a, a)

    def call_function(layer, *args, **kwargs):
        match = _BLOCK.match(layer.name)
        if match and holds.get(match.group(1), match.group(1)) != match.group(1):
            # The twin layer of the block this position now holds: same class,
            # same place in the block, its own weights.
            block = match.group(1)
            layer = model.get_layer(holds[block] + layer.name[len(block) :])
        return layer(*args, **kwargs)

    return keras.models.clone_model(
        model, clone_function=lambda layer: layer, call_function=call_function
    )


def reorder_curve(model, data, *, ks=None, draws=10, seed=0, batch_size=256):
    """Test error with ``k`` random pairs of blocks swapped (Veit et al., Fig. 5b).

    Each draw swaps ``k`` pairs in turn, each pair drawn uniformly from the
    pairs of interchangeable blocks (``swappable_groups``).

    Args:
        model: A trained classifier with named blocks.
        data: ``(x, y)``: images and integer labels.
        ks: Numbers of swaps; default ``0 ... m``, ``m`` the number of
            interchangeable blocks.
        draws: Random swap sequences per ``k`` (one for ``k = 0``).
        seed: Seed of the draws.
        batch_size: Prediction batch size.

    Returns:
        An ``ErrorCurve``.

    Raises:
        ValueError: For ``data`` not an ``(x, y)`` pair, a model without
            interchangeable blocks, or a negative ``k``.
    """
    x, y = _check_data(data)
    groups = swappable_groups(model)
    pairs = [pair for group in groups for pair in itertools.combinations(group, 2)]
    if not pairs:
        raise ValueError(
            f"`model` has no two blocks of equal shape and layers to swap. Received: model={model.name!r}"
        )
    ks = list(range(sum(map(len, groups)) + 1)) if ks is None else sorted(set(ks))
    if ks[0] < 0:
        raise ValueError(f"`ks` should be counts of swaps, 0 or more. Received: ks={ks!r}")
    rng = np.random.default_rng(seed)
    errors = {}
    for k in ks:
        errors[k] = []
        for _ in range(1 if k == 0 else draws):
            swaps = [pairs[i] for i in rng.integers(len(pairs), size=k)]
            errors[k].append(1.0 - _accuracy(swap_blocks(model, swaps), x, y, batch_size))
    return ErrorCurve(model.name, "reorder", errors)


_XLABELS = {"deletion": "blocks deleted", "reorder": "pairs of blocks swapped"}


def plot_error_curves(curves, path, *, title=None):
    """Plots test error against ``k`` for ``ErrorCurve`` objects (mean, band of one std).

    Args:
        curves: ``ErrorCurve`` objects, drawn on the same axes.
        path: Where to write the PNG.
        title: Optional title.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for curve in curves:
        ks, mean, std = np.array(curve.ks), curve.mean(), curve.std()
        line = ax.plot(ks, mean, marker="o", label=curve.model_name)[0]
        ax.fill_between(ks, mean - std, mean + std, color=line.get_color(), alpha=0.2)
    ax.set_xlabel(" / ".join(sorted({_XLABELS[c.experiment] for c in curves})))
    ax.set_ylabel("test error")
    ax.set_ylim(0, 1.0)
    ax.set_title(title or "Error against k (mean over draws, band: one std)")
    ax.legend()
    save_figure(fig, path)



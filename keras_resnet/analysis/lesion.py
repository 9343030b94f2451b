"""Lesion study: delete one block of a trained network at test time.

Veit, Wilber, Belongie. Residual Networks Behave Like Ensembles of
Relatively Shallow Networks. 2016. Deleting a residual block leaves its
shortcut, so the signal still reaches the head and accuracy drops a little;
deleting a layer of a plain network breaks its only path.

Deleting block ``l`` here means:

* residual block (it has an ``Add``): the ``Add`` outputs its shortcut
  alone, as if the residual branch were zero (the block's final ReLU, if it
  has one, still applies, as in Veit et al.);
* plain block: the block outputs its input unchanged, the block's layers
  removed from the chain; possible only where input and output shapes agree
  (not in the blocks that downsample).

The trained layers are shared, not copied: nothing is retrained.

Example:
    >>> from keras_resnet import analysis
    >>> result = analysis.lesion(model, (x_test, y_test), plot="lesion.png")
    >>> result.baseline, result.accuracies["conv3_block2"]
"""

import dataclasses
import os
import re

import keras
import numpy as np

_BLOCK = re.compile(r"^(conv\d+_block\d+)_")


@dataclasses.dataclass
class LesionResult:
    """Accuracies of a network with each of its blocks deleted in turn.

    Attributes:
        model_name: Name of the lesioned model.
        baseline: Accuracy of the intact model.
        accuracies: ``{block: accuracy with that block deleted}``, in
            network order; NaN where the block cannot be deleted (a plain
            block that changes the shape).
    """

    model_name: str
    baseline: float
    accuracies: dict

    def drops(self):
        """Returns ``{block: baseline - accuracy}``."""
        return {k: self.baseline - v for k, v in self.accuracies.items()}


def block_names(model):
    """Returns the block labels (``conv2_block1`` ...) of a model, in order."""
    names = []
    for layer in model.layers:
        match = _BLOCK.match(layer.name)
        if match and match.group(1) not in names:
            names.append(match.group(1))
    return names


def delete_block(model, block):
    """Returns a model that shares ``model``'s layers with ``block`` deleted.

    Args:
        model: A functional model with Keras-style layer names.
        block: A label from ``block_names(model)``.

    Returns:
        A ``keras.Model``, or None when ``block`` is a plain block whose
        output shape differs from its input's.

    Raises:
        ValueError: For a block the model does not have.
    """
    return delete_blocks(model, [block])


def delete_blocks(model, blocks):
    """Returns a model that shares ``model``'s layers with all of ``blocks`` deleted.

    Each block is deleted as ``delete_block`` deletes it; deleting several at
    once is what Veit et al.'s Figure 5(a) measures.

    Args:
        model: A functional model with Keras-style layer names.
        blocks: Labels from ``block_names(model)``; empty gives an unchanged copy.

    Returns:
        A ``keras.Model``, or None when one of ``blocks`` is a plain block
        whose output shape differs from its input's.

    Raises:
        ValueError: For a block the model does not have.
    """
    names = block_names(model)
    deleted = {}  # prefix -> (residual, name of the block's last layer)
    for block in blocks:
        if block not in names:
            raise ValueError(
                f"`block` should be one of the model's blocks ({', '.join(names)}). "
                f"Received: block={block!r}"
            )
        prefix = block + "_"
        block_layers = [layer for layer in model.layers if layer.name.startswith(prefix)]
        residual = any(isinstance(layer, keras.layers.Add) for layer in block_layers)
        if not residual:
            first = block_layers[0]
            if tuple(first.input.shape) != tuple(block_layers[-1].output.shape):
                return None
        deleted[prefix] = (residual, block_layers[-1].name)
    block_inputs = {}

    def call_function(layer, *args, **kwargs):
        match = _BLOCK.match(layer.name)
        prefix = match.group(1) + "_" if match else None
        if prefix not in deleted:
            return layer(*args, **kwargs)
        residual, last = deleted[prefix]
        if residual and isinstance(layer, keras.layers.Add):
            return args[0][0]  # the shortcut: blocks build Add([shortcut, branch])
        if not residual:
            block_inputs.setdefault(prefix, args[0])
            if layer.name == last:
                return block_inputs[prefix]
        return layer(*args, **kwargs)

    return keras.models.clone_model(
        model, clone_function=lambda layer: layer, call_function=call_function
    )


def _accuracy(model, x, y, batch_size):
    # Plain eager calls: model.predict would compile a new function for
    # every lesioned copy, which costs more than the predictions here.
    correct = 0
    for start in range(0, len(x), batch_size):
        scores = keras.ops.convert_to_numpy(model(x[start : start + batch_size], training=False))
        correct += int(np.sum(np.argmax(scores, axis=-1) == y[start : start + batch_size]))
    return correct / len(x)


def lesion(model, data, *, batch_size=256, plot=None):
    """Accuracy of ``model`` on ``data`` with each block deleted in turn.

    Args:
        model: A trained classifier built by keras_resnet (block layer names
            ``convS_blockB_...``), residual or plain.
        data: ``(x, y)``: images and integer labels.
        batch_size: Prediction batch size.
        plot: Optional path of a PNG of accuracy per deleted block.

    Returns:
        A ``LesionResult``.

    Raises:
        ValueError: For ``data`` that is not an ``(x, y)`` pair, or a model
            without named blocks.
    """
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise ValueError(
            f"`data` should be a pair (x, y) of images and integer labels. "
            f"Received: data of type {type(data).__name__}"
        )
    x, y = np.asarray(data[0]), np.asarray(data[1]).reshape(-1)
    names = block_names(model)
    if not names:
        raise ValueError(
            "`model` has no blocks named like 'conv2_block1_...'. "
            f"Received: model={model.name!r}"
        )
    baseline = _accuracy(model, x, y, batch_size)
    accuracies = {}
    for name in names:
        lesioned = delete_block(model, name)
        accuracies[name] = (
            float("nan") if lesioned is None else _accuracy(lesioned, x, y, batch_size)
        )
    result = LesionResult(model.name, baseline, accuracies)
    if plot is not None:
        plot_lesion([result], plot)
    return result


def plot_lesion(results, path):
    """Plots accuracy per deleted block for one or more ``LesionResult``.

    Args:
        results: ``LesionResult`` objects, drawn on the same axes.
        path: Where to write the PNG.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    for result in results:
        index = np.arange(1, len(result.accuracies) + 1)
        line = ax.plot(
            index, list(result.accuracies.values()), marker="o", label=result.model_name
        )[0]
        ax.axhline(result.baseline, color=line.get_color(), linestyle=":", linewidth=1)
    ax.set_xlabel("deleted block")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1.02)
    ax.set_title("Lesion study: one block deleted at test time (dotted: intact)")
    ax.legend()
    save_figure(fig, path)


def save_figure(fig, path):
    """Writes a matplotlib figure to ``path`` as PNG, then closes it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    partial = f"{path}.part"
    try:
        fig.savefig(partial, dpi=100, format="png")
        os.replace(partial, path)  # never leave a half-written figure
    finally:
        plt.close(fig)
        if os.path.exists(partial):
            os.remove(partial)

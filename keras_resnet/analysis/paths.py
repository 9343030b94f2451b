"""Paths through a residual network (Veit, Wilber, Belongie 2016): their number and their gradient.

Unraveled, ``n`` residual blocks in a row are ``2**n`` paths from input to
output: each block is passed either through its residual branch or through
its shortcut, so ``C(n, k)`` paths go through ``k`` branches.

* ``path_length_counts``: the binomial distribution of path lengths
  (the paper's Figure 6a).
* ``gradient_by_path_length``: the gradient that reaches the first block's
  input along single paths of length ``k`` (Figure 6b) and, times the path
  counts, the total gradient paths of each length carry (Figure 6c, the
  "effective paths": short paths carry nearly all of it).

``keras_resnet.analysis.ensemble`` has the test-time experiments (deleting
and reordering blocks).

Example:
    >>> from keras_resnet import analysis
    >>> analysis.path_length_counts(model)          # ResNet-20: [1, 9, 36, ...]
    >>> grads = analysis.gradient_by_path_length(model, (x_train[:128], y_train[:128]))
    >>> grads.effective()
"""

import dataclasses
import itertools
import math

import keras
import numpy as np

from keras_resnet.analysis.lesion import _BLOCK, block_names, save_figure


@dataclasses.dataclass
class PathGradients:
    """Gradient magnitude at the first block's input, by path length.

    Attributes:
        model_name: Name of the model.
        counts: ``counts[k]``: the number of paths of length ``k``.
        magnitudes: ``{k: [mean per-example gradient norm of each sampled path]}``.
    """

    model_name: str
    counts: list
    magnitudes: dict

    @property
    def ks(self):
        return list(self.magnitudes)

    def mean(self):
        """Mean gradient magnitude of one path of each length in ``ks``."""
        return np.array([np.mean(v) for v in self.magnitudes.values()])

    def effective(self):
        """Total gradient magnitude of all paths of each length: count times mean."""
        counts = np.array([float(self.counts[k]) for k in self.ks])
        return counts * self.mean()


def residual_blocks(model):
    """Returns the labels of ``model``'s residual blocks (those with an ``Add``), in order."""
    adds = {
        match.group(1)
        for layer in model.layers
        if isinstance(layer, keras.layers.Add) and (match := _BLOCK.match(layer.name))
    }
    return [name for name in block_names(model) if name in adds]


def _residual_merges(model):
    count = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            count += _residual_merges(layer)  # a backbone nested in a classifier
        elif isinstance(layer, keras.layers.Add) and len(keras.tree.flatten(layer.input)) == 2:
            count += 1
    return count


def path_length_counts(model):
    """Number of paths of each length through a residual network.

    Each of the ``n`` residual blocks is passed through its branch or its
    shortcut, so there are ``C(n, k)`` paths through exactly ``k`` branches
    (Veit et al., Figure 6a). ``n`` counts the two-input ``Add`` layers (one
    per residual block; nested models included), so any Keras ResNet works,
    keras.applications' too.

    Args:
        model: A residual network.

    Returns:
        A list of ``n + 1`` Python ints, ``counts[k] = C(n, k)``.

    Raises:
        ValueError: For a model without residual blocks.
    """
    n = _residual_merges(model)
    if not n:
        raise ValueError(
            f"`model` should have residual blocks (two-input Add layers). Received: model={model.name!r}"
        )
    return [math.comb(n, k) for k in range(n + 1)]


def _check_data(data):
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise ValueError(
            f"`data` should be a pair (x, y) of images and labels. "
            f"Received: data of type {type(data).__name__}"
        )
    return np.asarray(data[0]), np.asarray(data[1])


def _ks(ks, n):
    if ks is None:
        return list(range(n + 1))
    ks = sorted(set(ks))
    if not ks or ks[0] < 0 or ks[-1] > n:
        raise ValueError(f"`ks` should be counts between 0 and {n}. Received: ks={ks!r}")
    return ks


def _subsets(items, k, draws, rng):
    """``draws`` distinct k-subsets of ``items`` (all of them when there are no more)."""
    n = len(items)
    if draws is None or math.comb(n, k) <= draws:
        return [list(c) for c in itertools.combinations(items, k)]
    chosen = set()
    while len(chosen) < draws:
        chosen.add(tuple(sorted(rng.choice(n, size=k, replace=False))))
    return [[items[i] for i in c] for c in sorted(chosen)]


def _single_path(model, branches):
    """``model`` where gradients pass the branches of ``branches`` and every other block's shortcut.

    The forward values are unchanged: a block adds ``shortcut + branch`` as
    before, with the gradient stopped on one of the two. Returns the
    models from the model's input to the first residual block's input and
    from there to the output.
    """
    blocks = residual_blocks(model)
    captured = {}

    def call_function(layer, *args, **kwargs):
        match = _BLOCK.match(layer.name)
        block = match.group(1) if match else None
        if block == blocks[0] and "input" not in captured:
            # In graph order the first layer of the block called reads the
            # block's input alone.
            captured["input"] = args[0]
        if block in blocks and isinstance(layer, keras.layers.Add):
            shortcut, branch = args[0]  # blocks build Add([shortcut, branch])
            if block in branches:
                shortcut = keras.ops.stop_gradient(shortcut)
            else:
                branch = keras.ops.stop_gradient(branch)
            return layer([shortcut, branch], **kwargs)
        return layer(*args, **kwargs)

    clone = keras.models.clone_model(
        model, clone_function=lambda layer: layer, call_function=call_function
    )
    start = captured["input"]
    head = None if any(start is t for t in clone.inputs) else keras.Model(clone.input, start)
    return head, keras.Model(start, clone.output)


def _gradient(fn, h):
    """The gradient of the scalar ``fn(h)`` with respect to ``h``, as NumPy."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        h = tf.convert_to_tensor(h)
        with tf.GradientTape() as tape:
            tape.watch(h)
            value = fn(h)
        return tape.gradient(value, h).numpy()
    if backend == "jax":
        import jax

        return np.asarray(jax.grad(fn)(jax.numpy.asarray(h)))
    if backend == "torch":
        h = keras.ops.convert_to_tensor(h).detach().requires_grad_(True)
        fn(h).backward()
        return h.grad.detach().cpu().numpy()
    raise NotImplementedError(
        f"Gradients are implemented for TensorFlow, JAX and PyTorch, not {backend}."
    )


def _loss_fn(loss, y):
    loss = keras.losses.get(loss)
    return lambda outputs: keras.ops.sum(loss(y, outputs))


def path_gradient(model, data, branches, *, loss="sparse_categorical_crossentropy"):
    """Gradient at the first residual block's input along one path (Veit et al., Sec. 6.2).

    Forward as usual (inference mode); backward through the residual
    branches of ``branches`` and through the shortcuts of all other residual
    blocks, so only the path of length ``len(branches)`` that takes exactly
    those branches contributes.

    Args:
        model: A network with named residual blocks.
        data: ``(x, y)``: inputs and targets.
        branches: Labels from ``residual_blocks(model)``.
        loss: A Keras loss (name or function) of ``(y_true, y_pred)``,
            summed over the examples, so each example's row of the gradient
            is its own loss's.

    Returns:
        A NumPy array shaped like the first residual block's input.

    Raises:
        ValueError: For a label that is not a residual block of ``model``.
    """
    x, y = _check_data(data)
    blocks = residual_blocks(model)
    for block in branches:
        if block not in blocks:
            raise ValueError(
                f"`branches` should hold residual blocks of the model ({', '.join(blocks)}). "
                f"Received: block={block!r}"
            )
    head, tail = _single_path(model, set(branches))
    h = x if head is None else keras.ops.convert_to_numpy(head(x, training=False))
    objective = _loss_fn(loss, y)
    return _gradient(lambda t: objective(tail(t, training=False)), h)


def gradient_by_path_length(
    model, data, *, ks=None, samples=10, seed=0, loss="sparse_categorical_crossentropy"
):
    """Gradient magnitude of single paths of each length, and of all paths of each length.

    For each ``k``, ``samples`` random sets of ``k`` residual blocks (all of
    them where there are fewer); for each, ``path_gradient`` through those
    blocks' branches, measured as the per-example L2 norm at the first
    block's input averaged over the examples. Veit et al. (Figure 6)
    found the magnitude to fall exponentially with ``k``; times the
    binomial path counts, the total peaks at paths far shorter than the
    network.

    Args:
        model: A network with named residual blocks.
        data: ``(x, y)``: a batch of inputs and targets (the paper used
            training batches).
        ks: Path lengths; default ``0 ... n``.
        samples: Sets of blocks per length; None for every set (exact,
            for small networks).
        seed: Seed of the draws.
        loss: A Keras loss (name or function) of ``(y_true, y_pred)``.

    Returns:
        A ``PathGradients``.
    """
    x, y = _check_data(data)
    blocks = residual_blocks(model)
    if not blocks:
        raise ValueError(
            f"`model` has no residual blocks named like 'conv2_block1_...'. Received: model={model.name!r}"
        )
    rng = np.random.default_rng(seed)
    magnitudes = {}
    for k in _ks(ks, len(blocks)):
        magnitudes[k] = []
        for subset in _subsets(blocks, k, samples, rng):
            grad = path_gradient(model, (x, y), subset, loss=loss)
            norms = np.sqrt(np.sum(np.square(grad.reshape(len(grad), -1)), axis=1))
            magnitudes[k].append(float(np.mean(norms)))
    counts = [math.comb(len(blocks), k) for k in range(len(blocks) + 1)]
    return PathGradients(model.name, counts, magnitudes)


def plot_paths(gradients, path):
    """Plots path counts, gradient per path and total gradient by path length (Veit et al., Fig. 6).

    Args:
        gradients: A ``PathGradients``.
        path: Where to write the PNG.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    lengths = np.arange(len(gradients.counts))
    axes[0].bar(lengths, [float(c) for c in gradients.counts], color="tab:gray")
    axes[0].set_title(f"paths of each length ({len(lengths) - 1} blocks)")
    axes[0].set_ylabel("number of paths")
    axes[1].semilogy(gradients.ks, gradients.mean(), marker="o")
    axes[1].set_title("gradient magnitude of one path")
    axes[1].set_ylabel("|gradient| at the first block's input")
    effective = gradients.effective()
    axes[2].bar(gradients.ks, effective / effective.sum(), color="tab:green")
    axes[2].set_title("all paths of each length (effective paths)")
    axes[2].set_ylabel("share of the total gradient")
    for ax in axes:
        ax.set_xlabel("path length (residual branches passed)")
    fig.suptitle(gradients.model_name)
    save_figure(fig, path)

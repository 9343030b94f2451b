"""Each process's share of a global batch, for runs whose processes each feed their own.

Under JAX's multi-process ``keras.distribution.DataParallel`` every process
hands Keras its part of each global batch (``jax.make_array_from_process_local_data``),
and the parts are joined in process order. So that a run of ``n`` processes
trains on the same global batches as one process, every process draws the
same epoch order (the same seed) and takes its slice of each batch:

    global batch b = order[b * B : (b + 1) * B]
    process p's part = order[b * B + p * B / n : b * B + (p + 1) * B / n]

Evaluation splits the images in turn (``p, p + n, p + 2n`` ...); a count
that does not divide by ``n`` leaves out its last ``count % n`` images, so
that every process runs the same batches.
"""

import numpy as np


def epoch_permutation(num_images, *, seed, epoch):
    """One epoch's shuffled order, the same in every process for one ``seed``."""
    return np.random.default_rng([seed, epoch]).permutation(num_images)


def process_part(order, *, batch_size, process_index, num_processes):
    """``process_index``'s part of each whole global batch of ``order`` (a 1-D array).

    A last batch shorter than ``batch_size`` is dropped, as training drops it.

    Raises:
        ValueError: If ``batch_size`` does not divide by ``num_processes``.
    """
    if batch_size % num_processes:
        raise ValueError(
            f"the batch size must divide by the number of processes ({num_processes}). "
            f"Received: batch_size={batch_size}"
        )
    local = batch_size // num_processes
    batches = len(order) // batch_size
    whole = np.asarray(order)[: batches * batch_size]
    return whole.reshape(batches, num_processes, local)[:, process_index].reshape(-1)


def evaluation_part(count, *, process_index, num_processes):
    """The indices ``process_index`` evaluates: every ``num_processes``-th, equal shares."""
    kept = count // num_processes * num_processes
    return np.arange(process_index, kept, num_processes)


def order_dataset(order_of_epoch, *, seed):
    """A ``tf.data.Dataset`` of the indices ``order_of_epoch(epoch)`` gives, drawn anew each epoch.

    Each iteration of the dataset (each epoch of ``fit``) draws its ``epoch``
    from ``tf.data.Dataset.random`` with ``rerandomize_each_iteration``, so the
    order changes from epoch to epoch and repeats from run to run; every
    process, with the same ``seed``, draws the same. ``order_of_epoch`` must
    give the same length for every epoch.
    """
    import tensorflow as tf

    def order(draw):
        return np.asarray(order_of_epoch(abs(int(draw))), dtype=np.int64)

    length = len(order(0))
    draws = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).take(1)
    indices = draws.map(lambda draw: tf.ensure_shape(
        tf.numpy_function(order, [draw], tf.int64, stateful=False), [length]))
    return indices.unbatch().apply(tf.data.experimental.assert_cardinality(length))

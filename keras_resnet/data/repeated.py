"""Repeated augmentation: each image several times an epoch, the epoch's length kept.

Hoffer et al. 2020 and Berman et al. 2019; the order timm's
``RepeatAugSampler`` (and torchvision's ``RASampler``) gives each of
``num_replicas`` workers: shuffle the image indices, repeat each one
``repeats`` times in place, pad to a multiple of the workers by wrapping,
deal the list out (worker ``r`` takes positions ``r, r + n, r + 2n`` ...), and
keep only as many as one worker's share of a plain epoch rounded down to a
multiple of 256 images in all (timm's ``selected_round=256``; a dataset
smaller than that keeps one worker's share of it). The copies of
an image land on different workers, so each worker augments its copy anew;
the workers' lists are disjoint positions of one list.
tests/test_recipe_ingredients.py compares the indices with timm's sampler.
"""

import math

import numpy as np


def epoch_indices(num_images, *, repeats, rank=0, num_replicas=1, seed=0, epoch=0,
                  permutation=None, selected_round=256):
    """Worker ``rank``'s image indices for one epoch.

    Args:
        num_images: The dataset's size.
        repeats: Copies of each image (the recipe's ``repeated_augmentation``).
        rank, num_replicas: This worker and how many there are.
        seed, epoch: The shuffle's seed (the same on every worker) and epoch.
        permutation: The shuffled order to use instead of drawing one (for
            comparing with another library's draw).
        selected_round: The epoch's length is rounded down to a multiple of
            this many images across all workers (0: no rounding).

    Returns:
        An int64 array of indices.
    """
    if permutation is None:
        permutation = np.random.default_rng([seed, epoch]).permutation(num_images)
    indices = np.repeat(np.asarray(permutation, dtype=np.int64), repeats)
    num_samples = int(math.ceil(num_images * repeats / num_replicas))
    total = num_samples * num_replicas
    padding = total - len(indices)
    if padding > 0:
        indices = np.concatenate([indices, indices[:padding]])
    mine = indices[rank:total:num_replicas]
    if selected_round and num_images >= selected_round:
        selected = int(math.floor(num_images // selected_round * selected_round / num_replicas))
    else:
        selected = int(math.ceil(num_images / num_replicas))
    return mine[:min(selected, num_samples)]


def epoch_length(num_images, *, repeats, num_replicas=1, selected_round=256):
    """Images in one epoch of ``epoch_indices`` over all ``num_replicas`` workers."""
    order = epoch_indices(num_images, repeats=repeats, num_replicas=num_replicas,
                          permutation=np.arange(num_images), selected_round=selected_round)
    return len(order) * num_replicas


def global_order(num_images, *, repeats, num_replicas, batch_size, seed, epoch=0):
    """One epoch's indices for a single input pipeline feeding ``num_replicas`` replicas.

    ``MirroredStrategy`` gives replica ``r`` the ``r``-th slice of each global
    batch; so that replica ``r`` sees worker ``r``'s list of timm's sampler,
    batch ``b`` here is worker 0's ``b``-th per-replica batch, then worker
    1's, and so on. Each image's copies then land on different replicas.
    """
    lists = [
        epoch_indices(num_images, repeats=repeats, rank=rank, num_replicas=num_replicas,
                      seed=seed, epoch=epoch)
        for rank in range(num_replicas)
    ]
    local = batch_size // num_replicas
    batches = min(len(x) for x in lists) // local
    stacked = np.stack([x[: batches * local].reshape(batches, local) for x in lists], axis=1)
    return stacked.reshape(-1)


def order_dataset(num_images, *, repeats, num_replicas=1, batch_size, seed=0,
                  process_index=0, num_processes=1):
    """A ``tf.data.Dataset`` of ``global_order``'s indices, drawn anew each epoch.

    Each iteration of the dataset (each epoch of ``fit``) draws its seed from
    ``tf.data.Dataset.random`` with ``rerandomize_each_iteration``, so the
    order changes from epoch to epoch and repeats from run to run
    (``sharing.order_dataset``). With ``num_processes`` above 1, the indices
    are process ``process_index``'s part of each global batch
    (``sharing.process_part``).
    """
    from keras_resnet.data import sharing

    def order(epoch):
        indices = global_order(num_images, repeats=repeats, num_replicas=num_replicas,
                               batch_size=batch_size, seed=seed, epoch=epoch)
        return sharing.process_part(indices, batch_size=batch_size,
                                    process_index=process_index, num_processes=num_processes)

    return sharing.order_dataset(order, seed=seed)

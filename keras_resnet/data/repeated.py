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

"""MixUp and CutMix on uint8 batches in tf.data, drawn per batch as timm and torchvision do.

A batch is mixed with its own images in another order: each image with its
partner, the batch reversed (timm's ``Mixup``, ``x.flip(0)``) or rolled by
one (torchvision's ``transforms.v2.MixUp`` / ``CutMix``, ``roll(1, 0)``).
MixUp blends whole images, ``lam * x + (1 - lam) * partner``; CutMix pastes
the partner's pixels into a box covering about ``1 - lam`` of the image, and
``lam`` is then corrected to the area actually kept (both libraries do).
The one-hot targets are mixed with the same ``lam``. With both alphas set,
a fair coin picks MixUp or CutMix for each batch (timm's ``switch_prob``
0.5, torchvision's ``RandomChoice``); ``lam`` is drawn from
``Beta(alpha, alpha)``.

The batches stay uint8 on their way to the device (a quarter of float32's
bytes): CutMix copies pixels exactly, and MixUp's blend is rounded to the
nearest level, at most half a level (0.2% of the range) from the float
blend, while the targets carry the exact ``lam``. Label smoothing is affine
in the targets, so smoothing the mixed targets in the loss (Keras's
``label_smoothing``) equals timm's smoothing before mixing.
tests/test_recipe_ingredients.py compares each piece with timm and
torchvision, and the draw with Beta(alpha, alpha).
"""

import tensorflow as tf

#: Which image each image is mixed with: timm's order and torchvision's.
PARTNERS = ("flip", "roll")


def partner(x, convention):
    """The batch in partner order: reversed (timm's) or rolled by one (torchvision's)."""
    if convention == "flip":
        return tf.reverse(x, [0])
    if convention == "roll":
        return tf.roll(x, 1, axis=0)
    raise ValueError(
        f"`convention` should be one of {PARTNERS}. Received: convention={convention!r}"
    )


def cut_box(height, width, lam, center_y, center_x, convention="flip"):
    """The CutMix box ``(y0, y1, x0, x1)`` (ends exclusive, float32) for ``lam`` and a centre.

    timm (``convention="flip"``, ``rand_bbox``): sides ``int(side *
    sqrt(1 - lam))``, half (rounded down) before the centre and the rest
    after it. torchvision (``"roll"``): half-sides ``int(0.5 * sqrt(1 - lam) *
    side)``. Both clip the box to the image.
    """
    ratio = tf.sqrt(1.0 - tf.cast(lam, tf.float32))
    center_y = tf.cast(center_y, tf.float32)
    center_x = tf.cast(center_x, tf.float32)
    if convention == "flip":
        cut_h, cut_w = tf.floor(height * ratio), tf.floor(width * ratio)
        before_h, after_h = tf.floor(cut_h / 2), tf.floor((cut_h + 1) / 2)
        before_w, after_w = tf.floor(cut_w / 2), tf.floor((cut_w + 1) / 2)
    else:
        before_h = after_h = tf.floor(0.5 * ratio * height)
        before_w = after_w = tf.floor(0.5 * ratio * width)
    clip = tf.clip_by_value
    return (
        clip(center_y - before_h, 0.0, float(height)),
        clip(center_y + after_h, 0.0, float(height)),
        clip(center_x - before_w, 0.0, float(width)),
        clip(center_x + after_w, 0.0, float(width)),
    )


def mix(images, targets, lam, *, box=None, convention="flip"):
    """Mixes a batch with its partner: MixUp with ``lam``, or CutMix inside ``box``.

    Args:
        images: ``(N, H, W, C)`` batch, float or uint8 (MixUp's blend is
            then rounded back to uint8).
        targets: One-hot (or already smoothed) targets, ``(N, K)``.
        lam: The weight of each image's own content; for CutMix it is
            recomputed from the box.
        box: ``cut_box``'s ``(y0, y1, x0, x1)`` for CutMix; None for MixUp.
        convention: ``"flip"`` (timm) or ``"roll"`` (torchvision).

    Returns:
        ``(mixed_images, mixed_targets, lam)``.
    """
    other = partner(images, convention)
    if box is None:
        lam = tf.cast(lam, tf.float32)
        blend = tf.cast(images, tf.float32) * lam + tf.cast(other, tf.float32) * (1.0 - lam)
        if images.dtype == tf.uint8:
            blend = tf.round(tf.clip_by_value(blend, 0.0, 255.0))
        mixed = tf.cast(blend, images.dtype)
    else:
        height, width = images.shape[1], images.shape[2]
        y0, y1, x0, x1 = box
        rows = tf.range(height, dtype=tf.float32)
        cols = tf.range(width, dtype=tf.float32)
        inside = tf.logical_and(
            tf.logical_and(rows >= y0, rows < y1)[:, None],
            tf.logical_and(cols >= x0, cols < x1)[None, :],
        )
        mixed = tf.where(inside[None, :, :, None], other, images)
        lam = 1.0 - (y1 - y0) * (x1 - x0) / float(height * width)
    lam_t = tf.cast(lam, targets.dtype)
    mixed_targets = targets * lam_t + partner(targets, convention) * (1.0 - lam_t)
    return mixed, mixed_targets, lam


def draw(seed, height, width, *, mixup_alpha, cutmix_alpha, switch_prob=0.5,
         convention="flip"):
    """One batch's draw, as timm's ``Mixup`` makes it: ``(use_cutmix, lam, box)``.

    With both alphas set a coin picks CutMix with ``switch_prob``; ``lam ~
    Beta(alpha, alpha)`` of the chosen method (the ratio of two Gamma(alpha)
    draws); CutMix's centre is uniform over the image, and ``box`` is
    ``cut_box``'s (computed either way; MixUp ignores it).

    Args:
        seed: A stateless seed, shape ``(2,)``.
        height, width: The images' size.
        mixup_alpha, cutmix_alpha: The recipe's; 0 or None turns one off.
        switch_prob: The probability of CutMix when both are on.
        convention: ``"flip"`` (timm) or ``"roll"`` (torchvision).
    """
    if not (mixup_alpha or cutmix_alpha):
        raise ValueError(
            "MixUp or CutMix needs an alpha above 0. "
            f"Received: mixup_alpha={mixup_alpha!r}, cutmix_alpha={cutmix_alpha!r}"
        )
    seeds = tf.random.experimental.stateless_split(seed, 4)
    if cutmix_alpha and mixup_alpha:
        use_cutmix = tf.random.stateless_uniform([], seeds[0]) < switch_prob
    else:
        use_cutmix = tf.constant(bool(cutmix_alpha))
    alpha = tf.where(use_cutmix, float(cutmix_alpha or 1.0), float(mixup_alpha or 1.0))
    gammas = tf.random.stateless_gamma([2], seeds[1], alpha)
    lam = gammas[0] / (gammas[0] + gammas[1])
    center_y = tf.random.stateless_uniform([], seeds[2], 0, height, tf.int32)
    center_x = tf.random.stateless_uniform([], seeds[3], 0, width, tf.int32)
    return use_cutmix, lam, cut_box(height, width, lam, center_y, center_x, convention)


def mix_batch(images, targets, seed, *, mixup_alpha, cutmix_alpha, switch_prob=0.5,
              convention="flip"):
    """MixUp or CutMix on one batch, drawn with ``seed``: ``(images, targets)`` for tf.data.

    ``images`` is ``(N, H, W, C)`` of static height and width (uint8 stays
    uint8); ``targets`` one-hot floats. See ``draw`` and ``mix``.
    """
    use_cutmix, lam, box = draw(
        seed, images.shape[1], images.shape[2], mixup_alpha=mixup_alpha,
        cutmix_alpha=cutmix_alpha, switch_prob=switch_prob, convention=convention,
    )
    return tf.cond(
        use_cutmix,
        lambda: mix(images, targets, lam, box=box, convention=convention)[:2],
        lambda: mix(images, targets, lam, convention=convention)[:2],
    )

"""MixUp and CutMix on the device, and the binary cross-entropy that RSB trains with.

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

Label smoothing is affine in the targets, so smoothing the mixed one-hot
targets in the loss (Keras's ``label_smoothing``) equals timm's smoothing
before mixing. ``BinaryCrossEntropy`` is timm's: targets at or above nothing
but ``target_threshold`` become 1, then the mean sigmoid cross-entropy over
every class. tests/test_recipe_ingredients.py compares each piece with timm
and torchvision.
"""

import keras
from keras import ops

#: Which image each image is mixed with.
PARTNERS = ("flip", "roll")


def partner(x, convention):
    """The batch in partner order: reversed (timm's) or rolled by one (torchvision's)."""
    if convention == "flip":
        return ops.flip(x, axis=0)
    if convention == "roll":
        return ops.roll(x, 1, axis=0)
    raise ValueError(
        f"`convention` should be one of {PARTNERS}. Received: convention={convention!r}"
    )


def cut_box(height, width, lam, center_y, center_x, convention="flip"):
    """The CutMix box ``(y0, y1, x0, x1)`` (ends exclusive) for ``lam`` and a centre.

    timm (``convention="flip"``, ``rand_bbox``): sides ``int(side *
    sqrt(1 - lam))``, half (rounded down) before the centre and the rest
    after it. torchvision (``"roll"``): half-sides ``int(0.5 * sqrt(1 - lam) *
    side)``. Both clip the box to the image.
    """
    ratio = ops.sqrt(1.0 - ops.cast(lam, "float32"))
    center_y = ops.cast(center_y, "float32")
    center_x = ops.cast(center_x, "float32")
    if convention == "flip":
        cut_h, cut_w = ops.floor(height * ratio), ops.floor(width * ratio)
        before_h, after_h = ops.floor(cut_h / 2), ops.floor((cut_h + 1) / 2)
        before_w, after_w = ops.floor(cut_w / 2), ops.floor((cut_w + 1) / 2)
    else:
        before_h = after_h = ops.floor(0.5 * ratio * height)
        before_w = after_w = ops.floor(0.5 * ratio * width)
    y0 = ops.clip(center_y - before_h, 0, height)
    y1 = ops.clip(center_y + after_h, 0, height)
    x0 = ops.clip(center_x - before_w, 0, width)
    x1 = ops.clip(center_x + after_w, 0, width)
    return y0, y1, x0, x1


def mix(images, targets, lam, *, box=None, convention="flip", channels_last=True):
    """Mixes a batch with its partner: MixUp with ``lam``, or CutMix inside ``box``.

    Args:
        images: Float batch, ``(N, H, W, C)`` (or ``(N, C, H, W)``).
        targets: One-hot (or already smoothed) targets, ``(N, K)``.
        lam: The weight of each image's own content; for CutMix it is
            recomputed from the box.
        box: ``cut_box``'s ``(y0, y1, x0, x1)`` for CutMix; None for MixUp.
        convention: ``"flip"`` (timm) or ``"roll"`` (torchvision).
        channels_last: The images' layout.

    Returns:
        ``(mixed_images, mixed_targets, lam)``.
    """
    other = partner(images, convention)
    if box is None:
        lam = ops.cast(lam, images.dtype)
        mixed = images * lam + other * (1.0 - lam)
    else:
        height, width = (images.shape[1], images.shape[2]) if channels_last else (
            images.shape[2], images.shape[3])
        y0, y1, x0, x1 = box
        rows = ops.arange(height, dtype="float32")
        cols = ops.arange(width, dtype="float32")
        inside = ops.logical_and(
            ops.logical_and(rows >= y0, rows < y1)[:, None],
            ops.logical_and(cols >= x0, cols < x1)[None, :],
        )
        inside = inside[None, :, :, None] if channels_last else inside[None, None, :, :]
        mixed = ops.where(inside, other, images)
        lam = 1.0 - (y1 - y0) * (x1 - x0) / float(height * width)
    lam_t = ops.cast(lam, targets.dtype)
    mixed_targets = targets * lam_t + partner(targets, convention) * (1.0 - lam_t)
    return mixed, mixed_targets, lam


def sample(rng, height, width, *, mixup_alpha, cutmix_alpha, switch_prob=0.5,
           convention="flip"):
    """One batch's draw, on the host as timm's ``Mixup`` draws: ``(lam, box)``.

    With both alphas set a coin picks CutMix with ``switch_prob``; ``lam ~
    Beta(alpha, alpha)`` of the chosen method; CutMix's centre is uniform
    over the image and ``box`` is ``cut_box``'s (None for MixUp).

    Args:
        rng: A ``numpy.random.Generator``.
        height, width: The images' size.
        mixup_alpha, cutmix_alpha: The recipe's; 0 or None turns one off.
        switch_prob: The probability of CutMix when both are on.
        convention: ``"flip"`` (timm) or ``"roll"`` (torchvision).
    """
    use_cutmix = bool(cutmix_alpha) and (not mixup_alpha or rng.random() < switch_prob)
    alpha = cutmix_alpha if use_cutmix else mixup_alpha
    lam = float(rng.beta(alpha, alpha))
    if not use_cutmix:
        return lam, None
    center_y, center_x = int(rng.integers(0, height)), int(rng.integers(0, width))
    box = cut_box(height, width, lam, center_y, center_x, convention)
    return lam, tuple(float(ops.convert_to_numpy(v)) for v in box)


@keras.saving.register_keras_serializable(package="keras_resnet")
class BinaryCrossEntropy(keras.losses.Loss):
    """timm's ``BinaryCrossEntropy`` for mixed targets, on logits.

    Targets are smoothed (``smoothing / K`` off, ``1 - smoothing + smoothing
    / K`` on, as timm's ``mixup_target``), then every target above
    ``target_threshold`` becomes 1 and the rest 0 (RSB's 0.2: both images of
    a mix count as present), and the loss is the mean sigmoid cross-entropy
    over the batch and every class.
    """

    def __init__(self, target_threshold=None, smoothing=0.0, name="binary_cross_entropy",
                 **kwargs):
        super().__init__(name=name, **kwargs)
        self.target_threshold = target_threshold
        self.smoothing = float(smoothing)

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, y_pred.dtype)
        classes = y_pred.shape[-1]
        if self.smoothing:
            y_true = y_true * (1.0 - self.smoothing) + self.smoothing / classes
        if self.target_threshold is not None:
            y_true = ops.cast(y_true > self.target_threshold, y_pred.dtype)
        losses = ops.maximum(y_pred, 0) - y_pred * y_true + ops.log1p(ops.exp(-ops.abs(y_pred)))
        return ops.mean(losses, axis=-1)

    def get_config(self):
        return {**super().get_config(), "target_threshold": self.target_threshold,
                "smoothing": self.smoothing}

"""The binary cross-entropy that "ResNet strikes back" trains with, for mixed targets.

timm's ``BinaryCrossEntropy``: the targets (MixUp/CutMix's soft ones,
``keras_resnet.data.mixing``) are smoothed, every target above
``target_threshold`` becomes 1 and the rest 0 (RSB's 0.2: both images of a
mix count as present), and the loss is the mean sigmoid cross-entropy over
every class. Keras's ``BinaryCrossentropy`` has no threshold, hence this
class. tests/test_recipe_ingredients.py compares it with timm's.
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_resnet")
class BinaryCrossEntropy(keras.losses.Loss):
    """timm's ``BinaryCrossEntropy`` for mixed targets, on logits.

    Targets are smoothed (``smoothing / K`` off, ``1 - smoothing + smoothing
    / K`` on, as timm's ``mixup_target``), then thresholded, then the loss is
    the mean over the classes of ``max(z, 0) - z * t + log(1 + exp(-|z|))``.

    Args:
        target_threshold: Targets above it become 1, the others 0; None
            keeps the soft targets.
        smoothing: Label smoothing applied first.
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

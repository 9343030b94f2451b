"""The two layers the paper's variants need that Keras does not ship.

Both are registered under the ``keras_resnet`` package, so a ``.keras`` file
that contains them loads with ``keras.saving.load_model`` in safe mode without
``custom_objects`` (once ``keras_resnet`` is imported).
"""

import keras
from keras import ops


def is_probability(value):
    """Whether ``value`` is a number in (0, 1] (a survival probability), not a bool."""
    return (
        not isinstance(value, bool) and isinstance(value, (int, float)) and 0.0 < value <= 1.0
    )


@keras.saving.register_keras_serializable(package="keras_resnet")
class StochasticDepth(keras.layers.Layer):
    """Drops a residual branch at random while training (Huang et al., 2016).

    The paper's form, not the "inverted" one: during training the branch is
    kept with probability ``survival_prob`` and passed on unscaled, or
    replaced by zeros; at inference it is always kept and multiplied by
    ``survival_prob``, its expected value during training. The layer goes on
    the residual branch only, just before the ``Add``, so a dropped block
    reduces to its shortcut.

    Huang et al. draw one coin per mini-batch (the whole block is on or off
    for the batch); ``per_sample=True`` draws one per example instead, as
    timm's ``drop_path`` does, which gives a less noisy gradient.
    ``inverted=True`` is timm's form: a kept branch is divided by
    ``survival_prob`` during training and left alone at inference, so the
    trained weights are those of a network without the layer (timm's
    checkpoints load into it and give timm's outputs).

    Args:
        survival_prob: Probability ``p_l`` of keeping the branch, in (0, 1].
        per_sample: One coin per example instead of one per batch.
        inverted: timm's scaling (at training) instead of Huang et al.'s
            (at inference).
        seed: Optional integer seed of the layer's random generator.
        **kwargs: Base ``Layer`` arguments (``name``, ``dtype``...).

    Example:
        >>> drop = StochasticDepth(0.8)
        >>> y = drop(branch, training=True)  # all zeros 20% of the time
    """

    def __init__(self, survival_prob, *, per_sample=False, inverted=False, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not is_probability(survival_prob):
            raise ValueError(
                "`survival_prob` must be a number in (0, 1]. "
                f"Received: survival_prob={survival_prob!r}"
            )
        self.survival_prob = float(survival_prob)
        self.per_sample = bool(per_sample)
        self.inverted = bool(inverted)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def call(self, inputs, training=False):
        if not training:
            if self.inverted:
                return inputs
            return inputs * ops.cast(self.survival_prob, inputs.dtype)
        if self.survival_prob == 1.0:
            return inputs
        if self.per_sample:
            shape = (ops.shape(inputs)[0],) + (1,) * (len(inputs.shape) - 1)
        else:
            shape = (1,) * len(inputs.shape)
        coin = keras.random.uniform(shape, seed=self.seed_generator, dtype=inputs.dtype)
        keep = ops.cast(coin < self.survival_prob, inputs.dtype)
        if self.inverted:
            keep = keep / ops.cast(self.survival_prob, inputs.dtype)
        return inputs * keep

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            survival_prob=self.survival_prob, per_sample=self.per_sample, seed=self.seed
        )
        if self.inverted:
            config["inverted"] = True
        return config


@keras.saving.register_keras_serializable(package="keras_resnet")
class ZeroPadShortcut(keras.layers.Layer):
    """The paper's option A shortcut: strided identity, zero-padded channels.

    Parameter-free: the input is subsampled by ``strides`` (every
    ``strides``-th pixel, like a 1x1 convolution with that stride would
    see) and the missing output channels are filled with zeros, appended
    after the input channels.

    Args:
        filters: Number of output channels, at least the input's.
        strides: Subsampling factor of both spatial axes.
        data_format: ``"channels_last"`` or ``"channels_first"``; defaults to
            the global image data format.
        **kwargs: Base ``Layer`` arguments.
    """

    def __init__(self, filters, strides=1, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.strides = int(strides)
        self.data_format = data_format or keras.config.image_data_format()

    def _channel_axis(self):
        return 1 if self.data_format == "channels_first" else 3

    def build(self, input_shape):
        channels = input_shape[self._channel_axis()]
        if channels is not None and channels > self.filters:
            raise ValueError(
                "`filters` must be at least the number of input channels. "
                f"Received: filters={self.filters}, input channels={channels}"
            )

    def call(self, inputs):
        x = inputs
        if self.strides > 1:
            # A 1x1 max-pool with a stride is strided subsampling.
            x = ops.max_pool(
                x, 1, strides=self.strides, padding="valid", data_format=self.data_format
            )
        extra = self.filters - x.shape[self._channel_axis()]
        if extra:
            pad = [[0, 0]] * 4
            pad[self._channel_axis()] = [0, extra]
            x = ops.pad(x, pad)
        return x

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        spatial = (2, 3) if self.data_format == "channels_first" else (1, 2)
        for axis in spatial:
            if shape[axis] is not None:
                shape[axis] = (shape[axis] - 1) // self.strides + 1
        shape[self._channel_axis()] = self.filters
        return tuple(shape)

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, strides=self.strides, data_format=self.data_format)
        return config

"""Channel attention on a residual branch: squeeze-and-excitation and ECA.

A block with attention rescales each channel of its residual branch, after
the branch's last BatchNorm and before the addition, by a gate computed from
the branch's global average:

* ``"se"``, squeeze-and-excitation (Hu et al. 2018): two 1x1 convolutions
  with biases, ReLU between them, through ``C * ratio`` channels rounded as
  timm rounds them (``reduced_channels``); a sigmoid gate. SE-ResNet and
  SE-ResNeXt use ``ratio=1/16``, ResNet-RS ``ratio=1/4``.
* ``"eca"``, efficient channel attention (Wang et al. 2020): one bias-free
  1-D convolution across the channel axis, its kernel size growing with
  log2 of the channels (``eca_kernel_size``); a sigmoid gate.

Both are built as timm builds them (``timm.layers.SEModule`` and
``EcaModule``, as its ``ResNet`` creates them), so that its checkpoints give
its outputs. Layer names: ``{block}_se_reduce`` and ``{block}_se_expand``
(timm's ``se.fc1``, ``se.fc2``), ``{block}_eca_conv`` (timm's ``se.conv``).

References:
    Hu, Shen, Sun. Squeeze-and-Excitation Networks. 2018.
    Wang, Wu, Zhu, Li, Zuo, Hu. ECA-Net: Efficient Channel Attention for
    Deep Convolutional Neural Networks. 2020.
    Bello, Fedus, Du, Cubuk, Srinivas, Lin, Shlens, Zoph. Revisiting
    ResNets: Improved Training and Scaling Strategies. 2021 (ResNet-RS).
"""

import math

from keras import layers

from keras_resnet.architectures import residual


def reduced_channels(channels, ratio, divisor=8):
    """The hidden width of squeeze-and-excitation, rounded as timm rounds it.

    timm's ``make_divisible(channels * ratio, divisor, round_limit=0)``: the
    nearest multiple of ``divisor``, at least ``divisor``.
    """
    return max(divisor, int(channels * ratio + divisor / 2) // divisor * divisor)


def eca_kernel_size(channels, gamma=2, beta=1):
    """ECA's kernel size for ``channels``: ``|log2(C) + beta| / gamma``, made odd, at least 3."""
    t = int(abs(math.log(channels, 2) + beta) / gamma)
    return max(t if t % 2 else t + 1, 3)


def squeeze_excite(x, name, *, ratio=residual.SE_RATIO):
    """Squeeze-and-excitation of ``x``: ``x`` times a per-channel sigmoid gate."""
    channels = residual.channels(x)
    s = layers.GlobalAveragePooling2D(keepdims=True, name=name + "_se_squeeze")(x)
    s = layers.Conv2D(reduced_channels(channels, ratio), 1, name=name + "_se_reduce")(s)
    s = layers.Activation("relu", name=name + "_se_relu")(s)
    s = layers.Conv2D(channels, 1, activation="sigmoid", name=name + "_se_expand")(s)
    return layers.Multiply(name=name + "_se_excite")([x, s])


def efficient_channel_attention(x, name):
    """ECA of ``x``: a 1-D convolution over the pooled channels, a sigmoid gate."""
    axis = residual.channel_axis()
    channels = residual.channels(x)
    s = layers.GlobalAveragePooling2D(name=name + "_eca_squeeze")(x)
    # The channels as a sequence of one feature, whatever the image format.
    s = layers.Reshape((channels, 1), name=name + "_eca_sequence")(s)
    s = layers.Conv1D(
        1,
        eca_kernel_size(channels),
        padding="same",
        use_bias=False,
        activation="sigmoid",
        data_format="channels_last",
        name=name + "_eca_conv",
    )(s)
    gate_shape = (1, 1, channels) if axis == 3 else (channels, 1, 1)
    s = layers.Reshape(gate_shape, name=name + "_eca_gate")(s)
    return layers.Multiply(name=name + "_eca_excite")([x, s])


def apply(x, options, name):
    """The attention ``options`` asks for on a residual branch, or ``x`` unchanged."""
    if options.attention == "se":
        return squeeze_excite(x, name, ratio=options.attention_ratio)
    if options.attention == "eca":
        return efficient_channel_attention(x, name)
    return x

"""The grouped bottleneck: Keras's ``block3`` / ``stack3``.

The ResNeXt block of Xie et al. 2017 (a grouped 3x3 convolution between two
1x1 convolutions), in Keras's layer names and order so that Keras's ResNeXt
files load unchanged. With ``groups=1`` and ``out_filters`` it is also the
bottleneck of torchvision's and timm's layouts (the stride on the 3x3,
"ResNet-B"), which the depth table builds through it. ``blocks`` re-exports
both functions, their public home.
"""

from keras import layers

from keras_resnet.architectures import attention, residual
from keras_resnet.architectures.residual import DEFAULT_OPTIONS


def block3(
    x,
    filters,
    kernel_size=3,
    stride=1,
    groups=32,
    conv_shortcut=True,
    name=None,
    *,
    options=DEFAULT_OPTIONS,
    survival_prob=1.0,
    out_filters=None,
    dilation=1,
    first_dilation=None,
):
    """The ResNeXt bottleneck block: a grouped 3x3 between two 1x1 convs.

    keras-applications' design and names: the block outputs
    ``(64 // groups) * filters`` channels and no convolution has a bias. The
    grouped convolution is one ``Conv2D(groups=groups)`` layer; legacy files
    that stored it as a depthwise convolution plus a summing 1x1 convolution
    are converted when they are loaded.

    With ``groups=1`` and ``out_filters=4 * filters`` it is torchvision's
    ``Bottleneck`` (the "ResNet-B" of He et al. 2018: the stride on the 3x3
    convolution); torchvision's wide and ResNeXt networks are the same block
    with a wider or grouped middle convolution and ``out_filters`` set.

    Args:
        x: Input tensor.
        filters: Width of the grouped convolution.
        kernel_size: Kernel size of the grouped convolution.
        stride: Stride of the grouped convolution (and of the shortcut).
        groups: Number of groups (the "cardinality").
        conv_shortcut: Use a 1x1 projection shortcut if True, identity if False.
        name: Block label, prefix of every layer name.
        options: A ``BlockOptions``; the default builds Keras's block.
        survival_prob: Stochastic-depth survival probability of the
            residual branch; 1.0 adds no layer.
        dilation: The dilation rate of the block's stage, 1 unless its
            stride was given up for an output stride under 32; the middle
            convolution's unless ``first_dilation`` is given.
        first_dilation: The middle convolution's dilation rate, None for
            ``dilation``: the first block of a dilated stage keeps the
            previous stage's rate (torchvision's ``previous_dilation``,
            timm's ``first_dilation``).
        out_filters: Output channels of the block; None for Keras's
            ``(64 // groups) * filters``.

    Returns:
        Output tensor of the block.
    """
    if filters % groups:
        raise ValueError(
            f"`filters` must be divisible by `groups`. Received: "
            f"filters={filters}, groups={groups}"
        )
    out_channels = out_filters or (64 // groups) * filters
    rate = first_dilation or dilation

    def project():
        source, conv_stride = residual.projection_input(x, stride, options, name, dilation)
        shortcut = layers.Conv2D(
            out_channels, 1, strides=conv_stride, use_bias=False, name=name + "_0_conv"
        )(source)
        return residual.batch_norm(name + "_0_bn", epsilon=options.bn_epsilon)(shortcut)

    shortcut = residual.shortcut_branch(
        x, out_channels, stride, conv_shortcut, options, name, project
    )

    x = layers.Conv2D(filters, 1, use_bias=False, name=name + "_1_conv")(x)
    x = residual.batch_norm(name + "_1_bn", epsilon=options.bn_epsilon)(x)
    x = layers.Activation("relu", name=name + "_1_relu")(x)

    # PyTorch's padding=dilation: the same size out as in at stride 1.
    x = layers.ZeroPadding2D(padding=((rate, rate), (rate, rate)), name=name + "_2_pad")(x)
    x = layers.Conv2D(
        filters,
        kernel_size,
        strides=stride,
        dilation_rate=rate,
        groups=groups,
        use_bias=False,
        name=name + "_2_conv",
    )(x)
    x = residual.batch_norm(name + "_2_bn", epsilon=options.bn_epsilon)(x)
    x = layers.Activation("relu", name=name + "_2_relu")(x)

    x = layers.Conv2D(out_channels, 1, use_bias=False, name=name + "_3_conv")(x)
    x = residual.batch_norm(name + "_3_bn", options.zero_init_gamma, options.bn_epsilon)(x)
    x = attention.apply(x, options, name)

    x = residual.merge(shortcut, x, name, survival_prob, name + "_add")
    return layers.Activation("relu", name=name + "_out")(x)


def stack3(
    x,
    filters,
    blocks,
    stride1=2,
    groups=32,
    name=None,
    *,
    options=DEFAULT_OPTIONS,
    survival_probs=None,
    out_filters=None,
    dilation=1,
    first_dilation=None,
):
    """A stage of ResNeXt blocks; the first one projects and strides.

    Args:
        x: Input tensor.
        filters: Grouped-convolution width of every block in the stage.
        blocks: Number of blocks.
        stride1: Stride of the first block.
        groups: Number of groups of each grouped convolution.
        name: Stage label (``conv2`` ... ``conv5``).
        options: A ``BlockOptions`` for every block of the stage.
        survival_probs: One stochastic-depth survival probability per
            block, or None for none.
        dilation: Dilation rate of the stage's middle convolutions (1 unless
            the stage gave up its stride for a smaller output stride).
        first_dilation: The first block's rate, the previous stage's; None
            for ``dilation``.
        out_filters: Output channels of every block; None for Keras's rule.

    Returns:
        Output tensor of the stage.
    """
    probs = residual.check_survival_probs(survival_probs, blocks)
    kw = dict(groups=groups, options=options, out_filters=out_filters, dilation=dilation)
    x = block3(
        x,
        filters,
        stride=stride1,
        name=name + "_block1",
        survival_prob=probs[0],
        first_dilation=first_dilation,
        **kw,
    )
    for i in range(2, blocks + 1):
        x = block3(
            x,
            filters,
            conv_shortcut=False,
            name=f"{name}_block{i}",
            survival_prob=probs[i - 1],
            **kw,
        )
    return x

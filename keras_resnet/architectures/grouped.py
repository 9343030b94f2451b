"""The grouped bottleneck: Keras's ``block3`` / ``stack3``.

The ResNeXt block of Xie et al. 2017 (a grouped 3x3 convolution between two
1x1 convolutions), in Keras's layer names and order so that Keras's ResNeXt
files load unchanged. With ``groups=1`` and ``out_filters`` it is also the
bottleneck of torchvision's and timm's layouts (the stride on the 3x3,
"ResNet-B"), which the depth table builds through it. ``blocks`` re-exports
both functions, their public home.
"""

from keras_resnet.architectures import branch
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
        options, survival_prob, dilation, first_dilation: Every block's
            (``branch``'s module docstring).
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
    shortcut = branch.shortcut(
        x, out_channels, stride, conv_shortcut, options, name, dilation=dilation, use_bias=False
    )
    x = branch.conv_bn_relu(x, filters, 1, name + "_1", options, use_bias=False)
    # PyTorch's padding=dilation: the same size out as in at stride 1.
    x = branch.conv_bn_relu(
        x, filters, kernel_size, name + "_2", options, pad=rate, strides=stride,
        dilation_rate=rate, groups=groups, use_bias=False,
    )
    x = branch.conv_bn_relu(x, out_channels, 1, name + "_3", options, last=True, use_bias=False)
    return branch.close(x, shortcut, name + "_3_bn", options, name, survival_prob)


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
        options, survival_probs, dilation, first_dilation: Every stack's
            (``branch``'s module docstring).
        out_filters: Output channels of every block; None for Keras's rule.

    Returns:
        Output tensor of the stage.
    """
    return branch.repeat(
        block3, x, filters, blocks, stride1, name, survival_probs, first_dilation=first_dilation,
        groups=groups, options=options, out_filters=out_filters, dilation=dilation,
    )

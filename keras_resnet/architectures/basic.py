"""The paper's basic block: two 3x3 convolutions, for ResNet-18/34 and the CIFAR networks.

He et al. 2015, Figure 2 (left). Layer names follow the bottleneck blocks'
scheme (``conv2_block1_1_conv`` ...); ``blocks`` re-exports these functions
beside keras.applications' ``block1/2/3``.
"""

from keras import layers

from keras_resnet.architectures import attention, residual
from keras_resnet.architectures.residual import DEFAULT_OPTIONS


def basic_block(
    x,
    filters,
    kernel_size=3,
    stride=1,
    conv_shortcut=None,
    name=None,
    *,
    options=DEFAULT_OPTIONS,
    survival_prob=1.0,
    dilation=1,
    first_dilation=None,
):
    """The two-convolution residual block of ResNet-18/34 (the paper's Fig. 2).

    As in the paper and torchvision: no convolution bias (BN follows each
    convolution), the stride on the first 3x3 convolution, and explicit
    symmetric padding so that strided outputs line up with torchvision's.

    Args:
        x: Input tensor.
        filters: Output channels of both convolutions.
        kernel_size: Kernel size of both convolutions.
        stride: Stride of the first convolution (and of the shortcut).
        conv_shortcut: Use a 1x1 projection shortcut if True, identity if
            False; ``None`` (the default) projects only when the shape changes
            (the paper's option B).
        name: Block label, prefix of every layer name.
        options: A ``BlockOptions``; the default is the paper's option B.
        survival_prob: Stochastic-depth survival probability of the
            residual branch; 1.0 adds no layer.
        dilation: Dilation of the second convolution: the rate of the
            block's stage in a network of output stride under 32 (timm's
            ``dilation``); 1 for the paper's block.
        first_dilation: Dilation of the first convolution; None for
            ``dilation``. The first block of a dilated stage keeps the rate
            of the stage before (timm's ``first_dilation``).

    Returns:
        Output tensor of the block.
    """
    first_dilation = first_dilation or dilation
    # PyTorch's padding=dilation * (k // 2): the output keeps the input's size.
    pad = kernel_size // 2

    def project():
        source, conv_stride = residual.projection_input(x, stride, options, name, dilation)
        shortcut = layers.Conv2D(
            filters, 1, strides=conv_stride, use_bias=False, name=name + "_0_conv"
        )(source)
        return residual.batch_norm(name + "_0_bn", epsilon=options.bn_epsilon)(shortcut)

    shortcut = residual.shortcut_branch(
        x, filters, stride, conv_shortcut, options, name, project
    )

    x = layers.ZeroPadding2D(padding=pad * first_dilation, name=name + "_1_pad")(x)
    x = layers.Conv2D(
        filters,
        kernel_size,
        strides=stride,
        dilation_rate=first_dilation,
        use_bias=False,
        name=name + "_1_conv",
    )(x)
    x = residual.batch_norm(name + "_1_bn", epsilon=options.bn_epsilon)(x)
    x = layers.Activation("relu", name=name + "_1_relu")(x)

    x = layers.ZeroPadding2D(padding=pad * dilation, name=name + "_2_pad")(x)
    x = layers.Conv2D(
        filters, kernel_size, dilation_rate=dilation, use_bias=False, name=name + "_2_conv"
    )(x)
    x = residual.batch_norm(name + "_2_bn", options.zero_init_gamma, options.bn_epsilon)(x)
    x = attention.apply(x, options, name)

    x = residual.merge(shortcut, x, name, survival_prob, name + "_add")
    return layers.Activation("relu", name=name + "_out")(x)


def basic_stack(
    x,
    filters,
    blocks,
    stride1=2,
    name=None,
    *,
    options=DEFAULT_OPTIONS,
    survival_probs=None,
    dilation=1,
    first_dilation=None,
):
    """A stage of basic blocks; the first one strides (and projects if needed).

    Args:
        x: Input tensor.
        filters: Output channels of every block in the stage.
        blocks: Number of blocks.
        stride1: Stride of the first block.
        name: Stage label (``conv2`` ... ``conv5``).
        options: A ``BlockOptions`` for every block of the stage.
        survival_probs: One stochastic-depth survival probability per
            block, or None for none.
        dilation: Dilation of the stage's convolutions (1 unless the stride
            was given up for a smaller output stride).
        first_dilation: Dilation of the first block's first convolution,
            the previous stage's; None for ``dilation``.

    Returns:
        Output tensor of the stage.
    """
    probs = residual.check_survival_probs(survival_probs, blocks)
    for i in range(1, blocks + 1):
        x = basic_block(
            x,
            filters,
            stride=stride1 if i == 1 else 1,
            name=f"{name}_block{i}",
            options=options,
            survival_prob=probs[i - 1],
            dilation=dilation,
            first_dilation=first_dilation if i == 1 else None,
        )
    return x

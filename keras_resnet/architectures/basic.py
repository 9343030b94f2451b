"""The paper's basic block: two 3x3 convolutions, for ResNet-18/34 and the CIFAR networks.

He et al. 2015, Figure 2 (left). Layer names follow the bottleneck blocks'
scheme (``conv2_block1_1_conv`` ...); ``blocks`` re-exports these functions
beside keras.applications' ``block1/2/3``.
"""

from keras_resnet.architectures import branch
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
        survival_prob, dilation, first_dilation: Every block's (``branch``'s
            module docstring); ``dilation`` is the second convolution's,
            ``first_dilation`` the first's (timm's names).

    Returns:
        Output tensor of the block.
    """
    # PyTorch's padding=dilation * (k // 2): the output keeps the input's size.
    pad = kernel_size // 2
    rate = first_dilation or dilation
    shortcut = branch.shortcut(
        x, filters, stride, conv_shortcut, options, name, dilation=dilation, use_bias=False
    )
    x = branch.conv_bn_relu(
        x, filters, kernel_size, name + "_1", options, pad=pad * rate, strides=stride,
        dilation_rate=rate, use_bias=False,
    )
    x = branch.conv_bn_relu(
        x, filters, kernel_size, name + "_2", options, pad=pad * dilation, last=True,
        dilation_rate=dilation, use_bias=False,
    )
    return branch.close(x, shortcut, name + "_2_bn", options, name, survival_prob)


basic_stack = branch.stack_of(
    basic_block,
    "basic_stack",
    "A stage of basic blocks; the first one strides (and projects if the shape changes).",
)

"""Residual blocks and the stacks that repeat them.

Every function here takes a Keras tensor and returns one, creating layers as
it goes. Layer names and creation order follow keras.applications exactly
(``conv2_block1_0_conv``, ``_1_bn``, ``_add``, ``_out``...), because weight
files saved by Keras are matched against them.

The Keras names are kept as the public names:

* ``block1`` / ``stack1``: the v1 bottleneck (ResNet-50/101/152), He et al. 2015.
* ``block2`` / ``stack2``: the v2 pre-activation bottleneck, He et al. 2016.
* ``block3`` / ``stack3``: the ResNeXt bottleneck with a grouped 3x3
  convolution, Xie et al. 2017 (defined in ``grouped``, re-exported here).
* ``basic_block`` / ``basic_stack``: the two-convolution block of
  ResNet-18/34 from the paper (defined in ``basic``, re-exported here).

Every block and stack also takes keyword-only ``options`` (a
``residual.BlockOptions``: the shortcut type, zero-initialised last BN gamma,
BatchNorm's epsilon and ResNet-D's average-pool downsampling) and a
per-block ``survival_prob`` for stochastic depth. Their defaults build
exactly the keras.applications layers; the other shortcut and gamma values
add or remove layers and are meant for training from scratch, the epsilon and
pooling ones build torchvision's and timm's layouts (``table``).
"""

from keras import layers

from keras_resnet.architectures import branch, residual
from keras_resnet.architectures.basic import basic_block, basic_stack  # noqa: F401
from keras_resnet.architectures.grouped import block3, stack3  # noqa: F401

# Re-exported: the options and constants users pass to these blocks.
from keras_resnet.architectures.residual import (  # noqa: F401
    BN_EPSILON,
    DEFAULT_OPTIONS,
    SHORTCUTS,
    TORCH_BN_EPSILON,
    BlockOptions,
    channel_axis,
)


def block1(
    x,
    filters,
    kernel_size=3,
    stride=1,
    conv_shortcut=True,
    name=None,
    *,
    options=DEFAULT_OPTIONS,
    survival_prob=1.0,
    dilation=1,
    first_dilation=None,
):
    """The v1 bottleneck block: 1x1 reduce, kxk, 1x1 expand (x4).

    The stride sits on the first 1x1 convolution, as in the Caffe model that
    Keras's weights come from (torchvision's "v1.5" puts it on the 3x3).

    Args:
        x: Input tensor.
        filters: Width of the bottleneck; the block outputs ``4 * filters``.
        kernel_size: Kernel size of the middle convolution.
        stride: Stride of the first layer (and of the projection shortcut).
        conv_shortcut: Use a 1x1 projection shortcut if True, identity if False.
        name: Block label, prefix of every layer name.
        options, survival_prob, dilation, first_dilation: Every block's
            (``branch``'s module docstring).

    Returns:
        Output tensor of the block.
    """
    shortcut = branch.shortcut(
        x, 4 * filters, stride, conv_shortcut, options, name, dilation=dilation
    )
    x = branch.conv_bn_relu(x, filters, 1, name + "_1", options, strides=stride)
    # Stride 1 here: "same" pads the rate on every side, as PyTorch's
    # padding=dilation does.
    x = branch.conv_bn_relu(
        x, filters, kernel_size, name + "_2", options, padding="same",
        dilation_rate=first_dilation or dilation,
    )
    x = branch.conv_bn_relu(x, 4 * filters, 1, name + "_3", options, last=True)
    return branch.close(x, shortcut, name + "_3_bn", options, name, survival_prob)


stack1 = branch.stack_of(
    block1, "stack1", "A stage of v1 bottleneck blocks; the first one projects and strides."
)


def block2(
    x,
    filters,
    kernel_size=3,
    stride=1,
    conv_shortcut=False,
    name=None,
    *,
    options=DEFAULT_OPTIONS,
    survival_prob=1.0,
    dilation=1,
    first_dilation=None,
):
    """The v2 pre-activation bottleneck block (BN and ReLU before each conv).

    Args:
        x: Input tensor.
        filters: Width of the bottleneck; the block outputs ``4 * filters``.
        kernel_size: Kernel size of the middle convolution.
        stride: Stride of the middle convolution (and of the shortcut).
        conv_shortcut: Use a 1x1 projection shortcut if True, identity if False.
        name: Block label, prefix of every layer name.
        options, survival_prob, dilation, first_dilation: Every block's
            (``branch``'s module docstring).

    Returns:
        Output tensor of the block.

    Raises:
        ValueError: For ``options.zero_init_gamma`` or ``options.attention``:
            the branch ends in a convolution, not a BN.
    """
    if options.zero_init_gamma:
        raise ValueError(
            "Pre-activation blocks end their residual branch with a "
            "convolution, not a BN: there is no last gamma to zero. "
            "Received: zero_init_gamma=True"
        )
    if options.attention is not None:
        raise ValueError(
            "Pre-activation blocks end their residual branch with a "
            "convolution, not a BN: channel attention has no place there. "
            f"Received: attention={options.attention!r}"
        )
    preact = residual.batch_norm(name + "_preact_bn", epsilon=options.bn_epsilon)(x)
    preact = layers.Activation("relu", name=name + "_preact_relu")(preact)

    shortcut = branch.shortcut(
        x, 4 * filters, stride, conv_shortcut, options, name, dilation=dilation, source=preact,
        normalize=False,
    )
    if shortcut is x and stride > 1:
        # A 1x1 max-pool is strided subsampling: the identity at a lower
        # resolution. Keras leaves this layer unnamed; so do we, so that
        # the auto-generated names agree too.
        shortcut = layers.MaxPooling2D(1, strides=stride)(x)

    x = branch.conv_bn_relu(preact, filters, 1, name + "_1", options, strides=1, use_bias=False)
    rate = first_dilation or dilation
    x = branch.conv_bn_relu(
        x, filters, kernel_size, name + "_2", options, pad=rate, strides=stride,
        dilation_rate=rate, use_bias=False,
    )
    x = layers.Conv2D(4 * filters, 1, name=name + "_3_conv")(x)
    return residual.merge(shortcut, x, name, survival_prob, name + "_out", options.drop_path)


def stack2(
    x,
    filters,
    blocks,
    stride1=2,
    name=None,
    *,
    options=DEFAULT_OPTIONS,
    survival_probs=None,
    dilation=1,
):
    """A stage of v2 blocks; the first projects, the last one strides.

    Args:
        x: Input tensor.
        filters: Bottleneck width of every block in the stage.
        blocks: Number of blocks.
        stride1: Stride of the last block (Keras's v2 downsamples at the end
            of a stage, not at its start).
        name: Stage label (``conv2`` ... ``conv5``).
        options, survival_probs: Every stack's (``branch``'s module docstring).
        dilation: Dilation rate of every block of the stage, the striding
            last one included: it runs at the stage's resolution. When that
            stride is given up, the stages after it take twice the rate.

    Returns:
        Output tensor of the stage.
    """
    probs = residual.check_survival_probs(survival_probs, blocks)
    kw = dict(options=options, dilation=dilation)
    x = block2(
        x, filters, conv_shortcut=True, name=name + "_block1", survival_prob=probs[0], **kw
    )
    for i in range(2, blocks):
        x = block2(x, filters, name=f"{name}_block{i}", survival_prob=probs[i - 1], **kw)
    return block2(
        x, filters, stride=stride1, name=f"{name}_block{blocks}", survival_prob=probs[-1], **kw
    )


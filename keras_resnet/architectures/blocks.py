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

from keras_resnet.architectures import attention, residual
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

    Returns:
        Output tensor of the block.
    """

    rate = first_dilation or dilation

    def project():
        source, conv_stride = residual.projection_input(x, stride, options, name, dilation)
        shortcut = layers.Conv2D(
            4 * filters, 1, strides=conv_stride, name=name + "_0_conv"
        )(source)
        return residual.batch_norm(name + "_0_bn", epsilon=options.bn_epsilon)(shortcut)

    shortcut = residual.shortcut_branch(
        x, 4 * filters, stride, conv_shortcut, options, name, project
    )

    x = layers.Conv2D(filters, 1, strides=stride, name=name + "_1_conv")(x)
    x = residual.batch_norm(name + "_1_bn", epsilon=options.bn_epsilon)(x)
    x = layers.Activation("relu", name=name + "_1_relu")(x)

    # Stride 1 here: "same" pads ``rate`` on every side, as PyTorch's
    # padding=dilation does.
    x = layers.Conv2D(
        filters, kernel_size, padding="same", dilation_rate=rate, name=name + "_2_conv"
    )(x)
    x = residual.batch_norm(name + "_2_bn", epsilon=options.bn_epsilon)(x)
    x = layers.Activation("relu", name=name + "_2_relu")(x)

    x = layers.Conv2D(4 * filters, 1, name=name + "_3_conv")(x)
    x = residual.batch_norm(name + "_3_bn", options.zero_init_gamma, options.bn_epsilon)(x)
    x = attention.apply(x, options, name)

    x = residual.merge(shortcut, x, name, survival_prob, name + "_add")
    return layers.Activation("relu", name=name + "_out")(x)


def stack1(
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
    """A stage of v1 bottleneck blocks; the first one projects and strides.

    Args:
        x: Input tensor.
        filters: Bottleneck width of every block in the stage.
        blocks: Number of blocks.
        stride1: Stride of the first block.
        name: Stage label (``conv2`` ... ``conv5``).
        options: A ``BlockOptions`` for every block of the stage.
        survival_probs: One stochastic-depth survival probability per
            block, or None for none.
        dilation: Dilation rate of the stage's middle convolutions (1 unless
            the stage gave up its stride for a smaller output stride).
        first_dilation: The first block's rate, the previous stage's; None
            for ``dilation``.

    Returns:
        Output tensor of the stage.
    """
    probs = residual.check_survival_probs(survival_probs, blocks)
    x = block1(
        x,
        filters,
        stride=stride1,
        name=name + "_block1",
        options=options,
        survival_prob=probs[0],
        dilation=dilation,
        first_dilation=first_dilation,
    )
    for i in range(2, blocks + 1):
        x = block1(
            x,
            filters,
            conv_shortcut=False,
            name=f"{name}_block{i}",
            options=options,
            survival_prob=probs[i - 1],
            dilation=dilation,
        )
    return x


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

    rate = first_dilation or dilation

    def project():
        source, conv_stride = residual.projection_input(preact, stride, options, name, dilation)
        return layers.Conv2D(
            4 * filters, 1, strides=conv_stride, name=name + "_0_conv"
        )(source)

    shortcut = residual.shortcut_branch(
        x, 4 * filters, stride, conv_shortcut, options, name, project
    )
    if shortcut is x and stride > 1:
        # A 1x1 max-pool is strided subsampling: the identity at a lower
        # resolution. Keras leaves this layer unnamed; so do we, so that
        # the auto-generated names agree too.
        shortcut = layers.MaxPooling2D(1, strides=stride)(x)

    x = layers.Conv2D(
        filters, 1, strides=1, use_bias=False, name=name + "_1_conv"
    )(preact)
    x = residual.batch_norm(name + "_1_bn", epsilon=options.bn_epsilon)(x)
    x = layers.Activation("relu", name=name + "_1_relu")(x)

    x = layers.ZeroPadding2D(padding=((rate, rate), (rate, rate)), name=name + "_2_pad")(x)
    x = layers.Conv2D(
        filters,
        kernel_size,
        strides=stride,
        dilation_rate=rate,
        use_bias=False,
        name=name + "_2_conv",
    )(x)
    x = residual.batch_norm(name + "_2_bn", epsilon=options.bn_epsilon)(x)
    x = layers.Activation("relu", name=name + "_2_relu")(x)

    x = layers.Conv2D(4 * filters, 1, name=name + "_3_conv")(x)
    return residual.merge(shortcut, x, name, survival_prob, name + "_out")


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
        options: A ``BlockOptions`` for every block of the stage.
        survival_probs: One stochastic-depth survival probability per
            block, or None for none.
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


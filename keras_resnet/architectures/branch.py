"""The pieces of a post-activation block, shared by ``block1``, ``block3`` and the basic block.

A block of He et al. 2015 is a shortcut (``shortcut``: identity, option A's
padding, or a 1x1 projection with its BN) and a residual branch of
convolution-BN-ReLU units (``conv_bn_relu``) whose last unit stops at its BN;
``close`` ends the block: that BN, channel attention, the addition (through
stochastic depth) and the ReLU. Each block keeps its own widths, strides and
biases; the layer names and the order they are created in are Keras's
(``{block}_0_conv`` ... ``{block}_3_bn``, ``_add``, ``_out``), which its weight
files are matched against.

Every block and stack takes the same keyword-only arguments:

* ``options``: a ``residual.BlockOptions``, shared by the network's blocks;
  the default builds Keras's block.
* ``survival_prob`` (a block) or ``survival_probs`` (a stack, one per block,
  None for none): stochastic depth's survival probability of the residual
  branch; 1.0 adds no layer.
* ``dilation``: the dilation rate of the stage, 1 unless its stride was
  given up for an output stride under 32.
* ``first_dilation``: the first block's rate where it differs, None for
  ``dilation``: the first block of a dilated stage keeps the previous
  stage's rate (torchvision's ``previous_dilation``, timm's
  ``first_dilation``).
"""

from keras import layers

from keras_resnet.architectures import attention, residual


def conv_bn_relu(x, filters, kernel_size, name, options, *, pad=0, last=False, **conv_args):
    """``{name}_pad`` (when ``pad``), ``{name}_conv``, ``{name}_bn`` and ``{name}_relu``.

    ``pad`` pixels of zeros on every side, as PyTorch's ``padding=``;
    ``conv_args`` are ``Conv2D``'s (strides, dilation, groups, bias). The
    ``last`` unit of a branch stops before its BN, which ``close`` adds.
    """
    if pad:
        x = layers.ZeroPadding2D(padding=((pad, pad), (pad, pad)), name=name + "_pad")(x)
    x = layers.Conv2D(filters, kernel_size, name=name + "_conv", **conv_args)(x)
    if last:
        return x
    x = residual.batch_norm(name + "_bn", epsilon=options.bn_epsilon)(x)
    return layers.Activation("relu", name=name + "_relu")(x)


def shortcut(
    x, out_channels, stride, conv_shortcut, options, name, *, dilation=1, source=None,
    use_bias=True, normalize=True,
):
    """The block's shortcut: None (plain), ``x``, option A's padding, or a projection.

    The projection is ``{name}_0_conv`` (1x1, strided or after ResNet-D's
    average pool) and, when ``normalize``, ``{name}_0_bn``, read from
    ``source`` (the pre-activation of a v2 block; ``x`` by default).
    """

    def project():
        pooled, conv_stride = residual.projection_input(
            x if source is None else source, stride, options, name, dilation
        )
        projected = layers.Conv2D(
            out_channels, 1, strides=conv_stride, use_bias=use_bias, name=name + "_0_conv"
        )(pooled)
        if not normalize:
            return projected
        return residual.batch_norm(name + "_0_bn", epsilon=options.bn_epsilon)(projected)

    return residual.shortcut_branch(x, out_channels, stride, conv_shortcut, options, name, project)


def close(x, shortcut_tensor, bn_name, options, name, survival_prob):
    """Ends a post-activation block: the last BN, attention, the addition, the ReLU.

    The last BN (``bn_name``) starts at zero under ``options.zero_init_gamma``;
    attention (``options.attention``) gates the branch before ``{name}_add``;
    ``{name}_out`` is the block's output.
    """
    x = residual.batch_norm(bn_name, options.zero_init_gamma, options.bn_epsilon)(x)
    x = attention.apply(x, options, name)
    x = residual.merge(
        shortcut_tensor, x, name, survival_prob, name + "_add", options.drop_path
    )
    return layers.Activation("relu", name=name + "_out")(x)


def repeat(block, x, filters, num_blocks, stride1, name, survival_probs, *, first_dilation=None,
           first_args=None, **block_args):
    """A stage: ``num_blocks`` blocks named ``{name}_block1`` ...; the first strides.

    The first block takes ``stride1``, ``first_dilation`` and
    ``first_args`` (by default its own ``conv_shortcut``: a projection where
    the block's rule wants one); the others stride 1 and keep an identity shortcut
    (``conv_shortcut=False``) unless the options ask for a projection
    everywhere. ``block_args`` go to every block.
    """
    probs = residual.check_survival_probs(survival_probs, num_blocks)
    x = block(
        x,
        filters,
        stride=stride1,
        name=name + "_block1",
        survival_prob=probs[0],
        first_dilation=first_dilation,
        **(first_args or {}),
        **block_args,
    )
    for i in range(2, num_blocks + 1):
        x = block(
            x,
            filters,
            conv_shortcut=False,
            name=f"{name}_block{i}",
            survival_prob=probs[i - 1],
            **block_args,
        )
    return x


def stack_of(block, public_name, summary):
    """Makes the stage function that repeats ``block`` (``stack1``, ``basic_stack``).

    Its signature is keras.applications' ``stack1(x, filters, blocks,
    stride1=2, name=None)`` plus every stack's keyword-only arguments.
    """

    def stack(
        x,
        filters,
        blocks,
        stride1=2,
        name=None,
        *,
        options=residual.DEFAULT_OPTIONS,
        survival_probs=None,
        dilation=1,
        first_dilation=None,
    ):
        return repeat(
            block, x, filters, blocks, stride1, name, survival_probs,
            first_dilation=first_dilation, options=options, dilation=dilation,
        )

    stack.__name__ = stack.__qualname__ = public_name
    stack.__module__ = block.__module__
    stack.__doc__ = f"""{summary}

    Args:
        x: Input tensor.
        filters: The ``filters`` of every ``{block.__name__}`` of the stage.
        blocks: Number of blocks.
        stride1: Stride of the first block.
        name: Stage label (``conv2`` ... ``conv5``).
        options, survival_probs, dilation, first_dilation: Every stack's
            (``keras_resnet.architectures.branch``'s module docstring).

    Returns:
        Output tensor of the stage.
    """
    return stack

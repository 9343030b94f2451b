"""The five residual units of He et al. 2016, "Identity Mappings in Deep Residual Networks".

Figure 4 of the paper keeps the layers of a unit (two or three convolutions,
their BatchNorms and ReLUs, the addition) and moves the BN and the ReLU
around the addition. Between two convolutions of a branch there is always a
BN and a ReLU; the units differ before the split, at the end of the residual
branch and after the addition:

=======================  ======  ================  ===============  ==============
unit                     Fig. 4  before the split  branch ends in   after addition
=======================  ======  ================  ===============  ==============
original                 (a)     -                 conv, BN         ReLU
bn_after_addition        (b)     -                 conv             BN, ReLU
relu_before_addition     (c)     -                 conv, BN, ReLU   -
relu_only_preactivation  (d)     ReLU              conv, BN         -
full_preactivation       (e)     BN, ReLU          conv             -
=======================  ======  ================  ===============  ==============

The two pre-activation units apply, at the start of the next unit, the
activation that the original applies after its addition. A network of them
therefore needs that activation once more after its last unit, and its stem
no longer ends in it: the first unit applies it right after conv1, before
the split, so both paths read it, as the paper prescribes for the first and
last units (section 4). ``Unit.stem`` and ``Unit.head`` say which layers the
stem and the head get.

On CIFAR-10 the paper measured (Table 2, test error %): ResNet-110 6.61,
8.17, 7.84, 6.71, 6.37 and ResNet-164 5.93, 6.50, 6.14, 5.91, 5.46 for units
(a) to (e).

Layer names extend the blocks' scheme: ``{block}_preact_bn``,
``{block}_preact_relu`` (as Keras's v2 block), ``{block}_1_conv``,
``{block}_1_bn``, ``{block}_1_relu`` ... for the branch, ``{block}_0_*`` for
the shortcut, and the block's last layer is always ``{block}_out`` (the
addition, or the activation after it, ``{block}_add`` then being the
addition and ``{block}_post_bn`` the BN of unit (b)).
"""

import dataclasses

from keras import layers

from keras_resnet.architectures import blocks, branch, residual

_ACTIVATION = ("bn", "relu")


@dataclasses.dataclass(frozen=True)
class Unit:
    """One order of the layers of a residual unit (a row of Figure 4).

    Attributes:
        name: The value of ``unit=`` that builds it.
        figure: Its panel of the paper's Figure 4.
        preact: Layers applied to the unit's input before it splits into
            the residual branch and the shortcut: ``()``, ``("relu",)`` or
            ``("bn", "relu")``.
        tail: Layers after the branch's last convolution.
        post: Layers after the addition.
    """

    name: str
    figure: str
    preact: tuple
    tail: tuple
    post: tuple

    @property
    def stem(self):
        """Layers after the stem's convolution: the activation the units do not begin with."""
        return tuple(op for op in _ACTIVATION if op not in self.preact)

    @property
    def head(self):
        """Layers after the last unit, before pooling: the pre-activation, once more."""
        return self.preact

    @property
    def last_bn(self):
        """Whether the residual branch ends in a BN (the gamma ``zero_init_gamma`` zeroes)."""
        return "bn" in self.tail


#: The units of Figure 4, by name, in the paper's order.
UNITS = {
    unit.name: unit
    for unit in (
        Unit("original", "4(a)", (), ("bn",), ("relu",)),
        Unit("bn_after_addition", "4(b)", (), (), ("bn", "relu")),
        Unit("relu_before_addition", "4(c)", (), ("bn", "relu"), ()),
        Unit("relu_only_preactivation", "4(d)", ("relu",), ("bn",), ()),
        Unit("full_preactivation", "4(e)", ("bn", "relu"), (), ()),
    )
}


def get(unit):
    """Returns the ``Unit`` named ``unit``.

    Raises:
        ValueError: For a name not in ``UNITS``, listing the names.
    """
    if isinstance(unit, str) and unit in UNITS:
        return UNITS[unit]
    raise ValueError(
        f"`unit` should be one of {', '.join(repr(u) for u in UNITS)} or None (the "
        f"network's own unit). Received: unit={unit!r}"
    )


def activations(x, ops, prefix, epsilon=residual.BN_EPSILON):
    """Applies ``ops`` (``"bn"``, ``"relu"``) in order, named ``{prefix}_bn``, ``{prefix}_relu``."""
    for op in ops:
        if op == "bn":
            x = residual.batch_norm(prefix + "_bn", epsilon=epsilon)(x)
        else:
            x = layers.Activation("relu", name=prefix + "_relu")(x)
    return x


def residual_unit(
    x,
    filters,
    unit,
    *,
    bottleneck=False,
    stride=1,
    split_after_preact=False,
    name=None,
    options=residual.DEFAULT_OPTIONS,
    survival_prob=1.0,
):
    """One residual unit of ``unit``'s order, basic or bottleneck.

    The basic unit is two 3x3 convolutions of ``filters`` (the first
    strides), as the CIFAR ResNet-20 ... 1202; the bottleneck is 1x1
    ``filters``, 3x3 ``filters`` (strides), 1x1 ``4 * filters``, as the
    pre-activation ResNet-164/1001. A convolution has a bias only where no
    BN follows it before the next convolution (a BN's offset would make the
    bias redundant), so ``original`` builds the basic block of
    ``basic.basic_block`` and ``full_preactivation`` Keras's v2 bottleneck.

    The shortcut follows ``options`` (A, B, C, or None for a plain unit).
    A projection reads the pre-activated input, as Keras's v2 block; it ends
    in its own BN where the residual branch ends in one, so that both paths
    reach the addition alike. An identity (or option A) shortcut reads the
    unit's input, except with ``split_after_preact``: the first unit of a
    stage, whose two paths share the pre-activation (the paper's first unit;
    its authors' code does so in the first unit of every stage).

    Args:
        x: Input tensor.
        filters: Output channels of the basic unit; bottleneck width.
        unit: A ``Unit`` (``UNITS[name]``).
        bottleneck: Three convolutions (1x1, 3x3, 1x1) instead of two 3x3.
        stride: Stride of the 3x3 convolution that downsamples (and of the
            shortcut).
        split_after_preact: Whether the identity shortcut reads the
            pre-activated input.
        name: Block label, prefix of every layer name.
        options: A ``residual.BlockOptions``.
        survival_prob: Stochastic-depth survival probability of the branch.

    Returns:
        Output tensor of the unit.

    Raises:
        ValueError: For ``options.zero_init_gamma`` with a unit whose branch
            does not end in a BN, or for ``options.attention``.
    """
    if options.zero_init_gamma and not unit.last_bn:
        raise ValueError(
            f"The {unit.name!r} unit ends its residual branch with a convolution, "
            "not a BN: there is no last gamma to zero. Received: zero_init_gamma=True"
        )
    if options.attention is not None:
        raise ValueError(
            "The residual units of He et al. 2016 take no channel attention. "
            f"Received: attention={options.attention!r}"
        )
    eps = options.bn_epsilon
    if bottleneck:
        convs = ((filters, 1, 1), (filters, 3, stride), (4 * filters, 1, 1))
    else:
        convs = ((filters, 3, stride), (filters, 3, 1))
    out_channels = convs[-1][0]
    post_bn = "bn" in unit.post

    preact = activations(x, unit.preact, name + "_preact", eps)

    def project():
        source, conv_stride = residual.projection_input(preact, stride, options, name)
        shortcut = layers.Conv2D(
            out_channels,
            1,
            strides=conv_stride,
            use_bias=not (unit.last_bn or post_bn),
            name=name + "_0_conv",
        )(source)
        if unit.last_bn:
            shortcut = residual.batch_norm(name + "_0_bn", epsilon=eps)(shortcut)
        return shortcut

    shortcut = residual.shortcut_branch(
        preact if split_after_preact else x,
        out_channels,
        stride,
        None,
        options,
        name,
        project,
    )

    branch = preact
    for i, (width, kernel_size, conv_stride) in enumerate(convs, start=1):
        last = i == len(convs)
        if kernel_size > 1:
            branch = layers.ZeroPadding2D(kernel_size // 2, name=f"{name}_{i}_pad")(branch)
        branch = layers.Conv2D(
            width,
            kernel_size,
            strides=conv_stride,
            use_bias=last and not (unit.last_bn or post_bn),
            name=f"{name}_{i}_conv",
        )(branch)
        for op in unit.tail if last else _ACTIVATION:
            if op == "bn":
                zero = last and options.zero_init_gamma
                branch = residual.batch_norm(f"{name}_{i}_bn", zero, eps)(branch)
            else:
                branch = layers.Activation("relu", name=f"{name}_{i}_relu")(branch)

    add_name = name + ("_add" if unit.post else "_out")
    x = residual.merge(shortcut, branch, name, survival_prob, add_name)
    if post_bn:
        x = residual.batch_norm(name + "_post_bn", epsilon=eps)(x)
    if "relu" in unit.post:
        x = layers.Activation("relu", name=name + "_out")(x)
    return x


def unit_stack(
    x,
    filters,
    num_blocks,
    stride1=2,
    name=None,
    *,
    unit,
    bottleneck=False,
    options=residual.DEFAULT_OPTIONS,
    survival_probs=None,
):
    """A stage of ``num_blocks`` units of one order; the first one strides.

    Args:
        x: Input tensor.
        filters: As for ``residual_unit``.
        num_blocks: Number of units.
        stride1: Stride of the first unit.
        name: Stage label (``conv2`` ...).
        unit: A ``Unit``.
        bottleneck: Bottleneck units instead of basic ones.
        options: A ``residual.BlockOptions`` for every unit.
        survival_probs: One stochastic-depth survival probability per unit.

    Returns:
        Output tensor of the stage.
    """
    probs = residual.check_survival_probs(survival_probs, num_blocks)
    for i in range(1, num_blocks + 1):
        x = residual_unit(
            x,
            filters,
            unit,
            bottleneck=bottleneck,
            stride=stride1 if i == 1 else 1,
            split_after_preact=i == 1,
            name=f"{name}_block{i}",
            options=options,
            survival_prob=probs[i - 1],
        )
    return x


def preact_stack(
    x,
    filters,
    num_blocks,
    stride1=2,
    name=None,
    *,
    options=residual.DEFAULT_OPTIONS,
    survival_probs=None,
):
    """A stage of pre-activation bottlenecks that strides in its first block.

    The layout of the "Identity Mappings" CIFAR networks (Keras's ImageNet
    ``stack2`` strides in the last block instead).

    Args:
        x: Input tensor.
        filters: Bottleneck width; the blocks output ``4 * filters``.
        num_blocks: Number of blocks.
        stride1: Stride of the first block.
        name: Stage label.
        options: A ``blocks.BlockOptions`` for every block.
        survival_probs: One stochastic-depth survival probability per block.

    Returns:
        Output tensor of the stage.
    """
    return branch.repeat(
        blocks.block2, x, filters, num_blocks, stride1, name, survival_probs,
        first_args={"conv_shortcut": True}, options=options,
    )

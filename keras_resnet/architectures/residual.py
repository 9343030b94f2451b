"""What every residual block shares: BatchNorm settings, shortcut options, the merge.

``BlockOptions`` chooses the shortcut (He et al. 2015, Table 3: options A, B,
C, or none for the paper's plain networks) and whether the last BN of each
residual branch starts at zero; ``merge`` adds a branch to its shortcut,
through stochastic depth (Huang et al. 2016) when the block may be dropped.
The block functions in ``blocks`` are built from these pieces.
"""

import dataclasses

import keras
from keras import layers

from keras_resnet.architectures.layers import StochasticDepth, ZeroPadShortcut, is_probability

# Keras's published weights were trained with this epsilon; 1e-3 (the Keras
# default) would shift every normalised activation.
BN_EPSILON = 1.001e-5

# PyTorch's BatchNorm2d default, which torchvision's and timm's weights were
# trained with: their converted weights need it to give the same outputs.
TORCH_BN_EPSILON = 1e-5


def channel_axis():
    """Returns the channel axis of 4-D image tensors for the global format."""
    return 3 if keras.config.image_data_format() == "channels_last" else 1


#: Values of ``BlockOptions.shortcut``.
SHORTCUTS = ("A", "B", "C", None)

#: Values of ``BlockOptions.attention`` (built by ``attention.apply``).
ATTENTION_KINDS = (None, "se", "eca")

#: Squeeze-and-excitation's default reduction: hidden width over channels.
SE_RATIO = 1 / 16


@dataclasses.dataclass(frozen=True)
class BlockOptions:
    """Options shared by every block of a network (He et al. 2015, Table 3).

    Attributes:
        shortcut: ``"A"``: identity, and where the shape changes a strided
            identity with zero-padded channels (no parameters). ``"B"`` (the
            default, Keras's): the block's own rule, a 1x1 projection where
            the shape changes (and where the caller asks for one). ``"C"``: a
            projection in every block. ``None``: no shortcut at all, the
            paper's plain network.
        zero_init_gamma: Initialise the gamma of the last BN of each residual
            branch to zero, so that every block starts as its shortcut
            (Goyal et al. 2017). Pre-activation blocks have no BN there and
            refuse it.
        bn_epsilon: The epsilon of every BatchNorm of the blocks:
            ``BN_EPSILON`` for Keras's networks, ``TORCH_BN_EPSILON`` for the
            PyTorch layouts.
        avg_down: Downsample a projection shortcut with a 2x2 average pool
            before its 1x1 convolution, which then has stride 1 (the
            "ResNet-D" of He et al. 2018, "Bag of Tricks"; timm's
            ``avg_down``), instead of striding the 1x1 convolution and
            discarding three pixels in four.
        attention: Channel attention on each residual branch, after its
            last BN (``ATTENTION_KINDS``): None, ``"se"``
            (squeeze-and-excitation) or ``"eca"`` (efficient channel
            attention). Pre-activation blocks have no BN there and refuse it.
        attention_ratio: Squeeze-and-excitation's hidden width over its
            channels (1/16 in SE-ResNet, 1/4 in ResNet-RS).
        drop_path: Stochastic depth in timm's form (``drop_path``): one coin
            per example, the kept branch scaled up while training, nothing
            at inference. False: Huang et al.'s (one coin per batch, the
            branch scaled down at inference).
    """

    shortcut: str = "B"
    zero_init_gamma: bool = False
    bn_epsilon: float = BN_EPSILON
    avg_down: bool = False
    attention: str = None
    attention_ratio: float = SE_RATIO
    drop_path: bool = False

    def __post_init__(self):
        if self.shortcut not in SHORTCUTS:
            raise ValueError(
                "`shortcut` should be 'A', 'B', 'C' or None (plain network). "
                f"Received: shortcut={self.shortcut!r}"
            )
        if not isinstance(self.zero_init_gamma, bool):
            raise ValueError(
                "`zero_init_gamma` should be True or False. "
                f"Received: zero_init_gamma={self.zero_init_gamma!r}"
            )
        if (
            isinstance(self.bn_epsilon, bool)
            or not isinstance(self.bn_epsilon, (int, float))
            or not self.bn_epsilon > 0
        ):
            raise ValueError(
                f"`bn_epsilon` should be a positive number. Received: bn_epsilon={self.bn_epsilon!r}"
            )
        if not isinstance(self.avg_down, bool):
            raise ValueError(
                f"`avg_down` should be True or False. Received: avg_down={self.avg_down!r}"
            )
        if self.attention not in ATTENTION_KINDS:
            raise ValueError(
                "`attention` should be None, 'se' or 'eca'. "
                f"Received: attention={self.attention!r}"
            )
        ratio = self.attention_ratio
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 < ratio <= 1:
            raise ValueError(
                "`attention_ratio` should be a number in (0, 1]. "
                f"Received: attention_ratio={ratio!r}"
            )


DEFAULT_OPTIONS = BlockOptions()


def batch_norm(name, zero_gamma=False, epsilon=BN_EPSILON):
    return layers.BatchNormalization(
        axis=channel_axis(),
        epsilon=epsilon,
        gamma_initializer="zeros" if zero_gamma else "ones",
        name=name,
    )


def channels(x):
    return x.shape[channel_axis()]


def shortcut_branch(x, out_channels, stride, conv_shortcut, options, name, project):
    """Returns the shortcut tensor of a block, or None for a plain block.

    ``project()`` creates the family's projection (its names and biases);
    ``conv_shortcut`` is the caller's wish under option B (None: project
    only where the shape changes).
    """
    kind = options.shortcut
    if kind is None:
        return None
    reshapes = stride != 1 or channels(x) != out_channels
    if kind == "A":
        if reshapes:
            return ZeroPadShortcut(out_channels, stride, name=name + "_0_pad")(x)
        return x
    if kind == "C" or (conv_shortcut is None and reshapes) or conv_shortcut:
        return project()
    return x


def projection_input(x, stride, options, name, dilation=1):
    """The input of a projection shortcut's 1x1 convolution, and that convolution's stride.

    With ``options.avg_down`` and a stride, a 2x2 average pool
    (``{name}_0_pool``) downsamples first and the convolution keeps stride 1.
    timm pools with ``ceil_mode=True, count_include_pad=False``: on an odd
    side the last window hangs over the edge and averages the pixels it
    covers. ``padding="same"`` pads at the end only and also averages the
    covered pixels alone, so both give the same output on any size.

    In a dilated stage (``dilation > 1``, the stride given up for an output
    stride under 32) timm keeps a 2x2 pool of stride 1 (its
    ``AvgPool2dSame``): one row and column of zeros padded at the bottom and
    right (``{name}_0_pool_pad``) and counted in the average, so the last row
    and column are halved. It is built so here, to give timm's outputs.
    """
    if options.avg_down and stride == 1 and dilation > 1:
        padded = layers.ZeroPadding2D(((0, 1), (0, 1)), name=name + "_0_pool_pad")(x)
        return layers.AveragePooling2D(2, strides=1, name=name + "_0_pool")(padded), 1
    if options.avg_down and stride > 1:
        pooled = layers.AveragePooling2D(
            2, strides=stride, padding="same", name=name + "_0_pool"
        )(x)
        return pooled, 1
    return x, stride


def merge(shortcut, residual, name, survival_prob, add_name, drop_path=False):
    """Adds the residual branch to the shortcut; a plain block has no ``Add``."""
    if shortcut is None:
        if survival_prob < 1.0:
            raise ValueError(
                "Stochastic depth needs a shortcut to fall back on; a plain "
                f"network cannot drop blocks. Received: survival_prob={survival_prob}"
            )
        return residual
    if survival_prob < 1.0:
        residual = StochasticDepth(
            survival_prob, per_sample=drop_path, inverted=drop_path, name=name + "_drop"
        )(residual)
    return layers.Add(name=add_name)([shortcut, residual])


def check_survival_probs(survival_probs, blocks):
    if survival_probs is None:
        return (1.0,) * blocks
    if len(survival_probs) != blocks:
        raise ValueError(
            f"`survival_probs` must have one entry per block ({blocks}). "
            f"Received: survival_probs={survival_probs!r}"
        )
    return tuple(survival_probs)


def linear_survival_probs(num_blocks, survival_prob):
    """Huang et al.'s linear decay rule: ``p_l = 1 - l / L * (1 - p_L)``.

    Args:
        num_blocks: ``L``, the number of residual blocks.
        survival_prob: ``p_L``, the survival probability of the last block
            (0.5 in the paper), or None for no stochastic depth.

    Returns:
        A tuple of ``L`` probabilities, block 1 first (the stem, ``l = 0``,
        is never dropped).

    Raises:
        ValueError: For a ``survival_prob`` outside (0, 1].
    """
    if survival_prob is None:
        return (1.0,) * num_blocks
    if not is_probability(survival_prob):
        raise ValueError(
            "`survival_prob` should be None or a number in (0, 1] (the paper "
            f"uses 0.5). Received: survival_prob={survival_prob!r}"
        )
    drop = 1.0 - float(survival_prob)
    return tuple(1.0 - l / num_blocks * drop for l in range(1, num_blocks + 1))


def linear_drop_rates(num_blocks, drop_path):
    """timm's stochastic-depth rule: block ``i`` of ``L`` drops with ``drop_path * i / (L - 1)``.

    The first block is never dropped and the last drops with ``drop_path``
    (timm's ``ResNet(drop_path_rate=...)``). Huang et al.'s rule
    (``linear_survival_probs``) counts from the stem instead: its first block
    already drops with ``drop / L``. Returns survival probabilities, one per
    block, for the blocks' ``survival_prob``.
    """
    if drop_path is None:
        return (1.0,) * num_blocks
    if isinstance(drop_path, bool) or not isinstance(drop_path, (int, float)) or not (
        0.0 <= drop_path < 1.0
    ):
        raise ValueError(
            f"`drop_path` should be a number in [0, 1). Received: drop_path={drop_path!r}"
        )
    if num_blocks == 1:
        return (1.0,)
    return tuple(1.0 - drop_path * i / (num_blocks - 1) for i in range(num_blocks))

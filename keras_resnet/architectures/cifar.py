"""The paper's CIFAR-10 networks: ResNet-20 ... ResNet-1202, plain nets, pre-activation nets.

He et al. 2015, section 4.2: a 3x3 convolution with 16 filters on 32x32
inputs, then three stages of ``n`` basic blocks with 16, 32 and 64 filters
(the second and third halve the resolution in their first block), global
average pooling and a 10-way classifier: ``6n + 2`` weighted layers. The
shortcuts are option A (identity, zero-padded channels where the width
doubles), so the shortcuts have no parameters at all.

He et al. 2016 ("Identity Mappings in Deep Residual Networks"): ResNet-164
and ResNet-1001 are ``9n + 2``-layer pre-activation bottleneck networks with
bottleneck widths 16, 32, 64 (outputs 64, 128, 256) and projection shortcuts
where the shape changes.

Layer names follow the ImageNet models (``conv1_conv``, ``conv2_block1_1_conv``
... ``avg_pool``, ``predictions``), with stages ``conv2`` to ``conv4``.

``unit=`` rebuilds any of them with another residual unit of He et al. 2016,
Figure 4 (``"original"``, ``"bn_after_addition"``, ``"relu_before_addition"``,
``"relu_only_preactivation"``, ``"full_preactivation"``; see ``units``).

Example:
    >>> from keras_resnet import build, cifar
    >>> model = cifar.ResNet56()                      # 0.85M parameters
    >>> plain = build("plain56")                      # no shortcuts
    >>> deep = cifar.ResNet110(survival_prob=0.5)     # stochastic depth
    >>> preact = cifar.ResNet110(unit="full_preactivation")   # Figure 4(e)
"""

import dataclasses
import functools
import re

from keras import layers

from keras_resnet import _deprecated
from keras_resnet import weights as weights_lib
from keras_resnet.architectures import blocks, common, family, residual, units

# Re-exported: users of the 1,000-layer nets wrap clone_model/load_model in it.
from keras_resnet.architectures.common import deep_graph_recursion  # noqa: F401

# Re-exported: its home was this module before units.py.
from keras_resnet.architectures.units import preact_stack  # noqa: F401


@dataclasses.dataclass(frozen=True)
class CifarArchitecture:
    """One CIFAR network.

    Attributes:
        num_blocksper_stage: ``n``, the blocks in each of the three stages.
        preact: Pre-activation bottleneck blocks (else basic blocks).
        shortcut: The shortcut option the paper used for it.
        widths: The ``filters`` of each stage.
    """

    num_blocksper_stage: int
    preact: bool = False
    shortcut: str = "A"
    widths: tuple = (16, 32, 64)

    @property
    def depth(self):
        """Weighted layers: ``6n + 2`` (basic) or ``9n + 2`` (bottleneck)."""
        return (9 if self.preact else 6) * self.num_blocksper_stage + 2

    @property
    def stack(self):
        return units.preact_stack if self.preact else blocks.basic_stack


_basic = CifarArchitecture
_preact = functools.partial(CifarArchitecture, preact=True, shortcut="B")

#: The CIFAR family, by model name.
CIFAR_ARCHITECTURES = {
    "resnet20": _basic(3),
    "resnet32": _basic(5),
    "resnet44": _basic(7),
    "resnet56": _basic(9),
    "resnet110": _basic(18),
    "resnet1202": _basic(200),
    "preactresnet164": _preact(18),
    "preactresnet1001": _preact(111),
}

#: Plain (shortcut-free) counterparts the paper trained for Figure 6.
PLAIN_DEPTHS = (20, 32, 44, 56, 110)


def plain_architecture(depth):
    """The plain CIFAR net of ``depth = 6n + 2`` layers (Figure 6), or None for another depth."""
    if isinstance(depth, int) and depth > 2 and (depth - 2) % 6 == 0:
        return CifarArchitecture((depth - 2) // 6, shortcut=None)
    return None


def make_stack_fn(arch, *, options, survival_prob=None, unit=None):
    """Returns the function that builds ``arch``'s three stages.

    ``unit``: a ``units.Unit`` for every block, or None for ``arch``'s own blocks.
    """
    num_blocks = 3 * arch.num_blocksper_stage
    probs = residual.linear_survival_probs(num_blocks, survival_prob)
    n = arch.num_blocksper_stage
    stack = arch.stack
    if unit is not None:
        stack = functools.partial(units.unit_stack, unit=unit, bottleneck=arch.preact)

    def stack_fn(x):
        for i, filters in enumerate(arch.widths):
            x = stack(
                x,
                filters,
                n,
                stride1=1 if i == 0 else 2,
                name=f"conv{i + 2}",
                options=options,
                survival_probs=probs[i * n : (i + 1) * n],
            )
        return x

    return stack_fn


def CifarResNet(stack_fn, *, preact, model_name="cifar_resnet", unit=None, **arguments):
    """Instantiates a CIFAR-style network: 3x3 stem, no max-pool, three stages.

    Args:
        stack_fn: Function from the stem's output to the last stage's output.
        preact: Pre-activation network: no BN/ReLU in the stem, a
            ``post_bn`` and ``post_relu`` before the head.
        model_name: The model's name.
        unit: The ``units.Unit`` that ``stack_fn`` builds: its ``stem`` and
            ``head`` layers replace those that ``preact`` implies (a
            pre-activation unit's activation follows the stem's convolution
            in the first unit, and once more after the last unit). None
            keeps ``preact``'s.
        **arguments: keras.applications' arguments (``include_top``,
            ``weights``, ``input_tensor``, ``input_shape``, ``pooling``,
            ``classes``, ``classifier_activation``) with the CIFAR defaults:
            ``weights=None`` (or the path of a weight file saved from the
            same network; none are published), ``classes=10``, inputs
            ``(32, 32, 3)`` with the top.

    Returns:
        A ``keras.Model``.

    Raises:
        ValueError: For an invalid ``weights``, ``input_shape``, ``pooling``
            or ``classes``, naming what was received.
    """
    arguments = {"weights": None, "classes": 10, **arguments}
    weights = arguments["weights"]
    if weights is not None and not weights_lib.is_path(weights):
        raise ValueError(
            "CIFAR networks have no published weights: `weights` should be "
            f"None or the path of a weights file. Received: weights={weights!r}"
        )

    def body(img_input):
        x = layers.Conv2D(16, 3, padding="same", use_bias=False, name="conv1_conv")(img_input)
        if unit is not None:
            x = units.activations(x, unit.stem, "conv1")
        elif not preact:
            x = layers.BatchNormalization(
                axis=residual.channel_axis(), epsilon=residual.BN_EPSILON, name="conv1_bn"
            )(x)
            x = layers.Activation("relu", name="conv1_relu")(x)
        x = stack_fn(x)
        if unit is not None:
            x = units.activations(x, unit.head, "post")
        return x

    # A file goes through the package's loader, which checks it against the
    # network before assigning anything.
    return common.classifier(
        body,
        name=model_name,
        weights_name=model_name,
        preact=preact if unit is None else False,
        default_size=32,
        min_size=8,
        **arguments,
    )


_FAMILY_DEFAULT = "family default"


def from_table(
    arch,
    name,
    *,
    shortcut=_FAMILY_DEFAULT,
    survival_prob=None,
    zero_init_gamma=False,
    unit=None,
    model_name=None,
    **arguments,
):
    """Builds one CIFAR network from its ``CifarArchitecture``.

    ``keras_resnet.build(name)`` (the catalogue) finds the architecture by
    name (``"resnet20"`` ... ``"resnet1202"``, ``"preactresnet164"``,
    ``"preactresnet1001"``, ``"plainN"`` for any ``N = 6n + 2``) and calls
    this; the named builders (``ResNet56`` ...) call it directly.

    Args:
        arch: A ``CifarArchitecture`` (a row of ``CIFAR_ARCHITECTURES``, or
            ``plain_architecture(depth)``).
        name: The model's default name.
        shortcut: ``"A"``, ``"B"``, ``"C"`` or ``None`` (plain); defaults to
            the paper's: ``"A"`` for the basic nets, ``"B"`` for the
            pre-activation ones.
        survival_prob: Stochastic depth: the last block's survival
            probability ``p_L`` (0.5 in Huang et al.), None for none.
        zero_init_gamma: Zero the gamma of each residual branch's last BN
            (basic-block nets only).
        unit: The residual unit of every block, a name from ``units.UNITS``
            (He et al. 2016, Figure 4): ``"original"`` (a),
            ``"bn_after_addition"`` (b), ``"relu_before_addition"`` (c),
            ``"relu_only_preactivation"`` (d), ``"full_preactivation"`` (e).
            None (the default) builds the network's own blocks: the
            original unit of ResNet-20 ... 1202 and the plain nets, the full
            pre-activation bottleneck of PreAct ResNet-164/1001, layer for
            layer as ``unit="original"`` and ``unit="full_preactivation"``
            do. The bottleneck nets take every unit too (the paper's
            ResNet-164 rows).
        model_name: The model's name; defaults to ``name``.
        **arguments: keras.applications' arguments (``include_top``,
            ``weights``, ``input_tensor``, ``input_shape``, ``pooling``,
            ``classes``, ``classifier_activation``), as for ``CifarResNet``.

    Returns:
        A ``keras.Model``.

    Raises:
        ValueError: For an invalid option.
    """
    if shortcut == _FAMILY_DEFAULT:
        shortcut = arch.shortcut
    options = residual.BlockOptions(shortcut=shortcut, zero_init_gamma=zero_init_gamma)
    if unit is not None:
        unit = units.get(unit)
    return CifarResNet(
        make_stack_fn(arch, options=options, survival_prob=survival_prob, unit=unit),
        preact=arch.preact,
        unit=unit,
        model_name=model_name or name,
        **arguments,
    )


_OPTIONS = {"shortcut": _FAMILY_DEFAULT, "survival_prob": None, "zero_init_gamma": False,
            "unit": None}


def _builder(key, public_name, name_arg="name"):
    """A builder of the row ``key``: ``ResNet56`` ..., or the catalogue's ``resnet56``."""
    plain = key.startswith("plain")
    arch = plain_architecture(int(key[len("plain") :])) if plain else CIFAR_ARCHITECTURES[key]
    if plain:
        what = f"the plain {arch.depth}-layer CIFAR network (no shortcuts; Figure 6)"
    elif arch.preact:
        what = f"the {arch.depth}-layer CIFAR network (He et al. 2016, pre-activation bottlenecks)"
    else:
        what = f"the {arch.depth}-layer CIFAR network (He et al. 2015, option A shortcuts)"
    doc = f"""Instantiates {public_name}, {what}.

    Args:
        include_top: Whether to put the ``classes``-way classifier on top.
        weights: ``None`` or the path of a weight file.
        input_tensor: Optional Keras tensor to use as the model's input.
        input_shape: Optional shape without batch axis (default 32x32x3).
        pooling: ``None``, ``"avg"`` or ``"max"`` when ``include_top=False``.
        classes: Number of classes of the classifier (10).
        classifier_activation: Activation of the classifier, ``None`` for logits.
        {name_arg}: The model's name (None: ``"{key}"``).
        shortcut, survival_prob, zero_init_gamma, unit: As for
            ``cifar.from_table`` (``unit``: the residual unit, He et al.
            2016, Figure 4).

    Returns:
        A ``keras.Model``.

    Example:
        >>> model = {public_name}()
        >>> model.compile("sgd", "sparse_categorical_crossentropy")
    """
    return common.named_builder(
        functools.partial(from_table, arch, key), public_name, doc, name=None, weights=None,
        classes=10, options=_OPTIONS, name_arg=name_arg,
    )


ResNet20 = _builder("resnet20", "ResNet20")
ResNet32 = _builder("resnet32", "ResNet32")
ResNet44 = _builder("resnet44", "ResNet44")
ResNet56 = _builder("resnet56", "ResNet56")
ResNet110 = _builder("resnet110", "ResNet110")
ResNet1202 = _builder("resnet1202", "ResNet1202")
PreActResNet164 = _builder("preactresnet164", "PreActResNet164")
PreActResNet1001 = _builder("preactresnet1001", "PreActResNet1001")
Plain20 = _builder("plain20", "Plain20")
Plain32 = _builder("plain32", "Plain32")
Plain44 = _builder("plain44", "Plain44")
Plain56 = _builder("plain56", "Plain56")
Plain110 = _builder("plain110", "Plain110")

# The demo's network, not a network of the paper: see ``small_resnet``.
SMALL_RESNET = "small-resnet"


def small_resnet(
    input_shape=(32, 32, 3),
    classes=10,
    *,
    blocks_per_stage=1,
    bn_momentum=0.9,
    name="small_resnet",
    input_tensor=None,
    weights=None,
):
    """The demo's network: a CIFAR ResNet (He et al. 2015, section 4.2) for short runs.

    ``CifarResNet`` with ``blocks_per_stage`` basic blocks in each of its
    three stages (16, 32, 64 filters; ``6n + 2`` weighted layers, so the
    default ``n=1`` is an 8-layer net and ``n=3`` is ResNet-20's layout), but
    with projection (option B) shortcuts and a faster BatchNorm momentum,
    which make a few epochs on a small dataset converge reliably.

    Args:
        input_shape: Input shape without the batch axis.
        classes: Number of classes.
        blocks_per_stage: Basic blocks per stage.
        bn_momentum: Momentum of the BatchNorm moving statistics.
        name: Model name.
        input_tensor: Optional Keras tensor to build the model on (as
            keras.applications' ``input_tensor``).
        weights: None, or the path of a weight file saved from the same
            network (the package's loader checks it).

    Returns:
        A ``keras.Model``.
    """
    arch = CifarArchitecture(blocks_per_stage, shortcut="B")
    model = from_table(
        arch, name, input_shape=input_shape, input_tensor=input_tensor, classes=classes,
        weights=weights,
    )
    # Keras's BN momentum of 0.99 averages over ~100 steps: a short run's
    # moving statistics would lag the weights and wreck validation. 0.9 is
    # PyTorch's default (its momentum=0.1).
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.momentum = bn_momentum
    return model


def _small_resnet_row(
    *, include_top, weights, input_tensor, input_shape, pooling, classes, classifier_activation,
    model_name,
):
    """``small_resnet`` as a catalogue row (a whole classifier only)."""
    if not include_top or pooling is not None:
        raise ValueError(
            f"{SMALL_RESNET} is built as a whole classifier: include_top=True, no pooling."
        )
    if classifier_activation != "softmax":
        raise ValueError(
            f"{SMALL_RESNET} ends in softmax. "
            f"Received: classifier_activation={classifier_activation!r}"
        )
    return small_resnet(
        input_shape or common.image_shape(32),
        classes,
        name=model_name,
        input_tensor=input_tensor,
        weights=weights,
    )


# Networks trained from scratch here scale inputs to [-1, 1].
_FROM_SCRATCH_PREPROCESSING = "tf"


def _row(key):
    arch = plain_architecture(int(key[len("plain") :])) if key.startswith("plain") else (
        CIFAR_ARCHITECTURES[key]
    )
    return family.Row(
        key, "cifar", _builder(key, key, name_arg="model_name"), arch.depth, 32,
        _FROM_SCRATCH_PREPROCESSING, plain=arch.shortcut is None,
    )


def _find(name):
    """The row of ``plainN`` for any CIFAR depth ``N = 6n + 2``, or None."""
    match = re.fullmatch(r"plain(\d+)", name)
    if match and plain_architecture(int(match.group(1))) is not None:
        return _row(name)
    return None


FAMILY = family.Family(
    rows=(
        *(_row(key) for key in CIFAR_ARCHITECTURES),
        *(_row(f"plain{depth}") for depth in PLAIN_DEPTHS),
        family.Row(
            SMALL_RESNET, "demo",
            common.named_builder(
                _small_resnet_row, SMALL_RESNET, "The digits demo's network (``small_resnet``).",
                name=SMALL_RESNET.replace("-", "_"), weights=None, classes=10,
                name_arg="model_name",
            ),
            8, 32, _FROM_SCRATCH_PREPROCESSING,
        ),
    ),
    find=_find,
)


# `cifar.build` and `cifar.list_models` are now the catalogue's
# (`keras_resnet.build`, `keras_resnet.list_models(family="cifar")`).
__getattr__ = _deprecated.module_getattr(__name__)

"""The ResNet factory and the named builders over the depth table.

``ResNet(stack_fn, preact, use_bias, ...)`` mirrors keras.applications'
factory: a stem (7x7/2 convolution, 3x3/2 max-pool), the stages built by
``stack_fn``, then a classifier or a pooling head. Each named builder
(``ResNet50`` ..., ``ResNet50D`` ..., ``ResNeXt101_32x8d``) is a thin
function over a row of ``ARCHITECTURES`` (``table``, re-exported here).

References: the papers of the table's rows, listed in ``table``.
"""

import functools

from keras import layers

from keras_resnet import _deprecated
from keras_resnet import weights as weights_lib
from keras_resnet.architectures import blocks, common, family, residual, stems
from keras_resnet.architectures.table import ARCHITECTURES, Architecture  # noqa: F401

#: The output strides a network can be built with: the stem's 4 times
#: the strides its stages keep.
OUTPUT_STRIDES = (8, 16, 32)


def check_output_stride(output_stride):
    """Raises ValueError, naming what was received, unless in ``OUTPUT_STRIDES``."""
    if isinstance(output_stride, bool) or output_stride not in OUTPUT_STRIDES:
        raise ValueError(
            f"`output_stride` should be 8, 16 or 32. Received: output_stride={output_stride!r}"
        )


def stage_plan(arch, output_stride=32):
    """Each stage's stride and dilation rates for a given output stride.

    timm's ``output_stride`` and torchvision's ``replace_stride_with_dilation``:
    once the network has reached ``output_stride``, each later downsampling
    keeps stride 1 and multiplies the dilation rate of what follows by the
    stride it gave up. The block that gave it up keeps the rate it had
    before (torchvision's ``previous_dilation``). In stride-first stages
    (v1, ResNet-B/C/D, ResNeXt, basic) that is the stage's first block; in
    Keras's v2, which strides in the last block of a stage, the whole stage
    keeps its rate and the next stage takes the new one.

    Args:
        arch: An ``Architecture``.
        output_stride: 8, 16 or 32 (32: the table's strides, no dilation).

    Returns:
        A tuple of ``(stride1, first_dilation, dilation)`` per stage, the
        arguments of the stage's stack function.

    Raises:
        ValueError: For an ``output_stride`` not in ``OUTPUT_STRIDES``.
    """
    check_output_stride(output_stride)
    net_stride, dilation = 4, 1
    plan = []
    for stride in arch.strides:
        previous = dilation
        if stride > 1 and net_stride >= output_stride:
            dilation *= stride
            stride = 1
        else:
            net_stride *= stride
        if arch.stack is blocks.stack2:
            plan.append((stride, previous, previous))
        else:
            plan.append((stride, previous, dilation))
    return tuple(plan)


def make_stack_fn(
    arch, *, options=blocks.DEFAULT_OPTIONS, survival_prob=None, output_stride=32,
    drop_path=None,
):
    """Returns the ``stack_fn`` for ``ResNet()`` that builds ``arch``'s stages.

    Args:
        arch: An ``Architecture``.
        options: ``blocks.BlockOptions`` for every block (shortcut type,
            zero-initialised gamma).
        survival_prob: Stochastic depth: the last block's survival
            probability ``p_L``, decaying linearly from 1; None for none.
        drop_path: timm's stochastic depth instead: the last block's drop
            rate, rising linearly from 0 at the first block
            (``residual.linear_drop_rates``); None for none.
        output_stride: 32 (the table's strides), 16 or 8: the last stages
            dilated instead of strided (``stage_plan``). The weights keep
            their shapes and names.
    """
    if drop_path is not None:
        probs = residual.linear_drop_rates(sum(arch.stage_sizes), drop_path)
    else:
        probs = residual.linear_survival_probs(sum(arch.stage_sizes), survival_prob)
    plan = stage_plan(arch, output_stride)

    def stack_fn(x):
        stages = zip(arch.stage_sizes, arch.widths, plan)
        first = 0
        for i, (num_blocks, filters, (stride, first_dilation, dilation)) in enumerate(stages):
            extra = {}
            if dilation != 1:
                extra["dilation"] = dilation
            if first_dilation != dilation:
                extra["first_dilation"] = first_dilation
            if options != blocks.DEFAULT_OPTIONS:
                extra["options"] = options
            if survival_prob is not None or drop_path is not None:
                extra["survival_probs"] = probs[first : first + num_blocks]
            if arch.groups is not None:
                extra["groups"] = arch.groups
            if arch.out_widths is not None:
                extra["out_filters"] = arch.out_widths[i]
            x = arch.stack(
                x, filters, num_blocks, stride1=stride, name=f"conv{i + 2}", **extra
            )
            first += num_blocks
        return x

    return stack_fn


def ResNet(
    stack_fn,
    preact,
    use_bias,
    model_name="resnet",
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    weights_name=None,
    *,
    stem_fn=None,
    pool_fn=None,
    default_size=224,
):
    """Instantiates a ResNet, ResNetV2 or ResNeXt from a stage builder.

    Args:
        stack_fn: Function from the stem's output tensor to the last stage's
            output tensor (see ``make_stack_fn`` and ``keras_resnet.blocks``).
        preact: Whether the stages use pre-activation (True for ResNetV2):
            the stem then has no BN/ReLU and a ``post_bn`` precedes the head.
        use_bias: Whether the stem convolution has a bias.
        model_name: The model's name.
        include_top: Whether to put the classifier (global average pooling and
            a ``classes``-way dense layer) on top.
        weights: ``None`` (random initialization), ``"imagenet"`` (published
            weights, downloaded once), the path of a weight file, or a
            ``weights.WeightsSource`` that ``resolve_weights`` decided already.
        input_tensor: Optional Keras tensor to use as the model's input.
        input_shape: Optional shape without batch axis. Defaults to
            ``(224, 224, 3)`` with the top and ``(None, None, 3)`` without
            (channels first under the ``channels_first`` data format).
        pooling: Head when ``include_top=False``: ``None`` (the 4-D feature
            map), ``"avg"`` or ``"max"`` (global pooling to a 2-D tensor).
        classes: Number of classes of the classifier.
        classifier_activation: Activation of the classifier; ``None`` returns
            logits. With a pretrained classifier only ``None`` or ``"softmax"``.
        weights_name: The registry key of the architecture's published
            weights (``"resnet50"``); defaults to ``model_name``, so that
            renaming a model does not lose its weights when this is given.
        stem_fn: Function from the input to the stem's output before the
            max pool (``stems.deep_stem`` ...); None for Keras's 7x7 stem,
            shaped by ``preact`` and ``use_bias``.
        pool_fn: Function from the stem's output to its downsampled output
            (``stems.conv_pool``, ResNet-RS's); None for Keras's 3x3/2 max pool.
        default_size: The image side of the default input with the classifier.

    Returns:
        A ``keras.Model``.

    Raises:
        ValueError: For an invalid ``weights``, ``input_shape``, ``pooling``,
            ``classes`` or ``classifier_activation``, naming what was received.
    """
    def body(img_input):
        if stem_fn is not None:
            x = stem_fn(img_input)
        else:
            x = layers.ZeroPadding2D(padding=((3, 3), (3, 3)), name="conv1_pad")(img_input)
            x = layers.Conv2D(64, 7, strides=2, use_bias=use_bias, name="conv1_conv")(x)
        if stem_fn is None and not preact:
            x = layers.BatchNormalization(
                axis=residual.channel_axis(), epsilon=residual.BN_EPSILON, name="conv1_bn"
            )(x)
            x = layers.Activation("relu", name="conv1_relu")(x)
        if pool_fn is not None:
            x = pool_fn(x)
        else:
            x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name="pool1_pad")(x)
            x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
        return stack_fn(x)

    return common.classifier(
        body,
        name=model_name,
        weights_name=weights_name or model_name,
        preact=preact,
        default_size=default_size,
        include_top=include_top,
        weights=weights,
        input_tensor=input_tensor,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
    )


def from_table(
    key,
    *,
    weights="imagenet",
    shortcut="B",
    survival_prob=None,
    zero_init_gamma=False,
    model_name=None,
    output_stride=32,
    drop_path=None,
    **arguments,
):
    """Builds the row ``key`` of ``ARCHITECTURES``; the arguments are ``ResNet``'s.

    The catalogue's rows (``keras_resnet.build(name)``) and the named
    builders (``ResNet50`` ...) call this, through ``common.named_builder``.

    Args:
        key: A key of ``ARCHITECTURES`` (``"resnet50"``).
        weights, **arguments: keras.applications' arguments (``include_top``,
            ``input_tensor``, ``input_shape``, ``pooling``, ``classes``,
            ``classifier_activation``), as for ``ResNet``.
        shortcut: The paper's shortcut option (Table 3): ``"A"``
            (zero-padding, parameter-free), ``"B"`` (projection where the
            shape changes; Keras's, the default), ``"C"`` (projection
            everywhere) or ``None`` (plain network, no shortcut).
        survival_prob: Stochastic depth (Huang et al. 2016): the survival
            probability ``p_L`` of the last block, decaying linearly from 1
            (the paper uses 0.5). None (the default) for none.
        zero_init_gamma: Zero the gamma of each residual branch's last BN.
        model_name: The Keras model's name; defaults to ``key`` (``plainN``
            without shortcuts).
        output_stride: 32 (the default: the table's strides), 16 or 8: the
            stages past that stride dilate their convolutions instead of
            striding (``stage_plan``; timm's ``output_stride``). Layer names
            and weight shapes do not change, so the same weights load.
        drop_path: timm's stochastic depth (``drop_path_rate``): the last
            block drops with this rate, block ``i`` of ``L`` with ``rate * i /
            (L - 1)``; per example, scaled while training and absent at
            inference, so published weights load and give their outputs.
            None (the default) for none; not with ``survival_prob``.

    Returns:
        A ``keras.Model``.

    Raises:
        ValueError: For an invalid argument, or an option that the published
            weights were not trained with.
    """
    arch = ARCHITECTURES[key]
    if drop_path is not None and survival_prob is not None:
        raise ValueError(
            "Give `survival_prob` (Huang et al.'s stochastic depth) or `drop_path` (timm's), "
            f"not both. Received: survival_prob={survival_prob!r}, drop_path={drop_path!r}"
        )
    check_output_stride(output_stride)
    options = blocks.BlockOptions(
        shortcut=shortcut,
        zero_init_gamma=zero_init_gamma,
        bn_epsilon=arch.bn_epsilon,
        avg_down=arch.avg_down,
        attention=arch.attention,
        attention_ratio=arch.attention_ratio,
        drop_path=drop_path is not None,
    )
    if shortcut != "B" and weights is not None and not weights_lib.is_path(weights):
        raise ValueError(
            "The published weights were trained with shortcut option 'B'; "
            f"use `weights=None` for other shortcuts. Received: shortcut={shortcut!r}"
        )
    default_name = key if shortcut is not None else key.replace("resnet", "plain", 1)
    return ResNet(
        make_stack_fn(
            arch, options=options, survival_prob=survival_prob, output_stride=output_stride,
            drop_path=drop_path,
        ),
        preact=arch.preact,
        use_bias=arch.use_bias,
        model_name=model_name or default_name,
        weights_name=key,
        weights=weights,
        stem_fn=arch.stem and functools.partial(arch.stem, epsilon=arch.bn_epsilon),
        pool_fn=(
            functools.partial(stems.conv_pool, epsilon=arch.bn_epsilon)
            if arch.stem_pool == "conv" else None
        ),
        default_size=arch.default_size,
        **arguments,
    )


def feature_layers(arch):
    """The layer read for each feature level ``C2`` ... ``C5`` of ``arch``.

    Each level is a stage's last block output (``conv{k}_block{n}_out``).
    Keras's v2 downsamples in a stage's last block: its level is the block
    before, still at the stage's resolution (``features``' docstring).
    """
    names = {}
    for i, num_blocks in enumerate(arch.stage_sizes):
        last = num_blocks - 1 if arch.stack is blocks.stack2 and arch.strides[i] > 1 else num_blocks
        names[f"C{i + 2}"] = f"conv{i + 2}_block{last}_out"
    return names


#: The options every ImageNet ResNet takes besides keras.applications' arguments.
_OPTIONS = {
    "shortcut": "B", "survival_prob": None, "zero_init_gamma": False, "output_stride": 32,
    "drop_path": None,
}


def _doc(key, public_name):
    arch = ARCHITECTURES[key]
    if arch.stem is None:
        origin = f"""The same call as ``keras.applications.{public_name}`` where Keras has one;
    layer names and order match Keras's, so its weight files load unchanged."""
    else:
        origin = f"""torchvision's or timm's ``{key}`` layout (the papers are listed in
    ``keras_resnet.architectures.table``), built as PyTorch builds it: its
    PyTorch checkpoints load and give the same outputs. ``weights="imagenet"``
    takes the registered checkpoint with the best published top-1; ``keras-resnet
    weights list`` shows the others, which ``weights`` takes by tag."""
    return f"""Instantiates {public_name} ({arch.depth} layers, stages {arch.stage_sizes}).

    {origin}
    Inputs are preprocessed with ``preprocess_input(x, mode="{arch.preprocessing}")``.

    Args:
        include_top: Whether to put the ``classes``-way classifier on top.
        weights: ``None``, ``"imagenet"`` or the path of a weight file.
        input_tensor: Optional Keras tensor to use as the model's input.
        input_shape: Optional shape without batch axis (at least 32x32).
        pooling: ``None``, ``"avg"`` or ``"max"`` when ``include_top=False``.
        classes: Number of classes of the classifier.
        classifier_activation: Activation of the classifier, ``None`` for logits.
        name: The model's name (``"plain..."`` by default when ``shortcut=None``).
        shortcut: ``"A"``, ``"B"`` (default, Keras's), ``"C"`` or ``None`` (plain).
        survival_prob: Stochastic depth's last-block survival probability
            (0.5 in Huang et al.), None for none.
        zero_init_gamma: Zero the gamma of each residual branch's last BN.
        output_stride: 32, 16 or 8 (the last stages dilated instead of strided).
        drop_path: timm's stochastic depth, the last block's drop rate (RSB: 0.05).

    Returns:
        A ``keras.Model``.

    Example:
        >>> base = {public_name}(weights=None, include_top=False, pooling="avg")
    """


#: The named builders, in the order they are defined below (``_builder`` adds each).
_NAMED = []


def _builder(key, public_name):
    """``ResNet50`` and the others: the row ``key`` under keras.applications' name."""
    _NAMED.append(public_name)

    def build(*, model_name, shortcut, **arguments):
        # Without shortcuts the default name becomes "plainN".
        if shortcut is None and model_name == key:
            model_name = None
        return from_table(key, model_name=model_name, shortcut=shortcut, **arguments)

    return common.named_builder(
        build, public_name, _doc(key, public_name), name=key, options=_OPTIONS
    )


def _rows():
    rows = []
    for key, arch in ARCHITECTURES.items():
        builder = common.named_builder(
            functools.partial(from_table, key), key,
            f"The catalogue's ``{key}``: ``resnet.from_table({key!r}, ...)``.",
            name=None, options=_OPTIONS, name_arg="model_name",
        )
        rows.append(
            family.Row(
                key, "imagenet", builder, arch.depth, arch.default_size, arch.preprocessing,
                feature_layers=feature_layers(arch), output_strides=OUTPUT_STRIDES,
            )
        )
    # The paper's plain networks: its basic-block rows (Keras's stem) without shortcuts.
    for key, arch in ARCHITECTURES.items():
        if arch.stack is blocks.basic_stack and arch.stem is None:
            plain = key.replace("resnet", "plain", 1)
            builder = common.named_builder(
                functools.partial(from_table, key, shortcut=None), plain,
                f"The paper's plain {arch.depth}-layer network: ``{key}`` without shortcuts.",
                name=None, options={"survival_prob": None, "zero_init_gamma": False},
                name_arg="model_name",
            )
            rows.append(
                family.Row(
                    plain, "imagenet", builder, arch.depth, arch.default_size,
                    arch.preprocessing, plain=True,
                )
            )
    return tuple(rows)


ResNet18 = _builder("resnet18", "ResNet18")
ResNet34 = _builder("resnet34", "ResNet34")
ResNet50 = _builder("resnet50", "ResNet50")
ResNet101 = _builder("resnet101", "ResNet101")
ResNet152 = _builder("resnet152", "ResNet152")
ResNet50V2 = _builder("resnet50v2", "ResNet50V2")
ResNet101V2 = _builder("resnet101v2", "ResNet101V2")
ResNet152V2 = _builder("resnet152v2", "ResNet152V2")
ResNeXt50 = _builder("resnext50", "ResNeXt50")
ResNeXt101 = _builder("resnext101", "ResNeXt101")
ResNet50B = _builder("resnet50b", "ResNet50B")
ResNet101B = _builder("resnet101b", "ResNet101B")
ResNet152B = _builder("resnet152b", "ResNet152B")
ResNet50C = _builder("resnet50c", "ResNet50C")
ResNet18D = _builder("resnet18d", "ResNet18D")
ResNet34D = _builder("resnet34d", "ResNet34D")
ResNet50D = _builder("resnet50d", "ResNet50D")
ResNet101D = _builder("resnet101d", "ResNet101D")
ResNet152D = _builder("resnet152d", "ResNet152D")
WideResNet50_2 = _builder("wide_resnet50_2", "WideResNet50_2")
WideResNet101_2 = _builder("wide_resnet101_2", "WideResNet101_2")
ResNeXt50_32x4d = _builder("resnext50_32x4d", "ResNeXt50_32x4d")
ResNeXt101_32x8d = _builder("resnext101_32x8d", "ResNeXt101_32x8d")
ResNeXt101_64x4d = _builder("resnext101_64x4d", "ResNeXt101_64x4d")

FAMILY = family.Family(rows=_rows(), exports=("ARCHITECTURES", "ResNet", *_NAMED))


# `build`, `list_models` and `preprocess_input_for` are now the catalogue's.
__getattr__ = _deprecated.module_getattr(__name__)

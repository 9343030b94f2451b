"""The ResNet factory, the one depth table, and the named builders.

``ResNet(stack_fn, preact, use_bias, ...)`` mirrors keras.applications'
factory: a stem (7x7/2 convolution, 3x3/2 max-pool), the stages built by
``stack_fn``, then a classifier or a pooling head. Each named builder
(``ResNet50`` ...) is a thin function over the ``ARCHITECTURES`` table.

References:
    He, Zhang, Ren, Sun. Deep Residual Learning for Image Recognition. 2015.
    He, Zhang, Ren, Sun. Identity Mappings in Deep Residual Networks. 2016.
    Xie, Girshick, Dollar, Tu, He. Aggregated Residual Transformations for
    Deep Neural Networks (ResNeXt). 2017.
"""

import dataclasses
import functools

import keras
from keras import layers

from keras_resnet import blocks
from keras_resnet import preprocessing

_POOLINGS = (None, "avg", "max")


@dataclasses.dataclass(frozen=True)
class Architecture:
    """One row of the depth table.

    Attributes:
        stack: The stage builder (``blocks.stack1`` ...).
        stage_sizes: Blocks per stage, conv2 to conv5.
        widths: The ``filters`` argument of each stage.
        strides: The ``stride1`` argument of each stage. v1 and ResNeXt
            downsample at the start of conv3..conv5; Keras's v2 at the end of
            conv2..conv4.
        preact: Pre-activation (v2) network: no BN/ReLU in the stem, a
            ``post_bn`` before the head.
        use_bias: Bias on the stem convolution.
        preprocessing: The ``preprocess_input`` mode the family was trained
            with (``"caffe"``, ``"tf"`` or ``"torch"``).
    """

    stack: callable
    stage_sizes: tuple
    widths: tuple = (64, 128, 256, 512)
    strides: tuple = (1, 2, 2, 2)
    preact: bool = False
    use_bias: bool = True
    preprocessing: str = "caffe"

    @property
    def depth(self):
        """Weighted layers: the stem, every convolution on the residual path, the classifier."""
        convs_per_block = 2 if self.stack is blocks.basic_stack else 3
        return 2 + convs_per_block * sum(self.stage_sizes)


_basic = functools.partial(
    Architecture, blocks.basic_stack, use_bias=False, preprocessing="torch"
)
_v1 = functools.partial(Architecture, blocks.stack1)
_v2 = functools.partial(
    Architecture, blocks.stack2, strides=(2, 2, 2, 1), preact=True, preprocessing="tf"
)
_resnext = functools.partial(
    Architecture,
    blocks.stack3,
    widths=(128, 256, 512, 1024),
    use_bias=False,
    preprocessing="torch",
)

#: The ImageNet family, by Keras model name.
ARCHITECTURES = {
    "resnet18": _basic((2, 2, 2, 2)),
    "resnet34": _basic((3, 4, 6, 3)),
    "resnet50": _v1((3, 4, 6, 3)),
    "resnet101": _v1((3, 4, 23, 3)),
    "resnet152": _v1((3, 8, 36, 3)),
    "resnet50v2": _v2((3, 4, 6, 3)),
    "resnet101v2": _v2((3, 4, 23, 3)),
    "resnet152v2": _v2((3, 8, 36, 3)),
    "resnext50": _resnext((3, 4, 6, 3)),
    "resnext101": _resnext((3, 4, 23, 3)),
}


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
    if (
        isinstance(survival_prob, bool)
        or not isinstance(survival_prob, (int, float))
        or not 0.0 < survival_prob <= 1.0
    ):
        raise ValueError(
            "`survival_prob` should be None or a number in (0, 1] (the paper "
            f"uses 0.5). Received: survival_prob={survival_prob!r}"
        )
    drop = 1.0 - float(survival_prob)
    return tuple(1.0 - l / num_blocks * drop for l in range(1, num_blocks + 1))


def make_stack_fn(arch, *, options=blocks.DEFAULT_OPTIONS, survival_prob=None):
    """Returns the ``stack_fn`` for ``ResNet()`` that builds ``arch``'s stages.

    Args:
        arch: An ``Architecture``.
        options: ``blocks.BlockOptions`` for every block (shortcut type,
            zero-initialised gamma).
        survival_prob: Stochastic depth: the last block's survival
            probability ``p_L``, decaying linearly from 1; None for none.
    """
    probs = linear_survival_probs(sum(arch.stage_sizes), survival_prob)

    def stack_fn(x):
        stages = zip(arch.stage_sizes, arch.widths, arch.strides)
        first = 0
        for i, (num_blocks, filters, stride) in enumerate(stages):
            extra = {}
            if options != blocks.DEFAULT_OPTIONS:
                extra["options"] = options
            if survival_prob is not None:
                extra["survival_probs"] = probs[first : first + num_blocks]
            x = arch.stack(
                x, filters, num_blocks, stride1=stride, name=f"conv{i + 2}", **extra
            )
            first += num_blocks
        return x

    return stack_fn


def _is_pretrained(weights):
    """True when ``weights`` names a registered weight file rather than a path."""
    from keras_resnet import weights as weights_lib

    return weights is not None and not weights_lib.is_path(weights)


def _validate_weights(weights, include_top, classes, weights_name):
    """Checks ``weights``; returns whether it will fill the classifier too.

    A registered tag with ``include_top=True`` and another ``classes`` is a
    fine-tuning load (the backbone from the file without the top, a fresh
    head); the registry says which file serves the combination.
    """
    from keras_resnet import weights as weights_lib

    weights_lib.check_weights_arg(
        weights, model_name=weights_name, include_top=include_top, classes=classes
    )
    if not (include_top and _is_pretrained(weights)):
        return False
    _, fresh_head = weights_lib.resolve(
        weights_name, weights, include_top=include_top, classes=classes
    )
    return not fresh_head


def resolve_input_shape(
    input_shape, *, include_top, pretrained, pretrained_top=None, default_size=224, min_size=32
):
    """Checks ``input_shape`` and fills in the default, as keras.applications does.

    Args:
        input_shape: The user's shape (without batch axis) or None.
        include_top: Whether the classifier is attached; it needs a static
            shape, and with pretrained weights the training resolution.
        pretrained: Whether published weights will be loaded (3 channels).
        pretrained_top: Whether they fill the classifier too, which then
            needs the training resolution. Defaults to
            ``pretrained and include_top``.
        default_size: The training resolution.
        min_size: The smallest side the five stride-2 stages accept.

    Returns:
        A 3-tuple shape in the global image data format.

    Raises:
        ValueError: For a shape that is not 3-D, has a side under
            ``min_size``, has the wrong channel count for pretrained weights,
            or leaves a side undefined under ``include_top=True``.
    """
    channels_first = keras.config.image_data_format() == "channels_first"

    def with_channels(spatial, channels):
        return (channels, *spatial) if channels_first else (*spatial, channels)

    default = with_channels((default_size, default_size), 3)
    if input_shape is None:
        if include_top:
            return default
        return with_channels((None, None), 3)

    try:
        input_shape = tuple(input_shape)
    except TypeError:
        input_shape = None
    if input_shape is None or len(input_shape) != 3:
        raise ValueError(
            "`input_shape` must be a tuple of three integers, "
            f"{'(channels, height, width)' if channels_first else '(height, width, channels)'}. "
            f"Received: input_shape={input_shape!r}"
        )
    if pretrained_top is None:
        pretrained_top = pretrained and include_top
    if pretrained_top and input_shape != default:
        raise ValueError(
            "When setting `include_top=True` and loading pretrained weights, "
            f"`input_shape` should be {default}. Received: input_shape={input_shape}"
        )
    channels = input_shape[0] if channels_first else input_shape[-1]
    spatial = input_shape[1:] if channels_first else input_shape[:2]
    if pretrained and channels != 3:
        raise ValueError(
            "Pretrained weights expect 3 input channels. Received: "
            f"input_shape={input_shape} (data format "
            f"{keras.config.image_data_format()!r})"
        )
    if channels is None:
        raise ValueError(
            f"The channel axis of `input_shape` must be defined. Received: input_shape={input_shape}"
        )
    if any(side is not None and side < min_size for side in spatial):
        raise ValueError(
            f"Input size must be at least {min_size}x{min_size}. Received: "
            f"input_shape={input_shape}"
        )
    if include_top and None in spatial:
        raise ValueError(
            "If `include_top` is True, you should specify a static "
            f"`input_shape`. Received: input_shape={input_shape}"
        )
    return input_shape


def head(x, *, preact, include_top, pooling, classes, classifier_activation):
    """Everything after the last stage, with Keras's layer names.

    Pre-activation networks end their last block on an addition, so they get
    the BN and ReLU (``post_bn``, ``post_relu``) that each block defers to the
    next one. Then the classifier (``avg_pool``, ``predictions``) or, without
    it, the optional global pooling (``avg_pool`` or ``max_pool``).

    Returns:
        The model's output tensor.
    """
    if preact:
        x = layers.BatchNormalization(
            axis=blocks.channel_axis(), epsilon=blocks.BN_EPSILON, name="post_bn"
        )(x)
        x = layers.Activation("relu", name="post_relu")(x)
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        return layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    if pooling == "avg":
        return layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if pooling == "max":
        return layers.GlobalMaxPooling2D(name="max_pool")(x)
    return x


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
            weights, downloaded once), or the path of a weight file.
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

    Returns:
        A ``keras.Model``.

    Raises:
        ValueError: For an invalid ``weights``, ``input_shape``, ``pooling``,
            ``classes`` or ``classifier_activation``, naming what was received.
    """
    weights_name = weights_name or model_name
    pretrained_top = _validate_weights(weights, include_top, classes, weights_name)
    pretrained = _is_pretrained(weights)
    if pooling not in _POOLINGS:
        raise ValueError(
            "`pooling` should be one of None, 'avg' or 'max'. "
            f"Received: pooling={pooling!r}"
        )
    if not isinstance(classes, int) or isinstance(classes, bool) or classes < 1:
        raise ValueError(
            f"`classes` should be a positive integer. Received: classes={classes!r}"
        )
    if pretrained_top and classifier_activation not in {"softmax", None}:
        raise ValueError(
            "Only `None` and `softmax` activations are allowed for the "
            "`classifier_activation` argument when using pretrained weights. "
            f"Received: classifier_activation={classifier_activation!r}"
        )

    input_shape = resolve_input_shape(
        input_shape, include_top=include_top, pretrained=pretrained, pretrained_top=pretrained_top
    )
    if input_tensor is None:
        img_input = layers.Input(shape=input_shape)
    elif not keras.backend.is_keras_tensor(input_tensor):
        img_input = layers.Input(tensor=input_tensor, shape=input_shape)
    else:
        img_input = input_tensor

    axis = blocks.channel_axis()
    x = layers.ZeroPadding2D(padding=((3, 3), (3, 3)), name="conv1_pad")(img_input)
    x = layers.Conv2D(64, 7, strides=2, use_bias=use_bias, name="conv1_conv")(x)
    if not preact:
        x = layers.BatchNormalization(
            axis=axis, epsilon=blocks.BN_EPSILON, name="conv1_bn"
        )(x)
        x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)

    x = stack_fn(x)
    x = head(
        x,
        preact=preact,
        include_top=include_top,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
    )

    if input_tensor is not None:
        inputs = keras.utils.get_source_inputs(input_tensor)
    else:
        inputs = img_input
    model = keras.Model(inputs, x, name=model_name)

    if weights is not None:
        from keras_resnet import weights as weights_lib

        weights_lib.load_weights(
            model, weights, model_name=weights_name, include_top=include_top
        )
    return model


def build(
    name,
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    *,
    shortcut="B",
    survival_prob=None,
    zero_init_gamma=False,
    **kwargs,
):
    """Builds a registered model by name; the arguments are ``ResNet``'s.

    Args:
        name: A name from ``list_models(include_plain=True)``
            (case-insensitive), e.g. ``"resnet50"``; ``"plainN"`` is
            ``"resnetN"`` with ``shortcut=None``. The CIFAR networks
            (``"resnet20"`` ...) are built by ``keras_resnet.cifar.build``.
        include_top, weights, input_tensor, input_shape, pooling, classes,
            classifier_activation: As for ``ResNet``.
        shortcut: The paper's shortcut option (Table 3): ``"A"``
            (zero-padding, parameter-free), ``"B"`` (projection where the
            shape changes; Keras's, the default), ``"C"`` (projection
            everywhere) or ``None`` (plain network, no shortcut).
        survival_prob: Stochastic depth (Huang et al. 2016): the survival
            probability ``p_L`` of the last block, decaying linearly from 1
            (the paper uses 0.5). None (the default) for none.
        zero_init_gamma: Zero the gamma of each residual branch's last BN.
        **kwargs: ``model_name`` overrides the Keras model's name.

    Returns:
        A ``keras.Model``.

    Raises:
        ValueError: For an unknown name or keyword, or an option that the
            published weights were not trained with.
    """
    key = str(name).lower().replace("-", "").replace("_", "")
    if key.startswith("plain"):
        key, shortcut = "resnet" + key[len("plain") :], None
    if key not in ARCHITECTURES:
        from keras_resnet import cifar

        hint = ""
        if key in cifar.list_models():
            # Different defaults (10 classes, no weights, option A): its own build.
            hint = f" {name!r} is a CIFAR network: use keras_resnet.cifar.build({key!r})."
        raise ValueError(
            f"Unknown model {name!r}. Known models: "
            f"{', '.join(list_models(include_plain=True))}.{hint}"
        )
    unknown = set(kwargs) - {"model_name"}
    if unknown:
        raise ValueError(f"Unknown argument(s): {sorted(unknown)}")
    options = blocks.BlockOptions(shortcut=shortcut, zero_init_gamma=zero_init_gamma)
    if _is_pretrained(weights) and shortcut != "B":
        raise ValueError(
            "The published weights were trained with shortcut option 'B'; "
            f"use `weights=None` for other shortcuts. Received: shortcut={shortcut!r}"
        )
    arch = ARCHITECTURES[key]
    default_name = key if shortcut is not None else key.replace("resnet", "plain", 1)
    return ResNet(
        make_stack_fn(arch, options=options, survival_prob=survival_prob),
        preact=arch.preact,
        use_bias=arch.use_bias,
        model_name=kwargs.get("model_name") or default_name,
        weights_name=key,
        include_top=include_top,
        weights=weights,
        input_tensor=input_tensor,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
    )


def list_models(*, include_plain=False):
    """Returns the names accepted by ``build``, in table order.

    Args:
        include_plain: Also list the paper's plain networks (``plain18``,
            ``plain34``: the basic-block nets without shortcuts).
    """
    names = list(ARCHITECTURES)
    if include_plain:
        names += [
            key.replace("resnet", "plain", 1)
            for key, arch in ARCHITECTURES.items()
            if arch.stack is blocks.basic_stack
        ]
    return names


def preprocess_input_for(name):
    """Returns the ``preprocess_input`` function of a registered model."""
    mode = ARCHITECTURES[name].preprocessing
    return functools.partial(preprocessing.preprocess_input, mode=mode)


def _builder(key, public_name):
    arch = ARCHITECTURES[key]

    def builder(
        include_top=True,
        weights="imagenet",
        input_tensor=None,
        input_shape=None,
        pooling=None,
        classes=1000,
        classifier_activation="softmax",
        name=key,
        *,
        shortcut="B",
        survival_prob=None,
        zero_init_gamma=False,
    ):
        return build(
            key,
            include_top=include_top,
            weights=weights,
            input_tensor=input_tensor,
            input_shape=input_shape,
            pooling=pooling,
            classes=classes,
            classifier_activation=classifier_activation,
            shortcut=shortcut,
            survival_prob=survival_prob,
            zero_init_gamma=zero_init_gamma,
            # Without shortcuts the default name becomes "plainN".
            model_name=None if shortcut is None and name == key else name,
        )

    builder.__name__ = builder.__qualname__ = public_name
    builder.__doc__ = f"""Instantiates {public_name} ({arch.depth} layers, stages {arch.stage_sizes}).

    The same call as ``keras.applications.{public_name}`` where Keras has one;
    layer names and order match Keras's, so its weight files load unchanged.
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

    Returns:
        A ``keras.Model``.

    Example:
        >>> base = {public_name}(weights=None, include_top=False, pooling="avg")
    """
    return builder


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

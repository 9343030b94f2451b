"""What every family's factory shares: the input, the argument checks, the head.

keras.applications' rules, written once: the default input shape and its
checks (``resolve_input_shape``), the checks of ``pooling`` and ``classes``,
the model input from ``input_tensor``/``input_shape``, and the head after the
last stage (``post_bn`` for pre-activation networks, then the classifier or
global pooling), with Keras's layer names.
"""

import contextlib
import inspect
import sys

import keras
from keras import layers

from keras_resnet import weights as weights_lib
from keras_resnet.architectures import residual

POOLINGS = (None, "avg", "max")

#: keras.applications' arguments of every builder, in its order, with the
#: defaults of its ImageNet networks. Declared once: ``named_builder`` makes
#: every builder's signature from it, ``classifier`` fills in what a caller
#: leaves out. (``resnet.ResNet`` repeats them: it mirrors Keras's factory.)
APPLICATION_ARGUMENTS = {
    "include_top": True,
    "weights": "imagenet",
    "input_tensor": None,
    "input_shape": None,
    "pooling": None,
    "classes": 1000,
    "classifier_activation": "softmax",
}


def image_shape(size, channels=3):
    """The shape of one ``size`` x ``size`` image in the global data format."""
    if keras.config.image_data_format() == "channels_first":
        return (channels, size, size)
    return (size, size, channels)


def check_head_args(*, pooling, classes):
    """Raises ValueError, naming what was received, for a bad ``pooling`` or ``classes``."""
    if pooling not in POOLINGS:
        raise ValueError(
            "`pooling` should be one of None, 'avg' or 'max'. "
            f"Received: pooling={pooling!r}"
        )
    if not isinstance(classes, int) or isinstance(classes, bool) or classes < 1:
        raise ValueError(
            f"`classes` should be a positive integer. Received: classes={classes!r}"
        )


def resolve_source(weights, *, model_name, include_top, classes, pooling, classifier_activation):
    """What ``weights=`` loads (``weights.resolve_weights``), with the head's arguments checked.

    Args:
        weights: The builder's ``weights`` argument, or a ``WeightsSource``
            resolved already.
        model_name: The registry key of the architecture.
        include_top, classes, pooling, classifier_activation: The builder's.

    Returns:
        A ``WeightsSource``.
    """
    source = weights
    if not isinstance(source, weights_lib.WeightsSource):
        source = weights_lib.resolve_weights(
            weights, model_name=model_name, include_top=include_top, classes=classes
        )
    check_head_args(pooling=pooling, classes=classes)
    if source.pretrained_top and classifier_activation not in {"softmax", None}:
        raise ValueError(
            "Only `None` and `softmax` activations are allowed for the "
            "`classifier_activation` argument when using pretrained weights. "
            f"Received: classifier_activation={classifier_activation!r}"
        )
    return source


def model_input(input_tensor, input_shape):
    """The ``Input`` a factory builds on, from ``input_tensor`` if one is given."""
    if input_tensor is None:
        return layers.Input(shape=input_shape)
    if not keras.backend.is_keras_tensor(input_tensor):
        return layers.Input(tensor=input_tensor, shape=input_shape)
    return input_tensor


def source_inputs(input_tensor, img_input):
    """The inputs of the finished model: ``input_tensor``'s sources when given."""
    if input_tensor is not None:
        sources = keras.utils.get_source_inputs(input_tensor)
        # A single source as itself, not a list of one: the model then takes
        # a plain tensor, as one built on ``Input`` does (a list makes Keras
        # warn that the structure of the inputs does not match on PyTorch).
        return sources[0] if len(sources) == 1 else sources
    return img_input


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
    if any(
        side is not None and (not isinstance(side, int) or isinstance(side, bool) or side < 1)
        for side in input_shape
    ):
        raise ValueError(
            "`input_shape` should hold positive integers (or None for a free "
            f"spatial side). Received: input_shape={input_shape}"
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
            axis=residual.channel_axis(), epsilon=residual.BN_EPSILON, name="post_bn"
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


def classifier(
    body, *, name, weights_name, preact=False, default_size=224, min_size=32, **arguments
):
    """The skeleton of every family's network, in keras.applications' order.

    ``weights`` is resolved once, through the package's loader and its checks
    (a registered tag, a file, or None), before anything is built; then the
    input shape is checked against it, the input made, ``body`` applied, the
    head put on, the model made and the weights loaded. A family supplies its
    ``body`` (stem and trunk) and its sizes; everything else is this.

    Args:
        body: Function from the input tensor to the last stage's output.
        name: The model's name.
        weights_name: The registry key of the network's published weights.
        preact: Whether ``body`` ends on a pre-activation block's addition
            (the head then adds ``post_bn`` and ``post_relu``).
        default_size: The image side of the default input with the top.
        min_size: The smallest image side the trunk's downsampling accepts.
        **arguments: keras.applications' arguments (``APPLICATION_ARGUMENTS``;
            those left out take its defaults).

    Returns:
        A ``keras.Model``.

    Raises:
        TypeError: For an argument keras.applications does not have.
    """
    unknown = set(arguments) - set(APPLICATION_ARGUMENTS)
    if unknown:
        raise TypeError(f"{name}: unexpected arguments {sorted(unknown)}")
    arguments = {**APPLICATION_ARGUMENTS, **arguments}
    include_top, weights, input_tensor, input_shape, pooling, classes, classifier_activation = (
        arguments[key] for key in APPLICATION_ARGUMENTS
    )
    source = resolve_source(
        weights,
        model_name=weights_name,
        include_top=include_top,
        classes=classes,
        pooling=pooling,
        classifier_activation=classifier_activation,
    )
    input_shape = resolve_input_shape(
        input_shape,
        include_top=include_top,
        pretrained=source.pretrained,
        pretrained_top=source.pretrained_top,
        default_size=default_size,
        min_size=min_size,
    )
    img_input = model_input(input_tensor, input_shape)
    x = head(
        body(img_input),
        preact=preact,
        include_top=include_top,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
    )
    # The deepest networks (ResNet-1202, DenseNet-BC-250) have thousands of layers.
    with deep_graph_recursion():
        model = keras.Model(source_inputs(input_tensor, img_input), x, name=name)
    return weights_lib.load_source(model, source)


def named_builder(
    build, public_name, doc, *, name, weights="imagenet", classes=1000, options=None,
    name_arg="name",
):
    """Makes a builder with keras.applications' signature over ``build``.

    Every builder of the package is made here: the named ones (``ResNet50``,
    ``DenseNet121``, ``ResNet56`` ...) and the catalogue's rows
    (``keras_resnet.build(name)``). The builder takes keras.applications'
    arguments in its order (``include_top``, ``weights``, ``input_tensor``,
    ``input_shape``, ``pooling``, ``classes``, ``classifier_activation``, and
    the model's name as ``name_arg``), then the family's ``options``
    keyword-only, and shows that signature to ``inspect`` and ``help``; it
    calls ``build`` with them all, the name passed as ``model_name``.

    Args:
        build: The family's function of those arguments (``from_table`` with
            its row bound).
        public_name: The builder's name.
        doc: Its docstring.
        name, weights, classes: The defaults of those arguments.
        options: The family's keyword-only arguments and their defaults.
        name_arg: What the name argument is called: keras.applications'
            ``"name"``, or the catalogue's ``"model_name"``.

    Returns:
        The builder.
    """
    positional = inspect.Parameter.POSITIONAL_OR_KEYWORD
    defaults = {**APPLICATION_ARGUMENTS, "weights": weights, "classes": classes, name_arg: name}
    signature = inspect.Signature(
        [inspect.Parameter(arg, positional, default=default) for arg, default in defaults.items()]
        + [
            inspect.Parameter(arg, inspect.Parameter.KEYWORD_ONLY, default=default)
            for arg, default in (options or {}).items()
        ]
    )

    def builder(*args, **kwargs):
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as error:
            raise TypeError(f"{public_name}(): {error}") from None
        bound.apply_defaults()
        arguments = dict(bound.arguments)
        arguments["model_name"] = arguments.pop(name_arg)
        return build(**arguments)

    builder.__signature__ = signature
    builder.__name__ = builder.__qualname__ = public_name
    builder.__doc__ = doc
    return builder


@contextlib.contextmanager
def deep_graph_recursion(limit=50_000):
    """Raises Python's recursion limit for the duration of the block.

    Keras maps a functional graph recursively, about one Python frame per
    layer: ResNet-1202 (over 5,000 layers in a chain) exceeds the default
    limit of 1,000. Wrap other whole-graph operations on such a model
    (``clone_model``, ``keras.saving.load_model``) in it too.
    """
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, limit))
    try:
        yield
    finally:
        sys.setrecursionlimit(old)

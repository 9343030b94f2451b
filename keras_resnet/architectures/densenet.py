"""DenseNet (Huang et al. 2017): dense blocks joined by transitions, as a table.

Every layer of a dense block reads the concatenation of all the feature maps
before it and adds ``growth_rate`` channels of its own (BN, ReLU, a 1x1
bottleneck of ``4 * growth_rate`` channels, BN, ReLU, a 3x3 convolution); a
transition (BN, ReLU, 1x1 convolution, 2x2 average pool) between two blocks
halves the resolution and, with compression, the channels. One
``DenseNetArchitecture`` row per named network says how many layers each
block has and how wide they grow.

The ImageNet rows (``densenet121``, ``densenet169``, ``densenet201``) are
keras.applications' networks with its layer names and creation order, so
Keras's published weight files load unchanged; ``densenet161`` is the
paper's fourth ImageNet network (torchvision's ``densenet161``). The CIFAR
rows are the paper's Table 2: a 3x3 stem, three blocks, no max pool;
DenseNet (``densenet40_k12`` ...) without bottlenecks or compression,
DenseNet-BC (``densenet_bc100_k12`` ...) with both.

Unlike keras.applications, both data formats are built (Keras's DenseNet
refuses ``channels_first``).

Reference:
    Huang, Liu, van der Maaten, Weinberger. Densely Connected Convolutional
    Networks. CVPR 2017.

Example:
    >>> from keras_resnet import DenseNet121, build
    >>> base = DenseNet121(weights=None, include_top=False, pooling="avg")
    >>> cifar = build("densenet_bc100_k12")       # 0.8M parameters, 10 classes
"""

import dataclasses
import functools

from keras import layers

from keras_resnet.architectures import common, family, residual


@dataclasses.dataclass(frozen=True)
class DenseNetArchitecture:
    """One row of the DenseNet table.

    Attributes:
        block_sizes: Layers in each dense block.
        growth_rate: ``k``, the channels each layer adds.
        stem_width: Channels of the first convolution.
        bottleneck: A 1x1 convolution to ``4 * k`` channels before each 3x3
            (the paper's "-B").
        compression: The fraction of channels a transition keeps (the
            paper's theta; "-C" when under 1).
        cifar: The CIFAR stem (a 3x3 convolution, nothing else) instead of
            ImageNet's (7x7/2 convolution, BN, ReLU, 3x3/2 max pool).
        preprocessing: The ``preprocess_input`` mode the family is trained
            with.
    """

    block_sizes: tuple
    growth_rate: int = 32
    stem_width: int = 64
    bottleneck: bool = True
    compression: float = 0.5
    cifar: bool = False
    preprocessing: str = "torch"

    @property
    def depth(self):
        """Weighted layers: the stem, each dense layer's convolutions, the transitions, the classifier."""
        per_layer = 2 if self.bottleneck else 1
        return 1 + per_layer * sum(self.block_sizes) + len(self.block_sizes) - 1 + 1

    @property
    def default_size(self):
        return 32 if self.cifar else 224


def _cifar(depth, growth_rate, *, bc):
    """Table 2's CIFAR network of ``depth`` layers: three equal blocks.

    ``depth - 4`` counts every convolution inside the blocks (two a layer
    with bottlenecks); the stem is ``2k`` wide for DenseNet-BC, 16 without.
    """
    per_block = (depth - 4) // (6 if bc else 3)
    return DenseNetArchitecture(
        (per_block,) * 3,
        growth_rate=growth_rate,
        stem_width=2 * growth_rate if bc else 16,
        bottleneck=bc,
        compression=0.5 if bc else 1.0,
        cifar=True,
        preprocessing="tf",
    )


#: The ImageNet networks (Table 1), by model name.
ARCHITECTURES = {
    "densenet121": DenseNetArchitecture((6, 12, 24, 16)),
    "densenet169": DenseNetArchitecture((6, 12, 32, 32)),
    "densenet201": DenseNetArchitecture((6, 12, 48, 32)),
    "densenet161": DenseNetArchitecture((6, 12, 36, 24), growth_rate=48, stem_width=96),
}

#: The CIFAR networks (Table 2), by model name.
CIFAR_ARCHITECTURES = {
    "densenet40_k12": _cifar(40, 12, bc=False),
    "densenet100_k12": _cifar(100, 12, bc=False),
    "densenet100_k24": _cifar(100, 24, bc=False),
    "densenet_bc100_k12": _cifar(100, 12, bc=True),
    "densenet_bc250_k24": _cifar(250, 24, bc=True),
    "densenet_bc190_k40": _cifar(190, 40, bc=True),
}


def _bn_relu(x, bn_name, relu_name):
    x = layers.BatchNormalization(
        axis=residual.channel_axis(), epsilon=residual.BN_EPSILON, name=bn_name
    )(x)
    return layers.Activation("relu", name=relu_name)(x)


def dense_block(x, num_layers, growth_rate, *, bottleneck=True, name):
    """A dense block: each layer's ``growth_rate`` new channels are concatenated to its input.

    Layer names are Keras's (``conv2_block1_0_bn`` ... ``conv2_block1_2_conv``,
    ``conv2_block1_concat``); without the bottleneck the 3x3 convolution is
    ``_1_conv``.

    Args:
        x: Input tensor.
        num_layers: Layers in the block.
        growth_rate: Channels each layer adds.
        bottleneck: Put a 1x1 convolution to ``4 * growth_rate`` channels
            before each 3x3 convolution.
        name: Block label (``"conv2"``).

    Returns:
        Output tensor: the input's channels plus ``num_layers * growth_rate``.
    """
    for i in range(1, num_layers + 1):
        prefix = f"{name}_block{i}"
        y = _bn_relu(x, f"{prefix}_0_bn", f"{prefix}_0_relu")
        conv = 1
        if bottleneck:
            y = layers.Conv2D(4 * growth_rate, 1, use_bias=False, name=f"{prefix}_1_conv")(y)
            y = _bn_relu(y, f"{prefix}_1_bn", f"{prefix}_1_relu")
            conv = 2
        y = layers.Conv2D(
            growth_rate, 3, padding="same", use_bias=False, name=f"{prefix}_{conv}_conv"
        )(y)
        x = layers.Concatenate(axis=residual.channel_axis(), name=f"{prefix}_concat")([x, y])
    return x


def transition(x, compression, *, name):
    """A transition: BN, ReLU, 1x1 convolution to ``compression`` of the channels, 2x2 average pool.

    Args:
        x: Input tensor.
        compression: The fraction of channels kept (rounded down, as Keras
            and torchvision do).
        name: Transition label (``"pool2"``).

    Returns:
        Output tensor at half the resolution.
    """
    channels = int(x.shape[residual.channel_axis()] * compression)
    x = _bn_relu(x, f"{name}_bn", f"{name}_relu")
    x = layers.Conv2D(channels, 1, use_bias=False, name=f"{name}_conv")(x)
    return layers.AveragePooling2D(2, strides=2, name=f"{name}_pool")(x)


def _stem(x, arch):
    if arch.cifar:
        return layers.Conv2D(
            arch.stem_width, 3, padding="same", use_bias=False, name="conv1_conv"
        )(x)
    # Keras leaves the two paddings unnamed (auto-numbered names); they hold
    # no weights, so naming them as its ResNets do changes no file.
    x = layers.ZeroPadding2D(padding=((3, 3), (3, 3)), name="conv1_pad")(x)
    x = layers.Conv2D(arch.stem_width, 7, strides=2, use_bias=False, name="conv1_conv")(x)
    x = _bn_relu(x, "conv1_bn", "conv1_relu")
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name="pool1_pad")(x)
    return layers.MaxPooling2D(3, strides=2, name="pool1")(x)


def DenseNet(arch, *, name="densenet", weights_name=None, **arguments):
    """Instantiates a DenseNet from a row of the table.

    Args:
        arch: A ``DenseNetArchitecture``.
        name: The model's name.
        weights_name: The registry key of the network's published weights;
            defaults to ``name``.
        **arguments: keras.applications' arguments (``include_top``,
            ``weights``, ``input_tensor``, ``input_shape``, ``pooling``,
            ``classes``, ``classifier_activation``), with its defaults
            (``common.APPLICATION_ARGUMENTS``). ``input_shape`` defaults to
            the training resolution (224, or 32 for CIFAR rows) with the top
            and ``(None, None, 3)`` without; both data formats are built.

    Returns:
        A ``keras.Model``, or ValueError naming the argument that
        ``common.classifier``'s checks refused.
    """
    def body(img_input):
        x = _stem(img_input, arch)
        last = len(arch.block_sizes) - 1
        for i, num_layers in enumerate(arch.block_sizes):
            x = dense_block(
                x, num_layers, arch.growth_rate, bottleneck=arch.bottleneck, name=f"conv{i + 2}"
            )
            if i < last:
                x = transition(x, arch.compression, name=f"pool{i + 2}")
        return _bn_relu(x, "bn", "relu")

    # Keras's files name the stem "conv1/conv" (Keras 2 allowed "/"): they
    # match by order, the classifier left out when it stays fresh.
    return common.classifier(
        body,
        name=name,
        weights_name=weights_name or name,
        default_size=arch.default_size,
        # Two halvings (CIFAR) or five (ImageNet) must leave a pixel.
        min_size=8 if arch.cifar else 32,
        **arguments,
    )


def from_table(key, *, model_name=None, output_stride=32, **arguments):
    """Builds the row ``key`` of ``ARCHITECTURES`` or ``CIFAR_ARCHITECTURES``.

    The catalogue's rows (``keras_resnet.build(name)``) and the named
    builders (``DenseNet121`` ...) call this, through
    ``common.named_builder``.

    Args:
        key: A key of either table (``"densenet121"``, ``"densenet_bc100_k12"``).
        model_name: The Keras model's name; defaults to ``key``.
        output_stride: 32 only: DenseNet's transitions pool, and a dilated
            DenseNet is no published network (taken so that every
            ImageNet row answers ``output_stride``).
        **arguments: keras.applications' arguments, as for ``DenseNet``.

    Returns:
        A ``keras.Model``.
    """
    if output_stride != 32:
        raise ValueError(
            "`output_stride` should be 32 for DenseNet (its transitions pool; "
            f"dilation is for the ResNets). Received: output_stride={output_stride!r} "
            f"with name={key!r}"
        )
    arch = ARCHITECTURES.get(key) or CIFAR_ARCHITECTURES[key]
    return DenseNet(arch, name=model_name or key, weights_name=key, **arguments)


#: The level each ImageNet DenseNet feature backbone reads: the BN-ReLU
#: after each dense block, a transition's, then the final one.
FEATURE_LAYERS = {"C2": "pool2_relu", "C3": "pool3_relu", "C4": "pool4_relu", "C5": "relu"}


def _doc(key, public_name, origin):
    arch = ARCHITECTURES[key]
    return f"""Instantiates {public_name} (growth rate {arch.growth_rate}, blocks {arch.block_sizes}).

    Huang et al. 2017, "Densely Connected Convolutional Networks", Table 1.
    {origin}
    Inputs are preprocessed with ``preprocess_input(x, mode="{arch.preprocessing}")``.

    Args:
        include_top: Whether to put the ``classes``-way classifier on top.
        weights: ``None``, ``"imagenet"`` or the path of a weight file. With
            ``"imagenet"`` and ``classes`` other than 1000, the backbone is
            loaded under a fresh classifier.
        input_tensor: Optional Keras tensor to use as the model's input.
        input_shape: Optional shape without batch axis (at least 32x32).
        pooling: ``None``, ``"avg"`` or ``"max"`` when ``include_top=False``.
        classes: Number of classes of the classifier.
        classifier_activation: Activation of the classifier, ``None`` for logits.
        name: The model's name.

    Returns:
        A ``keras.Model``.

    Example:
        >>> base = {public_name}(weights=None, include_top=False, pooling="avg")
    """


def _builder(key, public_name, origin):
    return common.named_builder(
        functools.partial(from_table, key), public_name, _doc(key, public_name, origin), name=key
    )


_KERAS = """The same call as ``keras.applications.{}``; layer names and order
    match Keras's, so its weight files load unchanged."""
DenseNet121 = _builder("densenet121", "DenseNet121", _KERAS.format("DenseNet121"))
DenseNet169 = _builder("densenet169", "DenseNet169", _KERAS.format("DenseNet169"))
DenseNet201 = _builder("densenet201", "DenseNet201", _KERAS.format("DenseNet201"))
DenseNet161 = _builder(
    "densenet161",
    "DenseNet161",
    """torchvision's ``densenet161`` in Keras's layout (the same parameters);
    no weights are registered for it yet: pass ``weights=None`` or a weight file.""",
)


def _row(key, arch):
    imagenet = not arch.cifar
    builder = common.named_builder(
        functools.partial(from_table, key),
        key,
        f"The catalogue's ``{key}``: ``densenet.from_table({key!r}, ...)``, keras.applications' "
        "arguments.",
        name=None,
        weights="imagenet" if imagenet else None,
        classes=1000 if imagenet else 10,
        options={"output_stride": 32},
        name_arg="model_name",
    )
    return family.Row(
        key, "imagenet" if imagenet else "cifar", builder, arch.depth, arch.default_size,
        arch.preprocessing, feature_layers=FEATURE_LAYERS if imagenet else None,
    )


FAMILY = family.Family(
    rows=tuple(_row(key, arch) for key, arch in {**ARCHITECTURES, **CIFAR_ARCHITECTURES}.items()),
    exports=("DenseNet121", "DenseNet169", "DenseNet201", "DenseNet161"),
)

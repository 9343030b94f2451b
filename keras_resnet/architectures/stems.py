"""The stems of the PyTorch layouts: torchvision's 7x7 and timm's deep 3x3 stem.

Keras's own stem (a 7x7/2 convolution with a bias) is built inline by
``resnet.ResNet``; the networks laid out as torchvision and timm lay them out
take one of these instead (a row's ``Architecture.stem``). Everything follows
PyTorch so that converted weights give the same outputs: no convolution
bias, BatchNorm's epsilon 1e-5, and explicit symmetric zero padding before
each convolution (Keras's ``padding="same"`` pads a strided convolution on
the bottom and right only, one pixel off PyTorch's ``padding=k // 2``).

Layer names: ``conv1_conv``, ``conv1_bn`` for the 7x7 stem (as Keras's);
``conv1_1_conv`` ... ``conv1_3_bn`` for the deep stem, whose last BN is
timm's ``bn1``; ``pool1_conv``, ``pool1_bn`` for ResNet-RS's convolution in
place of the max pool (``conv_pool``).

Reference:
    He, Zhang, Zhang, Xie, Li, Li. Bag of Tricks for Image Classification
    with Convolutional Neural Networks. 2018 (ResNet-C: the deep stem).
"""

from keras import layers

from keras_resnet.architectures import residual

#: Output channels of the deep stem's three convolutions (timm's
#: ``stem_width=32``, ``stem_type="deep"``).
DEEP_STEM_WIDTHS = (32, 32, 64)

#: The same for timm's tiered deep stem (``stem_type="deep_tiered"``: the
#: "T" networks, ``ecaresnet50t`` ...).
TIERED_STEM_WIDTHS = (24, 32, 64)


def conv_bn_relu(x, filters, kernel_size, stride, name, *, epsilon):
    """``{name}_pad``, a bias-free ``{name}_conv``, ``{name}_bn`` and ``{name}_relu``."""
    x = layers.ZeroPadding2D(padding=kernel_size // 2, name=name + "_pad")(x)
    x = layers.Conv2D(
        filters, kernel_size, strides=stride, use_bias=False, name=name + "_conv"
    )(x)
    x = residual.batch_norm(name + "_bn", epsilon=epsilon)(x)
    return layers.Activation("relu", name=name + "_relu")(x)


def torch_stem(x, *, epsilon=residual.TORCH_BN_EPSILON):
    """torchvision's stem: a bias-free 7x7/2 convolution (padded by 3), BN, ReLU.

    Args:
        x: The input images.
        epsilon: BatchNorm's epsilon.

    Returns:
        The stem's output, before the max pool (which ``ResNet`` adds).
    """
    return conv_bn_relu(x, 64, 7, 2, "conv1", epsilon=epsilon)


def deep_stem(x, *, epsilon=residual.TORCH_BN_EPSILON, widths=DEEP_STEM_WIDTHS):
    """The "ResNet-C" stem: three 3x3 convolutions, the first with stride 2.

    Each is followed by BN and ReLU; with timm's widths (32, 32, 64) it
    replaces the 7x7 convolution's 9,408 weights by 28,512 and sees the same
    field of view.

    Args:
        x: The input images.
        epsilon: BatchNorm's epsilon.
        widths: Output channels of the three convolutions.

    Returns:
        The stem's output, before the max pool (which ``ResNet`` adds).
    """
    for i, filters in enumerate(widths):
        x = conv_bn_relu(x, filters, 3, 2 if i == 0 else 1, f"conv1_{i + 1}", epsilon=epsilon)
    return x


def tiered_stem(x, *, epsilon=residual.TORCH_BN_EPSILON):
    """timm's tiered deep stem: ``deep_stem`` with 24, 32 and 64 channels."""
    return deep_stem(x, epsilon=epsilon, widths=TIERED_STEM_WIDTHS)


def conv_pool(x, *, epsilon=residual.TORCH_BN_EPSILON):
    """ResNet-RS's stem downsampling: a bias-free 3x3/2 convolution, BN, ReLU.

    It takes the place of the 3x3/2 max pool (timm's ``replace_stem_pool``,
    still named ``maxpool`` there); here ``pool1_conv``, ``pool1_bn``.
    """
    return conv_bn_relu(x, residual.channels(x), 3, 2, "pool1", epsilon=epsilon)

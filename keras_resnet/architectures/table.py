"""The depth table: one row per named ImageNet network, as data.

Each ``Architecture`` says which stack builds the stages, how many blocks
each stage has, their widths and strides, and the conventions of the weights
the network was trained with; ``resnet.from_table`` builds a row,
``keras_resnet.catalog`` names them.

Besides Keras's rows, the table holds torchvision's and timm's layouts, built
as PyTorch builds them so that their converted weights give the same outputs
(no convolution bias, BatchNorm epsilon 1e-5, symmetric padding):
ResNet-B (``resnet50b``: the stride on the 3x3 convolution, torchvision's
``resnet50``), ResNet-C (``resnet50c``: a deep stem of three 3x3
convolutions), ResNet-D (``resnet18d`` ... ``resnet152d``: C plus an average
pool before each downsampling projection), torchvision's wide
(``wide_resnet50_2``) and ResNeXt (``resnext50_32x4d`` ...) networks.

References:
    He, Zhang, Ren, Sun. Deep Residual Learning for Image Recognition. 2015.
    Xie, Girshick, Dollar, Tu, He. Aggregated Residual Transformations for
    Deep Neural Networks (ResNeXt). 2017.
    Zagoruyko, Komodakis. Wide Residual Networks. 2016.
    He, Zhang, Zhang, Xie, Li, Li. Bag of Tricks for Image Classification
    with Convolutional Neural Networks. 2018 (ResNet-B, -C, -D).
"""

import dataclasses
import functools

from keras_resnet.architectures import blocks, residual, stems


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
        stem: A function from the input to the stem's output before the
            max pool (``stems.torch_stem``, ``stems.deep_stem``); None for
            Keras's stem.
        groups: The ``groups`` argument of each stage (``stack3`` only);
            None for the stack's default.
        out_widths: The ``out_filters`` argument of each stage (``stack3``
            only); None for the stack's own rule.
        bn_epsilon: BatchNorm's epsilon throughout the network.
        avg_down: Average-pool downsampling in the projection shortcuts
            (ResNet-D; ``BlockOptions.avg_down``).
    """

    stack: callable
    stage_sizes: tuple
    widths: tuple = (64, 128, 256, 512)
    strides: tuple = (1, 2, 2, 2)
    preact: bool = False
    use_bias: bool = True
    preprocessing: str = "caffe"
    stem: callable = None
    groups: int = None
    out_widths: tuple = None
    bn_epsilon: float = residual.BN_EPSILON
    avg_down: bool = False

    @property
    def depth(self):
        """Weighted layers: the stem, every convolution on the residual path, the classifier.

        The deep stem counts as one, as in the names ``resnet50d`` ... use.
        """
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


def _widths(base):
    """Per-stage widths doubling from ``base``, torchvision's rule."""
    return tuple(base * 2**i for i in range(4))


# The PyTorch layouts (torchvision, timm): every convolution bias-free,
# BatchNorm's epsilon 1e-5. Their bottleneck is ``block3`` with one group
# and the stride on the 3x3 convolution ("ResNet-B"), 256 ... 2048 outputs.
_torch = functools.partial(
    Architecture,
    use_bias=False,
    preprocessing="torch",
    bn_epsilon=residual.TORCH_BN_EPSILON,
)
_b = functools.partial(
    _torch, blocks.stack3, groups=1, out_widths=_widths(256), stem=stems.torch_stem
)
_c = functools.partial(_b, stem=stems.deep_stem)
_d = functools.partial(_c, avg_down=True)
_basic_d = functools.partial(_torch, blocks.basic_stack, stem=stems.deep_stem, avg_down=True)

#: The ImageNet family, by model name (Keras's, then torchvision's and timm's).
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
    "resnet50b": _b((3, 4, 6, 3)),
    "resnet101b": _b((3, 4, 23, 3)),
    "resnet152b": _b((3, 8, 36, 3)),
    "resnet50c": _c((3, 4, 6, 3)),
    "resnet18d": _basic_d((2, 2, 2, 2)),
    "resnet34d": _basic_d((3, 4, 6, 3)),
    "resnet50d": _d((3, 4, 6, 3)),
    "resnet101d": _d((3, 4, 23, 3)),
    "resnet152d": _d((3, 8, 36, 3)),
    # Inner width = groups * width_per_group * 2**stage.
    "wide_resnet50_2": _b((3, 4, 6, 3), widths=_widths(128)),
    "wide_resnet101_2": _b((3, 4, 23, 3), widths=_widths(128)),
    "resnext50_32x4d": _b((3, 4, 6, 3), widths=_widths(32 * 4), groups=32),
    "resnext101_32x8d": _b((3, 4, 23, 3), widths=_widths(32 * 8), groups=32),
    "resnext101_64x4d": _b((3, 4, 23, 3), widths=_widths(64 * 4), groups=64),
}

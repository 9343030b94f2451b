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
(``wide_resnet50_2``) and ResNeXt (``resnext50_32x4d`` ...) networks, and
timm's networks with channel attention: SE-ResNet and SE-ResNeXt
(``seresnet50``, ``seresnext50_32x4d`` ...), ECA-ResNet (``ecaresnet50d``
...) and ResNet-RS (``resnetrs50`` ... ``resnetrs420``), each a row plus
its block's attention (``attention``), and for ResNet-RS its stem.

References:
    He, Zhang, Ren, Sun. Deep Residual Learning for Image Recognition. 2015.
    Xie, Girshick, Dollar, Tu, He. Aggregated Residual Transformations for
    Deep Neural Networks (ResNeXt). 2017.
    Zagoruyko, Komodakis. Wide Residual Networks. 2016.
    He, Zhang, Zhang, Xie, Li, Li. Bag of Tricks for Image Classification
    with Convolutional Neural Networks. 2018 (ResNet-B, -C, -D).
    Hu, Shen, Sun. Squeeze-and-Excitation Networks. 2018.
    Wang et al. ECA-Net: Efficient Channel Attention for Deep Convolutional
    Neural Networks. 2020.
    Bello et al. Revisiting ResNets: Improved Training and Scaling
    Strategies. 2021 (ResNet-RS).
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
        attention: Channel attention in every block: None, ``"se"`` or
            ``"eca"`` (``BlockOptions.attention``).
        attention_ratio: Squeeze-and-excitation's hidden width over its
            channels (``BlockOptions.attention_ratio``).
        stem_pool: The stem's downsampling after its convolutions:
            ``"max"`` (a 3x3/2 max pool) or ``"conv"`` (a 3x3/2 convolution,
            BN and ReLU; ResNet-RS, timm's ``replace_stem_pool``).
        default_size: The image side the published weights are evaluated
            at, and the default input with the classifier.
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
    attention: str = None
    attention_ratio: float = residual.SE_RATIO
    stem_pool: str = "max"
    default_size: int = 224

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
# timm's "T" layouts: D with a tiered deep stem (24, 32 and 64 channels).
_t = functools.partial(_d, stem=stems.tiered_stem)
# ResNet-RS (Bello et al. 2021): D, squeeze-and-excitation at ratio 1/4, and
# a strided 3x3 convolution instead of the stem's max pool.
_rs = functools.partial(_d, attention="se", attention_ratio=1 / 4, stem_pool="conv")

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
    # Squeeze-and-excitation (timm's SE-ResNet and SE-ResNeXt).
    "seresnet50": _b((3, 4, 6, 3), attention="se"),
    "seresnet101": _b((3, 4, 23, 3), attention="se"),
    "seresnet152": _b((3, 8, 36, 3), attention="se"),
    "seresnet152d": _d((3, 8, 36, 3), attention="se", default_size=256),
    "seresnext26d_32x4d": _d((2, 2, 2, 2), widths=_widths(32 * 4), groups=32, attention="se"),
    "seresnext26t_32x4d": _t((2, 2, 2, 2), widths=_widths(32 * 4), groups=32, attention="se"),
    "seresnext50_32x4d": _b((3, 4, 6, 3), widths=_widths(32 * 4), groups=32, attention="se"),
    "seresnext101_32x4d": _b((3, 4, 23, 3), widths=_widths(32 * 4), groups=32, attention="se"),
    "seresnext101_32x8d": _b((3, 4, 23, 3), widths=_widths(32 * 8), groups=32, attention="se"),
    "seresnext101d_32x8d": _d((3, 4, 23, 3), widths=_widths(32 * 8), groups=32, attention="se"),
    "seresnext101_64x4d": _b((3, 4, 23, 3), widths=_widths(64 * 4), groups=64, attention="se"),
    # Efficient channel attention (timm's ECA-ResNet).
    "ecaresnetlight": _b((1, 1, 11, 3), avg_down=True, attention="eca"),
    "ecaresnet26t": _t((2, 2, 2, 2), attention="eca", default_size=256),
    "ecaresnet50d": _d((3, 4, 6, 3), attention="eca"),
    "ecaresnet50t": _t((3, 4, 6, 3), attention="eca", default_size=256),
    "ecaresnet101d": _d((3, 4, 23, 3), attention="eca"),
    "ecaresnet269d": _d((3, 30, 48, 8), attention="eca", default_size=320),
    # ResNet-RS at the image sides timm evaluates its weights at.
    "resnetrs50": _rs((3, 4, 6, 3), default_size=224),
    "resnetrs101": _rs((3, 4, 23, 3), default_size=288),
    "resnetrs152": _rs((3, 8, 36, 3), default_size=320),
    "resnetrs200": _rs((3, 24, 36, 3), default_size=320),
    "resnetrs270": _rs((4, 29, 53, 4), default_size=352),
    "resnetrs350": _rs((4, 36, 72, 4), default_size=384),
    "resnetrs420": _rs((4, 44, 87, 4), default_size=416),
}

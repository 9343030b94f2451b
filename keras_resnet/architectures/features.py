"""Feature backbones: the multi-scale feature maps of an ImageNet network.

Detection and segmentation heads (FPN, DeepLab, Mask R-CNN) read a network
at several resolutions: the levels ``C2`` ... ``C5``, strides 4, 8, 16 and
32, named as in Lin et al.'s Feature Pyramid Networks. ``feature_backbone``
builds any row of the ResNet depth table, or an ImageNet DenseNet, without
its head, loads the weights the classifier would load, and returns a
``keras.Model`` whose outputs are a dict of the chosen levels. ``NETWORKS``
lists the names it takes; the plain networks, the CIFAR networks and the
demo's are not among them.

Where a level is read (for a ResNet, each is a block's output, the ReLU
after its addition or, in pre-activation networks, the addition itself):

* Networks that stride in the first block of a stage (v1, ResNet-B/C/D,
  wide, ResNeXt, ResNet-18/34): ``C{k}`` is the output of stage ``conv{k}``,
  ``conv{k}_block{n}_out``, as in timm's ``features_only`` and torchvision's
  ``IntermediateLayerGetter(layer1 ... layer4)``.
* Keras's v2 (``resnet50v2`` ...), which strides in the *last* block of
  conv2 to conv4: ``C{k}`` is the last block still at stride ``2**k``, the
  one before the striding block (``conv2_block2_out``, ``conv3_block3_out``,
  ``conv4_block5_out``); ``C5`` is ``conv5_block3_out``. These are the sums
  of a pre-activation network, not normalised: as timm's ``resnetv2``
  features, and unlike the headless model's output, which adds ``post_bn``
  and ``post_relu`` after ``C5``. Normalise in the head if it needs it.

* DenseNet (``densenet121``, ``densenet169``, ``densenet201``,
  ``densenet161``): the four dense blocks are ``C2`` ... ``C5``, each read
  after the BN-ReLU that follows it: the first three at their transition's
  ``pool{k}_relu`` (BN and ReLU of the block's concatenation, before the
  transition's 1x1 convolution and pooling), ``C5`` at the final ``relu``,
  the headless model's own output. So every level is normalised and
  activated as the network itself feeds it onwards (the concatenations
  before it are raw, unnormalised convolution outputs), and ``C5`` is what
  ``include_top=False`` gives. timm's ``features_only`` DenseNet (timm
  1.0) takes ``C2`` ... ``C4`` one step earlier, at the concatenations
  (``conv{k}_block{n}_concat`` here), and ``C5`` where this does: read
  those layers from the model if a head was trained on them. DenseNet has output stride 32 only: its
  transitions pool, and a dilated DenseNet is no published network. The
  CIFAR DenseNets have three blocks at strides 1, 2 and 4: no ``C2`` ...
  ``C5``.

``output_stride=16`` or ``8`` keeps the resolution of the last one or two
levels by dilating instead of striding (timm's ``output_stride``,
torchvision's ``replace_stride_with_dilation``; ``resnet.stage_plan`` has the
rule). Levels are read from the same layers at every output stride; only
their resolution changes. Dilation changes no weight's shape or name, so the
weights are the classifier's.

References:
    Lin, Dollar, Girshick, He, Hariharan, Belongie. Feature Pyramid Networks
    for Object Detection. 2017.
    Chen, Papandreou, Kokkinos, Murphy, Yuille. DeepLab: Semantic Image
    Segmentation with Deep Convolutional Nets, Atrous Convolution, and Fully
    Connected CRFs. 2017 (dilated, "atrous", backbones).
"""

import keras

from keras_resnet.architectures import family, resnet

#: The feature levels, finest first; ``C{k}`` has stride ``2**k``.
LEVELS = ("C2", "C3", "C4", "C5")


def _rows():
    return {
        row.name: row
        for fam in family.families()
        for row in fam.rows
        if row.feature_layers is not None
    }


#: Every network ``feature_backbone`` takes: each family's rows that name
#: their feature layers (the ResNet depth table, then the ImageNet DenseNets).
NETWORKS = tuple(_rows())


def level_layers(name):
    """The layer whose output is each level of the network ``name``.

    Args:
        name: A network of ``NETWORKS`` (``"resnet50"``, ``"densenet121"``).

    Returns:
        A dict from level (``"C2"`` ...) to layer name
        (``"conv2_block3_out"`` ..., for DenseNet ``"pool2_relu"`` ...
        ``"relu"``).

    Raises:
        ValueError: For a name that is not in ``NETWORKS``.
    """
    _check_name(name)
    return dict(_rows()[name].feature_layers)


def feature_backbone(
    name,
    levels=LEVELS,
    output_stride=32,
    weights=None,
    input_tensor=None,
    input_shape=None,
):
    """Builds the multi-scale feature maps of an ImageNet network.

    The network is built without its head (``include_top=False``) with the
    given weights; the returned model shares its layers and outputs the
    chosen levels. With ``output_stride`` 16 the stages past stride 16 are
    dilated (conv5: rate 2, its first block keeping rate 1), with 8 those
    past stride 8 (conv4: rate 2, conv5: rate 4), as torchvision's
    ``replace_stride_with_dilation`` and timm's ``output_stride`` do; for
    ResNet-D the average-pool shortcut of a dilated stage becomes timm's
    2x2 pool of stride 1.

    Args:
        name: A network of ``NETWORKS``: the depth table's, Keras's
            (``"resnet50"``, ``"resnet50v2"``, ``"resnext50"``,
            ``"resnet18"`` ...) and torchvision's and timm's
            (``"resnet50b"``, ``"resnet50d"``, ``"wide_resnet50_2"``,
            ``"resnext101_32x8d"``, ``"seresnext50_32x4d"``,
            ``"ecaresnet50d"``, ``"resnetrs50"`` ...), or an ImageNet DenseNet
            (``"densenet121"``, ``"densenet169"``, ``"densenet201"``,
            ``"densenet161"``).
        levels: The levels to output, a sequence of ``"C2"`` (stride 4),
            ``"C3"`` (8), ``"C4"`` (16), ``"C5"`` (32).
        output_stride: 32 (the default), 16 or 8: the largest stride of any
            level; the levels beyond it keep its resolution. DenseNet: 32
            only.
        weights: ``None`` (random initialization), a tag registered for
            ``name`` (``"imagenet"``) or the path of a weight file, as for
            the classifier (``include_top=False``).
        input_tensor: Optional Keras tensor to use as the model's input.
        input_shape: Optional shape without batch axis; defaults to any
            size, ``(None, None, 3)`` (channels first under that data
            format). At least 32x32.

    Returns:
        A ``keras.Model`` named ``"{name}_features"`` whose output is a dict
        from level name to its 4-D feature map.

    Raises:
        ValueError: For an unknown ``name``, a bad ``levels`` or
            ``output_stride``, or any argument the classifier would refuse.

    Example:
        >>> backbone = feature_backbone("resnet50", levels=("C3", "C4", "C5"),
        ...                             output_stride=16, input_shape=(64, 64, 3))
        >>> {k: tuple(v.shape) for k, v in backbone.output.items()}
        {'C3': (None, 8, 8, 512), 'C4': (None, 4, 4, 1024), 'C5': (None, 4, 4, 2048)}
    """
    layer_names = level_layers(name)
    levels = _check_levels(levels)
    resnet.check_output_stride(output_stride)
    model = _rows()[name].builder(
        include_top=False,
        weights=weights,
        input_tensor=input_tensor,
        input_shape=input_shape,
        output_stride=output_stride,
    )
    outputs = {level: model.get_layer(layer_names[level]).output for level in levels}
    return keras.Model(model.input, outputs, name=f"{name}_features")


def _check_name(name):
    networks = _rows()
    if not isinstance(name, str) or name not in networks:
        raise ValueError(
            f"`name` should be an ImageNet ResNet or DenseNet ({', '.join(networks)}). "
            f"Received: name={name!r}"
        )


def _check_levels(levels):
    """The levels as a tuple, or ValueError naming what was received."""
    message = (
        "`levels` should be a non-empty sequence of distinct level names from "
        f"{', '.join(LEVELS)}. Received: levels={levels!r}"
    )
    if isinstance(levels, str):
        raise ValueError(message)
    try:
        chosen = tuple(levels)
    except TypeError:
        raise ValueError(message) from None
    if not chosen or len(set(chosen)) != len(chosen) or any(
        not isinstance(level, str) or level not in LEVELS for level in chosen
    ):
        raise ValueError(message)
    return chosen

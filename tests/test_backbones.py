"""Feature backbones against independent references.

The levels are compared with keras.applications' own ResNet50 and ResNet50V2
(the same weights, activations read at layer names written out here) and,
for the PyTorch layouts, with the classifier's intermediate activations; the
dilation rates with torchvision's ``_make_layer`` rule (``previous_dilation``
for a dilated stage's first block), written out by hand per stage; the
dilated networks' features, when torch is installed, with torchvision's
``replace_stride_with_dilation`` and timm's ``output_stride`` models.
"""

import importlib.util
import subprocess
import sys

import keras
import numpy as np
import pytest
from conftest import randomize_weights, relative_error

from keras_resnet.architectures import features, resnet

SIZE = 64

# The layer of each level, read off keras.applications' graphs and
# torchvision's layer1..layer4 by hand: the last block at each stride.
LEVEL_LAYERS = {
    "resnet50": ("conv2_block3_out", "conv3_block4_out", "conv4_block6_out", "conv5_block3_out"),
    # Keras's v2 strides in the last block of conv2..conv4: the block before it.
    "resnet50v2": ("conv2_block2_out", "conv3_block3_out", "conv4_block5_out", "conv5_block3_out"),
    "resnet18": ("conv2_block2_out", "conv3_block2_out", "conv4_block2_out", "conv5_block2_out"),
    "resnet50d": ("conv2_block3_out", "conv3_block4_out", "conv4_block6_out", "conv5_block3_out"),
    "resnext50_32x4d": (
        "conv2_block3_out", "conv3_block4_out", "conv4_block6_out", "conv5_block3_out"
    ),
}
CHANNELS = {"resnet18": (64, 128, 256, 512)}
KERAS_APPLICATIONS = {"resnet50": "ResNet50", "resnet50v2": "ResNet50V2"}
BLOCKS = {"resnet50": (3, 4, 6, 3), "resnet50v2": (3, 4, 6, 3), "resnet18": (2, 2, 2, 2),
          "resnet50d": (3, 4, 6, 3), "resnext50_32x4d": (3, 4, 6, 3)}

# torchvision's rule (resnet.py, _make_layer): a dilated stage's first block
# takes stride 1 and the dilation before the stage (previous_dilation), its
# other blocks the stage's new dilation; conv2 and conv3 never change.
# Per output stride: stage -> (first block's stride, its rate, the others' rate).
TORCHVISION_RULE = {
    32: {"conv4": (2, 1, 1), "conv5": (2, 1, 1)},
    16: {"conv4": (2, 1, 1), "conv5": (1, 1, 2)},
    8: {"conv4": (1, 1, 2), "conv5": (1, 2, 4)},
}
# Keras's v2 strides in a stage's last block, which keeps the stage's rate;
# the stages after it take the new one. (block, stride, rate) where they change.
V2_RULE = {
    16: {"conv4_block6": (1, 1), "conv5": (1, 2)},
    8: {"conv3_block4": (1, 1), "conv4": (1, 2), "conv5": (1, 4)},
}


def _image_shape():
    return (SIZE, SIZE, 3)


def _copy_weights(source, target):
    """Assigns ``source``'s weights to ``target``'s layers of the same name."""
    for layer in target.layers:
        if layer.weights:
            layer.set_weights(source.get_layer(layer.name).get_weights())


def _images(rng, n=2):
    return rng.uniform(-1, 1, (n, SIZE, SIZE, 3)).astype("float32")


@pytest.mark.backend_agnostic
@pytest.mark.parametrize("name", list(LEVEL_LAYERS))
def test_levels_equal_the_full_models_activations(name, rng):
    """Each level is the reference's activation at the hand-picked layer, at stride 4 ... 32."""
    if name in KERAS_APPLICATIONS:
        reference = getattr(keras.applications, KERAS_APPLICATIONS[name])(
            weights=None, include_top=False, input_shape=_image_shape()
        )
    else:
        reference = resnet.from_table(
            name, weights=None, input_shape=_image_shape(), classes=10
        )
    randomize_weights(reference, rng)
    backbone = features.feature_backbone(name, input_shape=_image_shape())
    _copy_weights(reference, backbone)
    probe = keras.Model(
        reference.input, [reference.get_layer(n).output for n in LEVEL_LAYERS[name]]
    )
    x = _images(rng)
    expected = [keras.ops.convert_to_numpy(t) for t in probe(x, training=False)]
    actual = {k: keras.ops.convert_to_numpy(t) for k, t in backbone(x, training=False).items()}
    assert sorted(actual) == list(features.LEVELS)
    channels = CHANNELS.get(name, (256, 512, 1024, 2048))
    for k, (level, want) in enumerate(zip(features.LEVELS, expected)):
        side = SIZE // 2 ** (k + 2)
        assert actual[level].shape == (2, side, side, channels[k]), level
        # Seen: 0 (the same graph, the same kernels).
        assert relative_error(actual[level], want) < 1e-6, level


@pytest.mark.backend_agnostic
@pytest.mark.parametrize("output_stride", [16, 8])
@pytest.mark.parametrize("name", list(LEVEL_LAYERS))
def test_output_stride_shapes_and_torchvisions_dilations(name, output_stride):
    """C4/C5 keep H/16 or H/8; every convolution's stride and rate follow the rule by hand."""
    backbone = features.feature_backbone(
        name, output_stride=output_stride, input_shape=_image_shape()
    )
    sides = [SIZE // min(2**k, output_stride) for k in (2, 3, 4, 5)]
    assert [tuple(backbone.output[level].shape)[1:3] for level in features.LEVELS] == [
        (s, s) for s in sides
    ]

    checked = 0
    for layer in backbone.layers:
        if not isinstance(layer, keras.layers.Conv2D) or not layer.name.startswith("conv"):
            continue
        stage, block, *_ = layer.name.split("_")
        if stage == "conv1":
            continue
        index = int(block[len("block"):])
        stride, rate = _expected(name, output_stride, stage, index, layer)
        want = stride if _strides_here(name, layer) else 1
        assert tuple(layer.strides) == (want, want), layer.name
        if layer.kernel_size == (1, 1):
            assert tuple(layer.dilation_rate) == (1, 1), layer.name
        else:
            assert tuple(layer.dilation_rate) == (rate, rate), layer.name
            checked += 1
    assert checked == sum(BLOCKS[name]) * (2 if name == "resnet18" else 1)
    if name == "resnet50d":
        # timm's downsample_avg: AvgPool2d(2, 2) where the stage strides,
        # AvgPool2dSame(2, 1) (zeros padded bottom and right) where it dilates.
        for stage in ("conv3", "conv4", "conv5"):
            pool = backbone.get_layer(f"{stage}_block1_0_pool")
            stride = TORCHVISION_RULE[output_stride].get(stage, (2,))[0]
            assert tuple(pool.strides) == (stride, stride)
            names = [layer.name for layer in backbone.layers]
            if stride == 1:
                pad = backbone.get_layer(f"{stage}_block1_0_pool_pad")
                assert tuple(map(tuple, pad.padding)) == ((0, 1), (0, 1))
                assert pool.padding == "valid"
            else:
                assert f"{stage}_block1_0_pool_pad" not in names


def _strides_here(name, layer):
    """Whether the convolution is the one that carries its block's stride."""
    if name == "resnet50":  # Keras's v1: the first 1x1 and the projection
        return layer.name.endswith(("_1_conv", "_0_conv"))
    if name == "resnet18":
        return layer.name.endswith(("_1_conv", "_0_conv"))
    if name == "resnet50d":  # the average pool strides, not the 1x1
        return layer.name.endswith("_2_conv")
    return layer.name.endswith(("_2_conv", "_0_conv"))


def _expected(name, output_stride, stage, index, layer):
    """(stride of the block at this layer, dilation rate of this 3x3 convolution)."""
    if name == "resnet50v2":
        rule = V2_RULE.get(output_stride, {})
        for key in (f"{stage}_block{index}", stage):
            if key in rule:
                return rule[key]
        return (2 if (stage, index) in {("conv2", 3), ("conv3", 4), ("conv4", 6)} else 1), 1
    if stage in ("conv2", "conv3"):
        return (2 if stage == "conv3" and index == 1 else 1), 1
    first_stride, first_rate, rate = TORCHVISION_RULE[output_stride][stage]
    if index > 1:
        return 1, rate
    # timm's BasicBlock (torchvision's refuses dilation): the first
    # convolution of the first block keeps the previous rate, the second
    # takes the new one.
    if name == "resnet18" and layer.name.endswith("_2_conv"):
        return first_stride, rate
    return first_stride, first_rate


@pytest.mark.backend_agnostic
def test_dilated_backbone_loads_the_classifiers_weights(rng, tmp_path):
    """Tensor for tensor, the dilated backbone holds the file the undilated network saved.

    ResNet-D: its dilated stages add weightless pooling layers (timm's
    ``AvgPool2dSame``) that the file does not know.
    """
    name = "resnet50d"
    full = resnet.from_table(name, weights=None, include_top=False, input_shape=_image_shape())
    randomize_weights(full, rng)
    path = str(tmp_path / f"{name}.weights.h5")
    full.save_weights(path)
    backbone = features.feature_backbone(name, output_stride=8, weights=path)
    compared = 0
    for layer in backbone.layers:
        if not layer.weights:
            continue
        for mine, theirs in zip(layer.weights, full.get_layer(layer.name).weights, strict=True):
            np.testing.assert_array_equal(
                keras.ops.convert_to_numpy(mine), keras.ops.convert_to_numpy(theirs)
            )
            compared += 1
    assert compared == len(full.weights)


@pytest.mark.backend_agnostic
@pytest.mark.parametrize(
    "change, words",
    [
        ({"levels": ("C2", "P3")}, "`levels` should be"),
        ({"levels": "C5"}, "`levels` should be"),
        ({"levels": ()}, "`levels` should be"),
        ({"levels": ("C3", "C3")}, "`levels` should be"),
        ({"output_stride": 4}, "`output_stride` should be 8, 16 or 32. Received: output_stride=4"),
        ({"output_stride": True}, "`output_stride` should be"),
        ({"name": "resnet51"}, "`name` should be"),
        # Three blocks at strides 1, 2, 4: no C2 ... C5.
        ({"name": "densenet_bc100_k12"}, "`name` should be"),
        ({"name": "plain18"}, "`name` should be"),
        ({"name": "densenet121", "output_stride": 16},
         "`output_stride` should be 32 for DenseNet"),
    ],
)
def test_bad_arguments_are_named(change, words):
    kwargs = {"name": "resnet18", "input_shape": _image_shape()}
    kwargs.update(change)
    with pytest.raises(ValueError) as info:
        features.feature_backbone(**kwargs)
    message = str(info.value)
    assert words in message and "Received:" in message and "\n" not in message


# DenseNet: each dense block read after the BN-ReLU that follows it, the
# first three at their transition's BN-ReLU (keras.applications' pool{k}_bn,
# pool{k}_relu), the last at the final one (bn, relu). Channels by hand:
# the stem's 2k plus k per layer, halved by each transition.
DENSENET_LEVEL_LAYERS = ("pool2_relu", "pool3_relu", "pool4_relu", "relu")
DENSENET_CHANNELS = {
    "densenet121": (64 + 6 * 32, 128 + 12 * 32, 256 + 24 * 32, 512 + 16 * 32),
    "densenet169": (64 + 6 * 32, 128 + 12 * 32, 256 + 32 * 32, 640 + 32 * 32),
    "densenet201": (64 + 6 * 32, 128 + 12 * 32, 256 + 48 * 32, 896 + 32 * 32),
    "densenet161": (96 + 6 * 48, 192 + 12 * 48, 384 + 36 * 48, 1056 + 24 * 48),
}
DENSENET_KERAS = {"densenet121": "DenseNet121", "densenet169": "DenseNet169",
                  "densenet201": "DenseNet201"}


# The deeper three on TensorFlow only: their full-size forward on the other
# backends adds minutes and checks nothing DenseNet-121's does not.
@pytest.mark.parametrize(
    "name",
    [
        pytest.param("densenet121", marks=pytest.mark.backend_agnostic),
        pytest.param("densenet169", marks=pytest.mark.slow),
        pytest.param("densenet201", marks=pytest.mark.slow),
        pytest.param("densenet161", marks=pytest.mark.slow),
    ],
)
def test_densenet_levels_equal_the_full_models_activations(name, rng):
    """C2..C5 are keras.applications' activations after each block's BN-ReLU, strides 4..32.

    DenseNet-161, which keras.applications lacks: the classifier's inner
    activations at the same layers.
    """
    if name in DENSENET_KERAS:
        reference = getattr(keras.applications, DENSENET_KERAS[name])(
            weights=None, include_top=False, input_shape=_image_shape()
        )
    else:
        from keras_resnet.architectures import densenet

        reference = densenet.from_table(
            name, weights=None, input_shape=_image_shape(), classes=10
        )
    randomize_weights(reference, rng)
    backbone = features.feature_backbone(name, input_shape=_image_shape())
    _copy_weights(reference, backbone)
    probe = keras.Model(
        reference.input, [reference.get_layer(n).output for n in DENSENET_LEVEL_LAYERS]
    )
    x = _images(rng)
    expected = [keras.ops.convert_to_numpy(t) for t in probe(x, training=False)]
    actual = {k: keras.ops.convert_to_numpy(t) for k, t in backbone(x, training=False).items()}
    assert sorted(actual) == list(features.LEVELS)
    for k, (level, want) in enumerate(zip(features.LEVELS, expected)):
        side = SIZE // 2 ** (k + 2)
        assert actual[level].shape == (2, side, side, DENSENET_CHANNELS[name][k]), level
        # Seen: 0 (the same graph, the same kernels).
        assert relative_error(actual[level], want) < 1e-6, level


@pytest.mark.backend_agnostic
def test_densenet_levels_are_each_blocks_concatenation_normalised(rng):
    """By hand: C{k} = ReLU(BN(block k's concatenation)), with the BN that follows the block;
    C5 is the headless model's own output."""
    name = "densenet121"
    backbone = features.feature_backbone(name, input_shape=_image_shape())
    randomize_weights(backbone, rng)
    last_layer = {"conv2": 6, "conv3": 12, "conv4": 24, "conv5": 16}
    bns = {"conv2": "pool2_bn", "conv3": "pool3_bn", "conv4": "pool4_bn", "conv5": "bn"}
    concat = keras.Model(
        backbone.input,
        [backbone.get_layer(f"{block}_block{n}_concat").output
         for block, n in last_layer.items()],
    )
    x = _images(rng)
    actual = backbone(x, training=False)
    for level, block, blocks_out in zip(features.LEVELS, bns, concat(x, training=False)):
        gamma, beta, mean, variance = backbone.get_layer(bns[block]).get_weights()
        blocks_out = keras.ops.convert_to_numpy(blocks_out)
        # Keras's DenseNet BN epsilon.
        want = np.maximum(gamma * (blocks_out - mean) / np.sqrt(variance + 1.001e-5) + beta, 0)
        assert relative_error(keras.ops.convert_to_numpy(actual[level]), want) < 1e-5, level
    headless = keras.Model(backbone.input, backbone.get_layer("relu").output)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(headless(x, training=False)),
        keras.ops.convert_to_numpy(actual["C5"]),
    )


@pytest.mark.backend_agnostic
def test_densenet_backbone_loads_the_headless_models_file(rng, tmp_path):
    """Tensor for tensor, the backbone holds the file the headless DenseNet saved."""
    from keras_resnet.architectures import densenet

    full = densenet.from_table(
        "densenet121", weights=None, include_top=False, input_shape=_image_shape()
    )
    randomize_weights(full, rng)
    path = str(tmp_path / "densenet121.weights.h5")
    full.save_weights(path)
    backbone = features.feature_backbone("densenet121", weights=path, levels=("C3", "C5"))
    assert list(backbone.output) == ["C3", "C5"]
    compared = 0
    for layer in backbone.layers:
        if not layer.weights:
            continue
        for mine, theirs in zip(layer.weights, full.get_layer(layer.name).weights, strict=True):
            np.testing.assert_array_equal(
                keras.ops.convert_to_numpy(mine), keras.ops.convert_to_numpy(theirs)
            )
            compared += 1
    assert compared == len(full.weights)


def test_networks_lists_the_depth_table_and_the_imagenet_densenets():
    from keras_resnet import catalog

    imagenet = catalog.list_models("imagenet")
    assert set(features.NETWORKS) == set(imagenet)
    for name in features.NETWORKS:
        assert sorted(features.level_layers(name)) == list(features.LEVELS), name


# The oracle: torchvision's and timm's dilated ResNets run by torch itself, in
# a subprocess (torch and TensorFlow in one process can crash).

TORCH_SCRIPT = """
import sys

import numpy as np
import timm
import torch
import torchvision

builders = {
    # torchvision's replace_stride_with_dilation: conv4 and conv5 dilated.
    "resnet50b": lambda: torchvision.models.resnet50(
        replace_stride_with_dilation=[False, True, True]),
    # timm: the ResNet-D shortcut's 2x2 pool of stride 1 in dilated stages.
    "resnet50d": lambda: timm.create_model("resnet50d", output_stride=16),
    # timm's basic block (torchvision's refuses dilation), rates 2 and 4.
    "resnet18d": lambda: timm.create_model("resnet18d", output_stride=8),
}

def save(name, folder):
    torch.manual_seed(0)
    net = builders[name]().eval()
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):  # far from the identity
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0.0, 0.2)
                module.running_mean.normal_(0.0, 0.2)
                module.running_var.uniform_(0.5, 2.0)
        x = torch.rand(2, 3, 64, 64) * 2 - 1
        act = net.act1 if hasattr(net, "act1") else net.relu
        t = net.maxpool(act(net.bn1(net.conv1(x))))
        levels = []
        for stage in (net.layer1, net.layer2, net.layer3, net.layer4):
            t = stage(t)
            levels.append(t.permute(0, 2, 3, 1).numpy())
    torch.save(net.state_dict(), f"{folder}/{name}.pth")
    np.savez(f"{folder}/{name}.npz", x=x.permute(0, 2, 3, 1).numpy(), *levels)


folder = sys.argv[1]
for name in sys.argv[2:]:
    save(name, folder)
"""


def _has_torchvision_and_timm():
    return all(importlib.util.find_spec(m) for m in ("torch", "torchvision", "timm"))


TORCH_CASES = {"resnet50b": 8, "resnet50d": 16, "resnet18d": 8}


@pytest.mark.slow
@pytest.mark.backend_agnostic
@pytest.mark.skipif(not _has_torchvision_and_timm(), reason="needs torch, torchvision, timm")
def test_dilated_features_equal_pytorchs(tmp_path):
    script = tmp_path / "torch_features.py"
    script.write_text(TORCH_SCRIPT)
    subprocess.run([sys.executable, str(script), str(tmp_path), *TORCH_CASES], check=True)
    for name, output_stride in TORCH_CASES.items():
        data = np.load(tmp_path / f"{name}.npz")
        backbone = features.feature_backbone(
            name, output_stride=output_stride, weights=str(tmp_path / f"{name}.pth"),
            input_shape=_image_shape(),
        )
        actual = backbone(data["x"], training=False)
        for i, level in enumerate(features.LEVELS):
            want = data[f"arr_{i}"]
            got = keras.ops.convert_to_numpy(actual[level])
            assert got.shape == want.shape, (name, level)
            # Seen with torch 2.14.1, timm 1.0.31: at most 2.0e-6 (resnet50b, C4).
            # Keras's "same" average pool in place of timm's AvgPool2dSame: 0.46.
            assert relative_error(got, want) < 1e-5, (name, level)
        keras.backend.clear_session()

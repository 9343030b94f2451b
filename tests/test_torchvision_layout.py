"""torchvision's and timm's layouts (ResNet-B/C/D, wide, ResNeXt) against the publishers.

Parameter counts are torchvision's (``num_params`` of its weight records) and
timm's (its model cards); the layer-name tests spell out the names the
PyTorch checkpoint converter maps keys onto; the pooling test compares with
PyTorch's documented ``AvgPool2d(ceil_mode=True, count_include_pad=False)``
written out in NumPy.
"""

import re

import keras
import numpy as np
import pytest
from conftest import randomize_batch_norms, relative_error

import keras_resnet
from keras_resnet import weights as weights_lib
from keras_resnet import preprocessing
from keras_resnet.analysis import complexity
from keras_resnet.architectures import resnet

# Trainable parameters as published (PyTorch counts no BN statistics).
PUBLISHED_PARAMS = {
    # torchvision's resnet50/101/152 ("ResNet-B", "v1.5").
    "resnet50b": 25_557_032,
    "resnet101b": 44_549_160,
    "resnet152b": 60_192_808,
    "wide_resnet50_2": 68_883_240,
    "wide_resnet101_2": 126_886_696,
    "resnext50_32x4d": 25_028_904,
    "resnext101_32x8d": 88_791_336,
    "resnext101_64x4d": 83_455_272,
    # timm's.
    "resnet18d": 11_708_744,
    "resnet34d": 21_816_904,
    "resnet50d": 25_576_264,
    "resnet101d": 44_568_392,
    "resnet152d": 60_212_040,
}

BUILDERS = {
    "resnet50b": "ResNet50B",
    "resnet101b": "ResNet101B",
    "resnet152b": "ResNet152B",
    "resnet50c": "ResNet50C",
    "resnet18d": "ResNet18D",
    "resnet34d": "ResNet34D",
    "resnet50d": "ResNet50D",
    "resnet101d": "ResNet101D",
    "resnet152d": "ResNet152D",
    "wide_resnet50_2": "WideResNet50_2",
    "wide_resnet101_2": "WideResNet101_2",
    "resnext50_32x4d": "ResNeXt50_32x4d",
    "resnext101_32x8d": "ResNeXt101_32x8d",
    "resnext101_64x4d": "ResNeXt101_64x4d",
}
BASIC = ("resnet18d", "resnet34d")


def _shape(size, channels=3):
    if keras.config.image_data_format() == "channels_first":
        return (channels, size, size)
    return (size, size, channels)


def _convs(model):
    return [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]


@pytest.mark.parametrize("name", list(BUILDERS))
def test_parameter_counts_and_feature_map_at_224(name):
    """The publisher's count with the classifier; a 7x7 map before it."""
    model = getattr(keras_resnet, BUILDERS[name])(weights=None, input_shape=(224, 224, 3))
    assert model.name == name
    if name in PUBLISHED_PARAMS:  # timm publishes no resnet50c; see the C/D test
        assert complexity.count_params(model, trainable_only=True) == PUBLISHED_PARAMS[name]
    features = model.get_layer("avg_pool").input
    assert features.shape == (None, 7, 7, 512 if name in BASIC else 2048)


def test_resnet_c_differs_from_d_only_in_parameter_free_pools():
    c = keras_resnet.build("resnet50c", weights=None, include_top=False)
    d = keras_resnet.build("resnet50d", weights=None, include_top=False)
    assert c.count_params() == d.count_params()
    layers_of = lambda model: {layer.name for layer in model.layers[1:]}
    assert layers_of(d) - layers_of(c) == {f"conv{s}_block1_0_pool" for s in (3, 4, 5)}
    assert layers_of(c) <= layers_of(d)


@pytest.mark.parametrize(
    "name, groups, inner",
    [
        ("resnet50b", 1, (64, 128, 256, 512)),
        ("wide_resnet50_2", 1, (128, 256, 512, 1024)),
        ("resnext50_32x4d", 32, (128, 256, 512, 1024)),
    ],
)
def test_bottleneck_strides_in_the_3x3_convolution(name, groups, inner):
    """ResNet-B: the 1x1 reduction keeps the resolution, the (grouped) 3x3 strides."""
    model = keras_resnet.build(name, weights=None, include_top=False)
    for stage, width in zip((2, 3, 4, 5), inner):
        stride = (1, 1) if stage == 2 else (2, 2)
        block = f"conv{stage}_block1"
        assert model.get_layer(f"{block}_1_conv").strides == (1, 1)
        middle = model.get_layer(f"{block}_2_conv")
        assert middle.strides == stride and middle.groups == groups
        assert middle.filters == width and middle.kernel_size == (3, 3)
        assert model.get_layer(f"{block}_0_conv").strides == stride
        assert model.get_layer(f"{block}_3_conv").filters == 256 * 2 ** (stage - 2)


@pytest.mark.parametrize("name", ["resnet50d", "resnet18d"])
def test_resnet_d_pools_before_a_stride_one_projection(name):
    model = keras_resnet.build(name, weights=None, include_top=False)
    for stage in (3, 4, 5):
        pool = model.get_layer(f"conv{stage}_block1_0_pool")
        assert isinstance(pool, keras.layers.AveragePooling2D)
        assert pool.pool_size == (2, 2) and pool.strides == (2, 2)
        conv = model.get_layer(f"conv{stage}_block1_0_conv")
        assert conv.strides == (1, 1) and conv.kernel_size == (1, 1)
        assert conv._inbound_nodes[0].parent_nodes[0].operation is pool
    names = {layer.name for layer in model.layers}
    # conv2 does not downsample: no pool; only the bottleneck projects there.
    assert "conv2_block1_0_pool" not in names
    assert ("conv2_block1_0_conv" in names) == (name == "resnet50d")
    if name == "resnet50d":
        assert model.get_layer("conv2_block1_0_conv").strides == (1, 1)
        assert model.get_layer("conv3_block1_2_conv").strides == (2, 2)


def test_average_pool_equals_pytorch_ceil_mode_without_padding_counts(rng):
    """timm's ``AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False)`` on odd sides."""
    x = rng.normal(size=(1, 7, 5, 3)).astype("float32")
    expected = np.zeros((1, 4, 3, 3), "float32")
    for i in range(4):
        for j in range(3):
            # The last window on an odd side covers one row (column) only and
            # averages what it covers.
            expected[0, i, j] = x[0, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2].mean(axis=(0, 1))
    model = keras_resnet.build("resnet50d", weights=None, include_top=False)
    config = model.get_layer("conv3_block1_0_pool").get_config()
    config["data_format"] = "channels_last"
    pool = keras.layers.AveragePooling2D.from_config(config)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(pool(x)), expected, rtol=1e-6)


@pytest.mark.parametrize("name", ["resnet50d", "resnet18d", "resnet50c"])
def test_deep_stem(name):
    model = keras_resnet.build(name, weights=None, include_top=False, input_shape=(224, 224, 3))
    names = {layer.name for layer in model.layers}
    assert "conv1_conv" not in names and "conv1_bn" not in names
    for i, (filters, stride) in enumerate([(32, 2), (32, 1), (64, 1)], start=1):
        conv = model.get_layer(f"conv1_{i}_conv")
        assert (conv.filters, conv.kernel_size, conv.strides) == (filters, (3, 3), (stride,) * 2)
        assert isinstance(model.get_layer(f"conv1_{i}_bn"), keras.layers.BatchNormalization)
    assert model.get_layer("conv1_3_relu").output.shape == (None, 112, 112, 64)
    assert model.get_layer("pool1_pool").output.shape == (None, 56, 56, 64)


@pytest.mark.parametrize("name", ["resnet50b", "resnet50d", "resnet18d", "resnext50_32x4d"])
def test_pytorch_conventions(name):
    """Bias-free convolutions, epsilon 1e-5, symmetric explicit padding, torch inputs."""
    model = keras_resnet.build(name, weights=None)
    assert keras_resnet.catalog.get(name).preprocessing == "torch"
    for conv in _convs(model):
        assert not conv.use_bias, conv.name
        assert conv.padding == "valid", conv.name
        if conv.kernel_size != (1, 1):
            pad = conv._inbound_nodes[0].parent_nodes[0].operation
            half = conv.kernel_size[0] // 2
            assert isinstance(pad, keras.layers.ZeroPadding2D), conv.name
            assert pad.padding == ((half, half), (half, half)), conv.name
    bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert bns and all(bn.epsilon == 1e-5 for bn in bns)
    assert model.get_layer("pool1_pad").padding == ((1, 1), (1, 1))
    assert model.get_layer("pool1_pool").padding == "valid"
    head = model.get_layer("predictions")
    assert head.use_bias and head.units == 1000


@pytest.mark.parametrize("name", ["resnet50", "resnet18", "resnext50", "resnet50v2"])
def test_keras_networks_keep_their_epsilon(name):
    model = keras_resnet.build(name, weights=None, include_top=False)
    bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert bns and all(bn.epsilon == 1.001e-5 for bn in bns)


def _expected_weighted_layers(stage_sizes, *, deep_stem, bottleneck, avg_down):
    """The names the checkpoint converter maps PyTorch keys onto, written out."""
    stem = ["conv1_1", "conv1_2", "conv1_3"] if deep_stem else ["conv1"]
    names = [f"{s}_{kind}" for s in stem for kind in ("conv", "bn")]
    convs = (1, 2, 3) if bottleneck else (1, 2)
    for stage, blocks in zip((2, 3, 4, 5), stage_sizes):
        for j in range(1, blocks + 1):
            block = f"conv{stage}_block{j}"
            if j == 1 and (bottleneck or stage > 2):
                names += [f"{block}_0_conv", f"{block}_0_bn"]
            names += [f"{block}_{i}_{kind}" for i in convs for kind in ("conv", "bn")]
    return sorted([*names, "predictions"])


@pytest.mark.parametrize(
    "name, stage_sizes, deep_stem, bottleneck, avg_down",
    [
        ("resnet50b", (3, 4, 6, 3), False, True, False),
        ("resnet50d", (3, 4, 6, 3), True, True, True),
        ("resnet18d", (2, 2, 2, 2), True, False, True),
        ("resnext50_32x4d", (3, 4, 6, 3), False, True, False),
    ],
)
def test_layer_names_and_weight_order(name, stage_sizes, deep_stem, bottleneck, avg_down):
    model = keras_resnet.build(name, weights=None)
    weighted = sorted(layer.name for layer in model.layers if layer.weights)
    assert weighted == _expected_weighted_layers(
        stage_sizes, deep_stem=deep_stem, bottleneck=bottleneck, avg_down=avg_down
    )
    order = {
        keras.layers.Conv2D: ["kernel"],
        keras.layers.BatchNormalization: ["gamma", "beta", "moving_mean", "moving_variance"],
        keras.layers.Dense: ["kernel", "bias"],
    }
    for layer in model.layers:
        if layer.weights:
            assert [w.name for w in layer.weights] == order[type(layer)], layer.name
    pools = sorted(layer.name for layer in model.layers if layer.name.endswith("_0_pool"))
    assert pools == ([f"conv{s}_block1_0_pool" for s in (3, 4, 5)] if avg_down else [])


def test_catalogue_table_and_exports():
    listed = keras_resnet.list_models()
    for name, builder_name in BUILDERS.items():
        assert name in listed
        depth = int(re.search(r"res(?:net|next)(\d+)", name).group(1))
        assert resnet.ARCHITECTURES[name].depth == depth == keras_resnet.catalog.get(name).depth
        builder = getattr(keras_resnet, builder_name)
        assert builder.__name__ == builder_name and builder_name in keras_resnet.__all__
        assert "Args:" in builder.__doc__
    assert keras_resnet.catalog.get("ResNet-50-D").name == "resnet50d"
    assert keras_resnet.catalog.get("wide-resnet50-2").name == "wide_resnet50_2"
    # The paper's plain networks stay the two of Keras's basic rows.
    assert [n for n in keras_resnet.list_models(include_plain=True) if "plain" in n] == [
        "plain18",
        "plain34",
    ]


@pytest.mark.backend_agnostic
def test_builders_take_keras_applications_arguments():
    import inspect

    theirs = inspect.signature(keras.applications.ResNet50)
    for name, builder_name in BUILDERS.items():
        ours = inspect.signature(getattr(keras_resnet, builder_name))
        assert list(ours.parameters)[: len(theirs.parameters)] == list(theirs.parameters)
        for param, parameter in theirs.parameters.items():
            if param == "name":  # each builder's default is its own name, as in Keras
                assert ours.parameters[param].default == name
                continue
            assert ours.parameters[param].default == parameter.default, (builder_name, param)


@pytest.mark.backend_agnostic
def test_imagenet_means_the_best_registered_file_and_arguments_checked():
    # keras.applications' default weights="imagenet": for a PyTorch layout,
    # the registered file with the highest published top-1.
    for model, best in (("resnet50b", "imagenet1k_v2"), ("resnet50d", "a1_in1k"),
                        ("resnext101_64x4d", "imagenet1k_v1")):
        assert weights_lib.canonical_tag(model, "imagenet") == best
        top1 = {r.tag: r.top1 for r in weights_lib.records(model)}
        assert top1[best] == max(top1.values())
    assert weights_lib.canonical_tag("resnet50", "imagenet") == "imagenet"  # Keras's own
    with pytest.raises(ValueError, match=r"registered: none.*Received: weights='imagenet'"):
        keras_resnet.DenseNet161()
    with pytest.raises(ValueError, match=r"`pooling`.*Received: pooling='mean'"):
        keras_resnet.ResNet50D(weights=None, include_top=False, pooling="mean")
    with pytest.raises(ValueError, match=r"`weights`.*Received: weights='/no/such/file.h5'"):
        keras_resnet.build("resnext50_32x4d", weights="/no/such/file.h5")
    model = keras_resnet.ResNet18D(
        weights=None, classes=7, classifier_activation=None, input_shape=_shape(64)
    )
    assert model.output_shape == (None, 7)


@pytest.mark.backend_agnostic
def test_keras_file_round_trip_in_safe_mode(tmp_path, rng):
    model = keras_resnet.build("resnet50d", weights=None, classes=5, input_shape=_shape(48))
    randomize_batch_norms(model, rng)
    x = rng.normal(size=(2, *_shape(48))).astype("float32")
    path = tmp_path / "resnet50d.keras"
    model.save(path)
    restored = keras.saving.load_model(path, safe_mode=True)
    assert [layer.name for layer in restored.layers] == [layer.name for layer in model.layers]
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(restored(x)), keras.ops.convert_to_numpy(model(x)), rtol=1e-5
    )


def _run(model, x):
    """Runs ``model``; through XLA on TensorFlow, whose CPU kernels take NHWC only."""
    if keras.backend.backend() != "tensorflow":
        return model(x, training=False)
    import tensorflow as tf

    return tf.function(lambda x: model(x, training=False), jit_compile=True)(x)


@pytest.mark.backend_agnostic
def test_resnet50d_channels_first_equals_channels_last(rng):
    """48 px: conv5's input is 3x3, so the ceil-mode pool meets an odd side too."""
    last = keras_resnet.build("resnet50d", weights=None, input_shape=(48, 48, 3), classes=10)
    randomize_batch_norms(last, rng)
    keras.config.set_image_data_format("channels_first")
    first = keras_resnet.build("resnet50d", weights=None, input_shape=(3, 48, 48), classes=10)
    first.set_weights(last.get_weights())

    images = rng.uniform(0, 255, size=(2, 48, 48, 3)).astype("float32")
    x_last = preprocessing.preprocess_input(images, data_format="channels_last", mode="torch")
    x_first = np.ascontiguousarray(x_last.transpose(0, 3, 1, 2))
    out_last = keras.ops.convert_to_numpy(last(x_last, training=False))
    out_first = keras.ops.convert_to_numpy(_run(first, x_first))
    assert np.isfinite(out_last).all()
    assert relative_error(out_first, out_last) < 1e-5
    features = keras.Model(first.inputs, first.get_layer("conv5_block3_out").output)
    assert features.output_shape == (None, 2048, 2, 2)

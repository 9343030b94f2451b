"""CIFAR networks, plain networks and shortcut options against hand-computed counts.

Every expected count below is computed from the paper's description of the
network (He et al. 2015, sections 3.3 and 4.2; He et al. 2016 for the
pre-activation nets), not read off a built model.
"""

import keras
import numpy as np
import pytest

import keras_resnet
from keras_resnet import cifar
from keras_resnet.architectures.layers import ZeroPadShortcut

# The paper's Table 6 (millions of parameters), by depth.
TABLE_6 = {20: 0.27, 32: 0.46, 44: 0.66, 56: 0.85, 110: 1.7, 1202: 19.4}


def trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def cifar_basic_params(n, shortcut="A", classes=10):
    """(trainable, total) parameters of the 6n+2 CIFAR net, by the paper's recipe.

    Stem 3x3x3x16 conv, three stages of n blocks of two 3x3 convs (16, 32, 64
    filters; the first conv of stages 2 and 3 reads the previous width), a BN
    after every conv (gamma, beta trainable; mean, variance not), no conv
    biases, a 64 x classes dense layer with bias. Option A adds nothing;
    option B adds a 1x1 projection + BN where the width changes.
    """
    conv, bn_channels = 3 * 3 * 3 * 16, 16
    width_in = 16
    for width in (16, 32, 64):
        for _ in range(n):
            conv += 3 * 3 * width_in * width + 3 * 3 * width * width
            bn_channels += 2 * width
            if shortcut == "B" and width_in != width or shortcut == "C":
                conv += width_in * width
                bn_channels += width
            width_in = width
    dense = 64 * classes + classes
    return conv + 2 * bn_channels + dense, conv + 4 * bn_channels + dense


def preact_bottleneck_params(n, classes=10, conv_weights_only=False):
    """(trainable, total) of the 9n+2 pre-activation bottleneck CIFAR net.

    Per block with input c and bottleneck f: a pre-activation BN(c); a 1x1
    projection c -> 4f with bias in the first block of each stage; 1x1 c -> f
    (no bias) + BN(f); 3x3 f -> f (no bias) + BN(f); 1x1 f -> 4f with bias
    (Keras's v2 block). Then BN(256) and the dense layer.
    """
    conv, bn_channels = 3 * 3 * 3 * 16, 0
    c = 16
    for f in (16, 32, 64):
        for block in range(n):
            bn_channels += c
            if block == 0:
                conv += c * 4 * f + 4 * f
            conv += c * f + 9 * f * f + f * 4 * f + 4 * f
            bn_channels += 2 * f
            c = 4 * f
    bn_channels += 256
    dense = 256 * classes + classes
    if conv_weights_only:
        biases = sum(4 * f * (n + 1) for f in (16, 32, 64))
        return conv - biases
    return conv + 2 * bn_channels + dense, conv + 4 * bn_channels + dense


def imagenet_basic_params(stage_sizes, shortcut, classes=1000):
    """Total parameters of ResNet-18/34 under shortcut option A, B, C or None.

    Stem 7x7x3x64 conv + BN, stages of two-conv basic blocks with 64, 128,
    256, 512 filters (no biases, BN after each conv), dense 512 x classes.
    B projects (1x1 conv + BN) where the shape changes: the first block of
    stages 3-5; C projects in every block; A and plain never.
    """
    conv, bn_channels = 7 * 7 * 3 * 64, 64
    width_in = 64
    for width, blocks_in_stage in zip((64, 128, 256, 512), stage_sizes):
        for _ in range(blocks_in_stage):
            conv += 9 * width_in * width + 9 * width * width
            bn_channels += 2 * width
            if shortcut == "C" or shortcut == "B" and width_in != width:
                conv += width_in * width
                bn_channels += width
            width_in = width
    return conv + 4 * bn_channels + 512 * classes + classes


CIFAR_DEPTHS = [
    ("resnet20", 3),
    ("resnet32", 5),
    ("resnet44", 7),
    ("resnet56", 9),
    ("resnet110", 18),
]


@pytest.mark.parametrize("name,n", CIFAR_DEPTHS)
def test_cifar_resnet_parameters_match_table_6(name, n):
    model = keras_resnet.build(name)
    expected_trainable, expected_total = cifar_basic_params(n)
    assert trainable(model) == expected_trainable
    assert model.count_params() == expected_total
    # The paper rounds to two significant figures.
    assert round(trainable(model) / 1e6, 2 if n < 18 else 1) == TABLE_6[6 * n + 2]
    assert model.output_shape == (None, 10)
    assert model.input_shape == (None, 32, 32, 3)


def test_resnet1202_count_by_formula_matches_table_6():
    # Building 1202 layers is the slow test below; the formula is checked here.
    assert round(cifar_basic_params(200)[0] / 1e6, 1) == TABLE_6[1202]


@pytest.mark.slow
def test_resnet1202_builds_headless_and_runs_a_forward_pass():
    model = cifar.ResNet1202(include_top=False)
    x = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype("float32")
    # Training mode: at initialisation the BN moving statistics are (0, 1),
    # so in inference mode nothing rescales the residual stream, whose
    # variance then compounds over 600 blocks and can overflow float32
    # (seen as NaN in one CI run). Batch statistics keep each branch at unit
    # scale, which is the regime the paper trains 1202 layers in.
    y = keras.ops.convert_to_numpy(model(x, training=True))
    assert y.shape == (2, 8, 8, 64)
    assert np.isfinite(y).all()
    assert model.count_params() == cifar_basic_params(200)[1] - (64 * 10 + 10)


def test_option_a_shortcuts_have_no_parameters():
    model = cifar.ResNet20()
    pads = [layer for layer in model.layers if isinstance(layer, ZeroPadShortcut)]
    # One where the width doubles: conv3_block1 and conv4_block1.
    assert [layer.name for layer in pads] == ["conv3_block1_0_pad", "conv4_block1_0_pad"]
    assert all(layer.count_params() == 0 for layer in pads)
    assert not any(layer.name.endswith("_0_conv") for layer in model.layers)


@pytest.mark.backend_agnostic
def test_zero_pad_shortcut_is_strided_identity_plus_zero_channels(rng):
    x = rng.normal(size=(2, 8, 8, 16)).astype("float32")
    y = keras.ops.convert_to_numpy(ZeroPadShortcut(32, strides=2)(x))
    expected = np.concatenate([x[:, ::2, ::2, :], np.zeros((2, 4, 4, 16), "float32")], axis=-1)
    np.testing.assert_array_equal(y, expected)


@pytest.mark.parametrize("depth", [20, 56])
def test_plain_cifar_net_has_no_add_and_same_weights_as_option_a(depth):
    plain = keras_resnet.build(f"plain{depth}")
    assert not any(isinstance(layer, keras.layers.Add) for layer in plain.layers)
    assert plain.name == f"plain{depth}"
    n = (depth - 2) // 6
    assert trainable(plain) == cifar_basic_params(n)[0]
    residual = keras_resnet.build(f"resnet{depth}")
    assert sum(isinstance(layer, keras.layers.Add) for layer in residual.layers) == 3 * n


def test_cifar_shortcut_b_adds_two_projections():
    model = cifar.ResNet20(shortcut="B")
    assert trainable(model) == cifar_basic_params(3, shortcut="B")[0]
    assert trainable(model) - cifar_basic_params(3)[0] == (16 * 32 + 2 * 32) + (32 * 64 + 2 * 64)


@pytest.mark.parametrize(
    "name,stage_sizes", [("resnet18", (2, 2, 2, 2)), ("resnet34", (3, 4, 6, 3))]
)
def test_imagenet_shortcut_options_a_b_c(name, stage_sizes):
    counts = {}
    for shortcut in ("A", "B", "C", None):
        keras.backend.clear_session()
        model = keras_resnet.build(name, weights=None, shortcut=shortcut, input_shape=(32, 32, 3))
        counts[shortcut] = model.count_params()
        assert counts[shortcut] == imagenet_basic_params(stage_sizes, shortcut)
        adds = sum(isinstance(layer, keras.layers.Add) for layer in model.layers)
        assert adds == (0 if shortcut is None else sum(stage_sizes))
    assert counts["A"] < counts["B"] < counts["C"]
    assert counts[None] == counts["A"]
    # The default is option B, Keras's own layers.
    assert keras_resnet.build(name, weights=None).count_params() == counts["B"]


def test_plain_imagenet_names():
    model = keras_resnet.build("plain34", weights=None, input_shape=(32, 32, 3))
    assert model.name == "plain34"
    assert not any(isinstance(layer, keras.layers.Add) for layer in model.layers)
    assert keras_resnet.ResNet18(weights=None, shortcut=None).name == "plain18"
    assert "plain18" in keras_resnet.list_models(include_plain=True)
    assert "plain18" not in keras_resnet.list_models()


def test_option_a_runs_on_imagenet_basic_net(rng):
    model = keras_resnet.ResNet18(weights=None, shortcut="A", include_top=False, input_shape=(64, 64, 3))
    y = model(rng.normal(size=(1, 64, 64, 3)).astype("float32"))
    assert y.shape == (1, 2, 2, 512)


def test_preact_resnet164_parameters():
    model = cifar.PreActResNet164()
    expected_trainable, expected_total = preact_bottleneck_params(18)
    assert trainable(model) == expected_trainable
    assert model.count_params() == expected_total
    assert round(expected_trainable / 1e6, 1) == 1.7  # He et al. 2016, Table 2
    # ResNet-1001: the paper's 10.2M is the convolution weights; Keras's v2
    # block adds biases to its last 1x1 conv and BN, 10.4M trainable in all.
    assert round(preact_bottleneck_params(111, conv_weights_only=True) / 1e6, 1) == 10.2
    assert round(preact_bottleneck_params(111)[0] / 1e6, 1) == 10.4
    assert model.layers[-3].name == "post_relu"


def test_zero_init_gamma_zeroes_only_the_last_bn_of_each_branch():
    model = keras_resnet.ResNet18(weights=None, zero_init_gamma=True, input_shape=(32, 32, 3))
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma = keras.ops.convert_to_numpy(layer.gamma)
            expected = 0.0 if layer.name.endswith("_2_bn") else 1.0
            assert np.all(gamma == expected), layer.name
    default = keras_resnet.ResNet18(weights=None, input_shape=(32, 32, 3))
    assert all(
        np.all(keras.ops.convert_to_numpy(layer.gamma) == 1.0)
        for layer in default.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    )


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="Received: shortcut='D'"):
        cifar.ResNet20(shortcut="D")
    with pytest.raises(ValueError, match="zero_init_gamma=True"):
        cifar.PreActResNet164(zero_init_gamma=True)
    with pytest.raises(ValueError, match="survival_prob"):
        cifar.Plain20(survival_prob=0.5)
    with pytest.raises(ValueError, match="Received: shortcut='A'"):
        keras_resnet.ResNet34(weights="imagenet", shortcut="A")
    with pytest.raises(ValueError, match="Unknown model 'plain21'"):
        keras_resnet.build("plain21")
    with pytest.raises(ValueError, match="Received: weights='imagenet'"):
        cifar.ResNet20(weights="imagenet")


def test_one_catalogue_builds_both_families_with_their_defaults():
    # "resnet56" is only a CIFAR name: the catalogue builds it with the CIFAR
    # family's defaults (10 classes, no weights), as cifar.ResNet56 does.
    by_name = keras_resnet.build("resnet56")
    assert by_name.output_shape == (None, 10)
    # By hand: 3x3 convs 16/32/64 wide, 9 blocks a stage, option A, BN x 4.
    assert by_name.count_params() == cifar_basic_params(9)[1] == 857_082


def test_cifar_list_models_all_build_names():
    names = keras_resnet.list_models("cifar", include_plain=True)
    assert names[:6] == ["resnet20", "resnet32", "resnet44", "resnet56", "resnet110", "resnet1202"]
    assert {"preactresnet164", "preactresnet1001", "plain20", "plain110"} <= set(names)


# CIFAR networks and the demo's small-resnet load their files through the
# package's loader, as the ImageNet families do: a file of another network is
# refused in one line naming the model, before anything is assigned.
@pytest.mark.parametrize("name", ["resnet20", "small-resnet"])
def test_a_cifar_file_loads_through_the_packages_loader(name, tmp_path):
    from keras_resnet import weights

    model = keras_resnet.build(name, weights=None)
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(0, 0.1, w.shape).astype("float32") for w in model.get_weights()])
    path = str(tmp_path / "own.weights.h5")
    model.save_weights(path)
    x = rng.uniform(0, 1, (2, 32, 32, 3)).astype("float32")
    loaded = keras_resnet.build(name, weights=path)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded(x)),
                                  keras.ops.convert_to_numpy(model(x)))
    other = str(tmp_path / "resnet32.weights.h5")
    keras_resnet.build("resnet32", weights=None).save_weights(other)
    with pytest.raises(weights.WeightsMismatchError, match=r"does not fit model '\w+'"):
        keras_resnet.build(name, weights=other)
    with pytest.raises(ValueError, match=r"CIFAR networks have no published weights.*"
                                         r"Received: weights='imagenet'"):
        keras_resnet.build(name, weights="imagenet")

"""The residual units of He et al. 2016 ("Identity Mappings"), Figure 4, in the CIFAR networks.

Every expectation is written out by hand from the paper: the order of the
layers in each unit of Figure 4, the first activation after conv1 and the
extra one after the last unit (section 4 of the paper), and the layout of
the default networks from He et al. 2015, section 4.2 and Keras's v2 block.
None is read off a built model.
"""

import functools

import keras
import numpy as np
import pytest

import keras_resnet
from keras_resnet import cifar
from keras_resnet.architectures import units

UNITS = (
    "original",
    "bn_after_addition",
    "relu_before_addition",
    "relu_only_preactivation",
    "full_preactivation",
)

# Figure 4, (a) to (e), read along the residual path of one unit: the weight
# layers, BN and ReLU, and the addition. Basic units (two 3x3 "weight"
# layers, as drawn) and the bottleneck (three).
FIGURE_4 = {
    "original": "conv BN ReLU conv BN add ReLU",
    "bn_after_addition": "conv BN ReLU conv add BN ReLU",
    "relu_before_addition": "conv BN ReLU conv BN ReLU add",
    "relu_only_preactivation": "ReLU conv BN ReLU conv BN add",
    "full_preactivation": "BN ReLU conv BN ReLU conv add",
}
FIGURE_4_BOTTLENECK = {
    "original": "conv BN ReLU conv BN ReLU conv BN add ReLU",
    "bn_after_addition": "conv BN ReLU conv BN ReLU conv add BN ReLU",
    "relu_before_addition": "conv BN ReLU conv BN ReLU conv BN ReLU add",
    "relu_only_preactivation": "ReLU conv BN ReLU conv BN ReLU conv BN add",
    "full_preactivation": "BN ReLU conv BN ReLU conv BN ReLU conv add",
}
# Section 4: a pre-activation unit's first activation comes right after
# conv1, before the split; the last unit gets an extra one after its addition.
STEM = {
    "original": "conv BN ReLU",
    "bn_after_addition": "conv BN ReLU",
    "relu_before_addition": "conv BN ReLU",
    "relu_only_preactivation": "conv BN",
    "full_preactivation": "conv",
}
HEAD = {
    "original": "",
    "bn_after_addition": "",
    "relu_before_addition": "",
    "relu_only_preactivation": "ReLU",
    "full_preactivation": "BN ReLU",
}

_SHORT = {
    "Conv2D": "conv",
    "BatchNormalization": "BN",
    "Activation": "ReLU",
    "Add": "add",
}


def sequence(model, prefix):
    """The layers whose names start with ``prefix``, in model order, as Figure 4 names them."""
    return " ".join(
        _SHORT[type(layer).__name__]
        for layer in model.layers
        if layer.name.startswith(prefix) and "_0_" not in layer.name
        and type(layer).__name__ != "ZeroPadding2D"
    )


def parents(model, name):
    return [node.operation.name for node in model.get_layer(name)._inbound_nodes[0].parent_nodes]


def add_layer(model, block):
    """The block's addition (``_out`` when nothing follows it, else ``_add``)."""
    for suffix in ("_add", "_out"):
        try:
            layer = model.get_layer(block + suffix)
        except ValueError:
            continue
        if isinstance(layer, keras.layers.Add):
            return layer
    raise AssertionError(f"no addition in {block}")


@functools.cache
def resnet20(unit):
    # 8x8 inputs: three stages of 8, 4 and 2 pixels, the smallest the net takes.
    return keras_resnet.build("resnet20", unit=unit, input_shape=(8, 8, 1))


@pytest.mark.backend_agnostic
@pytest.mark.parametrize("unit", UNITS)
def test_unit_layer_order_is_figure_4(unit):
    model = resnet20(unit)
    assert sequence(model, "conv3_block2_") == FIGURE_4[unit]
    # The identity path: the addition reads the previous unit's output as it
    # is, so nothing sits on the shortcut between two units.
    add = add_layer(model, "conv3_block2")
    assert parents(model, add.name)[0] == "conv3_block1_out"


@pytest.mark.backend_agnostic
@pytest.mark.parametrize("unit", UNITS)
def test_stem_head_and_first_unit_follow_section_4(unit):
    model = resnet20(unit)
    assert sequence(model, "conv1_") == STEM[unit]
    assert sequence(model, "post_") == HEAD[unit]
    head = {"relu_only_preactivation": "post_relu", "full_preactivation": "post_relu"}
    assert parents(model, "avg_pool") == [head.get(unit, "conv4_block3_out")]
    # Both paths of the first unit read the activated conv1: the stem's
    # ReLU, or the unit's own pre-activation ("before splitting").
    first_activation = {
        "relu_only_preactivation": "conv2_block1_preact_relu",
        "full_preactivation": "conv2_block1_preact_relu",
    }.get(unit, "conv1_relu")
    assert parents(model, add_layer(model, "conv2_block1").name)[0] == first_activation
    assert parents(model, "conv2_block1_1_pad") == [first_activation]


@pytest.mark.backend_agnostic
@pytest.mark.parametrize("unit", UNITS)
def test_bottleneck_unit_layer_order_is_figure_4(unit):
    x = keras.Input((8, 8, 64))
    y = units.residual_unit(x, 16, units.UNITS[unit], bottleneck=True, name="b")
    model = keras.Model(x, y)
    assert sequence(model, "b_") == FIGURE_4_BOTTLENECK[unit]
    assert parents(model, add_layer(model, "b").name)[0] == model.layers[0].name


def resnet20_layout():
    """ResNet-20 (He et al. 2015, 4.2) with option A: {layer: (class, weight shapes)}, weighted order.

    Stem 3x3 conv (16, no bias) + BN; three stages of three blocks of two
    3x3 convs with a BN each (16, 32, 64 filters); option A shortcuts
    (``_0_pad``, no weights) where the width doubles; global pooling; a
    10-way dense layer. Keras's names.
    """
    bn = lambda c: [(c,)] * 4  # gamma, beta, moving mean, moving variance
    layout = {"conv1_conv": ("Conv2D", [(3, 3, 1, 16)]), "conv1_bn": ("BatchNormalization", bn(16)),
              "conv1_relu": ("Activation", [])}
    c = 16
    for stage, f in zip((2, 3, 4), (16, 32, 64)):
        for block in (1, 2, 3):
            p = f"conv{stage}_block{block}_"
            layout.update({
                p + "1_pad": ("ZeroPadding2D", []), p + "1_conv": ("Conv2D", [(3, 3, c, f)]),
                p + "1_bn": ("BatchNormalization", bn(f)), p + "1_relu": ("Activation", []),
                p + "2_pad": ("ZeroPadding2D", []), p + "2_conv": ("Conv2D", [(3, 3, f, f)]),
                p + "2_bn": ("BatchNormalization", bn(f)), p + "add": ("Add", []),
                p + "out": ("Activation", []),
            })
            if c != f:
                layout[p + "0_pad"] = ("ZeroPadShortcut", [])
            c = f
    layout["avg_pool"] = ("GlobalAveragePooling2D", [])
    layout["predictions"] = ("Dense", [(64, 10), (10,)])
    return layout


def preact_bottleneck_layout(n):
    """The 9n+2 pre-activation bottleneck net (He et al. 2016, Keras's v2 block), same form.

    Per block: BN(c_in) before the split; in the first block of a stage a
    1x1 projection c_in -> 4f with bias; 1x1 (no bias) + BN, 3x3 (no bias)
    + BN, 1x1 -> 4f with bias; then ``post_bn`` over 256 channels.
    """
    bn = lambda c: [(c,)] * 4
    layout = {"conv1_conv": ("Conv2D", [(3, 3, 1, 16)])}
    c = 16
    for stage, f in zip((2, 3, 4), (16, 32, 64)):
        for block in range(1, n + 1):
            p = f"conv{stage}_block{block}_"
            layout.update({
                p + "preact_bn": ("BatchNormalization", bn(c)), p + "preact_relu": ("Activation", []),
                p + "1_conv": ("Conv2D", [(1, 1, c, f)]), p + "1_bn": ("BatchNormalization", bn(f)),
                p + "1_relu": ("Activation", []), p + "2_pad": ("ZeroPadding2D", []),
                p + "2_conv": ("Conv2D", [(3, 3, f, f)]), p + "2_bn": ("BatchNormalization", bn(f)),
                p + "2_relu": ("Activation", []), p + "3_conv": ("Conv2D", [(1, 1, f, 4 * f), (4 * f,)]),
                p + "out": ("Add", []),
            })
            if block == 1:
                layout[p + "0_conv"] = ("Conv2D", [(1, 1, c, 4 * f), (4 * f,)])
            c = 4 * f
    layout.update({
        "post_bn": ("BatchNormalization", bn(256)), "post_relu": ("Activation", []),
        "avg_pool": ("GlobalAveragePooling2D", []), "predictions": ("Dense", [(256, 10), (10,)]),
    })
    return layout


def layout_of(model):
    return {
        layer.name: (type(layer).__name__, [tuple(w.shape) for w in layer.weights])
        for layer in model.layers[1:]
    }


def _preact_net(unit=None):
    # The row type of PreAct ResNet-164/1001 with n=2 (20 layers), to stay fast.
    arch = cifar.CifarArchitecture(2, preact=True, shortcut="B")
    return cifar.from_table(arch, "preact20", input_shape=(8, 8, 1), unit=unit)


@pytest.mark.backend_agnostic
def test_default_builds_are_the_networks_of_before():
    model = keras_resnet.build("resnet20", input_shape=(8, 8, 1))
    expected = resnet20_layout()
    assert layout_of(model) == expected
    weighted = [layer.name for layer in model.layers if layer.weights]
    assert weighted == [name for name, (_, w) in expected.items() if w]
    assert layout_of(_preact_net()) == preact_bottleneck_layout(2)


@pytest.mark.backend_agnostic
@pytest.mark.parametrize(
    "build_default, unit",
    [
        (lambda unit=None: keras_resnet.build("resnet20", input_shape=(8, 8, 1), unit=unit),
         "original"),
        (_preact_net, "full_preactivation"),
    ],
    ids=["resnet20-original", "preact-full_preactivation"],
)
def test_named_unit_builds_the_default_network_layer_for_layer(build_default, unit, rng):
    """Two implementations agree: the blocks (basic.basic_block, blocks.block2) and the units."""
    from conftest import randomize_weights

    default = build_default()
    variant = build_default(unit=unit)
    assert [(l.name, type(l).__name__) for l in variant.layers[1:]] == [
        (l.name, type(l).__name__) for l in default.layers[1:]
    ]
    randomize_weights(default, rng)
    for layer in default.layers[1:]:
        variant.get_layer(layer.name).set_weights(layer.get_weights())
    x = rng.normal(size=(4, 8, 8, 1)).astype("float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(variant(x, training=False)),
        keras.ops.convert_to_numpy(default(x, training=False)),
        rtol=0, atol=1e-6,
    )


def resnet20_parameters(unit):
    """ResNet-20's parameters with option A, by hand, for each unit.

    Convolutions 3x3x1x16 + per block 3x3 c_in x f + 3x3 f x f (18 blocks),
    the dense 64x10 + 10, and 4 numbers per BN channel. Units (a)-(d) keep
    one BN per convolution: 16 (stem) + 2f per block. (e) has BN(c_in) and
    BN(f) per block plus ``post_bn`` (64), and a bias on each block's last
    convolution, which no BN follows.
    """
    conv, bn, biases, c = 3 * 3 * 1 * 16, 0, 0, 16
    for f in (16, 32, 64):
        for _ in range(3):
            conv += 9 * c * f + 9 * f * f
            bn += (c + f) if unit == "full_preactivation" else 2 * f
            biases += f if unit == "full_preactivation" else 0
            c = f
    bn += 64 if unit == "full_preactivation" else 16
    return conv + 4 * bn + biases + 64 * 10 + 10


@pytest.mark.backend_agnostic
@pytest.mark.parametrize("unit", UNITS)
def test_every_unit_trains(unit, rng):
    keras.utils.set_random_seed(0)
    model = keras_resnet.build("resnet20", unit=unit, input_shape=(8, 8, 1))
    assert model.count_params() == resnet20_parameters(unit)
    model.compile(
        keras.optimizers.SGD(0.05, momentum=0.9), "sparse_categorical_crossentropy",
        run_eagerly=True,  # one compiled graph per unit would cost seconds each
    )
    x = rng.normal(size=(16, 8, 8, 1)).astype("float32")
    y = np.arange(16) % 10
    stem = keras.ops.convert_to_numpy(model.get_layer("conv1_conv").kernel)
    losses = [float(model.train_on_batch(x, y)) for _ in range(2)]
    assert np.all(np.isfinite(losses))
    assert losses[-1] < losses[0]
    # The gradient reached the stem through all nine units.
    assert not np.allclose(keras.ops.convert_to_numpy(model.get_layer("conv1_conv").kernel), stem)


@pytest.mark.backend_agnostic
def test_unit_is_reachable_by_name_and_by_builder():
    by_name = resnet20("relu_before_addition")  # keras_resnet.build("resnet20", unit=...)
    by_builder = keras_resnet.cifar.ResNet20(unit="relu_before_addition", input_shape=(8, 8, 1))
    assert layout_of(by_name) == layout_of(by_builder)
    assert sequence(by_builder, "conv4_block3_") == FIGURE_4["relu_before_addition"]


@pytest.mark.backend_agnostic
@pytest.mark.parametrize("bad", ["preact", "e", "Original", 4])
def test_bad_unit_is_refused_in_one_line(bad):
    with pytest.raises(ValueError) as info:
        keras_resnet.build("resnet20", unit=bad)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("`unit` should be one of")
    assert message.endswith(f"Received: unit={bad!r}")
    for name in UNITS:
        assert repr(name) in message


@pytest.mark.backend_agnostic
def test_zero_init_gamma_needs_a_last_bn_in_the_branch():
    for unit in ("bn_after_addition", "full_preactivation"):
        with pytest.raises(ValueError, match=f"{unit}.*Received: zero_init_gamma=True"):
            cifar.ResNet20(unit=unit, zero_init_gamma=True, input_shape=(8, 8, 1))
    model = cifar.ResNet20(unit="relu_only_preactivation", zero_init_gamma=True,
                           input_shape=(8, 8, 1))
    zeroed = [
        layer.name for layer in model.layers
        if isinstance(layer, keras.layers.BatchNormalization)
        and not np.any(keras.ops.convert_to_numpy(layer.gamma))
    ]
    assert zeroed == [f"conv{s}_block{b}_2_bn" for s in (2, 3, 4) for b in (1, 2, 3)]


@pytest.mark.backend_agnostic
def test_unit_variant_saves_and_loads_in_safe_mode(tmp_path, rng):
    from conftest import randomize_weights

    model = cifar.ResNet20(unit="relu_only_preactivation", input_shape=(8, 8, 1))
    randomize_weights(model, rng)
    path = str(tmp_path / "unit_d.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    x = rng.normal(size=(2, 8, 8, 1)).astype("float32")
    assert sequence(loaded, "conv3_block2_") == FIGURE_4["relu_only_preactivation"]
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(x)), keras.ops.convert_to_numpy(model(x)),
        rtol=0, atol=1e-6,
    )

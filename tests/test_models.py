"""The family against independent references: keras.applications, the paper,
torchvision's parameter counts, and forward passes on every backend."""

import re

import catalogue_rows
import keras
import numpy as np
import pytest

import keras_resnet
from keras_resnet.analysis import complexity
from keras_resnet.architectures import resnet

# The six models keras.applications ships, by our name -> Keras builder name.
KERAS_APPLICATIONS = {
    "resnet50": "ResNet50",
    "resnet101": "ResNet101",
    "resnet152": "ResNet152",
    "resnet50v2": "ResNet50V2",
    "resnet101v2": "ResNet101V2",
    "resnet152v2": "ResNet152V2",
}

# Published totals (Keras's documentation and keras-applications), with and
# without the 1000-way classifier (2048 * 1000 weights + 1000 biases).
PUBLISHED_PARAMS = {
    "resnet50": (25_636_712, 23_587_712),
    "resnet101": (44_707_176, 42_658_176),
    "resnet152": (60_419_944, 58_370_944),
    "resnet50v2": (25_613_800, 23_564_800),
    "resnet101v2": (44_675_560, 42_626_560),
    "resnet152v2": (60_380_648, 58_331_648),
    "resnext50": (25_097_128, 23_048_128),
    "resnext101": (44_315_560, 42_266_560),
}

# torchvision's resnet18/resnet34 parameter counts (all trainable there; our
# BN moving statistics are non-trainable weights on top).
TORCHVISION_PARAMS = {"resnet18": 11_689_512, "resnet34": 21_797_672}

# The paper's Table 1, "FLOPs" (multiply-adds) at 224 px, in units of 1e9.
# ResNet-50/101/152 are Keras's Caffe layout (stride on the 1x1), which
# has the paper's FLOPs too.
PAPER_GFLOPS = {
    "resnet18": 1.8,
    "resnet34": 3.6,
    "resnet50": 3.8,
    "resnet101": 7.6,
    "resnet152": 11.3,
}


def _shape(size, channels=3):
    if keras.config.image_data_format() == "channels_first":
        return (channels, size, size)
    return (size, size, channels)


def _weight_layers(model):
    return [(layer.name, [tuple(w.shape) for w in layer.weights]) for layer in model.layers]


@pytest.mark.parametrize("name", list(KERAS_APPLICATIONS))
@pytest.mark.parametrize("include_top", [True, False])
def test_same_layers_as_keras_applications(name, include_top):
    """Names, creation order, classes and weight shapes, layer by layer."""
    reference_builder = getattr(keras.applications, KERAS_APPLICATIONS[name])
    reference = reference_builder(weights=None, include_top=include_top, input_shape=_shape(64))
    keras.backend.clear_session()  # so that auto-generated names restart alike
    ours = keras_resnet.build(name, weights=None, include_top=include_top, input_shape=_shape(64))

    assert [type(layer) for layer in ours.layers] == [type(layer) for layer in reference.layers]
    assert _weight_layers(ours) == _weight_layers(reference)
    assert [w.path for w in ours.weights] == [w.path for w in reference.weights]
    assert ours.name == reference.name
    assert ours.count_params() == reference.count_params()


@pytest.mark.parametrize("name", list(PUBLISHED_PARAMS))
def test_published_parameter_counts(name):
    total, notop = PUBLISHED_PARAMS[name]
    assert keras_resnet.build(name, weights=None).count_params() == total
    assert keras_resnet.build(name, weights=None, include_top=False).count_params() == notop


@pytest.mark.parametrize("name", list(TORCHVISION_PARAMS))
def test_basic_block_nets_match_torchvision(name):
    model = keras_resnet.build(name, weights=None)
    assert complexity.count_params(model, trainable_only=True) == TORCHVISION_PARAMS[name]


def _hand_count_basic(stage_sizes, classes=1000):
    """ResNet-18/34 trainable parameters, written out from the paper's Table 1.

    conv weight = k*k*c_in*c_out (no bias); BN = 2*c (gamma, beta).
    """
    total = 7 * 7 * 3 * 64 + 2 * 64  # stem conv1 + bn
    c_in = 64
    for stage, (blocks, width) in enumerate(zip(stage_sizes, (64, 128, 256, 512))):
        for block in range(blocks):
            total += 3 * 3 * c_in * width + 2 * width  # first 3x3 + bn
            total += 3 * 3 * width * width + 2 * width  # second 3x3 + bn
            if block == 0 and c_in != width:
                total += c_in * width + 2 * width  # projection shortcut + bn
            c_in = width
    return total + 512 * classes + classes


@pytest.mark.parametrize("name", ["resnet18", "resnet34"])
def test_basic_block_nets_match_hand_count(name):
    arch = resnet.ARCHITECTURES[name]
    model = keras_resnet.build(name, weights=None, classes=10)
    expected = _hand_count_basic(arch.stage_sizes, classes=10)
    assert complexity.count_params(model, trainable_only=True) == expected


@pytest.mark.parametrize("name", list(PAPER_GFLOPS))
def test_multiply_adds_match_the_paper(name):
    model = keras_resnet.build(name, weights=None)
    # The paper quotes one decimal, truncated or rounded: within 0.07e9.
    assert abs(complexity.multiply_adds(model) / 1e9 - PAPER_GFLOPS[name]) < 0.07


# Counted by hand from the blocks per stage (3 layers a bottleneck, the stem
# and classifier 2): the paper's ResNet-RS-270 and -420 have [4, 29, 53, 4]
# and [4, 44, 87, 4] blocks (Bello et al. 2021), 272 and 419 layers; timm's
# ecaresnetlight, its "ResNet-50-D light", [1, 1, 11, 3].
DEPTHS_NOT_IN_THE_NAME = {"resnetrs270": 272, "resnetrs420": 419, "ecaresnetlight": 50}


def test_table_depths_match_model_names():
    for name, arch in resnet.ARCHITECTURES.items():
        if name in DEPTHS_NOT_IN_THE_NAME:
            assert arch.depth == DEPTHS_NOT_IN_THE_NAME[name], name
            continue
        depth = int(re.search(r"\d+", name).group())  # the first number
        assert arch.depth == depth, name


def test_resnext_uses_grouped_convolution_only():
    model = keras_resnet.build("resnext50", weights=None, include_top=False)
    grouped = [layer for layer in model.layers if getattr(layer, "groups", 1) > 1]
    assert len(grouped) == sum(resnet.ARCHITECTURES["resnext50"].stage_sizes)
    assert all(layer.groups == 32 for layer in grouped)
    forbidden = (keras.layers.DepthwiseConv2D, keras.layers.Lambda)
    assert not [layer.name for layer in model.layers if isinstance(layer, forbidden)]


# Keras's DenseNet feature widths (keras.io/api/applications) and torchvision's 161.
DENSENET_CHANNELS = {"densenet121": 1024, "densenet169": 1664, "densenet201": 1920,
                     "densenet161": 2208}


def _builds_headless_on_any_size_and_runs(name, rng):
    model = keras_resnet.build(name, weights=None, include_top=False, pooling="avg")
    assert model.input_shape == (None, *_shape(None))
    x = rng.uniform(0, 255, size=(2, *_shape(48))).astype("float32")
    x = keras_resnet.catalog.preprocess_input_for(name)(x)
    features = keras.ops.convert_to_numpy(model(x, training=False))
    resnet_channels = 512 if name.startswith(("resnet18", "resnet34")) else 2048
    channels = DENSENET_CHANNELS.get(name, resnet_channels)
    assert features.shape == (2, channels)
    assert np.isfinite(features).all()


@pytest.mark.parametrize(
    "name", [n for n in keras_resnet.list_models() if n not in DENSENET_CHANNELS]
)
def test_every_model_builds_headless_on_any_size_and_runs(name, rng):
    """Every row of the catalogue: any size, forward, no NaN."""
    _builds_headless_on_any_size_and_runs(name, rng)


# On JAX and PyTorch, which run a model eagerly one op at a time, the
# shallowest network of each kind (block, stem, shortcut, attention).
@pytest.mark.backend_agnostic
@pytest.mark.parametrize("name", catalogue_rows.one_of_each_kind())
def test_every_kind_of_model_builds_headless_on_any_size_and_runs(name, rng):
    if keras.backend.backend() == "tensorflow":
        pytest.skip("test_every_model_builds_headless_on_any_size_and_runs covers it")
    _builds_headless_on_any_size_and_runs(name, rng)


# The same for DenseNet, on one backend: JAX runs its 400 to 700 layers
# eagerly one compiled op at a time (about 50 s for DenseNet-121 on 2 cores);
# test_densenet.py runs a small DenseNet on every backend.
@pytest.mark.parametrize("name", list(DENSENET_CHANNELS))
def test_every_densenet_builds_headless_on_any_size_and_runs(name, rng):
    _builds_headless_on_any_size_and_runs(name, rng)


# One model per block type: a compiled train step of the deep ones would
# only repeat these at several times the cost.
@pytest.mark.backend_agnostic
@pytest.mark.parametrize("name", catalogue_rows.one_of_each_block())
def test_a_train_step_updates_every_trainable_weight(name, rng):
    model = keras_resnet.build(name, weights=None, classes=3, input_shape=_shape(32))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    before = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
    x = rng.normal(size=(4, *_shape(32))).astype("float32")
    loss = model.train_on_batch(x, np.array([0, 1, 2, 1]))
    assert np.isfinite(loss)
    # A kernel left unchanged means a branch the gradient never reaches.
    # Biases are skipped: a conv bias followed by BatchNorm has an exactly
    # zero gradient in training mode (BN subtracts the batch mean).
    frozen = [
        w.path
        for w, old in zip(model.trainable_weights, before)
        if not w.path.endswith("bias") and np.array_equal(keras.ops.convert_to_numpy(w), old)
    ]
    assert frozen == []


@pytest.mark.backend_agnostic
@pytest.mark.parametrize("name", catalogue_rows.one_of_each_block())
def test_keras_file_round_trip_in_safe_mode(name, tmp_path, rng):
    model = keras_resnet.build(name, weights=None, classes=5, input_shape=_shape(32))
    x = rng.normal(size=(2, *_shape(32))).astype("float32")
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(restored(x)), keras.ops.convert_to_numpy(model(x)), rtol=1e-6
    )

    clone = keras.Model.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    assert clone.get_config() == model.get_config()
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(clone(x)), keras.ops.convert_to_numpy(model(x)), rtol=1e-6
    )


@pytest.mark.backend_agnostic
def test_builders_are_drop_in_for_keras_applications_signature():
    import inspect

    ours = inspect.signature(keras_resnet.ResNet50)
    theirs = inspect.signature(keras.applications.ResNet50)
    # Keras's parameters, in Keras's order; ours add keyword-only options after them.
    assert list(ours.parameters)[: len(theirs.parameters)] == list(theirs.parameters)
    extra = list(ours.parameters.values())[len(theirs.parameters):]
    assert all(p.kind is p.KEYWORD_ONLY for p in extra)
    for name, parameter in theirs.parameters.items():
        assert ours.parameters[name].default == parameter.default, name
    assert keras_resnet.ResNet50.__name__ == "ResNet50"
    assert "Args:" in keras_resnet.ResNet50.__doc__


def test_input_tensor_is_used_as_the_input():
    tensor = keras.Input(shape=(64, 64, 3))
    model = keras_resnet.ResNet18(weights=None, input_tensor=tensor, include_top=False)
    assert model.inputs[0] is tensor
    assert model.output_shape == (None, 2, 2, 512)


def test_factory_with_a_custom_stack_fn():
    """``ResNet`` takes any stage builder, as Keras's factory does."""

    def stack_fn(x):
        x = keras_resnet.blocks.stack1(x, 16, 2, stride1=1, name="conv2")
        return keras_resnet.blocks.stack1(x, 32, 2, name="conv3")

    model = keras_resnet.ResNet(
        stack_fn, preact=False, use_bias=True, model_name="tiny", weights=None,
        input_shape=(32, 32, 3), classes=4,
    )
    assert model.name == "tiny"
    assert model.get_layer("conv3_block2_out").output.shape == (None, 4, 4, 128)
    assert model.output_shape == (None, 4)


def test_build_rejects_unknown_names():
    with pytest.raises(ValueError, match="Unknown model 'resnet51'.*resnet50"):
        keras_resnet.build("resnet51", weights=None)
    assert keras_resnet.build("ResNet-18", weights=None, include_top=False).name == "resnet18"

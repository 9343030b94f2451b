"""The fast inference path against the model it came from (BatchNorm computed by Keras).

Every case gives the BatchNorm layers non-trivial statistics (a BN at its
initial values is the identity and would hide a wrong fold) and compares on
fresh random inputs. The error is relative to the largest output, on logits
(``classifier_activation=None``) so that a softmax cannot flatten it.
"""

import keras
import numpy as np
import pytest

import keras_resnet
from keras_resnet import deploy, optimize_for_inference
from keras_resnet.deploy import folding, graph, hardware
from conftest import randomize_batch_norms, relative_error, requires_tensorflow

SIZE = 32
FLOAT32_BOUND = 1e-4
BFLOAT16_BOUND = 2e-2


def count_batch_norms(model):
    return sum(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)


def logits_model(name, rng):
    model = keras_resnet.build(
        name, weights=None, input_shape=(SIZE, SIZE, 3), classes=10, classifier_activation=None
    )
    randomize_batch_norms(model, rng)
    return model


# BatchNorms left after folding, counted by hand for the (3, 4, 6, 3) stages:
# v1 and ResNeXt: every BN follows a conv (stem 1 + 16 blocks x 3 + 4 projections = 53).
# v2: the two post-conv BNs of each block fold (32); the 16 preact BNs and post_bn stay.
FOLDING = [("resnet50", 53, 0), ("resnet50v2", 49, 17), ("resnext50", 53, 0)]


@pytest.mark.slow
@pytest.mark.backend_agnostic
@pytest.mark.parametrize("name, batch_norms, left", FOLDING)
def test_float32_matches_the_original(name, batch_norms, left, rng):
    model = logits_model(name, rng)
    x = rng.uniform(-1, 1, (3, SIZE, SIZE, 3)).astype("float32")
    expected = model.predict(x, verbose=0)

    fast = optimize_for_inference(model, precision="float32")

    assert count_batch_norms(model) == batch_norms
    assert count_batch_norms(fast.model) == left
    assert fast.precision == "float32"
    assert relative_error(fast.predict(x), expected) < FLOAT32_BOUND
    assert relative_error(keras.ops.convert_to_numpy(fast(x)), expected) < FLOAT32_BOUND


@pytest.mark.slow
@requires_tensorflow  # Emulated bfloat16 is slow; one backend is enough here.
@pytest.mark.parametrize("name", ["resnet50", "resnet50v2", "resnext50"])
def test_bfloat16_within_bound(name, rng):
    model = logits_model(name, rng)
    x = rng.uniform(-1, 1, (2, SIZE, SIZE, 3)).astype("float32")
    expected = model.predict(x, verbose=0)

    fast = optimize_for_inference(model, precision="bfloat16")
    actual = fast.predict(x)

    assert fast.model.get_layer("conv2_block1_1_conv").compute_dtype == "bfloat16"
    assert actual.dtype == np.float32
    error = relative_error(actual, expected)
    assert error < BFLOAT16_BOUND
    assert error > 0  # It really computed in 16 bits.


@requires_tensorflow
def test_keras_applications_model_and_partial_batches(rng):
    model = keras.applications.ResNet50(
        weights=None, input_shape=(SIZE, SIZE, 3), classes=7, classifier_activation=None
    )
    randomize_batch_norms(model, rng)
    x = rng.uniform(-1, 1, (5, SIZE, SIZE, 3)).astype("float32")

    fast = optimize_for_inference(model, precision="float32", jit_compile=False)
    actual = fast.predict(x, batch_size=2)  # Batches of 2, 2 and a padded 1.

    assert actual.shape == (5, 7)
    assert relative_error(actual, model.predict(x, verbose=0)) < FLOAT32_BOUND


@requires_tensorflow
def test_xla_path_matches(rng):
    model = keras_resnet.build(
        "resnet18", weights=None, input_shape=(SIZE, SIZE, 3), include_top=False, pooling="avg"
    )
    randomize_batch_norms(model, rng)
    x = rng.uniform(-1, 1, (2, SIZE, SIZE, 3)).astype("float32")

    fast = optimize_for_inference(model, precision="float32", jit_compile=True)

    assert fast.jit_compile is True
    assert relative_error(fast.predict(x), model.predict(x, verbose=0)) < FLOAT32_BOUND


def test_folded_weights_by_hand():
    """One conv + BN pair, folded, against the formula written out."""
    inputs = keras.Input((4, 4, 2))
    conv = keras.layers.Conv2D(3, 1, use_bias=True, name="conv")
    bn = keras.layers.BatchNormalization(epsilon=1e-3, name="bn")
    model = keras.Model(inputs, bn(conv(inputs)))
    kernel = np.arange(6, dtype="float32").reshape(1, 1, 2, 3)
    conv.set_weights([kernel, np.array([1.0, 2.0, 3.0], "float32")])
    gamma, beta = np.array([2.0, 1.0, 0.5]), np.array([0.0, 1.0, -1.0])
    mean, var = np.array([1.0, 0.0, 2.0]), np.array([0.999, 3.999, 0.249])
    bn.set_weights([gamma, beta, mean, var])

    folded = deploy.fold_batch_norms(model)
    new_kernel, new_bias = folded.get_layer("conv").get_weights()

    # scale = gamma / sqrt(var + eps) = (2 / 1, 1 / 2, 0.5 / 0.5) per output channel.
    np.testing.assert_allclose(new_kernel[0, 0], [[0.0, 0.5, 2.0], [6.0, 2.0, 5.0]], rtol=1e-6)
    # bias = (b - mean) * scale + beta = ((1 - 1) * 2 + 0, (2 - 0) / 2 + 1, (3 - 2) * 1 - 1).
    np.testing.assert_allclose(new_bias, [0.0, 2.0, 0.0], atol=1e-6)
    assert "bn" not in [layer.name for layer in folded.layers]
    x = np.random.default_rng(1).normal(size=(2, 4, 4, 2)).astype("float32")
    np.testing.assert_allclose(folded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-5)


def test_shared_conv_output_is_not_folded():
    """A conv read by a BN and by something else must keep its BN."""
    inputs = keras.Input((4, 4, 2))
    y = keras.layers.Conv2D(2, 1, name="conv")(inputs)
    z = keras.layers.BatchNormalization(name="bn")(y)
    model = keras.Model(inputs, keras.layers.Add(name="add")([y, z]))

    assert folding._foldable_pairs(model, graph.read_graph(model)) == {}


@pytest.mark.parametrize(
    "flags, expected",
    [
        ("fpu avx2 avx512f avx512_vnni", False),
        ("fpu avx2 avx512f avx512_bf16 avx512_vnni", True),
        ("fpu avx2 amx_tile amx_bf16 amx_int8", True),
    ],
)
def test_cpu_bfloat16_flags(tmp_path, flags, expected):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nflags\t\t: {flags}\n\nprocessor\t: 1\nflags\t\t: {flags}\n")
    assert hardware.cpu_has_bfloat16(str(cpuinfo)) is expected
    assert hardware.cpu_has_bfloat16(str(tmp_path / "missing")) is False


@pytest.mark.parametrize(
    "flags, expected",
    [
        ("fpu avx2 fma f16c", False),
        ("fpu avx2 avx512f avx512_vnni", True),
        ("fpu avx2 avx_vnni", True),
        ("fpu avx2 amx_tile amx_bf16 amx_int8", True),
    ],
)
def test_cpu_vnni_flags(tmp_path, flags, expected):
    # int8 export keeps 7-bit weights where the CPU lacks int8 dot products.
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
    assert hardware.cpu_has_vnni(str(cpuinfo)) is expected
    assert hardware.cpu_has_vnni(str(tmp_path / "missing")) is False


def test_auto_precision_follows_the_hardware(monkeypatch):
    monkeypatch.setattr(hardware, "gpu_compute_capability", lambda: None)
    monkeypatch.setattr(hardware, "cpu_has_bfloat16", lambda: False)
    assert hardware.resolve_precision("auto", allowed=deploy.PRECISIONS) == "float32"
    monkeypatch.setattr(hardware, "cpu_has_bfloat16", lambda: True)
    assert hardware.resolve_precision("auto", allowed=deploy.PRECISIONS) == "bfloat16"
    monkeypatch.setattr(hardware, "gpu_compute_capability", lambda: (7, 5))
    assert hardware.resolve_precision("auto", allowed=deploy.PRECISIONS) == "float32"
    monkeypatch.setattr(hardware, "gpu_compute_capability", lambda: (9, 0))
    assert hardware.resolve_precision("auto", allowed=deploy.PRECISIONS) == "bfloat16"


@pytest.mark.backend_agnostic
def test_bad_arguments():
    model = keras_resnet.build("resnet18", weights=None, input_shape=(SIZE, SIZE, 3), classes=2)
    with pytest.raises(ValueError, match="Received: precision='float16'"):
        optimize_for_inference(model, precision="float16")
    with pytest.raises(ValueError, match="Received: jit_compile='yes'"):
        optimize_for_inference(model, jit_compile="yes")

    class Subclassed(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(ValueError, match="Received: model=Subclassed"):
        deploy.fold_batch_norms(Subclassed())

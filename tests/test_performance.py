"""The fast training defaults: the policy chosen per hardware, float32 kept for the loss."""

import keras
import numpy as np
import pytest

import keras_resnet
from keras_resnet.deploy import hardware
from keras_resnet.training import precision as performance

SIZE = 32


@pytest.mark.parametrize(
    "gpu, cpu_bf16, policy, jit",
    [
        (None, False, "float32", False),  # AVX-512 without bf16: emulation is slower.
        (None, True, "mixed_bfloat16", False),
        ((7, 0), False, "mixed_float16", True),  # Volta: tensor cores, no bf16.
        ((8, 0), False, "mixed_bfloat16", True),
        ((9, 0), False, "mixed_bfloat16", True),
    ],
)
def test_defaults_follow_the_hardware(monkeypatch, gpu, cpu_bf16, policy, jit):
    monkeypatch.setattr(hardware, "gpu_compute_capability", lambda: gpu)
    monkeypatch.setattr(hardware, "cpu_has_bfloat16", lambda: cpu_bf16)
    defaults = performance.training_defaults()
    assert defaults.dtype_policy == policy
    # JAX compiles every train step with XLA whatever the device.
    assert defaults.jit_compile is (jit or keras.backend.backend() == "jax")


@pytest.mark.backend_agnostic
def test_explicit_choices_and_bad_arguments():
    assert performance.training_defaults("bfloat16", False) == performance.TrainingDefaults(
        "mixed_bfloat16", False
    )
    assert performance.training_defaults("float16", True).dtype_policy == "mixed_float16"
    assert performance.training_defaults("float32").dtype_policy == "float32"
    with pytest.raises(ValueError, match="Received: precision='int8'"):
        performance.training_defaults("int8")
    with pytest.raises(ValueError, match="Received: jit_compile=1"):
        performance.training_defaults(jit_compile=1)


@pytest.mark.slow
@pytest.mark.backend_agnostic
def test_mixed_model_keeps_float32_outputs_and_matches_float32(rng):
    defaults = performance.TrainingDefaults("mixed_bfloat16", jit_compile=False)
    mixed = performance.build_for_training(
        "resnet18", defaults=defaults, weights=None, input_shape=(SIZE, SIZE, 3), classes=10
    )
    assert keras.config.dtype_policy().name == "float32"  # The global policy is restored.
    assert mixed.get_layer("conv2_block1_1_conv").compute_dtype == "bfloat16"
    assert mixed.get_layer("conv2_block1_1_conv").kernel.dtype == "float32"
    assert mixed.get_layer("predictions").compute_dtype == "float32"
    assert mixed.outputs[0].dtype == "float32"

    # The same weights in a float32 model (an independent build) give the same loss.
    reference = keras_resnet.build(
        "resnet18", weights=None, input_shape=(SIZE, SIZE, 3), classes=10
    )
    reference.set_weights(mixed.get_weights())
    x = rng.uniform(-1, 1, (4, SIZE, SIZE, 3)).astype("float32")
    y = rng.integers(0, 10, 4)
    loss = keras.losses.SparseCategoricalCrossentropy()
    mixed_loss = float(loss(y, mixed(x, training=False)))
    reference_loss = float(loss(y, reference(x, training=False)))
    assert abs(mixed_loss - reference_loss) / reference_loss < 2e-2

    performance.compile_for_training(mixed, keras.optimizers.SGD(0.01), loss, defaults=defaults)
    history = mixed.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


@pytest.mark.backend_agnostic
def test_compile_refuses_16_bit_outputs():
    with performance.dtype_policy_scope("mixed_bfloat16"):
        model = keras_resnet.build("resnet18", weights=None, input_shape=(SIZE, SIZE, 3), classes=3)
    with pytest.raises(ValueError, match="Received: output dtype=bfloat16"):
        performance.compile_for_training(model, "sgd", "sparse_categorical_crossentropy")
    float32_model = performance.float32_outputs(model)
    assert float32_model.outputs[0].dtype == "float32"
    assert [w.name for w in float32_model.weights] == [w.name for w in model.weights]
    for a, b in zip(float32_model.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)

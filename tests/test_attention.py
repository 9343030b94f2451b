"""Channel attention's parts against hand computation: sizes from the papers'
formulas, the gate's arithmetic, and the blocks that refuse it.

The networks built from them are checked against timm's own in
tests/test_torch_libraries.py (every row with attention).
"""

import keras
import numpy as np
import pytest

from keras_resnet.architectures import attention, blocks, residual, units


# ECA-Net's eq. 12 with gamma=2, b=1: k = |(log2 C + 1) / 2|, the nearest odd
# number above: 64 -> 3.5 -> 3; 128 -> 4 -> 5; 256 -> 4.5 -> 5; 1024 -> 5.5 ->
# 5; 2048 -> 6 -> 7.
@pytest.mark.parametrize(
    "channels, size", [(64, 3), (128, 5), (256, 5), (512, 5), (1024, 5), (2048, 7)]
)
def test_eca_kernel_size_is_the_papers(channels, size):
    assert attention.eca_kernel_size(channels) == size


# SE-ResNet's 1/16 and ResNet-RS's 1/4 of a stage's output width, to the
# nearest multiple of 8 and at least 8: 256 / 16 = 16; 64 / 16 = 4 -> 8;
# 100 / 16 = 6.25 -> 8; 200 / 16 = 12.5 -> 16; 256 / 4 = 64.
@pytest.mark.parametrize(
    "channels, ratio, hidden",
    [(256, 1 / 16, 16), (2048, 1 / 16, 128), (64, 1 / 16, 8), (100, 1 / 16, 8),
     (200, 1 / 16, 16), (256, 1 / 4, 64)],
)
def test_squeeze_excitation_width(channels, ratio, hidden):
    assert attention.reduced_channels(channels, ratio) == hidden


def _gated(build, x):
    inputs = keras.Input(x.shape[1:])
    model = keras.Model(inputs, build(inputs))
    return model, keras.ops.convert_to_numpy(model(x))


def test_a_squeeze_excitation_gate_of_zero_logits_halves_its_input():
    x = np.random.default_rng(0).normal(size=(2, 4, 4, 32)).astype("float32")
    model, _ = _gated(lambda t: attention.squeeze_excite(t, "b", ratio=1 / 4), x)
    expand = model.get_layer("b_se_expand")
    assert model.get_layer("b_se_reduce").kernel.shape == (1, 1, 32, 8)
    expand.kernel.assign(np.zeros(expand.kernel.shape))
    expand.bias.assign(np.zeros(expand.bias.shape))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x)), x * 0.5, rtol=1e-6)


def test_an_eca_gate_is_a_sigmoid_of_neighbouring_channel_means():
    x = np.random.default_rng(1).normal(size=(1, 3, 3, 64)).astype("float32")
    model, _ = _gated(lambda t: attention.efficient_channel_attention(t, "b"), x)
    conv = model.get_layer("b_eca_conv")
    kernel = np.array([0.5, -1.0, 2.0], "float32")  # 64 channels: size 3
    conv.kernel.assign(kernel.reshape(3, 1, 1))
    means = np.pad(x.mean(axis=(1, 2))[0], 1)  # zero padding at both ends ("same")
    logits = kernel[0] * means[:-2] + kernel[1] * means[1:-1] + kernel[2] * means[2:]
    gate = 1 / (1 + np.exp(-logits))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x)), x * gate, rtol=1e-5)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(attention="cbam"), r"`attention` should be None, 'se' or 'eca'\. "
                                 r"Received: attention='cbam'"),
        (dict(attention="se", attention_ratio=0), r"`attention_ratio` should be a number "
                                                  r"in \(0, 1\]\. Received: attention_ratio=0"),
        (dict(attention="se", attention_ratio="1/16"), r"Received: attention_ratio='1/16'"),
    ],
)
def test_bad_attention_options_are_one_line(kwargs, message):
    with pytest.raises(ValueError, match=message):
        residual.BlockOptions(**kwargs)


def test_blocks_without_a_last_batchnorm_refuse_attention():
    x = keras.Input((8, 8, 64))
    options = residual.BlockOptions(attention="se")
    with pytest.raises(ValueError, match=r"Received: attention='se'"):
        blocks.block2(x, 16, name="v2", options=options)
    with pytest.raises(ValueError, match=r"Received: attention='se'"):
        units.residual_unit(x, 16, units.UNITS["original"], name="u", options=options)

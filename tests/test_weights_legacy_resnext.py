"""Legacy ResNeXt files: both Keras 2 layouts of the grouped convolution.

Each test builds a small ResNeXt in tf_keras (Keras 2) with one of the two
legacy blocks, draws random weights (BN statistics included), saves a legacy
``.h5``, loads it into the same network built by ``keras_resnet`` with
grouped ``Conv2D`` layers, and compares outputs. The legacy blocks below are
written from the two original implementations:

* "gconv": keras-applications' ``block3`` (the published ``resnext*.h5``
  files): DepthwiseConv2D(depth_multiplier=c) then a frozen 1x1 Conv2D
  ``_2_gconv`` with a constant 0/1 kernel, saved in the file.
* "lambda": the tf.keras seed code's ``block3``: DepthwiseConv2D, reshape
  to (groups, c, c), a Lambda ``sum(x[:, :, :, :, i] for i in range(c))``
  (axis 4 of the 6-D tensor), reshape back.
"""

import keras
import numpy as np
import pytest

from keras_resnet.architectures import blocks, resnet
from keras_resnet.weights import WeightsMismatchError, legacy_resnext

from conftest import randomize_weights, requires_tensorflow

pytestmark = requires_tensorflow

SIZE = 32
GROUPS = 8
# (filters, blocks, stride) per stage: c = filters // GROUPS = 4, then 8.
STAGES = ((32, 2, 1), (64, 1, 2))
CLASSES = 10


def _legacy_block3(L, x, filters, *, stride, conv_shortcut, name, layout):
    import tf_keras

    eps = 1.001e-5
    out = (64 // GROUPS) * filters
    if conv_shortcut:
        shortcut = L.Conv2D(out, 1, strides=stride, use_bias=False, name=name + "_0_conv")(x)
        shortcut = L.BatchNormalization(epsilon=eps, name=name + "_0_bn")(shortcut)
    else:
        shortcut = x
    x = L.Conv2D(filters, 1, use_bias=False, name=name + "_1_conv")(x)
    x = L.BatchNormalization(epsilon=eps, name=name + "_1_bn")(x)
    x = L.Activation("relu", name=name + "_1_relu")(x)

    c = filters // GROUPS
    x = L.ZeroPadding2D(((1, 1), (1, 1)), name=name + "_2_pad")(x)
    x = L.DepthwiseConv2D(
        3, strides=stride, depth_multiplier=c, use_bias=False, name=name + "_2_conv"
    )(x)
    if layout == "gconv":
        kernel = np.zeros((1, 1, filters * c, filters), dtype=np.float32)
        for i in range(filters):
            start = (i // c) * c * c + i % c
            kernel[:, :, start : start + c * c : c, i] = 1.0
        x = L.Conv2D(
            filters, 1, use_bias=False, trainable=False,
            kernel_initializer=tf_keras.initializers.Constant(kernel),
            name=name + "_2_gconv",
        )(x)
    else:
        h, w = x.shape[1], x.shape[2]
        x = L.Reshape((h, w, GROUPS, c, c))(x)
        # As in the seed: on (batch, h, w, groups, c, c), [:, :, :, :, i] is axis 4.
        x = L.Lambda(
            lambda t: sum(t[:, :, :, :, i] for i in range(c)), name=name + "_2_reduce"
        )(x)
        x = L.Reshape((h, w, filters))(x)
    x = L.BatchNormalization(epsilon=eps, name=name + "_2_bn")(x)
    x = L.Activation("relu", name=name + "_2_relu")(x)
    x = L.Conv2D(out, 1, use_bias=False, name=name + "_3_conv")(x)
    x = L.BatchNormalization(epsilon=eps, name=name + "_3_bn")(x)
    x = L.Add(name=name + "_add")([shortcut, x])
    return L.Activation("relu", name=name + "_out")(x)


def _legacy_resnext(layout):
    import tf_keras

    L = tf_keras.layers
    inputs = L.Input((SIZE, SIZE, 3))
    x = L.ZeroPadding2D(((3, 3), (3, 3)), name="conv1_pad")(inputs)
    x = L.Conv2D(64, 7, strides=2, use_bias=False, name="conv1_conv")(x)
    x = L.BatchNormalization(epsilon=1.001e-5, name="conv1_bn")(x)
    x = L.Activation("relu", name="conv1_relu")(x)
    x = L.ZeroPadding2D(((1, 1), (1, 1)), name="pool1_pad")(x)
    x = L.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    for stage, (filters, count, stride) in enumerate(STAGES, start=2):
        for i in range(1, count + 1):
            x = _legacy_block3(
                L, x, filters, stride=stride if i == 1 else 1, conv_shortcut=i == 1,
                name=f"conv{stage}_block{i}", layout=layout,
            )
    x = L.GlobalAveragePooling2D(name="avg_pool")(x)
    x = L.Dense(CLASSES, name="predictions")(x)
    return tf_keras.Model(inputs, x, name="legacy_resnext")


def _ours(weights):
    def stack_fn(x):
        for stage, (filters, count, stride) in enumerate(STAGES, start=2):
            x = blocks.stack3(x, filters, count, stride1=stride, groups=GROUPS, name=f"conv{stage}")
        return x

    return resnet.ResNet(
        stack_fn, preact=False, use_bias=False, model_name="tiny_resnext",
        weights=weights, input_shape=(SIZE, SIZE, 3), classes=CLASSES,
        classifier_activation=None,
    )


def _saved_legacy(tmp_path, layout):
    import tf_keras

    tf_keras.backend.clear_session()
    legacy = _legacy_resnext(layout)
    rng = np.random.default_rng(0)
    # The frozen 0/1 `_2_gconv` kernel keeps its constant.
    randomize_weights(legacy, rng, trainable_layers_only=True)
    path = str(tmp_path / f"legacy_{layout}.h5")
    legacy.save_weights(path)
    x = rng.uniform(-1, 1, (2, SIZE, SIZE, 3)).astype("float32")
    return path, x, legacy(x, training=False).numpy()


@pytest.mark.parametrize("layout", ["gconv", "lambda"])
def test_legacy_file_converts_to_grouped_conv(tmp_path, layout):
    path, x, expected = _saved_legacy(tmp_path, layout)
    model = _ours(path)
    got = keras.ops.convert_to_numpy(model(x, training=False))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    assert model.get_layer("conv2_block1_2_conv").groups == GROUPS


def test_both_legacy_layouts_sum_the_same_channels():
    # keras-applications' 0/1 `_2_gconv` kernel, written out as it builds it,
    # equals the summation the seed's reshape + Lambda performs.
    for filters, c in ((32, 4), (64, 8), (128, 4)):
        gconv = np.zeros((1, 1, filters * c, filters), dtype=np.float32)
        for i in range(filters):
            start = (i // c) * c * c + i % c
            gconv[:, :, start : start + c * c : c, i] = 1.0
        np.testing.assert_array_equal(legacy_resnext.lambda_sum_matrix(filters, c), gconv[0, 0])


def test_gconv_layout_kernel_by_hand():
    # keras-applications' summing kernel: output i = g*c + m sums depthwise
    # channels (g*c + k)*c + m over k, i.e. input g*c + k with multiplier m.
    c, filters = 4, 32
    rng = np.random.default_rng(4)
    depthwise = rng.normal(size=(3, 3, filters, c)).astype("float32")
    summing = np.zeros((1, 1, filters * c, filters), dtype=np.float32)
    for i in range(filters):
        start = (i // c) * c * c + i % c
        summing[:, :, start : start + c * c : c, i] = 1.0
    kernel = legacy_resnext.grouped_kernel(depthwise, filters // c, summing)
    for i in range(filters):
        g, m = divmod(i, c)
        for k in range(c):
            np.testing.assert_allclose(kernel[:, :, k, i], depthwise[:, :, g * c + k, m], rtol=1e-6)


def test_summing_kernel_across_groups_is_refused():
    depthwise = np.ones((3, 3, 32, 4), dtype="float32")
    summing = np.ones((32 * 4, 32), dtype="float32")  # mixes every group
    with pytest.raises(ValueError, match="not a grouped convolution with groups=8"):
        legacy_resnext.grouped_kernel(depthwise, 8, summing, layer_name="conv2_block1_2_conv")


def test_legacy_resnext_file_into_resnet_names_the_layer(tmp_path):
    path, _, _ = _saved_legacy(tmp_path, "gconv")
    from keras_resnet import ResNet18

    # The stems agree; the first block's 3x3 (basic) vs 1x1 (bottleneck) does not.
    with pytest.raises(
        WeightsMismatchError,
        match=r"layer 'conv2_block1_1_conv' expects shapes \[\(3, 3, 64, 64\)\], "
        r"the file holds \[\(1, 1, 64, 32\)\]",
    ):
        ResNet18(weights=path, include_top=False, input_shape=(SIZE, SIZE, 3))

"""DenseNet against independent references: keras.applications' models and
source, tf_keras (Keras 2) weight files, torchvision's parameter counts and
the paper's Table 2.

The layout and parameter-count tests run on one backend (the built graph
does not depend on it); the numerical ones run on every backend."""

import hashlib
import inspect
import re

import keras
import numpy as np
import pytest
from conftest import randomize_batch_norms, randomize_weights, relative_error

import keras_resnet
from keras_resnet import catalog, optimize_for_inference, preprocessing
from keras_resnet.analysis import complexity
from keras_resnet.architectures import densenet
from keras_resnet.weights import download, registry

SIZE = 32
KERAS_BUILDERS = {"densenet121": "DenseNet121", "densenet169": "DenseNet169",
                  "densenet201": "DenseNet201"}
# Keras's applications table (keras.io/api/applications): top-1, top-5.
KERAS_ACCURACY = {"densenet121": (0.750, 0.923), "densenet169": (0.762, 0.932),
                  "densenet201": (0.773, 0.936)}
# torchvision's ``num_params`` (trainable parameters: BatchNorm's gamma and
# beta, not its moving statistics) of the same networks.
TORCHVISION_PARAMS = {"densenet121": 7_978_856, "densenet169": 14_149_480,
                      "densenet201": 20_013_928, "densenet161": 28_681_000}
# Huang et al. 2017, Table 2: (L, k, bottleneck and compression) -> millions.
PAPER_TABLE_2 = {
    "densenet40_k12": (40, 12, False, 1.0),
    "densenet100_k12": (100, 12, False, 7.0),
    "densenet100_k24": (100, 24, False, 27.2),
    "densenet_bc100_k12": (100, 12, True, 0.8),
    "densenet_bc250_k24": (250, 24, True, 15.3),
    "densenet_bc190_k40": (190, 40, True, 25.6),
}


@pytest.fixture(autouse=True)
def _restore_registry():
    saved = dict(registry._RECORDS)
    yield
    registry._RECORDS.clear()
    registry._RECORDS.update(saved)


def _trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def _layout(model):
    """(name, class, weight shapes) of every layer, in creation order."""
    return [
        (layer.name, type(layer).__name__, [tuple(w.shape) for w in layer.weights])
        for layer in model.layers
    ]


def _assert_keras_layout(ours, theirs):
    ours, theirs = _layout(ours), _layout(theirs)
    assert len(ours) == len(theirs)
    for mine, keras_layer in zip(ours, theirs, strict=True):
        if keras_layer[1] in ("InputLayer", "ZeroPadding2D"):
            # Keras leaves the input and its two paddings unnamed
            # (auto-numbered); our paddings are conv1_pad and pool1_pad.
            assert mine[1:] == keras_layer[1:]
            continue
        assert mine == keras_layer


@pytest.mark.parametrize(
    "name, include_top",
    [("densenet121", True), ("densenet121", False), ("densenet169", True), ("densenet201", True)],
)
def test_layout_matches_keras_applications(name, include_top):
    builder = KERAS_BUILDERS[name]
    theirs = getattr(keras.applications, builder)(
        weights=None, include_top=include_top, input_shape=(SIZE, SIZE, 3)
    )
    ours = getattr(keras_resnet, builder)(
        weights=None, include_top=include_top, input_shape=(SIZE, SIZE, 3)
    )
    _assert_keras_layout(ours, theirs)
    assert ours.name == theirs.name == name
    assert ours.count_params() == theirs.count_params()
    # Keras's files are registered with the counts of Keras's models.
    record = registry.find(name, "imagenet", include_top=include_top)
    assert record.num_params == theirs.count_params()
    if include_top:
        assert _trainable(ours) == TORCHVISION_PARAMS[name]
        channels = theirs.get_layer("predictions").input.shape[-1]
        notop = registry.find(name, "imagenet", include_top=False)
        assert notop.num_params == theirs.count_params() - (channels * 1000 + 1000)


def test_densenet161_has_torchvisions_parameter_count_and_cost():
    model = keras_resnet.DenseNet161(weights=None)
    assert _trainable(model) == TORCHVISION_PARAMS["densenet161"]
    # torchvision's published cost of densenet161: 7.728 GFLOPS (multiply-adds at 224 px).
    assert round(complexity.multiply_adds(model) / 1e9, 3) == 7.728
    # 96 + 6*48 = 384 -> 192 -> 768 -> 384 -> 2112 -> 1056 -> 2208 channels.
    assert model.get_layer("predictions").input.shape[-1] == 2208
    assert catalog.get("densenet161").depth == 161


@pytest.mark.parametrize("name", list(PAPER_TABLE_2))
def test_cifar_rows_have_the_papers_parameter_counts(name):
    depth, growth_rate, bc, millions = PAPER_TABLE_2[name]
    model = keras_resnet.build(name)
    assert model.output_shape == (None, 10)
    # The paper counts what its optimiser updates: BN's gamma and beta, not
    # its moving statistics.
    assert round(_trainable(model) / 1e6, 1) == millions
    assert catalog.get(name).family == "cifar" and catalog.get(name).depth == depth
    stem = model.get_layer("conv1_conv")
    assert stem.kernel_size == (3, 3) and stem.filters == (2 * growth_rate if bc else 16)
    assert [layer.filters for layer in model.layers if layer.name.endswith("_2_conv")][:1] == (
        [growth_rate] if bc else []
    )


@pytest.mark.backend_agnostic
def test_hashes_and_urls_are_the_ones_keras_checks():
    from keras.src.applications import densenet as keras_densenet

    source = inspect.getsource(keras_densenet.DenseNet)
    calls = re.findall(
        r'get_file\(\s*"([^"]+)",\s*(\w+),.*?file_hash="([0-9a-f]{32})"', source, re.DOTALL
    )
    assert len(calls) == 6
    for file_name, url_constant, file_hash in calls:
        model = file_name.split("_")[0]
        record = registry.find(model, "imagenet", include_top="_notop" not in file_name)
        assert (record.file_name, record.url) == (file_name, getattr(keras_densenet, url_constant))
        assert (record.file_hash, record.hash_algorithm) == (file_hash, "md5")


@pytest.mark.backend_agnostic
@pytest.mark.parametrize("name", list(KERAS_BUILDERS))
def test_published_record_fields(name):
    top1, top5 = KERAS_ACCURACY[name]
    for include_top in (True, False):
        record = registry.find(name, "imagenet", include_top=include_top)
        assert record.classes == (1000 if include_top else None)
        assert (record.top1, record.top5) == (top1, top5)
        assert record.license == "MIT" and record.accuracy_source and record.preprocessing is None
    # keras.applications.densenet.preprocess_input is mode "torch".
    images = np.random.default_rng(0).uniform(0, 255, (2, 8, 8, 3)).astype("float32")
    expected = keras.applications.densenet.preprocess_input(images.copy())
    actual = catalog.preprocess_input_for(name, "imagenet")(images.copy())
    np.testing.assert_allclose(actual, expected, rtol=1e-6)
    assert catalog.preprocessing_mode(name, "imagenet") == "torch"


@pytest.fixture(scope="module")
def tf_keras_files(tmp_path_factory):
    """A tf_keras (Keras 2) DenseNet121 with random weights, saved as Keras 2 saves
    (legacy HDF5), with and without the top, and its own outputs."""
    tf_keras = pytest.importorskip("tf_keras")
    folder = tmp_path_factory.mktemp("tf_keras")
    rng = np.random.default_rng(1)
    reference = tf_keras.applications.DenseNet121(
        weights=None, input_shape=(64, 64, 3), classifier_activation=None
    )
    randomize_weights(reference, rng)
    top = str(folder / "densenet121_top.h5")
    reference.save_weights(top)
    backbone = tf_keras.Model(reference.input, reference.get_layer("avg_pool").output)
    notop = str(folder / "densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5")
    backbone.save_weights(notop)
    images = rng.uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    x = preprocessing.preprocess_input(images, mode="torch")
    outputs = (reference.predict(x, verbose=0), backbone.predict(x, verbose=0))
    tf_keras.backend.clear_session()
    return {"top": top, "notop": notop, "x": x, "logits": outputs[0], "features": outputs[1]}


def test_tf_keras_h5_loads_with_equal_outputs(tf_keras_files):
    ours = keras_resnet.DenseNet121(
        weights=tf_keras_files["top"], input_shape=(64, 64, 3), classifier_activation=None
    )
    logits = keras.ops.convert_to_numpy(ours(tf_keras_files["x"], training=False))
    assert relative_error(logits, tf_keras_files["logits"]) < 1e-5


@pytest.mark.backend_agnostic
def test_tf_keras_h5_of_a_small_densenet_on_every_backend(tmp_path, rng):
    # Keras 2's generic factory with one layer a block: the same names (its
    # stem "conv1/conv") and layout as DenseNet121, at a cost every backend's
    # eager run can afford.
    tf_keras = pytest.importorskip("tf_keras")
    from tf_keras.src.applications import densenet as keras2_densenet

    reference = keras2_densenet.DenseNet(
        [1, 2, 1, 1], weights=None, input_shape=(SIZE, SIZE, 3), classes=10,
        classifier_activation=None,
    )
    randomize_weights(reference, rng)
    path = str(tmp_path / "small_densenet.h5")
    reference.save_weights(path)
    x = rng.uniform(-2, 2, (2, SIZE, SIZE, 3)).astype("float32")
    expected = reference.predict(x, verbose=0)
    tf_keras.backend.clear_session()

    arch = densenet.DenseNetArchitecture((1, 2, 1, 1))
    ours = densenet.DenseNet(arch, weights=path, input_shape=(SIZE, SIZE, 3), classes=10,
                             classifier_activation=None)
    actual = keras.ops.convert_to_numpy(ours(x, training=False))
    assert relative_error(actual, expected) < 1e-5


def test_imagenet_weights_come_through_the_registry(tf_keras_files, tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setattr(download, "_warned_plain_http", True)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    with open(tf_keras_files["notop"], "rb") as f:
        body = f.read()
    published = registry.find("densenet121", "imagenet", include_top=False)
    (mirror / published.file_name).write_bytes(body)
    monkeypatch.setenv(registry.URL_ENV, mirror.as_uri())
    kwargs = {"weights": "imagenet", "include_top": False, "pooling": "avg", "input_shape": (64, 64, 3)}

    # Keras's md5 is checked: a file with Keras's name but other bytes is refused.
    with pytest.raises(download.WeightsIntegrityError, match=published.file_name):
        download.fetch(published, verbose=False)

    # The same record with this file's md5: DenseNet121(weights="imagenet") loads it.
    keras_resnet.register_weights(
        "densenet121", "imagenet", url=published.url, file_hash=hashlib.md5(body).hexdigest(),
        hash_algorithm="md5", include_top=False, overwrite=True,
    )
    ours = keras_resnet.DenseNet121(**kwargs)
    features = keras.ops.convert_to_numpy(ours(tf_keras_files["x"], training=False))
    assert relative_error(features, tf_keras_files["features"]) < 1e-5

    # Fine-tuning, as for ResNet: the backbone file under a fresh 10-way classifier
    # (keras.applications refuses classes != 1000 with weights="imagenet").
    tuned = keras_resnet.build("densenet121", weights="imagenet", classes=10,
                               input_shape=(64, 64, 3))
    np.testing.assert_array_equal(
        tuned.get_layer("conv5_block16_2_conv").get_weights()[0],
        ours.get_layer("conv5_block16_2_conv").get_weights()[0],
    )
    assert tuned.output_shape == (None, 10)


def test_keras_2_files_fine_tune_through_load_weights_too(tf_keras_files):
    """Keras 2's names ("conv1/conv") match by order, the classifier left out."""
    reference = keras_resnet.DenseNet121(
        weights=tf_keras_files["top"], input_shape=(64, 64, 3), classifier_activation=None
    )
    expected = reference.get_layer("conv5_block16_2_conv").get_weights()[0]
    for path in (tf_keras_files["top"], tf_keras_files["notop"]):
        tuned = keras_resnet.DenseNet121(weights=None, input_shape=(64, 64, 3), classes=10)
        head = tuned.get_layer("predictions").get_weights()[0]
        skip_head = path == tf_keras_files["top"]  # a notop file needs no skipping
        keras_resnet.load_weights(tuned, path, skip_head=skip_head)
        np.testing.assert_array_equal(
            tuned.get_layer("conv5_block16_2_conv").get_weights()[0], expected
        )
        np.testing.assert_array_equal(tuned.get_layer("predictions").get_weights()[0], head)


@pytest.mark.backend_agnostic
@pytest.mark.parametrize(
    "kwargs",
    [
        {"weights": "imagenet", "input_shape": (100, 100, 3)},
        {"weights": "imagenet", "include_top": False, "input_shape": (64, 64, 4)},
        {"weights": None, "include_top": False, "input_shape": (16, 16, 3)},
    ],
    ids=["top-not-224", "four-channels", "too-small"],
)
def test_input_shape_errors_where_keras_raises(kwargs):
    with pytest.raises(ValueError):
        keras.applications.DenseNet121(**kwargs)
    with pytest.raises(ValueError, match=re.escape(f"input_shape={kwargs['input_shape']}")) as info:
        keras_resnet.DenseNet121(**kwargs)
    assert len(str(info.value).splitlines()) == 1


@pytest.mark.backend_agnostic
def test_other_argument_errors_are_one_line():
    cases = [
        ({"classifier_activation": "sigmoid"}, "Received: classifier_activation='sigmoid'"),
        ({"weights": None, "include_top": False, "pooling": "mean"}, "Received: pooling='mean'"),
        ({"weights": None, "classes": 0}, "Received: classes=0"),
        ({"weights": "/no/such/file.h5"}, "Received: weights='/no/such/file.h5'"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=re.escape(message)) as info:
            keras_resnet.DenseNet121(**kwargs)
        assert len(str(info.value).splitlines()) == 1
    with pytest.raises(ValueError, match=r"registered: none.*Received: weights='imagenet'"):
        keras_resnet.DenseNet161()
    with pytest.raises(ValueError, match="Received: weights='imagenet'"):
        keras_resnet.build("densenet_bc100_k12", weights="imagenet")


@pytest.mark.backend_agnostic
def test_builders_take_keras_applications_arguments():
    for builder in KERAS_BUILDERS.values():
        theirs = inspect.signature(getattr(keras.applications, builder))
        ours = inspect.signature(getattr(keras_resnet, builder))
        assert [(p.name, p.default) for p in ours.parameters.values()] == [
            (p.name, p.default) for p in theirs.parameters.values()
        ]
    assert keras_resnet.DenseNet161.__name__ == "DenseNet161"
    assert inspect.signature(keras_resnet.DenseNet161).parameters["name"].default == "densenet161"
    assert catalog.get("DenseNet-121") is catalog.get("densenet121")
    assert catalog.get("densenet-bc-100-k12").name == "densenet_bc100_k12"
    assert set(PAPER_TABLE_2) <= set(keras_resnet.list_models("cifar"))
    assert {"densenet121", "densenet169", "densenet201", "densenet161"} <= set(
        keras_resnet.list_models()
    )


# A small DenseNet of the same parts (ImageNet stem, bottlenecks, a
# transition): what these tests check does not depend on the depth.
SMALL = densenet.DenseNetArchitecture((2, 2), growth_rate=8, stem_width=16)


def _run(model, x):
    """TensorFlow's CPU kernels take NHWC only; XLA compiles NCHW (see test_compat)."""
    if keras.backend.backend() != "tensorflow":
        return model(x, training=False)
    import tensorflow as tf

    return tf.function(lambda x: model(x, training=False), jit_compile=True)(x)


@pytest.mark.backend_agnostic
def test_channels_first_equals_channels_last(rng):
    last = densenet.DenseNet(SMALL, weights=None, input_shape=(SIZE, SIZE, 3), classes=10)
    randomize_weights(last, rng)
    keras.config.set_image_data_format("channels_first")
    first = densenet.DenseNet(SMALL, weights=None, input_shape=(3, SIZE, SIZE), classes=10)
    # Kernels and BN vectors are stored the same way in both formats.
    first.set_weights(last.get_weights())
    x = rng.uniform(-1, 1, (2, SIZE, SIZE, 3)).astype("float32")
    out_first = keras.ops.convert_to_numpy(_run(first, x.transpose(0, 3, 1, 2)))
    out_last = keras.ops.convert_to_numpy(last(x, training=False))
    assert relative_error(out_first, out_last) < 1e-5


@pytest.mark.backend_agnostic
def test_keras_file_round_trip_in_safe_mode(tmp_path, rng):
    model = densenet.DenseNet(
        SMALL, weights=None, input_shape=(SIZE, SIZE, 3), classes=10, classifier_activation=None
    )
    randomize_batch_norms(model, rng)
    path = str(tmp_path / "densenet.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    x = rng.uniform(-1, 1, (2, SIZE, SIZE, 3)).astype("float32")
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(loaded(x, training=False)),
        keras.ops.convert_to_numpy(model(x, training=False)),
    )
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]


@pytest.mark.backend_agnostic
def test_optimize_for_inference_folds_the_bottleneck_batch_norms(rng):
    model = densenet.DenseNet(
        SMALL, weights=None, input_shape=(SIZE, SIZE, 3), classes=10, classifier_activation=None
    )
    randomize_batch_norms(model, rng)
    x = rng.uniform(-1, 1, (3, SIZE, SIZE, 3)).astype("float32")
    expected = model.predict(x, verbose=0)
    fast = optimize_for_inference(model, precision="float32")

    def batch_norms(m):
        return sum(isinstance(layer, keras.layers.BatchNormalization) for layer in m.layers)

    # By hand: the stem's BN and each dense layer's post-1x1 BN follow a
    # convolution (1 + 4 fold); each layer's first BN reads a concatenation
    # or a pool, the transition's and the final BN likewise (4 + 1 + 1 stay).
    assert batch_norms(model) == 11
    assert batch_norms(fast.model) == 6
    assert relative_error(fast.predict(x), expected) < 1e-4
    assert relative_error(keras.ops.convert_to_numpy(fast(x)), expected) < 1e-4

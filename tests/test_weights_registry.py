"""The registry as data: every field checked against something outside it."""

import json
import os
import re

import pytest

import keras_resnet
from keras_resnet.architectures import resnet as architectures
from keras_resnet.weights import registry

KERAS_BASE = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
KERAS_MODELS = [
    "resnet50", "resnet101", "resnet152",
    "resnet50v2", "resnet101v2", "resnet152v2",
    "resnext50", "resnext101",
]
# Keras's DenseNet files: their fields are checked in test_densenet.py.
DENSENET_MODELS = ["densenet121", "densenet169", "densenet201"]
# Published accuracies (top-1, top-5): Keras's applications table for the
# ResNet/ResNetV2 files; keras-applications' README (100 - error) for ResNeXt.
PUBLISHED_ACCURACY = {
    "resnet50": (0.749, 0.921),
    "resnet101": (0.764, 0.928),
    "resnet152": (0.766, 0.931),
    "resnet50v2": (0.760, 0.930),
    "resnet101v2": (0.772, 0.938),
    "resnet152v2": (0.780, 0.942),
    "resnext50": (1 - 0.22260, 1 - 0.06190),
    "resnext101": (1 - 0.21270, 1 - 0.05706),
}


@pytest.fixture(autouse=True)
def _restore_registry():
    saved = dict(registry._RECORDS)
    yield
    registry._RECORDS.clear()
    registry._RECORDS.update(saved)


def test_registry_ships_inside_the_package():
    path = os.path.join(os.path.dirname(registry.__file__), "registry.json")
    with open(path, encoding="utf-8") as f:
        assert len(json.load(f)["records"]) == 2 * len(KERAS_MODELS + DENSENET_MODELS)


@pytest.mark.backend_agnostic
def test_every_keras_file_with_and_without_top():
    keras_records = [r for r in registry.published_records() if r.source == "keras"]
    keys = {(r.model, r.tag, r.include_top) for r in keras_records}
    models = KERAS_MODELS + DENSENET_MODELS
    assert keys == {(m, "imagenet", top) for m in models for top in (True, False)}


@pytest.mark.backend_agnostic
@pytest.mark.parametrize(
    "record",
    [r for r in registry.published_records() if r.model in KERAS_MODELS],
    ids=lambda r: r.file_name,
)
def test_published_record_fields(record):
    suffix = "" if record.include_top else "_notop"
    assert record.file_name == f"{record.model}_weights_tf_dim_ordering_tf_kernels{suffix}.h5"
    assert record.url == KERAS_BASE + record.file_name
    # Keras publishes md5 digests for these files.
    assert record.hash_algorithm == "md5"
    assert re.fullmatch("[0-9a-f]{32}", record.file_hash)
    assert record.classes == (1000 if record.include_top else None)
    # Keras's files follow their architecture's convention, stated once, in the depth table.
    assert record.preprocessing is None
    mode = keras_resnet.catalog.preprocessing_mode(record.model, record.tag)
    assert mode == architectures.ARCHITECTURES[record.model].preprocessing
    top1, top5 = PUBLISHED_ACCURACY[record.model]
    assert record.top1 == pytest.approx(top1, abs=6e-4)
    assert record.top5 == pytest.approx(top5, abs=6e-4)
    assert record.license == "MIT"
    assert record.accuracy_source


@pytest.mark.backend_agnostic
def test_hashes_and_urls_are_the_ones_keras_checks():
    # keras.applications' own table (keras/src/applications/resnet.py).
    from keras.src.applications import resnet

    assert resnet.BASE_WEIGHTS_PATH == KERAS_BASE
    for name in KERAS_MODELS:
        top = registry.find(name, "imagenet", include_top=True)
        notop = registry.find(name, "imagenet", include_top=False)
        assert (top.file_hash, notop.file_hash) == resnet.WEIGHTS_HASHES[name]


@pytest.mark.slow
@pytest.mark.parametrize("name", KERAS_MODELS)
def test_num_params_match_the_built_models(name):
    notop = registry.find(name, "imagenet", include_top=False)
    top = registry.find(name, "imagenet", include_top=True)
    base = keras_resnet.build(name, weights=None, include_top=False)
    assert notop.num_params == base.count_params()
    # The top adds global pooling (no weights) and a Dense layer from the
    # backbone's channels to 1000 classes: channels * 1000 + 1000.
    channels = base.output_shape[-1]
    assert top.num_params == notop.num_params + channels * 1000 + 1000


@pytest.mark.backend_agnostic
def test_resolve_picks_the_file_for_the_model_being_built():
    top = registry.find("resnet50", "imagenet", include_top=True)
    notop = registry.find("resnet50", "imagenet", include_top=False)
    assert registry.resolve("resnet50", "imagenet", include_top=True) == (top, False)
    assert registry.resolve("resnet50", "imagenet", include_top=False) == (notop, False)
    # Fine-tuning: the backbone file, a fresh classifier.
    assert registry.resolve("resnet50", "imagenet", include_top=True, classes=10) == (notop, True)


@pytest.mark.backend_agnostic
def test_unknown_tag_lists_the_known_ones():
    expected = r"registered: \['imagenet'\].*Received: weights='imagnet'"
    with pytest.raises(ValueError, match=expected):
        registry.resolve("resnet50", "imagnet", include_top=True)
    with pytest.raises(ValueError, match="registered: none"):
        keras_resnet.DenseNet161(weights="imagenet")
    with pytest.raises(ValueError, match=r"registered: \['imagenet1k_v1'\]"):
        keras_resnet.ResNet18(weights="imagenet1k_v3")


@pytest.mark.backend_agnostic
def test_register_weights_then_resolve():
    record = keras_resnet.register_weights(
        "resnet50", "mycorp", url="https://mirror.local/models/r50.h5",
        file_hash="ab" * 32, include_top=False,
    )
    assert record.file_name == "r50.h5"
    assert record.hash_algorithm == "sha256"
    assert registry.resolve("resnet50", "mycorp", include_top=False) == (record, False)
    assert registry.resolve("resnet50", "mycorp", include_top=True, classes=5) == (record, True)
    assert "mycorp" in registry.tags("resnet50")


@pytest.mark.backend_agnostic
def test_register_weights_top_only_refuses_other_classes():
    keras_resnet.register_weights(
        "resnet50", "toponly", url="https://mirror.local/r50.h5",
        file_hash="cd" * 32, include_top=True, classes=1000,
    )
    with pytest.raises(ValueError, match="1000-way classifier.*Received: classes=10"):
        registry.resolve("resnet50", "toponly", include_top=True, classes=10)
    with pytest.raises(ValueError, match="only with the top"):
        registry.resolve("resnet50", "toponly", include_top=False)


@pytest.mark.backend_agnostic
@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"model_name": "resnet51"}, "model_name"),
        ({"file_hash": "abc"}, "file_hash"),
        ({"file_hash": "ab" * 16}, "file_hash"),  # an md5 digest without hash_algorithm="md5"
        ({"hash_algorithm": "sha1"}, "hash_algorithm"),
        ({"url": "ftp://host/x.h5"}, "url"),
        ({"url": "https://host/"}, "url"),
        ({"size": -1}, "size"),
        ({"tag": ""}, "tag"),
    ],
)
def test_register_weights_rejects_bad_arguments(kwargs, argument):
    arguments = dict(
        model_name="resnet50", tag="x", url="https://h/r.h5", file_hash="ab" * 32, include_top=False
    )
    arguments.update(kwargs)
    model_name, tag = arguments.pop("model_name"), arguments.pop("tag")
    with pytest.raises(ValueError, match=f"`{argument}`.*Received: {argument}="):
        keras_resnet.register_weights(model_name, tag, **arguments)


@pytest.mark.backend_agnostic
def test_register_weights_will_not_silently_replace():
    arguments = dict(url="https://h/r.h5", file_hash="ab" * 32, include_top=False)
    keras_resnet.register_weights("resnet50", "x", **arguments)
    with pytest.raises(ValueError, match="overwrite=True"):
        keras_resnet.register_weights("resnet50", "x", **arguments)
    replaced = keras_resnet.register_weights(
        "resnet50", "x", **{**arguments, "file_hash": "cd" * 32}, overwrite=True
    )
    assert registry.find("resnet50", "x", include_top=False) is replaced


@pytest.mark.backend_agnostic
def test_md5_registration_is_explicit():
    record = keras_resnet.register_weights(
        "resnet50", "legacy", url="https://h/r.h5", file_hash="ab" * 16,
        hash_algorithm="md5", include_top=False,
    )
    assert record.hash_algorithm == "md5"


@pytest.mark.backend_agnostic
def test_mirror_variable_replaces_the_base_url(monkeypatch):
    record = registry.find("resnext50", "imagenet", include_top=True)
    monkeypatch.delenv(registry.URL_ENV, raising=False)
    assert record.download_url == record.url
    monkeypatch.setenv(registry.URL_ENV, "https://mirror.local/keras/")
    assert record.download_url == "https://mirror.local/keras/" + record.file_name


@pytest.mark.backend_agnostic
def test_a_tag_wins_over_a_folder_of_the_same_name(tmp_path, monkeypatch):
    from keras_resnet import weights

    monkeypatch.chdir(tmp_path)
    (tmp_path / "imagenet").mkdir()  # a dataset folder, as users often have
    (tmp_path / "best_run").write_bytes(b"")
    assert not weights.is_path("imagenet")
    assert weights.is_path("best_run")
    assert weights.is_path("runs/best.weights.h5")  # not there yet: still a path
    assert not weights.is_path("mycorp")
